"""``python -m oar``: the ``oar`` command line (see :mod:`oar.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
