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

from collections.abc import Mapping
from typing import IO, Any

import torch

from ...lbfgs import LBFGS
from ...optimizer import Optimizer
from .. import _unpickle
from .._unpickle import UnsafePickleError
from .accumulators import state_from_paddle, state_to_paddle
from .layout import (
    NAME_TABLE,
    Path,
    describe_path,
    model_layouts,
    model_values,
    read_params,
    to_paddle_array,
)
from .lbfgs import lbfgs_from_paddle, lbfgs_to_paddle
from .names import derived_names, paddle_param_names

__all__ = ["UnsafePickleError", "load", "paddle_param_names", "save"]


def _check_args(model: Any, optimizer: Any, pdopt: Any) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an oar optimizer (oar.Optimizer) or None, got {type(optimizer).__name__}")
    if optimizer is None and pdopt is not None:
        raise ValueError(f"pdopt={describe_path(pdopt)!r} was given without an optimizer to load it into")


def _check_names(param_names: Any) -> dict[str, str]:
    if param_names is None:
        return {}
    if not isinstance(param_names, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in param_names.items()
    ):
        raise TypeError(f"param_names must map structured names to Paddle names (str -> str), got {param_names!r}")
    return dict(param_names)


def load(
    model: torch.nn.Module,
    optimizer: Optimizer | None,
    pdparams: Path | IO[bytes],
    pdopt: Path | IO[bytes] | None = None,
    *,
    param_names: Mapping[str, str] | None = None,
) -> None:
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
    arrays, file_names, where = read_params(pdparams)
    layouts = model_layouts(model, {**file_names, **names})
    values = model_values(model, arrays, layouts, where)
    loaded: dict[str, Any] | None = None
    if optimizer is not None and pdopt is not None:
        opt_where = describe_path(pdopt)
        raw = _unpickle.load(pdopt)
        if isinstance(optimizer, LBFGS):
            loaded = lbfgs_from_paddle(model, optimizer, raw, layouts, opt_where)
        else:
            loaded = state_from_paddle(model, optimizer, raw, layouts, opt_where)
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


def save(
    model: torch.nn.Module,
    optimizer: Optimizer | None,
    pdparams: Path,
    pdopt: Path | None = None,
    *,
    param_names: Mapping[str, str] | None = None,
) -> None:
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
    names, unnamed = derived_names(model)
    names.update(_check_names(param_names))
    missing = {key: kind for key, kind in unnamed.items() if key not in names}
    if missing:
        key, kind = next(iter(missing.items()))
        raise ValueError(
            f"no Paddle name is known for {key!r} (a parameter or buffer of {kind}); pass "
            "param_names={structured name: Paddle name} (from Paddle: "
            "{k: v.name for k, v in layer.state_dict().items()})"
        )
    layouts = model_layouts(model, names)
    params_out: dict[str, Any] = {
        key: to_paddle_array(value, layouts[key].transposed) for key, value in model.state_dict().items()
    }
    params_out[NAME_TABLE] = {key: layouts[key].name for key in layouts}
    opt_out: dict[str, Any] | None = None
    if optimizer is not None and pdopt is not None:
        if isinstance(optimizer, LBFGS):
            opt_out = lbfgs_to_paddle(model, optimizer, layouts)
        else:
            opt_out = state_to_paddle(model, optimizer, layouts)
    _unpickle.dump(params_out, pdparams)
    if opt_out is not None and pdopt is not None:
        _unpickle.dump(opt_out, pdopt)
