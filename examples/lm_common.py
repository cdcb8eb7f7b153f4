"""What examples/ddp_train.py and examples/fsdp_train.py share: a character-level transformer
language model, its data (examples/data/genesis_kjv.txt, public domain), oar's optimizer with a
warmup + cosine schedule and a global-norm clip, the training loop and the distributed
checkpoint (``torch.distributed.checkpoint``), saved and resumed with ``--resume``.

Launched by ``torchrun`` (``python -m torch.distributed.run --nproc_per_node=2 ...``): the
process group is nccl when CUDA is available (one GPU per rank), gloo on CPU otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import oar

DATA = Path(__file__).parent / "data" / "genesis_kjv.txt"


def parse_args(description: str) -> argparse.Namespace:
    """The examples' command line (``--help`` lists it)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=300, help="total optimizer steps (default 300)")
    parser.add_argument(
        "--schedule-steps",
        type=int,
        default=None,
        help="length of the warmup + cosine schedule (default: --steps); give the final "
        "step count to a run that stops early and is resumed later",
    )
    parser.add_argument(
        "--ckpt-dir",
        type=Path,
        default=None,
        help="distributed checkpoint folder, written after the last step (default: none)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from --ckpt-dir's checkpoint")
    parser.add_argument("--optimizer", choices=("lamb", "adamw"), default="lamb", help="oar.Lamb or oar.AdamW")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    parser.add_argument("--warmup", type=int, default=20, help="linear warmup steps (default 20)")
    parser.add_argument("--clip", type=float, default=1.0, help="ClipGradByGlobalNorm's clip_norm (default 1.0)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per step, all ranks together")
    parser.add_argument("--seq-len", type=int, default=64, help="characters per sequence (default 64)")
    parser.add_argument("--d-model", type=int, default=64, help="model width (default 64)")
    parser.add_argument("--layers", type=int, default=2, help="transformer layers (default 2)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="a text file (default: Genesis, KJV)")
    args = parser.parse_args()
    if args.resume and args.ckpt_dir is None:
        parser.error("--resume needs --ckpt-dir")
    if args.batch_size % int(os.environ.get("WORLD_SIZE", "1")):
        parser.error("--batch-size must be a multiple of the number of processes")
    return args


def setup() -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes: ``(rank, world size, this rank's device)``."""
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        device = torch.device("cuda", local_rank)
    else:
        dist.init_process_group("gloo")
        device = torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device


class CharLM(nn.Module):
    """A causal transformer over characters: embeddings, ``nn.TransformerEncoder`` layers with a
    causal mask, a linear head onto the vocabulary."""

    def __init__(self, vocab: int, d_model: int, layers: int, heads: int, seq_len: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(seq_len, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.embed(ids) + self.position(torch.arange(n, device=ids.device))
        mask = nn.Transformer.generate_square_subsequent_mask(n, device=ids.device)
        return self.head(self.norm(self.encoder(x, mask=mask, is_causal=True)))


def load_text(path: Path) -> tuple[torch.Tensor, int]:
    """The text as character ids, and the vocabulary size."""
    text = path.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.long), len(chars)


def batch(
    ids: torch.Tensor, step: int, args: argparse.Namespace, rank: int, world: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s batch (the same on any number of ranks), ``rank``'s share of it: inputs
    and next-character targets."""
    gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
    starts = torch.randint(0, len(ids) - args.seq_len - 1, (args.batch_size,), generator=gen)
    starts = starts.chunk(world)[rank]
    x = torch.stack([ids[s : s + args.seq_len] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + args.seq_len + 1] for s in starts.tolist()])
    return x.to(device), y.to(device)


def make_optimizer(model: nn.Module, args: argparse.Namespace) -> tuple[oar.Optimizer, oar.lr.LRScheduler]:
    """oar Lamb or AdamW with linear warmup into cosine decay and ClipGradByGlobalNorm."""
    decay_steps = max(1, (args.schedule_steps or args.steps) - args.warmup)
    sched = oar.lr.LinearWarmup(
        oar.lr.CosineAnnealingDecay(args.lr, T_max=decay_steps, eta_min=0.1 * args.lr),
        warmup_steps=args.warmup,
        start_lr=0.0,
        end_lr=args.lr,
    )
    clip = oar.ClipGradByGlobalNorm(args.clip)
    if args.optimizer == "lamb":
        opt: oar.Optimizer = oar.Lamb(model.parameters(), learning_rate=sched, lamb_weight_decay=0.01, grad_clip=clip)
    else:
        opt = oar.AdamW(model.parameters(), learning_rate=sched, weight_decay=0.01, grad_clip=clip)
    return opt, sched


def _state(model: nn.Module, opt: oar.Optimizer, sched: oar.lr.LRScheduler, step: int) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    return {
        "model": get_model_state_dict(model),
        "optim": get_optimizer_state_dict(model, opt),
        "sched": sched.state_dict(),
        "step": step,
    }


def save(path: Path, model: nn.Module, opt: oar.Optimizer, sched: oar.lr.LRScheduler, step: int) -> None:
    """A distributed checkpoint: each rank writes its own shards (FSDP2) or rank 0 the
    replicated values (DDP); the LR scheduler's state and the step beside them."""
    import torch.distributed.checkpoint as dcp

    dcp.save(_state(model, opt, sched, step), storage_writer=dcp.FileSystemWriter(str(path), overwrite=True))


def resume(path: Path, model: nn.Module, opt: oar.Optimizer, sched: oar.lr.LRScheduler) -> int:
    """Load a checkpoint written by :func:`save` (on any number of ranks); the next step."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    state = _state(model, opt, sched, 0)
    dcp.load(state, checkpoint_id=str(path))
    set_model_state_dict(model, state["model"])
    sched.set_state_dict(state["sched"])
    set_optimizer_state_dict(model, opt, state["optim"])
    return int(state["step"])


def run(description: str, wrap: Callable[[nn.Module, torch.device], nn.Module]) -> None:
    """The whole example: ``wrap`` makes the model distributed (DDP or FSDP2)."""
    args = parse_args(description)
    rank, world, device = setup()
    try:
        ids, vocab = load_text(args.data)
        torch.manual_seed(args.seed)
        model = wrap(CharLM(vocab, args.d_model, args.layers, args.heads, args.seq_len).to(device), device)
        opt, sched = make_optimizer(model, args)
        start = resume(args.ckpt_dir, model, opt, sched) if args.resume else 0
        if rank == 0:
            print(
                f"world {world} ({dist.get_backend()}), {sum(p.numel() for p in model.parameters())} params "
                f"on this rank, steps {start + 1}..{args.steps}",
                flush=True,
            )
        for step in range(start, args.steps):
            x, y = batch(ids, step, args, rank, world, device)
            loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            lr = sched()
            sched.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if rank == 0:
                value = float(mean) / world
                print(
                    f"step {step + 1} loss {value:.6f} lr {lr:.6g}" + ("" if math.isfinite(value) else " (not finite)"),
                    flush=True,
                )
        if args.ckpt_dir is not None:
            save(args.ckpt_dir, model, opt, sched, args.steps)
            if rank == 0:
                print(f"saved {args.ckpt_dir} at step {args.steps}", flush=True)
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        dist.destroy_process_group()
