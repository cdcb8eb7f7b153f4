"""PaddlePaddle checkpoints in and out: ``.pdparams`` / ``.pdopt`` files of Paddle 3.3.1 loaded
into a torch model and an oar optimizer, and written back for Paddle.

Paddle saves a model with ``paddle.save(layer.state_dict(), 'm.pdparams')`` and its optimizer
with ``paddle.save(opt.state_dict(), 'm.pdopt')``. :func:`load` reads both into a torch module
whose ``state_dict()`` keys are Paddle's structured names (``'0.weight'``, ``'fc.bias'``: the same
attribute names, so the same keys) and into an oar optimizer over that module's parameters;
:func:`save` writes files that ``paddle.load`` + ``layer.set_state_dict`` /
``opt.set_state_dict`` take, from which Paddle continues as oar would have.

What the files hold (read with ``pickletools`` from files Paddle 3.3.1 wrote):

* ``.pdparams``: ``{structured name: ndarray, ..., 'StructuredToParameterName@@': {structured
  name: param name}}``; the param names are Paddle's internal ones (``'linear_0.w_0'``).
* ``.pdopt``: ``{accumulator name: ndarray, ..., 'LR_Scheduler': {...}, 'StructuredToParameterName@@':
  {accumulator name: itself}}``. An accumulator is named ``f"{target}_{prefix}{acc}_{k}"``:
  ``target`` the param's internal name (its master weight's, ``f"{param}_fp32_master_{j}"``, for
  low-precision params with ``multi_precision``), ``prefix`` the optimizer's ``name`` plus ``'_'``
  (empty without a name), ``acc`` Paddle's accumulator name (oar's state names are the same:
  ``moment1``, ``beta1_pow_acc``, ``velocity``, ``_avg_squared_grad``...) and ``k`` a per-process
  counter, 0 unless an earlier optimizer of the process used the same name. With master weights
  the dict also holds ``'master_weights': {param name: tensor}`` and Paddle pickles every tensor
  as a ``(name, ndarray)`` tuple instead (no name table); LBFGS's ``{'state': {...}}`` likewise.
* Bfloat16 tensors are stored as uint16 arrays (their bits).

The rules:

* **Params** are matched by structured name: the model's ``state_dict()`` keys must equal the
  file's (buffers included); every shape must match in Paddle's layout; values are cast to the
  model's dtypes and devices.
* **Layout**: Paddle's ``Linear`` weight is ``[in, out]``, torch's ``[out, in]``: the weight of
  every ``torch.nn.Linear`` module (subclasses included) is transposed, and so are its
  param-shaped accumulators (ASGD's ``y``, ``[batch_num, *shape]``: its last two dims) and its
  segments of LBFGS's flat vectors. Other layers (Conv, Embedding, LayerNorm...) have one layout.
* **Optimizer state is keyed by internal param names**, the pdparams by structured names. The
  map is the pdparams' own ``'StructuredToParameterName@@'`` table (``paddle.save`` writes it
  for every ``layer.state_dict()``), else the names in ``(name, ndarray)`` tuples, else
  ``param_names``; each oar param is found in the model by identity. The file's ``k`` suffix is
  accepted whatever its value; two keys for one accumulator are an error.
* **Which params have state**: Paddle creates accumulators at a param's first update, so a
  param has all of its accumulators in the file or none (a never-updated param: oar creates
  its state at its first step, as Paddle).
* **NAdam/RAdam pows** are param-shaped in Paddle (every element equal) and ``[1]`` in oar:
  collapsed on load (an error if the elements differ), broadcast on save.
* **LR scheduler**: ``'LR_Scheduler'`` is loaded into the optimizer's scheduler; present in the
  file without a scheduler in oar, or the other way round, is an error (Paddle ignores the
  first: a resumed run would silently use another schedule). A float learning rate and the
  param-group settings (group lr multipliers, weight decay, clipping) are not in Paddle's files:
  they are the oar optimizer's own, as Paddle's come from its constructor.
* **LBFGS**: Paddle's ``{'state': {func_evals, n_iter, d, alpha, old_yk, old_sk, ro, H_diag,
  prev_flat_grad, prev_loss, al}}``; the flat vectors concatenate the optimized params (the
  last group's, in order), each flattened in its framework's layout: segments of Linear weights
  are transposed, the params are taken in the same order on both sides. Paddle's own
  ``LBFGS.set_state_dict`` keeps none of it: to resume there, ``opt.state.update(
  paddle.load(path)['state'])``.
* **Writing**, the internal names come from ``param_names`` where given, else
  :func:`paddle_param_names`: the names a fresh Paddle process gives the same layers created
  in the order of ``model.named_modules()`` (``linear_0.w_0``, ``linear_0.b_0``,
  ``conv2d_0.w_0``...). Accumulators are written with ``k = 0`` and master weights as
  ``f"{param}_fp32_master_0"``, as in a fresh process.
* **Atomic**: everything is read and checked before the model or the optimizer changes (and
  both files are converted before either is written); on any error nothing has changed.
* **Safe**: files are read with a restricted unpickler (:mod:`oar.interop._unpickle`) that
  admits only what Paddle writes; any other global is refused, by name, without running it.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import os
import warnings
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import torch

from ..lbfgs import LBFGS
from ..lr import LRScheduler
from ..nadam import PowsAdam
from ..optimizer import Optimizer
from . import _unpickle
from ._unpickle import UnsafePickleError

__all__ = ["load", "save", "paddle_param_names", "UnsafePickleError"]

#: The key of the structured-name -> param-name table ``paddle.save`` adds to a state dict.
NAME_TABLE = "StructuredToParameterName@@"
#: The key under which protocol-2/3 saves record arrays split into slices (over 1 GiB).
_BIG_ARRAYS = "UnpackBigParamInfor@@"  # (sic, Paddle's spelling)
_MASTER = "master_weight"

_LBFGS_FLAT = ("d", "prev_flat_grad")
_LBFGS_FLAT_LISTS = ("old_yk", "old_sk")
_LBFGS_KEYS = frozenset(("func_evals", "n_iter", "d", "alpha", "old_yk", "old_sk", "ro", "H_diag",
                         "prev_flat_grad", "prev_loss", "al"))

Path = str | os.PathLike[str]

# ============================================================================ Paddle's param names

#: torch layer -> the prefix Paddle's layer of the same kind takes its names from (its class name
#: in snake case), each checked against Paddle 3.3.1. Exact types: a subclass is another class
#: in Paddle too, named after itself.
_PADDLE_PREFIX: dict[type[torch.nn.Module], str] = {
    torch.nn.Linear: "linear",
    torch.nn.Conv1d: "conv1d",
    torch.nn.Conv2d: "conv2d",
    torch.nn.Conv3d: "conv3d",
    torch.nn.ConvTranspose2d: "conv2d_transpose",
    torch.nn.Embedding: "embedding",
    torch.nn.LayerNorm: "layer_norm",
    torch.nn.GroupNorm: "group_norm",
}
_PADDLE_LETTER = {"weight": "w", "bias": "b"}


def _derived_names(model: torch.nn.Module) -> tuple[dict[str, str], dict[str, str]]:
    """``(names, unnamed)``: Paddle's fresh-process name of each state_dict key it can name, and
    the others with the type of the module that owns them."""
    counters: dict[str, int] = {}
    of_module: dict[int, str] = {}
    for _, module in model.named_modules():  # each layer once, in creation order (assumed)
        prefix = _PADDLE_PREFIX.get(type(module))
        if prefix is not None:
            index = counters.get(prefix, 0)
            counters[prefix] = index + 1
            of_module[id(module)] = f"{prefix}_{index}"
    names: dict[str, str] = {}
    unnamed: dict[str, str] = {}
    saved = model.state_dict().keys()  # not non-persistent buffers
    for path, module in model.named_modules(remove_duplicate=False):
        own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        for attr, _ in own:
            key = f"{path}.{attr}" if path else attr
            if key not in saved:
                continue
            layer = of_module.get(id(module))
            if layer is not None and attr in _PADDLE_LETTER:
                names[key] = f"{layer}.{_PADDLE_LETTER[attr]}_0"
            else:
                unnamed[key] = type(module).__name__
    return names, unnamed


def paddle_param_names(model: torch.nn.Module) -> dict[str, str]:
    """The internal names a fresh Paddle process gives the parameters of the Paddle model that
    ``model`` mirrors: ``{structured name: 'linear_0.w_0', ...}``.

    Paddle names a layer ``f"{kind}_{n}"`` (``kind`` its class name in snake case, ``n`` counting
    the layers of that kind created so far in the process) and its params ``f"{layer}.w_0"`` /
    ``f"{layer}.b_0"``. This assumes the Paddle model creates its layers in the order
    ``model.named_modules()`` lists them (true of ``Sequential`` and of models that create their
    layers in ``__init__`` in attribute order) and knows torch's ``Linear``, ``Conv1d/2d/3d``,
    ``ConvTranspose2d``, ``Embedding``, ``LayerNorm`` and ``GroupNorm``; otherwise take the names
    from Paddle: ``{k: v.name for k, v in paddle_layer.state_dict().items()}``.

    Args:
        model (torch.nn.Module): the model.

    Returns:
        dict[str, str]: every key of ``model.state_dict()`` with its Paddle name.

    Raises:
        ValueError: a parameter or buffer of another kind of module (named, with its module type).
    """
    names, unnamed = _derived_names(model)
    if unnamed:
        key, kind = next(iter(unnamed.items()))
        raise ValueError(f"no Paddle name is known for {key!r} (a parameter or buffer of {kind}); pass "
                         "param_names={structured name: Paddle name} (from Paddle: "
                         "{k: v.name for k, v in layer.state_dict().items()})")
    return names


# ============================================================================ layouts and arrays


@dataclasses.dataclass(frozen=True)
class _Layout:
    """One entry of the model's state dict as both frameworks store it."""

    key: str
    name: str | None  # Paddle's internal name
    shape: tuple[int, ...]  # torch's
    transposed: bool  # a torch.nn.Linear weight: [out, in] here, [in, out] in Paddle

    @property
    def paddle_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-2], self.shape[-1], self.shape[-2]) if self.transposed else self.shape


