"""``oar.interop.paddle``: checkpoints of real Paddle 3.3.1 resume in oar, and oar's resume in Paddle.

For every algorithm of ``oar.algorithms.algorithms()``: the same MLP in Paddle and torch (float64),
k steps in one framework, its files, ``load`` / ``paddle.load`` + ``set_state_dict`` in the other,
then n more steps in both: the params agree within 1e-10 relative (oar's float64 parity criterion
with Paddle; measured: at most 2e-15 for the element-wise rules, 1.6e-14 for LBFGS, whose dot
products round differently). Paddle's models are built
inside ``paddle.utils.unique_name.guard()`` so that they get a fresh process's names
(``linear_0.w_0``), as a Paddle program resuming from a checkpoint does. Bad inputs raise
ValueError (the unpickler's UnsafePickleError for a malicious file) and change nothing.

Runtime: about 25 s (2 cores), most of it importing Paddle and building oar's kernels.
"""

from __future__ import annotations

import copy
import os
import pickle
from typing import Any

import numpy as np
import pytest
import torch

paddle = pytest.importorskip("paddle")

from algorithm_cases import ENTRIES

import oar
from oar.interop import paddle as interop

ALGORITHMS = [a.name for a in oar.algorithms.algorithms()]
K, N = 3, 3  # steps before the checkpoint, steps after it
TOL = 1e-10  # float64 parity of oar with Paddle
RNG = np.random.default_rng(7)
X, Y = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 2))


@pytest.fixture(autouse=True)
def _float64():
    old = paddle.get_default_dtype()
    paddle.set_default_dtype("float64")
    yield
    paddle.set_default_dtype(old)


# ----------------------------------------------------------------------------- the two sides
def is_lbfgs(name: str) -> bool:
    return oar.algorithms.get(name).rule is None  # not an element-wise rule: step(closure)


def options(name: str, side: str, named: bool) -> tuple[dict[str, Any], Any]:
    """Constructor keywords of ``name`` for ``side`` ('paddle' | 'oar'), and its scheduler: a
    StepDecay where the algorithm takes one, weight decay where it takes one, ``name`` if
    ``named``. LBFGS: a few iterations per step, small history."""
    entry = ENTRIES[name]
    kwargs: dict[str, Any] = dict(entry.required)
    scheduler = None
    if is_lbfgs(name):
        kwargs.update(learning_rate=0.5, max_iter=3, history_size=4)
    else:
        if entry.schedulers:
            lr_module = paddle.optimizer.lr if side == "paddle" else oar.lr
            scheduler = kwargs["learning_rate"] = lr_module.StepDecay(0.02, step_size=2, gamma=0.5)
        else:
            kwargs.setdefault("learning_rate", 0.02)
        if entry.weight_decay:
            kwargs["weight_decay"] = 0.01
    if named:
        kwargs["name"] = "ckpt"
    return kwargs, scheduler


def paddle_model(name: str, named: bool):
    net = paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.Tanh(), paddle.nn.Linear(8, 2))
    kwargs, scheduler = options(name, "paddle", named)
    return net, getattr(paddle.optimizer, name)(parameters=net.parameters(), **kwargs), scheduler


def torch_model(name: str, named: bool, like=None):
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    if like is not None:  # the Paddle model's initial weights, copied by hand
        with torch.no_grad():
            for key, value in like.state_dict().items():
                array = value.numpy()
                net.state_dict()[key].copy_(torch.from_numpy(array.T.copy() if array.ndim == 2 else array))
    kwargs, scheduler = options(name, "oar", named)
    return net, getattr(oar, name)(parameters=net.parameters(), **kwargs), scheduler


def train(side: str, net, opt, scheduler, steps: int) -> None:
    """``steps`` steps of MSE on the fixed batch (a closure for LBFGS), the scheduler stepped after each."""
    to = paddle.to_tensor if side == "paddle" else torch.tensor

    def loss():
        return ((net(to(X)) - to(Y)) ** 2).mean()

    def closure():
        opt.clear_grad()
        value = loss()
        value.backward()
        return value

    for _ in range(steps):
        if isinstance(opt, (paddle.optimizer.LBFGS, oar.LBFGS)):
            opt.step(closure)
        else:
            loss().backward()
            opt.step()
            opt.clear_grad()
        if scheduler is not None:
            scheduler.step()


