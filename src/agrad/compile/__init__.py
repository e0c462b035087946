"""agrad.compile: run a traced scalar graph as generated code, on floats and on whole NumPy batches.

* ``trace``: f runs once on placeholder Values; the graph it builds is the program.
* ``symbolic``: each op's gradient code, derived by running its rule from the table on symbols.
* ``codegen``: the graph as straight-line Python (numbers; small and medium graphs).
* ``levels``: the graph as level-scheduled NumPy (batches; very large graphs).
* ``native``: the per-sample program as C with the batch loop inside (batches, with cffi and a C compiler).
* ``api``: ``compile(f)``, the callable that ties them together.
"""

from agrad.compile.api import CompiledFunction, compile
from agrad.compile.trace import TracingError

__all__ = ["CompiledFunction", "TracingError", "compile"]
