"""Train a character-level transformer language model with DistributedDataParallel and an oar
optimizer (Lamb or AdamW, warmup + cosine, ClipGradByGlobalNorm); save and resume a
distributed checkpoint.

    torchrun --nproc_per_node=2 examples/ddp_train.py --steps 300 --schedule-steps 600 --ckpt-dir /tmp/ddp_ckpt
    torchrun --nproc_per_node=2 examples/ddp_train.py --steps 600 --ckpt-dir /tmp/ddp_ckpt --resume

CPU gloo by default; nccl with one GPU per process when CUDA is available. See
docs/distributed.md.
"""

from __future__ import annotations

import torch
from lm_common import run
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP: every rank holds the whole model; grads are averaged over the ranks."""
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


if __name__ == "__main__":
    run(__doc__.splitlines()[0], wrap)