def _linear_weight_keys(model: torch.nn.Module) -> set[str]:
    return {f"{path}.weight" if path else "weight"
            for path, module in model.named_modules(remove_duplicate=False)
            if isinstance(module, torch.nn.Linear)}


def _layouts(model: torch.nn.Module, names: Mapping[str, str]) -> dict[str, _Layout]:
    linear = _linear_weight_keys(model)
    out = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"model.state_dict()[{key!r}] is a {type(value).__name__}, not a tensor: "
                             "Paddle's files hold tensors only")
        out[key] = _Layout(key, names.get(key), tuple(value.shape), key in linear and value.ndim == 2)
    return out


def _to_paddle_array(value: torch.Tensor, transposed: bool) -> np.ndarray:
    """``value`` as Paddle saves it: transposed last two dims for a Linear weight, bfloat16 as
    its uint16 bits, on the CPU."""
    t = value.detach().cpu()
    if transposed:
        t = t.transpose(-2, -1)
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16).copy()
    return t.numpy().copy()


def _from_paddle_array(array: np.ndarray, transposed: bool, dtype: torch.dtype,
                       device: torch.device | None = None) -> torch.Tensor:
    """A Paddle array as a torch tensor of ``dtype`` in torch's layout (uint16 bits read as
    bfloat16 when a floating dtype is wanted, as Paddle stores bfloat16)."""
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        array = array.copy()
    if array.dtype == np.uint16 and dtype.is_floating_point:
        t = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(array)
    if transposed:
        t = t.transpose(-2, -1)
    return t.to(device=device, dtype=dtype).contiguous()


