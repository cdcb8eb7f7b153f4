"""``oar.param_groups_weight_decay``: timm's no-decay groups (biases, norm weights), in both API
styles, equal to separate optimizers with and without decay, and to Paddle's AdamW with
``apply_decay_param_fun`` (its documented way to leave params undecayed), side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import oar


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(7, 4)
        self.pos_embed = torch.nn.Parameter(torch.randn(3, 4))  # 2-D, undecayed by name only
        self.conv = torch.nn.Conv1d(4, 4, 1)
        self.bn = torch.nn.BatchNorm1d(4)
        self.ln = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx) + self.pos_embed
        x = self.bn(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.head(self.ln(x)).sum(1)


def _net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    return Net().double()


def _names(groups: list[dict[str, Any]]) -> list[list[str]]:
    return [[name for name, _ in g["params"]] for g in groups]


def test_timm_rule() -> None:
    groups = oar.param_groups_weight_decay(_net(), 0.05, no_weight_decay_list=["pos_embed"])
    assert _names(groups) == [
        ["pos_embed", "conv.bias", "bn.weight", "bn.bias", "ln.weight", "ln.bias", "head.bias"],
        ["embed.weight", "conv.weight", "head.weight"],
    ]
    assert [g["weight_decay"] for g in groups] == [0.0, 0.05]
    lamb = oar.param_groups_weight_decay(_net(), 0.05, key="lamb_weight_decay")
    assert [sorted(g) for g in lamb] == [["lamb_weight_decay", "params"]] * 2
    only_decayed = oar.param_groups_weight_decay(torch.nn.Linear(2, 2, bias=False))
    assert [g["weight_decay"] for g in only_decayed] == [1e-5]  # timm's default; empty group left out


def _train(opts: list[Any], model: Net, steps: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = torch.randint(0, 7, (5, 3), generator=g)
        for opt in opts:
            opt.clear_grad()
        model(idx).pow(2).mean().backward()
        for opt in opts:
            opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("style", ["paddle", "torch"])
@pytest.mark.parametrize(
    ("cls", "key", "decay"),
    [
        (oar.AdamW, "weight_decay", 0.1),  # decoupled
        (oar.Adam, "weight_decay", 0.1),  # coupled L2
        (oar.Momentum, "weight_decay", oar.L1Decay(0.1)),  # coupled L1
        (oar.Lamb, "lamb_weight_decay", 0.1),  # Lamb's own decay
    ],
    ids=["AdamW", "Adam", "Momentum-L1", "Lamb"],
)
def test_groups_equal_separate_optimizers(cls: Any, key: str, decay: Any, style: str) -> None:
    """One optimizer over the two groups steps every param bit for bit as two optimizers do, one
    over the decayed params with the decay and one over the others without it."""
    model = _net()
    groups = oar.param_groups_weight_decay(model, decay, key=key)
    opt = cls(learning_rate=0.01, parameters=groups) if style == "paddle" else cls(groups, 0.01)
    got = _train([opt], model)

    ref_model = _net()
    named = dict(ref_model.named_parameters())
    ref_groups = oar.param_groups_weight_decay(ref_model, decay, key=key)
    ref_opts = [
        cls(learning_rate=0.01, parameters=[named[n] for n, _ in g["params"]], **{key: g[key]}) for g in ref_groups
    ]
    want = _train(ref_opts, ref_model)
    for (name, _), a, b in zip(model.named_parameters(), got, want, strict=True):
        assert torch.equal(a, b), name


def test_adamw_groups_match_paddle_apply_decay_param_fun() -> None:
    """Paddle's way: ``AdamW(..., apply_decay_param_fun=lambda name: name in decayed)``; oar's
    groups give the same params (float64) after 5 steps of the same grads."""
    paddle = pytest.importorskip("paddle")
    model = _net()
    groups = oar.param_groups_weight_decay(model, 0.05)
    decayed = {name for name, _ in groups[1]["params"]}
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    pd_params = [
        paddle.create_parameter(
            list(p.shape), "float64", name=f"p{i}", default_initializer=paddle.nn.initializer.Assign(p.detach().numpy())
        )
        for i, (_, p) in enumerate(named)
    ]
    pd_decayed = {f"p{i}" for i, (n, _) in enumerate(named) if n in decayed}
    pd_opt = paddle.optimizer.AdamW(
        learning_rate=0.01,
        parameters=pd_params,
        weight_decay=0.05,
        apply_decay_param_fun=lambda name: name in pd_decayed,
    )
    opt = oar.AdamW(learning_rate=0.01, parameters=groups)
    rng = np.random.default_rng(0)
    for _ in range(5):
        grads = [rng.standard_normal(tuple(p.shape)) for _, p in named]
        for (_, p), g in zip(named, grads, strict=True):
            p.grad = torch.from_numpy(g)
        opt.step()
        for q, g in zip(pd_params, grads, strict=True):
            (q * paddle.to_tensor(g)).sum().backward()
        pd_opt.step()
        pd_opt.clear_grad()
    for (name, p), q in zip(named, pd_params, strict=True):
        # measured: 1.5e-16 relative at most (one rounding apart); the project's float64 bound
        np.testing.assert_allclose(p.detach().numpy(), q.numpy(), rtol=1e-10, atol=0, err_msg=name)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((object(),), {}, TypeError, "model must be a torch.nn.Module, got object"),
        ((torch.nn.Linear(2, 2), 0.1, "bias"), {}, TypeError, "not a string: 'bias'"),
        ((torch.nn.Linear(2, 2), 0.1, [3]), {}, TypeError, "must hold param names"),
        ((torch.nn.Linear(2, 2), 0.1, ["weights"]), {}, ValueError, "'weights', which is not a parameter"),
        ((torch.nn.Linear(2, 2), 0.1), {"key": 1}, TypeError, "key must be a str"),
    ],
)
def test_bad_input(args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        oar.param_groups_weight_decay(*args, **kwargs)


def test_a_bad_decay_is_judged_by_the_optimizer() -> None:
    groups = oar.param_groups_weight_decay(_net(), -1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        oar.AdamW(learning_rate=0.01, parameters=groups)
