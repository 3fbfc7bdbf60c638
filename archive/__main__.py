"""``python -m archive``: the ``archive`` command line (see :mod:`archive.cli`)."""
from archive.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