def _as_array(value: Any, where: str) -> tuple[np.ndarray, str | None]:
    """A tensor of a Paddle file: an ndarray, or a ``(name, ndarray)`` tuple (``_pickle_save``)."""
    if isinstance(value, np.ndarray):
        return value, None
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], np.ndarray)):
        return value[1], value[0]
    raise ValueError(f"{where} is a {type(value).__name__}, not a tensor (an ndarray or a (name, ndarray) tuple)")


def _join_big_arrays(raw: dict[str, Any], where: str) -> None:
    """Reassemble arrays that a protocol-2/3 ``paddle.save`` split into slices (in place)."""
    info = raw.pop(_BIG_ARRAYS, None)
    if info is None:
        return
    try:
        for key, entry in info.items():
            parts = [raw.pop(part) for part in entry["slices"]]
            raw[key] = np.concatenate([_as_array(p, f"{where}[{key!r}]")[0] for p in parts]).reshape(
                entry["OriginShape"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}[{_BIG_ARRAYS!r}] does not describe the file's slices: {exc}") from None


def _where(path: Path | IO[bytes]) -> str:
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(getattr(path, "name", "<file>"))


# ============================================================================ reading


def _read_params(path: Path | IO[bytes]) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """``(arrays, names, where)`` of a pdparams file: structured name -> array and -> internal name."""
    where = _where(path)
    raw = _unpickle.load(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected the dict paddle.save writes for layer.state_dict(), "
                         f"got a {type(raw).__name__}")
    raw = dict(raw)
    _join_big_arrays(raw, where)
    table = raw.pop(NAME_TABLE, None)
    if table is not None and not (isinstance(table, dict)
                                  and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())):
        raise ValueError(f"{where}[{NAME_TABLE!r}] is not a table of names")
    arrays: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for key, value in raw.items():
        array, name = _as_array(value, f"{where}[{key!r}]")
        arrays[key] = array
        name = table.get(key, name) if table is not None else name
        if name is not None:
            names[key] = name
    return arrays, names, where


