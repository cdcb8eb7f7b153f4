"""Time one optimizer step of oar and its peers (torch.optim, Paddle, pytorch_optimizer, timm).

The same as ``oar bench``; see ``python benchmarks/bench_step.py --help`` and ``oar.bench``.
Runs from a checkout without installing: ``src/`` is put on the path if ``oar`` isn't importable.
"""

import os
import sys

try:
    import oar.bench  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))

from oar.bench import main

if __name__ == "__main__":
    sys.exit(main())
