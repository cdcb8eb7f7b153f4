"""Parsing of the ``parameters`` argument and Paddle's per-parameter attributes (ParamAttr).

Paddle accepts a list of tensors (*list mode*) or a list of param-group dicts (*group mode*);
torch additionally accepts ``model.named_parameters()``. This module turns all of them into
torch-style group dicts and reads the ParamAttr-like attributes oar keeps on tensors:

* ``param.optimize_attr = {'learning_rate': m}``: a per-parameter lr multiplier (list mode only),
* ``param.regularizer``: an ``L1Decay``/``L2Decay`` taking precedence over the optimizer's weight_decay,
* ``param.need_clip``: False excludes the parameter from gradient clipping.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .regularizer import WeightDecayRegularizer
from .validate import AssertionValueError, AttributeTypeError, check_lr, show

__all__ = [
    "Params",
    "RealViews",
    "looks_like_parameters",
    "lr_multiplier",
    "params_type_error",
    "parse_parameters",
    "real_view",
    "set_param_attr",
]

#: What an optimizer's ``parameters`` takes: tensors (list mode), ``(name, tensor)`` pairs
#: (``model.named_parameters()``) or param-group dicts (group mode).
Params = Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]] | Iterable[dict[str, Any]]

_UNSET: Any = object()  # "argument not given" (None is a value: no regularizer)


def set_param_attr(
    param: torch.Tensor,
    *,
    learning_rate: float | numbers.Real = _UNSET,
    regularizer: WeightDecayRegularizer | None = _UNSET,
    need_clip: bool = _UNSET,
) -> torch.Tensor:
    """Set Paddle's ParamAttr options on a tensor, in place, and return it.

    Args:
        param (torch.Tensor): the parameter.
        learning_rate (float): multiplier of the optimizer's learning rate for this parameter
            (list mode; a param group's ``learning_rate`` replaces it). Default: unchanged.
        regularizer (L1Decay | L2Decay | None): coupled weight decay for this parameter; takes
            precedence over the optimizer's ``weight_decay`` in list mode. Default: unchanged.
        need_clip (bool): False leaves this parameter's gradient out of every gradient clip.

    Raises:
        TypeError: a value of the wrong type (the message names the argument).
        ValueError: a negative, NaN or infinite ``learning_rate``.
    """
    if not isinstance(param, torch.Tensor):
        raise TypeError(f"set_param_attr: param must be a torch.Tensor, got {type(param).__name__}")
    if learning_rate is not _UNSET:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(f"set_param_attr: learning_rate must be a float, got {learning_rate!r}")
        # Paddle's ParamAttr attributes, set on the tensor (torch.Tensor declares none of them)
        param.optimize_attr = {"learning_rate": check_lr("set_param_attr: learning_rate", learning_rate)}  # type: ignore[attr-defined]
    if regularizer is not _UNSET:
        if regularizer is not None and not isinstance(regularizer, WeightDecayRegularizer):
            raise TypeError(f"set_param_attr: regularizer must be L1Decay, L2Decay or None, got {regularizer!r}")
        param.regularizer = regularizer  # type: ignore[attr-defined]  # ParamAttr attribute (see above)
    if need_clip is not _UNSET:
        if not isinstance(need_clip, bool):
            raise TypeError(f"set_param_attr: need_clip must be a bool, got {need_clip!r}")
        param.need_clip = need_clip  # type: ignore[attr-defined]  # ParamAttr attribute (see above)
    return param


def lr_multiplier(param: torch.Tensor) -> float:
    """The ParamAttr learning-rate multiplier of ``param`` (1.0 when unset)."""
    attr = getattr(param, "optimize_attr", None)
    if attr is None:
        return 1.0
    return float(attr.get("learning_rate", 1.0))


def _is_named(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], torch.Tensor)


def looks_like_parameters(obj: object) -> bool:
    """True when ``obj`` is what torch passes as ``params``: an iterable (not a str, dict, tensor
    or scheduler) — a generator, list or tuple of tensors, named tensors or group dicts."""
    if isinstance(obj, (str, bytes, dict, torch.Tensor, numbers.Number)):
        return False
    return isinstance(obj, Iterable) and not hasattr(obj, "get_lr")


def params_type_error(parameters: torch.Tensor) -> TypeError:
    """torch 2.13's error for a tensor given as the params (``Adam(tensor, ...)``): its type and
    message, which name the argument and the value's type (``torch.typename``)."""
    return TypeError(
        "params argument given to the optimizer should be an iterable of Tensors or dicts, "
        f"but got {torch.typename(parameters)}"
    )


def _check_param(p: object, where: str) -> None:
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor, got {type(p).__name__}")


def _normalize_params(params: object, where: str) -> list[Any]:
    """A list of tensors or of (name, tensor) pairs, one kind only."""
    if isinstance(params, torch.Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{where}: parameters must be an ordered iterable (list, tuple, generator), not a set")
    if isinstance(params, dict) or not isinstance(params, Iterable):
        raise TypeError(f"{where}: parameters must be an iterable of tensors, got {type(params).__name__}")
    items = list(params)
    named = [_is_named(i) for i in items]
    if any(named) and not all(named):
        # torch 2.13's type and words (torch.optim.Optimizer.add_param_group)
        raise ValueError(
            f"{where}: all optimizer params should be with/without names. Some param names are "
            f"missing: {sum(named)} (name, tensor) pairs and {len(named) - sum(named)} plain items"
        )
    for i in items:
        _check_param(i[1] if _is_named(i) else i, where)
    return items


def parse_parameters(parameters: object) -> tuple[list[dict[str, Any]], bool]:
    """Turn Paddle's or torch's ``parameters`` into torch-style group dicts.

    Returns ``(groups, list_mode)``: list mode is a single group built from a flat list of
    tensors (ParamAttr multipliers and regularizers then apply); group mode keeps each dict's
    options. Named tensors become ``'params'`` plus torch's ``'param_names'``.

    Raises:
        AttributeTypeError: ``parameters`` is None (Paddle's ``AttributeError`` in dygraph, also a
            ``TypeError``).
        TypeError: a tensor, a dict, a set, a non-iterable, or a non-tensor element.
        AssertionValueError: a group dict without ``'params'`` (Paddle's ``AssertionError``, also a
            ``ValueError``).
        ValueError: an empty list; named and plain params mixed (torch's type and message).
    """
    if parameters is None:
        raise AttributeTypeError(  # Paddle's AttributeError, also a TypeError
            "parameters argument given to the Optimizer should be an iterable of tensors "
            "(or of (name, tensor) pairs, or of param-group dicts), but got None"
        )
    if isinstance(parameters, torch.Tensor):
        raise params_type_error(parameters)
    if isinstance(parameters, (dict, set, frozenset)) or not isinstance(parameters, Iterable):
        raise TypeError(
            "parameters argument given to the optimizer should be an iterable of Tensors or dicts, "
            f"but got {type(parameters).__name__}"
        )
    items = list(parameters)
    if not items:
        raise ValueError("optimizer got an empty parameter list (parameters=[])")
    if all(isinstance(i, dict) for i in items):
        groups = []
        for k, g in enumerate(items):
            if "params" not in g:
                # Paddle's AssertionError, also a ValueError
                raise AssertionValueError(
                    f"parameters[{k}]: a param group dict must contain 'params', got keys {show(sorted(map(str, g)))}"
                )
            groups.append(
                _group(g["params"], {kk: v for kk, v in g.items() if kk != "params"}, f"parameters[{k}]['params']")
            )
        return groups, False
    if any(isinstance(i, dict) for i in items):
        raise TypeError("parameters: mix of param-group dicts and tensors")
    return [_group(items, {}, "parameters")], True


def _group(params: object, options: dict[str, Any], where: str) -> dict[str, Any]:
    items = _normalize_params(params, where)
    group = dict(options)
    if items and _is_named(items[0]):
        group["params"] = [t for _, t in items]
        group["param_names"] = [n for n, _ in items]
    else:
        group["params"] = items
    return group


# ---------------------------------------------------------------------- complex parameters
def real_view(t: torch.Tensor) -> torch.Tensor:
    """``t`` as reals, as torch.optim treats complex params (``torch.optim._view_as_real``): a
    complex tensor becomes its ``torch.view_as_real`` view (shape ``[*t.shape, 2]``, sharing
    memory: writing the view writes ``t``); a sparse COO complex grad becomes a sparse tensor
    with the same indices and real-viewed values; anything else is returned as it is. A
    conjugated view (``t.is_conj()``) is resolved first (a copy: use it for grads only).
    """
    if not t.is_complex():
        return t
    if t.layout == torch.sparse_coo:
        values = torch.view_as_real(t._values().resolve_conj())
        return torch.sparse_coo_tensor(
            t._indices(), values, (*t.shape, 2), is_coalesced=t.is_coalesced(), check_invariants=False
        )
    return torch.view_as_real(t.resolve_conj())


class RealViews:
    """The ``torch.view_as_real`` views of an optimizer's complex params, one per param, reused
    at every step (the engines keep per-group plans keyed by the tensors they are given: a new
    view object each step would plan again). A view is made again when its param's memory
    changed (``param.data = ...``). Copies and pickles start empty (views are rebuilt)."""

    def __init__(self) -> None:
        self._views: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, param: torch.Tensor) -> torch.Tensor:
        """``param`` itself when it is real, else its real view.

        Raises:
            TypeError: a conjugated view as a param (``param.is_conj()``): its real view
                cannot write the param (call ``resolve_conj()`` on it first).
        """
        if not param.is_complex():
            return param
        if param.is_conj():
            raise TypeError(
                f"a complex param that is a conjugated view (is_conj()) cannot be updated in "
                f"place through its real view: resolve it (param.resolve_conj()) first; got shape "
                f"{tuple(param.shape)}"
            )
        if torch.compiler.is_compiling():  # inside a user's torch.compile: no cache to trace
            return torch.view_as_real(param)
        hit = self._views.get(id(param))
        if (
            hit is not None
            and hit[0] is param
            and hit[1].data_ptr() == param.data_ptr()
            and hit[1].shape[:-1] == param.shape
            and hit[1].dtype == param.dtype.to_real()
        ):
            return hit[1]
        view = torch.view_as_real(param)
        self._views[id(param)] = (param, view)
        return view

    def __reduce__(self) -> tuple[type[RealViews], tuple[()]]:
        return (RealViews, ())

    def __deepcopy__(self, memo: dict[int, object]) -> RealViews:
        return RealViews()


def zero_in_place(grad: torch.Tensor) -> None:
    """Zero-fill ``grad`` as torch's ``zero_grad(set_to_none=False)`` does: detached from its
    graph if it has one, else made not to require grad (an in-place op on a leaf that requires
    grad would raise)."""
    if grad.grad_fn is not None:
        grad.detach_()
    else:
        grad.requires_grad_(False)
    grad.zero_()


def select_params(
    param_groups: Sequence[dict[str, Any]],
    parameters: Iterable[torch.Tensor | str] | None,
    no_grad_set: Iterable[torch.Tensor | str] | None,
) -> set[torch.Tensor] | None:
    """The params ``minimize(parameters=..., no_grad_set=...)`` updates: those of ``parameters``
    (tensors or the names of named params; default every param of ``param_groups``) less those of
    ``no_grad_set``; None when neither is given (every param).

    Raises:
        ValueError: an entry that is not a param of the groups (nor a param's name), named.
    """
    if parameters is None and no_grad_set is None:
        return None
    names: dict[str, torch.Tensor] = {}
    for group in param_groups:
        for k, p in enumerate(group["params"]):
            if "param_names" in group:
                names[group["param_names"][k]] = p

    def resolve(items: Iterable[torch.Tensor | str], arg: str) -> set[torch.Tensor]:
        out: set[torch.Tensor] = set()
        for item in items:
            if isinstance(item, torch.Tensor):
                out.add(item)
            elif isinstance(item, str) and item in names:
                out.add(names[item])
            else:
                raise ValueError(f"minimize: {arg} entry {item!r} is not a parameter of this optimizer")
        return out

    chosen = {p for g in param_groups for p in g["params"]}
    if parameters is not None:
        chosen = resolve(parameters, "parameters")
    if no_grad_set is not None:
        chosen -= resolve(no_grad_set, "no_grad_set")
    return chosen
