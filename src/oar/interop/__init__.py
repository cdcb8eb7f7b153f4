"""Interoperability with other frameworks' checkpoints.

* :mod:`oar.interop.paddle`: PaddlePaddle 3.3.1's ``.pdparams`` / ``.pdopt`` files in and out
  (``oar.interop.paddle.load`` / ``save``), read without running code from them.
"""

from __future__ import annotations

from . import paddle

__all__ = ["paddle"]