def torch_arrays(net) -> dict[str, np.ndarray]:
    """The torch model's params in Paddle's layout (Linear weights transposed)."""
    return {
        k: (v.detach().numpy().T if v.ndim == 2 else v.detach().numpy()).copy() for k, v in net.state_dict().items()
    }


def paddle_arrays(net) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.state_dict().items()}


def assert_close(pnet, tnet) -> None:
    theirs, ours = paddle_arrays(pnet), torch_arrays(tnet)
    assert theirs.keys() == ours.keys()
    for key, value in theirs.items():
        err = np.abs(ours[key] - value).max() / np.abs(value).max()
        assert err <= TOL, (key, err)


def assert_equal(pnet, tnet) -> None:
    theirs, ours = paddle_arrays(pnet), torch_arrays(tnet)
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=key)


# ----------------------------------------------------------------------------- Paddle -> oar
@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_paddle_checkpoint_resumes_in_oar(name, named, tmp_path):
    params, opt_file = tmp_path / "m.pdparams", tmp_path / "m.pdopt"
    with paddle.utils.unique_name.guard():
        pnet, popt, psched = paddle_model(name, named)
        train("paddle", pnet, popt, psched, K)
        paddle.save(pnet.state_dict(), str(params))
        paddle.save(popt.state_dict(), str(opt_file))
        tnet, topt, tsched = torch_model(name, named)
        interop.load(tnet, topt, params, opt_file)
        assert_equal(pnet, tnet)
        if tsched is not None:
            assert tsched.state_dict() == psched.state_dict()
            assert topt.param_groups[0]["lr"] == popt.get_lr()
        at_checkpoint = torch_arrays(tnet)
        # What oar writes back is what Paddle wrote (same keys, names and values).
        interop.save(tnet, topt, tmp_path / "back.pdparams", tmp_path / "back.pdopt")
        for theirs, ours in (("m.pdparams", "back.pdparams"), ("m.pdopt", "back.pdopt")):
            assert_same_files(paddle.load(str(tmp_path / theirs)), paddle.load(str(tmp_path / ours)))
        train("paddle", pnet, popt, psched, N)
        train("oar", tnet, topt, tsched, N)
    assert_close(pnet, tnet)
    moved = torch_arrays(tnet)
    assert all(not np.array_equal(moved[k], at_checkpoint[k]) for k in moved)  # the steps did something