def _model_values(model: torch.nn.Module, arrays: Mapping[str, np.ndarray], layouts: Mapping[str, _Layout],
                  where: str) -> dict[str, torch.Tensor]:
    """The model's new state, checked: keys equal, shapes equal in Paddle's layout."""
    target = model.state_dict()
    missing = [key for key in target if key not in arrays]
    extra = [key for key in arrays if key not in target]
    if missing or extra:
        raise ValueError(f"{where} does not match the model: missing keys {missing}, unexpected keys {extra}")
    values = {}
    for key, tensor in target.items():
        layout, array = layouts[key], arrays[key]
        if tuple(array.shape) != layout.paddle_shape:
            note = " (the weight of a torch.nn.Linear, [out, in], is [in, out] in Paddle)" if layout.transposed else ""
            raise ValueError(f"{where}[{key!r}] has shape {list(array.shape)}, the model's {key!r} needs "
                             f"{list(layout.paddle_shape)} in Paddle's layout{note}")
        values[key] = _from_paddle_array(array, layout.transposed, tensor.dtype, tensor.device)
    return values


@dataclasses.dataclass(frozen=True)
class _Owned:
    """A param of the optimizer: its index in oar's state dict, its group and its layout."""

    index: int
    param: torch.Tensor
    group: dict[str, Any]
    layout: _Layout


def _optimizer_params(model: torch.nn.Module, optimizer: Optimizer,
                      layouts: Mapping[str, _Layout]) -> list[_Owned]:
    """The optimizer's params in oar's state-dict order, each found in the model by identity."""
    key_of = {id(p): key for key, p in model.named_parameters()}
    out: list[_Owned] = []
    seen: dict[int, int] = {}
    by_name: dict[str, str] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) in seen:
                continue
            seen[id(p)] = len(out)
            key = key_of.get(id(p))
            if key is None:
                raise ValueError(f"the optimizer's parameter #{len(out)} (shape {list(p.shape)}) is not a "
                                 "parameter of the model")
            layout = layouts[key]
            if layout.name is not None:
                if layout.name in by_name:
                    raise ValueError(f"parameters {by_name[layout.name]!r} and {key!r} have the same Paddle "
                                     f"name {layout.name!r}")
                by_name[layout.name] = key
            out.append(_Owned(len(out), p, group, layout))
    return out


def _collapse_or_shape(array: np.ndarray, ref: torch.Tensor, owned: _Owned, pows: bool,
                       where: str) -> tuple[np.ndarray, bool]:
    """``(array, transposed)`` in oar's shape for accumulator ``ref``, or raise naming ``where``."""
    layout = owned.layout
    shape, got = tuple(ref.shape), tuple(array.shape)
    if shape == layout.shape:
        want: tuple[int, ...] = layout.paddle_shape
    elif len(shape) == len(layout.shape) + 1 and shape[1:] == layout.shape:  # ASGD's y: [n, *shape]
        want = (shape[0], *layout.paddle_shape)
    elif shape == (1,):
        if pows and got == layout.paddle_shape and got != (1,):  # NAdam/RAdam: param-shaped in Paddle
            flat = array.reshape(-1)
            if flat.size and not np.array_equal(flat, np.full_like(flat, flat[0]), equal_nan=True):
                raise ValueError(f"{where} holds different values; this one-value accumulator must hold "
                                 "one value in every element")
            return flat[:1], False
        want = (1,)
    else:  # pragma: no cover - oar's accumulators are of one of these shapes
        raise ValueError(f"{where}: no Paddle layout for an accumulator of shape {list(shape)}")
    if got != want:
        raise ValueError(f"{where} has shape {list(got)}, expected {list(want)} for parameter {layout.key!r} "
                         f"(torch shape {list(layout.shape)})")
    return array, layout.transposed and len(shape) >= 2 and shape != (1,)


def _pows_of(optimizer: Optimizer) -> frozenset[str]:
    """The accumulators oar keeps as [1] and Paddle as param-shaped (NAdam's and RAdam's pows)."""
    return frozenset(optimizer._pows) if isinstance(optimizer, PowsAdam) else frozenset()


def _prefix(optimizer: Optimizer) -> str:
    name = optimizer._name
    return f"{name}_" if name else ""


def _plain_lr_state(value: Any) -> Any:
    """A scheduler state as plain Python data (numpy scalars and one-element arrays -> numbers)."""
    if isinstance(value, dict):
        return {k: _plain_lr_state(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], np.ndarray):
        value = value[1]
    if isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
        return value.item()
    return value


