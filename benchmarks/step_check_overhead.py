"""What the atomic-step checks and the non-finite guard cost a fused step (oar.step_check).

One process, one parameter set (``oar bench``'s transformer-shaped set), optimizers stepped
interleaved round by round (the order rotated every round), medians over the rounds:

* ``checked``: ``opt.step()`` as it is (every check of the whole step before anything changes);
* ``unchecked``: ``opt.step()`` of the same optimizer class with the pipeline it had before the
  checks (clip, regularize, create state, run the engine, group by group; no check but the
  algorithm's ``_check_grad``), reproduced here (``unchecked_run_step``);
* ``checks alone``: the checks of one step on their own (``step_check.check_pair`` over every
  pair), timed in the same rounds;
* ``guard``: ``skip_nonfinite=True`` against the plain step, without clipping (the guard's
  ``torch._foreach_norm`` pass over the grads) and with ``ClipGradByGlobalNorm`` (the guard reuses
  the clip's norm), with the grads' read rate of the extra time.

Usage: ``python benchmarks/step_check_overhead.py [--scale 1.0] [--rounds 40] [--algorithm Adam]
[--threads N]``.
Runs from a checkout without installing (``src/`` is put on the path).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import torch

try:
    import oar
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))
    import oar

from oar import engine as _engine
from oar import step_check
from oar.bench import build_param_set
from oar.engine import fused as F
from oar.params import real_view


def unchecked_run_step(opt: Any, work: Any) -> None:
    """``Optimizer._run_step`` as oar ran a step before the atomic-step checks: group by group,
    clip, regularize, create state, run the engine (no ``step_check``, no non-finite guard).
    Installed on one optimizer's instance, so that both run ``opt.step()`` (torch's hooks, the lr
    refresh) and differ only there."""
    for index, group, pairs in work:
        if not pairs:
            continue
        pairs = [(p, real_view(g)) for p, g in pairs]
        clip = group.get("grad_clip") or opt._grad_clip
        if clip is not None:
            pairs = clip(pairs)
        list_mode = opt._list_mode and index == 0
        params, grads, states, hypers = [], [], [], []
        shared: dict[Any, dict[str, Any]] = {}
        for p, g in pairs:
            x = opt._real_views(p)
            reg = opt._regularizer_for(p, group, list_mode)
            opt._check_grad(x, g, reg)
            if reg is not None and reg.coeff != 0.0:
                g = reg(x, g)
            state = opt.state[p]
            if not state:
                state.update(opt._init_state(x, group))
            dtype = oar.precision.state_dtype(state.get("master_weight", x))
            multiplier = oar.params.lr_multiplier(p) if list_mode else 1.0
            param_key = opt._hyper_key(group, p)
            key = (dtype, p.device, multiplier, param_key)
            hyper = shared.get(key)
            if hyper is None:
                hyper = shared[key] = opt._hypers_for(group, dtype, param_key)
                hyper["lr"] = oar.optimizer._rounded_lr(group["lr"] * multiplier, dtype, p.device)
            params.append(x)
            grads.append(g)
            states.append(state)
            hypers.append(hyper)
        if params:
            _engine.run(opt._rule, params, grads, states, hypers, engine=opt._engine)


def checks_alone(opt: Any) -> None:
    """The checks ``step()`` adds, on their own: ``check_pair`` for every (param, grad)."""
    for index, group in enumerate(opt.param_groups):
        clip = group.get("grad_clip") or opt._grad_clip
        for p in group["params"]:
            if p.grad is not None:
                step_check.check_pair(opt, index, group, p, p, p.grad, clip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="oar bench's --scale (1.0: 27.4M params)")
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds (default 40)")
    parser.add_argument("--algorithm", default="Adam", help="an algorithm of oar.algorithms (default Adam)")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads(N) first (default: torch's)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    F.library(F.NONFINITE)  # the guard's kernel built before measuring (it builds in the background otherwise)
    algo = {a.name: a for a in oar.algorithms.algorithms()}[args.algorithm]
    pset = build_param_set(args.scale, torch.float32, seed=0)
    clip_norm = 1e9  # far above the grads' norm: the clip multiplies by 1 and changes nothing

    def make(**kw: Any) -> tuple[Any, list[torch.Tensor]]:
        params = pset.torch_params()
        for p in params:
            assert p.grad is not None
            p.grad = p.grad.clone()  # each optimizer its own grads (a clip scales them in place)
        return algo.cls(list(zip(pset.names, params, strict=True)), learning_rate=1e-6, engine="fused", **kw), params

    runs: dict[str, Callable[[], None]] = {}
    checked, _ = make()
    plain, _ = make()
    plain._run_step = types.MethodType(unchecked_run_step, plain)
    runs["checked"] = checked.step
    runs["unchecked"] = plain.step
    runs["checks alone"] = lambda: checks_alone(checked)
    guarded, _ = make(skip_nonfinite=True)
    runs["guard"] = guarded.step
    clipped, _ = make(grad_clip=oar.ClipGradByGlobalNorm(clip_norm))
    clipped_guarded, _ = make(grad_clip=oar.ClipGradByGlobalNorm(clip_norm), skip_nonfinite=True)
    runs["clip"] = clipped.step
    runs["clip + guard"] = clipped_guarded.step
    names = list(runs)
    for fn in runs.values():  # first steps: state, kernel plans
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    grad_bytes = sum(g.numel() * g.element_size() for g in pset.torch_grads())
    print(
        f"{algo.name}, fused engine, {pset.numel:,} float32 params in {len(pset.names)} tensors, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds, medians:"
    )
    for name in names:
        print(f"  {name:14s} {med[name] * 1e3:9.3f} ms")
    print(
        f"  checks: {med['checks alone'] * 1e6:.0f} us a step = {med['checks alone'] / med['checked']:.3%} of the "
        f"checked step; checked - unchecked = {(med['checked'] - med['unchecked']) * 1e3:+.3f} ms "
        f"({med['checked'] / med['unchecked'] - 1:+.2%})"
    )
    extra = med["guard"] - med["checked"]
    rate = f"{grad_bytes / extra / 1e9:.1f} GB/s of grads read" if extra > 0 else "not measurable"
    print(f"  guard without clip: {extra * 1e3:+.3f} ms ({med['guard'] / med['checked'] - 1:+.2%}; {rate})")
    print(
        f"  guard with ClipGradByGlobalNorm: {(med['clip + guard'] - med['clip']) * 1e3:+.3f} ms "
        f"({med['clip + guard'] / med['clip'] - 1:+.2%})"
    )


if __name__ == "__main__":
    main()