def assert_same_files(theirs: Any, ours: Any, at: str = "") -> None:
    """Two objects ``paddle.load`` returned hold the same keys, tensor names and values."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and theirs.keys() == ours.keys(), at
        for key in theirs:
            assert_same_files(theirs[key], ours[key], f"{at}[{key!r}]")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(theirs) == len(ours), at
        for k, (a, b) in enumerate(zip(theirs, ours, strict=True)):
            assert_same_files(a, b, f"{at}[{k}]")
    elif isinstance(theirs, paddle.Tensor):
        assert isinstance(ours, paddle.Tensor) and theirs.dtype == ours.dtype, at
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=at)
    else:
        assert type(ours) is type(theirs) and ours == theirs, at


# ----------------------------------------------------------------------------- oar -> Paddle
@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_oar_checkpoint_resumes_in_paddle(name, named, tmp_path):
    params, opt_file = tmp_path / "m.pdparams", tmp_path / "m.pdopt"
    with paddle.utils.unique_name.guard():
        start, _, _ = paddle_model(name, named)
    tnet, topt, tsched = torch_model(name, named, like=start)
    train("oar", tnet, topt, tsched, K)
    interop.save(tnet, topt, params, opt_file)
    with paddle.utils.unique_name.guard():
        pnet, popt, psched = paddle_model(name, named)
        pnet.set_state_dict(paddle.load(str(params)))
        saved = paddle.load(str(opt_file))
        if is_lbfgs(name):
            popt.state.update(saved["state"])  # Paddle's LBFGS.set_state_dict restores nothing
        else:
            popt.set_state_dict(saved)
        assert_equal(pnet, tnet)
        if psched is not None:
            assert psched.state_dict() == tsched.state_dict()
        train("paddle", pnet, popt, psched, N)
        train("oar", tnet, topt, tsched, N)
        if not is_lbfgs(name):  # Paddle found every accumulator under the name it gives it
            assert set(popt.state_dict()) == set(saved)
    assert_close(pnet, tnet)


def test_other_layers_and_bfloat16_round_trip_through_paddle(tmp_path):
    """Conv, Embedding, LayerNorm, GroupNorm and a bias-free Linear: ``paddle_param_names`` gives
    Paddle's fresh-process names, the layouts match, and bfloat16 params travel as Paddle's uint16."""

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 4)
            self.conv = torch.nn.Conv1d(4, 3, 2)
            self.norm = torch.nn.LayerNorm(3)
            self.head = torch.nn.Sequential(
                torch.nn.Linear(3, 2, bias=False), torch.nn.GroupNorm(1, 2), torch.nn.Linear(2, 2)
            )

    class PaddleNet(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.emb = paddle.nn.Embedding(5, 4)
            self.conv = paddle.nn.Conv1D(4, 3, 2)
            self.norm = paddle.nn.LayerNorm(3)
            self.head = paddle.nn.Sequential(
                paddle.nn.Linear(3, 2, bias_attr=False), paddle.nn.GroupNorm(1, 2), paddle.nn.Linear(2, 2)
            )

    linear = {"head.0.weight", "head.2.weight"}  # [out, in] in torch, [in, out] in Paddle

    def assert_same_values(pnet, tnet):
        ours = {k: v.detach().float().numpy() for k, v in tnet.state_dict().items()}
        for key, value in pnet.state_dict().items():
            np.testing.assert_array_equal(
                ours[key].T if key in linear else ours[key], value.astype("float32").numpy(), err_msg=key
            )

    with paddle.utils.unique_name.guard():
        pnet = PaddleNet()
    tnet = TorchNet().double()
    assert interop.paddle_param_names(tnet) == {k: v.name for k, v in pnet.state_dict().items()}
    interop.save(tnet, None, tmp_path / "a.pdparams")
    pnet.set_state_dict(paddle.load(str(tmp_path / "a.pdparams")))
    assert_same_values(pnet, tnet)
    # bfloat16 both ways
    with paddle.utils.unique_name.guard():
        pnet = PaddleNet()
        pnet.to(dtype="bfloat16")
    paddle.save(pnet.state_dict(), str(tmp_path / "bf.pdparams"))
    tnet = TorchNet().to(torch.bfloat16)
    interop.load(tnet, None, tmp_path / "bf.pdparams")
    assert all(v.dtype == torch.bfloat16 for v in tnet.state_dict().values())
    assert_same_values(pnet, tnet)
    with torch.no_grad():
        for p in tnet.parameters():
            p.mul_(1.5)
    interop.save(tnet, None, tmp_path / "bf2.pdparams")
    pnet.set_state_dict(paddle.load(str(tmp_path / "bf2.pdparams")))
    assert all(v.dtype == paddle.bfloat16 for v in pnet.state_dict().values())
    assert_same_values(pnet, tnet)


def test_master_weights_are_written_as_paddle_writes_them(tmp_path):
    """bfloat16 params with ``multi_precision``: Paddle's format for master weights (its CPU build
    has no bfloat16 kernels, so Paddle cannot run this optimizer; checked: ``paddle.load`` reads
    the master weights as tensors under their names, accumulators keyed by the master's name,
    and oar resumes from the files exactly)."""
    torch.manual_seed(0)

    def make():
        net = torch.nn.Sequential(torch.nn.Linear(4, 3)).to(torch.bfloat16)
        return net, oar.Adam(learning_rate=0.01, parameters=net.parameters(), multi_precision=True, name="mp")

    net, opt = make()
    for _ in range(2):
        net(torch.randn(5, 4, dtype=torch.bfloat16)).float().pow(2).mean().backward()
        opt.step()
        opt.clear_grad()
    interop.save(net, opt, tmp_path / "m.pdparams", tmp_path / "m.pdopt")
    saved = paddle.load(str(tmp_path / "m.pdopt"))
    master = saved["master_weights"]["linear_0.w_0"]
    assert master.name == "linear_0.w_0_fp32_master_0" and master.dtype == paddle.float32
    np.testing.assert_array_equal(master.numpy(), opt.state[net[0].weight]["master_weight"].numpy().T)
    assert "linear_0.w_0_fp32_master_0_mp_moment1_0" in saved
    again, again_opt = make()
    interop.load(again, again_opt, tmp_path / "m.pdparams", tmp_path / "m.pdopt")
    for p, q in zip(net.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)
        assert opt.state[p].keys() == again_opt.state[q].keys()
        for key, value in opt.state[p].items():
            assert torch.equal(value, again_opt.state[q][key]), key


# ----------------------------------------------------------------------------- bad inputs
def _paddle_adam_files(tmp_path, name: str = "Adam") -> tuple[str, str]:
    with paddle.utils.unique_name.guard():
        pnet, popt, psched = paddle_model(name, True)
        train("paddle", pnet, popt, psched, 2)
        params, opt_file = str(tmp_path / "p.pdparams"), str(tmp_path / "p.pdopt")
        paddle.save(pnet.state_dict(), params)
        paddle.save(popt.state_dict(), opt_file)
    return params, opt_file


def _snapshot(net, opt) -> tuple[dict, dict]:
    return copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


def _trained_oar(name: str = "Adam"):
    net, opt, sched = torch_model(name, True)
    train("oar", net, opt, sched, 2)
    return net, opt


def _edit(path: str, change) -> str:
    """``path`` loaded with Paddle, changed, saved with Paddle under a new name."""
    obj = paddle.load(path)
    change(obj)
    out = path + ".bad"
    paddle.save(obj, out)
    return out


def _del(key):
    return lambda d: d.pop(key)


def _set(key, value):
    return lambda d: d.__setitem__(key, value() if callable(value) else value)


W0 = "linear_0.w_0_ckpt_"
BAD = {  # which file, change, what the message names
    "params missing key": ("params", _del("0.bias"), "0.bias"),
    "params extra key": ("params", _set("3.weight", lambda: paddle.ones([2])), "3.weight"),
    "params wrong shape": ("params", _set("2.weight", lambda: paddle.ones([2, 8])), "2.weight"),
    "opt missing key": ("opt", _del(W0 + "moment2_0"), W0 + "moment2_0"),
    "opt extra key": ("opt", _set(W0 + "velocity_0", lambda: paddle.ones([4, 8])), W0 + "velocity_0"),
    "opt duplicate key": ("opt", _set(W0 + "moment1_1", lambda: paddle.ones([4, 8])), W0 + "moment1_1"),
    "opt wrong shape": (
        "opt",
        _set("linear_1.w_0_ckpt_moment1_0", lambda: paddle.ones([2, 8])),
        "linear_1.w_0_ckpt_moment1_0",
    ),
    "opt no scheduler": ("opt", _del("LR_Scheduler"), "LR_Scheduler"),
    "opt bad scheduler": ("opt", lambda d: d["LR_Scheduler"].pop("last_epoch"), "last_epoch"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_checkpoints_raise_and_change_nothing(case, tmp_path):
    params, opt_file = _paddle_adam_files(tmp_path)
    which, change, named = BAD[case]
    if which == "params":
        params = _edit(params, change)
    else:
        opt_file = _edit(opt_file, change)
    net, opt = _trained_oar()
    before = _snapshot(net, opt)
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        interop.load(net, opt, params, opt_file)
    _assert_same(before, _snapshot(net, opt))
    interop.load(net, opt, *_paddle_adam_files(tmp_path))  # the good files load


@pytest.mark.parametrize("ours, theirs", [("Momentum", "Adam"), ("Adam", "Momentum"), ("NAdam", "RAdam")])
def test_another_optimizers_checkpoint_raises(ours, theirs, tmp_path):
    params, opt_file = _paddle_adam_files(tmp_path, theirs)
    net, opt = _trained_oar(ours)
    before = _snapshot(net, opt)
    with pytest.raises(ValueError, match=f"this {ours} .*another kind of optimizer"):
        interop.load(net, opt, params, opt_file)
    _assert_same(before, _snapshot(net, opt))


class _Evil:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("which", ["params", "opt"])
def test_a_malicious_pickle_is_refused_without_running(which, tmp_path):
    params, opt_file = _paddle_adam_files(tmp_path)
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pkl"
    with open(bad, "wb") as f:
        pickle.dump({"0.weight": evil}, f)
    net, opt = _trained_oar()
    before = _snapshot(net, opt)
    refused = f"{os.system.__module__}.system"  # posix.system
    with pytest.raises(interop.UnsafePickleError, match=f"refused to load global {refused}"):
        interop.load(net, opt, bad if which == "params" else params, bad if which == "opt" else opt_file)
    assert not evil.marker.exists()
    _assert_same(before, _snapshot(net, opt))
    assert issubclass(interop.UnsafePickleError, ValueError)


def test_unpickler_admits_paddles_formats_only(tmp_path):
    """Protocol 2 (bytes through ``_codecs.encode``), ``_pickle_save``'s (name, ndarray) tuples via
    ``builtins.tuple``: read; ``eval`` (Paddle's DenseTensor reduction), ``_codecs.encode`` with
    another codec, an object array: refused."""
    from oar.interop import _unpickle

    state = {"w": paddle.to_tensor(np.arange(6.0).reshape(2, 3)), "n": {"x": paddle.ones([1])}}
    paddle.save(state, str(tmp_path / "p2"), protocol=2)
    paddle.save({"w": state["w"]}, str(tmp_path / "p4"))
    paddle.save(state, str(tmp_path / "nested"))  # a dict of dicts of tensors: _pickle_save's tuples
    got = _unpickle.load(tmp_path / "nested")
    assert got["w"][0] == state["w"].name
    np.testing.assert_array_equal(got["w"][1], state["w"].numpy())
    np.testing.assert_array_equal(_unpickle.load(tmp_path / "p2")["w"][1], state["w"].numpy())
    np.testing.assert_array_equal(_unpickle.load(tmp_path / "p4")["w"], state["w"].numpy())

    class Reduce:
        def __init__(self, *reduced):
            self.reduced = reduced

        def __reduce__(self):
            return self.reduced

    for obj, refused in (
        (Reduce(eval, ("1+1",)), "builtins.eval"),
        (Reduce(__import__("_codecs").encode, ("x", "rot13")), "rot13"),
        (np.array([1, "a"], dtype=object), "dtype object"),
    ):
        with open(tmp_path / "bad", "wb") as f:
            pickle.dump({"w": obj}, f, protocol=4)
        with pytest.raises(interop.UnsafePickleError, match=refused):
            _unpickle.load(tmp_path / "bad")


def test_names_when_the_file_has_none(tmp_path):
    """Without Paddle's name table the optimizer state cannot be matched: an error that says so,
    and ``param_names`` supplies the names."""
    params, opt_file = _paddle_adam_files(tmp_path)
    with open(params, "rb") as f:
        raw = pickle.load(f)
    names = raw.pop(interop.NAME_TABLE)
    with open(params, "wb") as f:
        pickle.dump(raw, f)
    net, opt = _trained_oar()
    with pytest.raises(ValueError, match="no name table; pass param_names"):
        interop.load(net, opt, params, opt_file)
    interop.load(net, opt, params, opt_file, param_names=names)
    assert opt.state[net[0].weight]["moment1"].shape == (8, 4)


def test_save_needs_names_for_layers_it_does_not_know(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.PReLU())
    with pytest.raises(ValueError, match="'1.weight' .*PReLU.*param_names"):
        interop.save(net, None, tmp_path / "m.pdparams")
    assert not (tmp_path / "m.pdparams").exists()
    interop.save(net, None, tmp_path / "m.pdparams", param_names={"1.weight": "p_re_lu_0.w_0"})
    assert paddle.load(str(tmp_path / "m.pdparams"))["1.weight"].name == "p_re_lu_0.w_0"
