"""``python -m oar.bench``: the same as ``oar bench``."""

import sys

from .cli import main

sys.exit(main())
