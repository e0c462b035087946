"""``python -m agrad``: the command line (see ``agrad.cli``)."""

from agrad.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
