"""Train a character-level transformer language model with FSDP2 (``fully_shard``) and an oar
optimizer (Lamb or AdamW, warmup + cosine, ClipGradByGlobalNorm): params, grads and optimizer
state are sharded over the ranks (DTensors); save and resume a distributed checkpoint, which
each rank writes its shards of.

    torchrun --nproc_per_node=2 examples/fsdp_train.py --steps 300 --schedule-steps 600 --ckpt-dir /tmp/fsdp_ckpt
    torchrun --nproc_per_node=2 examples/fsdp_train.py --steps 600 --ckpt-dir /tmp/fsdp_ckpt --resume

CPU gloo by default; nccl with one GPU per process when CUDA is available. See
docs/distributed.md.
"""

from __future__ import annotations

import torch
from lm_common import CharLM, run
from torch import nn
from torch.distributed.fsdp import fully_shard


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """FSDP2: each transformer layer, then the root (embeddings, final norm, head)."""
    assert isinstance(model, CharLM)
    for layer in model.encoder.layers:
        fully_shard(layer)
    fully_shard(model)
    return model


if __name__ == "__main__":
    run(__doc__.splitlines()[0], wrap)