def _check_scheduler_state(optimizer: Optimizer, scheduler: LRScheduler, state: Any, where: str) -> None:
    """Load ``state`` into a copy of ``scheduler`` (unbound from the optimizer), so that a bad
    state is found before anything changes."""
    if not isinstance(state, dict):
        raise ValueError(f"{where}['LR_Scheduler'] is a {type(state).__name__}, not a dict")
    memo: dict[int, Any] = {id(optimizer): optimizer}
    todo, seen = [scheduler], set()
    while todo:  # the scheduler and those it holds (LinearWarmup's): the copies notify no one
        s = todo.pop()
        if id(s) not in seen:
            seen.add(id(s))
            listeners = vars(s).get("_listeners")
            if listeners is not None:
                memo[id(listeners)] = []
            todo.extend(v for v in vars(s).values() if isinstance(v, LRScheduler))
    clone = copy.deepcopy(scheduler, memo)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the real load repeats its warnings and prints
            clone.set_state_dict(copy.deepcopy(state))
    except (RuntimeError, KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"{where}['LR_Scheduler'] does not load into {type(scheduler).__name__}: {exc}") from None


def _scheduler_state(optimizer: Optimizer, raw: dict[str, Any], where: str) -> dict[str, Any] | None:
    scheduler = optimizer._scheduler()
    state = raw.pop("LR_Scheduler", None)
    if scheduler is None and state is not None:
        raise ValueError(f"{where} has an 'LR_Scheduler' state but the optimizer's learning_rate is a float "
                         f"({optimizer.get_lr()!r}): give it the scheduler Paddle used")
    if scheduler is not None and state is None:
        raise ValueError(f"{where} has no 'LR_Scheduler' state but the optimizer's learning_rate is a "
                         f"{type(scheduler).__name__}: Paddle's learning rate was a float")
    if scheduler is None:
        return None
    state = _plain_lr_state(state)
    _check_scheduler_state(optimizer, scheduler, state, where)
    return dict(state)


