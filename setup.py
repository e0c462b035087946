"""The optional compiled build: ``AGRAD_COMPILE=1 pip install --no-build-isolation .`` compiles the walk with mypyc.

Without AGRAD_COMPILE (the default) this adds nothing, and ``pip install .`` or
``pip install -e .`` needs no compiler and installs pure Python. With it, mypyc
(part of mypy) turns ``agrad/backprop.py`` into a C extension, which Python
imports in place of the .py file; ``agrad.backprop.COMPILED`` says which one runs.
"""

import os

from setuptools import setup

HOT = ["src/agrad/backprop.py"]  # the sort and the walk; every other module stays Python

ext_modules = []
if os.environ.get("AGRAD_COMPILE", "") not in ("", "0"):
    from mypyc.build import mypycify  # mypy's own compiler: pip install mypy, then build without isolation

    # mypy checks only the compiled module and takes what it imports as Any (tests/test_lint.py checks them all,
    # strictly): following the imports into NumPy, Dask and matplotlib took minutes, this takes a second, and a
    # node's attributes then carry no declared type for the extension to check at run time.
    flags = ["--follow-imports=skip", "--no-warn-return-any", "--no-warn-unused-ignores"]
    ext_modules = mypycify([*flags, *HOT], opt_level=os.environ.get("MYPYC_OPT_LEVEL", "3"))

setup(ext_modules=ext_modules)