def _optimizer_from_paddle(model: torch.nn.Module, optimizer: Optimizer, raw: Any,
                           layouts: Mapping[str, _Layout], where: str) -> dict[str, Any]:
    """The oar state dict equivalent to Paddle's ``raw``, checked whole."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected the dict paddle.save writes for opt.state_dict(), "
                         f"got a {type(raw).__name__}")
    raw = dict(raw)
    _join_big_arrays(raw, where)
    raw.pop(NAME_TABLE, None)
    scheduler_state = _scheduler_state(optimizer, raw, where)
    masters = raw.pop("master_weights", None)
    if masters is not None and not isinstance(masters, dict):
        raise ValueError(f"{where}['master_weights'] is a {type(masters).__name__}, not a dict")
    masters = dict(masters or {})
    owned = _optimizer_params(model, optimizer, layouts)
    prefix = _prefix(optimizer)
    lookup: dict[str, tuple[int, str]] = {}
    expected: dict[int, dict[str, torch.Tensor]] = {}
    targets: dict[int, str] = {}
    master_arrays: dict[int, np.ndarray] = {}
    for o in owned:
        exp = expected[o.index] = optimizer._expected_state(o.param, o.group)
        if o.layout.name is None:
            if exp:
                raise ValueError(f"no Paddle name for parameter {o.layout.key!r}: the pdparams file has no "
                                 "name table; pass param_names={structured name: Paddle name}")
            continue
        target = o.layout.name
        if _MASTER in exp:
            target = f"{o.layout.name}_fp32_master_0"
            if o.layout.name in masters:
                array, name = _as_array(masters.pop(o.layout.name), f"{where}['master_weights'][{o.layout.name!r}]")
                master_arrays[o.index] = array
                target = name or target
        targets[o.index] = target
        for acc in exp:
            if acc != _MASTER:
                lookup[f"{target}_{prefix}{acc}"] = (o.index, acc)
    if masters:
        raise ValueError(f"{where}['master_weights'] has entries for no parameter of the optimizer that "
                         f"keeps a master weight: {sorted(masters)}")
    claimed: dict[tuple[int, str], str] = {}
    unexpected = []
    for key in raw:
        base, sep, counter = key.rpartition("_") if isinstance(key, str) else ("", "", "")
        hit = lookup.get(base) if sep and counter.isdigit() else None
        if hit is None:
            unexpected.append(key)
        elif hit in claimed:
            raise ValueError(f"{where}: {claimed[hit]!r} and {key!r} are the same accumulator "
                             "(two optimizers' states?)")
        else:
            claimed[hit] = key
    if unexpected:
        some = [f"{targets[o.index]}_{prefix}{acc}_0" for o in owned if o.index in targets
                for acc in expected[o.index] if acc != _MASTER][:4]
        raise ValueError(f"{where}: keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} match no "
                         f"accumulator of this {type(optimizer).__name__} (name={optimizer._name!r}) over the "
                         f"model's parameters, which expects keys like {some}: a checkpoint of another kind "
                         "of optimizer, another model, or another optimizer name?")
    pows = _pows_of(optimizer)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for o in owned:
        exp = expected[o.index]
        accs = [acc for acc in exp if acc != _MASTER]
        have = [acc for acc in accs if (o.index, acc) in claimed]
        if not have and o.index not in master_arrays:
            continue  # never updated in Paddle: no state yet
        target = targets[o.index]
        missing = [f"{target}_{prefix}{acc}_0" for acc in accs if acc not in have]
        if _MASTER in exp and o.index not in master_arrays:
            missing.append(f"master_weights[{o.layout.name!r}]")
        if missing:
            raise ValueError(f"{where} is missing {missing} (parameter {o.layout.key!r}, Paddle name "
                             f"{o.layout.name!r}, has {[claimed[(o.index, acc)] for acc in have]})")
        entries: dict[str, torch.Tensor] = {}
        for acc in exp:
            if acc == _MASTER:
                array, at = master_arrays[o.index], f"{where}['master_weights'][{o.layout.name!r}]"
            else:
                key = claimed[(o.index, acc)]
                array, _ = _as_array(raw[key], f"{where}[{key!r}]")
                at = f"{where}[{key!r}]"
            array, transposed = _collapse_or_shape(array, exp[acc], o, acc in pows, at)
            entries[acc] = _from_paddle_array(array, transposed, exp[acc].dtype, o.param.device)
        state[o.index] = entries
    out = optimizer.state_dict()
    # entries of opt.state not tied to a param (a user's, a hook's) are kept as they are
    out["state"] = {**{k: v for k, v in out["state"].items() if not isinstance(k, int)}, **state}
    if scheduler_state is not None:
        out["LR_Scheduler"] = scheduler_state
    return out


def _lbfgs_segments(model: torch.nn.Module, optimizer: LBFGS,
                    layouts: Mapping[str, _Layout]) -> list[_Layout]:
    """The layouts of LBFGS's optimized params (the last group's), in order."""
    owned = {id(o.param): o.layout for o in _optimizer_params(model, optimizer, layouts)}
    return [owned[id(p)] for p in optimizer.param_groups[-1]["params"]]


def _permute_flat(vector: torch.Tensor, segments: list[_Layout], to_paddle: bool, where: str) -> torch.Tensor:
    """A flat LBFGS vector from one framework's layout to the other's (Linear segments transposed)."""
    total = sum(int(np.prod(s.shape)) for s in segments)
    if tuple(vector.shape) != (total,):
        raise ValueError(f"{where} has shape {list(vector.shape)}, expected [{total}] (the optimized "
                         "parameters' elements)")
    parts, offset = [], 0
    for s in segments:
        n = int(np.prod(s.shape))
        part = vector[offset:offset + n]
        if s.transposed:
            part = part.reshape(s.shape if to_paddle else s.paddle_shape).transpose(0, 1).reshape(-1)
        parts.append(part)
        offset += n
    return torch.cat(parts) if parts else vector.clone()


def _lbfgs_from_paddle(model: torch.nn.Module, optimizer: LBFGS, raw: Any, layouts: Mapping[str, _Layout],
                       where: str) -> dict[str, Any]:
    state = raw.get("state") if isinstance(raw, dict) else None
    extra = sorted(set(raw) - {"state", NAME_TABLE}) if isinstance(raw, dict) else []
    if not isinstance(state, dict) or extra:
        raise ValueError(f"{where}: expected Paddle's LBFGS state {{'state': {{...}}}}, got "
                         f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    unknown = sorted(set(state) - _LBFGS_KEYS)
    if unknown:
        raise ValueError(f"{where}['state'] has keys {unknown} that LBFGS does not keep "
                         f"(it keeps {sorted(_LBFGS_KEYS)}): not an LBFGS checkpoint?")
    segments = _lbfgs_segments(model, optimizer, layouts)

    def tensor(value: Any, at: str, flat: bool) -> Any:
        if value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        array, _ = _as_array(value, at)
        t = torch.from_numpy(np.array(array, copy=True))
        return _permute_flat(t, segments, False, at) if flat else t

    out: dict[str, Any] = {}
    for key, value in state.items():
        at = f"{where}['state'][{key!r}]"
        if key in ("old_yk", "old_sk", "ro", "al"):
            if not isinstance(value, list):
                raise ValueError(f"{at} is a {type(value).__name__}, not a list")
            out[key] = [tensor(v, f"{at}[{i}]", key in _LBFGS_FLAT_LISTS) for i, v in enumerate(value)]
        else:
            out[key] = tensor(value, at, key in _LBFGS_FLAT)
    return {"state": out}


# ============================================================================ writing


def _optimizer_to_paddle(model: torch.nn.Module, optimizer: Optimizer,
                         layouts: Mapping[str, _Layout]) -> dict[str, Any]:
    owned = _optimizer_params(model, optimizer, layouts)
    prefix = _prefix(optimizer)
    pows = _pows_of(optimizer)
    by_acc: dict[str, dict[str, np.ndarray]] = {}
    masters: dict[str, tuple[str, np.ndarray]] = {}
    for o in owned:
        state = optimizer.state.get(o.param)
        if not state:
            continue
        name = o.layout.name
        if name is None:
            raise ValueError(f"no Paddle name for parameter {o.layout.key!r}; pass param_names")
        target = name
        if _MASTER in state:
            target = f"{name}_fp32_master_0"
            masters[name] = (target, _to_paddle_array(state[_MASTER], o.layout.transposed))
        for acc, value in state.items():
            if acc == _MASTER:
                continue
            shape = tuple(value.shape)
            transposed = o.layout.transposed and shape != (1,) and (
                shape == o.layout.shape or shape[1:] == o.layout.shape)
            array = _to_paddle_array(value, transposed)
            if acc in pows and shape == (1,):
                array = np.broadcast_to(array.reshape(()), o.layout.paddle_shape).copy()
            by_acc.setdefault(acc, {})[f"{target}_{prefix}{acc}_0"] = array
    flat = {key: array for arrays in by_acc.values() for key, array in arrays.items()}
    scheduler = optimizer._scheduler()
    out: dict[str, Any]
    if masters:  # Paddle's _pickle_save format: every tensor a (name, ndarray) tuple, no name table
        out = {key: (key, array) for key, array in flat.items()}
        out["master_weights"] = masters
    else:
        out = dict(flat)
    if scheduler is not None:
        out["LR_Scheduler"] = scheduler.state_dict()
    if not masters:
        out[NAME_TABLE] = {key: key for key in flat}
    return out


def _lbfgs_to_paddle(model: torch.nn.Module, optimizer: LBFGS, layouts: Mapping[str, _Layout]) -> dict[str, Any]:
    segments = _lbfgs_segments(model, optimizer, layouts)
    count = 0

    def convert(value: Any, key: str, flat: bool) -> Any:
        nonlocal count
        if not isinstance(value, torch.Tensor):
            return value
        t = _permute_flat(value.detach(), segments, True, f"optimizer.state[{key!r}]") if flat else value
        count += 1
        return (f"eager_tmp_{count - 1}", _to_paddle_array(t, False))

    out: dict[str, Any] = {}
    for key, value in optimizer.state_dict()["state"].items():
        if isinstance(value, list):
            out[key] = [convert(v, key, key in _LBFGS_FLAT_LISTS) for v in value]
        else:
            out[key] = convert(value, key, key in _LBFGS_FLAT)
    return {"state": out}


# ============================================================================ the API


def _check_args(model: Any, optimizer: Any, pdopt: Any) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an oar optimizer (oar.Optimizer) or None, got {type(optimizer).__name__}")
    if optimizer is None and pdopt is not None:
        raise ValueError(f"pdopt={_where(pdopt)!r} was given without an optimizer to load it into")


def _check_names(param_names: Any) -> dict[str, str]:
    if param_names is None:
        return {}
    if not isinstance(param_names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in param_names.items()):
        raise TypeError(f"param_names must map structured names to Paddle names (str -> str), got {param_names!r}")
    return dict(param_names)


def load(model: torch.nn.Module, optimizer: Optimizer | None, pdparams: Path | IO[bytes],
         pdopt: Path | IO[bytes] | None = None, *, param_names: Mapping[str, str] | None = None) -> None:
    """Load Paddle's ``paddle.save(layer.state_dict(), pdparams)`` into ``model`` and
    ``paddle.save(opt.state_dict(), pdopt)`` into ``optimizer`` (the rules: this module's
    docstring). Files are read without running code from them.

    Args:
        model (torch.nn.Module): the model; its ``state_dict()`` keys are Paddle's structured names.
        optimizer (oar.Optimizer | None): an oar optimizer of the kind Paddle's was (same ``name``,
            same scheduler class), over ``model``'s parameters; None to load the model only.
        pdparams (str | os.PathLike | binary file): the model file.
        pdopt (str | os.PathLike | binary file | None): the optimizer file. Default None.
        param_names (Mapping[str, str] | None): structured name -> Paddle's internal name,
            for files without a name table (entries override the table). Default None.

    Raises:
        ValueError: anything that does not map, named: missing or unexpected keys, a shape that
            differs, accumulators of another kind of optimizer, a missing or unexpected
            ``'LR_Scheduler'``, a param of the optimizer that is not in the model. Nothing has
            changed then, neither the model nor the optimizer.
        UnsafePickleError (a ValueError): a file asks for anything but plain data (the refused
            global named); nothing from it was run.
        TypeError: ``model`` is not a torch module, ``optimizer`` not an oar optimizer.
        OSError: a file cannot be read.
    """
    _check_args(model, optimizer, pdopt)
    names = _check_names(param_names)
    arrays, file_names, where = _read_params(pdparams)
    layouts = _layouts(model, {**file_names, **names})
    values = _model_values(model, arrays, layouts, where)
    loaded: dict[str, Any] | None = None
    if optimizer is not None and pdopt is not None:
        opt_where = _where(pdopt)
        raw = _unpickle.load(pdopt)
        if isinstance(optimizer, LBFGS):
            loaded = _lbfgs_from_paddle(model, optimizer, raw, layouts, opt_where)
        else:
            loaded = _optimizer_from_paddle(model, optimizer, raw, layouts, opt_where)
    # Everything read and checked: apply. The optimizer's load checks its dict again before it
    # changes anything; the model's copies cannot fail.
    if optimizer is not None and loaded is not None:
        optimizer.load_state_dict(loaded)
        if "LR_Scheduler" in loaded:
            # the groups' effective lr from the loaded schedule (the dict's groups are the
            # optimizer's own, whose 'lr' followed the schedule before loading)
            optimizer._sync_group_lrs()
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            tensor.copy_(values[key])


def save(model: torch.nn.Module, optimizer: Optimizer | None, pdparams: Path,
         pdopt: Path | None = None, *, param_names: Mapping[str, str] | None = None) -> None:
    """Write ``model`` and ``optimizer`` as ``paddle.save(layer.state_dict(), pdparams)`` and
    ``paddle.save(opt.state_dict(), pdopt)`` would (the rules: this module's docstring), for
    ``layer.set_state_dict(paddle.load(pdparams))`` and ``opt.set_state_dict(paddle.load(pdopt))``.

    The Paddle optimizer must be built as oar's: same kind and options, same ``name``, same
    param groups and scheduler class (Paddle's files carry none of these).

    Args:
        model (torch.nn.Module): the model.
        optimizer (oar.Optimizer | None): its oar optimizer; None to write the model only.
        pdparams (str | os.PathLike): the model file to write.
        pdopt (str | os.PathLike | None): the optimizer file to write. Default None.
        param_names (Mapping[str, str] | None): structured name -> the internal name of the
            Paddle model's param (``{k: v.name for k, v in paddle_layer.state_dict().items()}``);
            default (and for keys it lacks) :func:`paddle_param_names`.

    Raises:
        ValueError: a key without a Paddle name (its module type named), a param of the
            optimizer that is not in the model, ``pdopt`` without an optimizer. No file is
            written then.
        TypeError: ``model`` is not a torch module, ``optimizer`` not an oar optimizer.
        OSError: a file cannot be written (the other may have been written).
    """
    _check_args(model, optimizer, pdopt)
    names, unnamed = _derived_names(model)
    names.update(_check_names(param_names))
    missing = {key: kind for key, kind in unnamed.items() if key not in names}
    if missing:
        key, kind = next(iter(missing.items()))
        raise ValueError(f"no Paddle name is known for {key!r} (a parameter or buffer of {kind}); pass "
                         "param_names={structured name: Paddle name} (from Paddle: "
                         "{k: v.name for k, v in layer.state_dict().items()})")
    layouts = _layouts(model, names)
    params_out: dict[str, Any] = {key: _to_paddle_array(value, layouts[key].transposed)
                                  for key, value in model.state_dict().items()}
    params_out[NAME_TABLE] = {key: layouts[key].name for key in layouts}
    opt_out: dict[str, Any] | None = None
    if optimizer is not None and pdopt is not None:
        if isinstance(optimizer, LBFGS):
            opt_out = _lbfgs_to_paddle(model, optimizer, layouts)
        else:
            opt_out = _optimizer_to_paddle(model, optimizer, layouts)
    _unpickle.dump(params_out, pdparams)
    if opt_out is not None and pdopt is not None:
        _unpickle.dump(opt_out, pdopt)
