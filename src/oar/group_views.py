"""torch's param-group keys that mirror Paddle's: ``param_groups[i]['betas'] == (beta1, beta2)``.

torch.optim's Adam family keeps ``betas`` in every param group and in ``defaults``; torch's
schedulers that cycle momentum (``OneCycleLR`` and ``CyclicLR``, ``cycle_momentum=True`` by
default) look for ``'betas'`` (else ``'momentum'``) in ``optimizer.defaults`` and write
``group['betas'] = (beta1, *group['betas'][1:])`` at every step (torch 2.13,
``torch/optim/lr_scheduler.py``). oar's algorithms keep Paddle's keys, ``beta1`` and ``beta2``;
this module keeps a *view* of them under torch's key, for every algorithm that has both, in
``defaults`` and in every group, both ways:

* the view is written whenever oar sets the Paddle keys (construction, ``add_param_group``,
  ``load_state_dict``); a group dict given with torch's ``'betas'`` sets the Paddle keys from it;
* before every update (``step``, ``minimize``) and every ``state_dict()``, a view written since
  the last sync (by a torch scheduler, or by hand) is checked as the constructor checks
  ``beta1``/``beta2`` and copied into the Paddle keys; Paddle keys written since (Paddle's own way
  of changing a group's hyper-parameter: ``opt.param_groups[i]['beta1'] = 0.8``) are copied into
  the view. A change is seen by comparing with the values of the last sync, which are kept per
  group (the group dict itself, by identity, with its position).

``momentum`` needs no view: Paddle's Momentum and RMSProp call it ``momentum`` already, torch's
key, so torch's schedulers write it and the update reads it as it is.

As in Paddle, the beta-pow accumulators multiply the beta of each step (``B1 = Π β1``), so under
a schedule of ``beta1`` the bias correction is Paddle's, not torch's ``1 - β1**t`` with the
current ``β1``; the moments are torch's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["VIEWS", "add_defaults", "sync", "take_explicit"]

#: torch's key -> the Paddle keys it mirrors, in order.
VIEWS: dict[str, tuple[str, ...]] = {"betas": ("beta1", "beta2")}

#: The attribute of the optimizer holding, per group position, ``(group, {view: value})`` of the
#: last sync.
_RECORD = "_group_views"

Validate = Callable[[dict[str, Any]], None]


def _views(defaults: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The views an optimizer with these ``defaults`` has (those whose Paddle keys it has)."""
    return {view: keys for view, keys in VIEWS.items() if all(k in defaults for k in keys)}


def add_defaults(defaults: dict[str, Any]) -> None:
    """Add the views to an optimizer's ``defaults`` (in place), where torch's schedulers look
    for them: ``defaults['betas'] = (defaults['beta1'], defaults['beta2'])``."""
    for view, keys in _views(defaults).items():
        defaults[view] = tuple(defaults[k] for k in keys)


def _same(a: Any, b: Any) -> bool:
    """Equal views: sequences of the same length whose elements are the same object or equal
    numbers (a tensor is the same only as itself: a new tensor is a change)."""
    if not isinstance(a, Sequence) or not isinstance(b, Sequence) or len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x is y:
            continue
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor) or x != y:
            return False
    return True


def _checked(where: str, view: str, keys: tuple[str, ...], value: Any, validate: Validate) -> tuple[Any, ...]:
    """``value`` as a tuple of the Paddle keys' values, checked by ``validate``.

    Raises:
        ValueError: not a tuple or list of ``len(keys)`` values; a value out of range (the
            optimizer's own check, whose type it keeps: TypeError for a non-number).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != len(keys):
        raise ValueError(f"{where}[{view!r}] must be a tuple of {len(keys)} values ({', '.join(keys)}), got {value!r}")
    try:
        validate(dict(zip(keys, value, strict=True)))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}[{view!r}] = {value!r}: {exc}") from None
    return tuple(value)


def take_explicit(group: dict[str, Any], defaults: dict[str, Any], validate: Validate) -> None:
    """A group dict given with torch's view key (``{'params': ..., 'betas': (0.8, 0.99)}``): set the
    Paddle keys from it, in place (called by ``add_param_group`` before the defaults fill the group).

    Raises:
        ValueError: a bad view (see ``_checked``), or a view that contradicts Paddle keys given too.
    """
    for view, keys in _views(defaults).items():
        if view not in group:
            continue
        value = _checked("param group", view, keys, group[view], validate)
        given = {k: group[k] for k in keys if k in group}
        if given and not _same(tuple(given.values()), tuple(value[keys.index(k)] for k in given)):
            raise ValueError(
                f"param group gives {view}={group[view]!r} and {given!r}, which disagree: give one of them"
            )
        group.update(zip(keys, value, strict=True))
        group[view] = value


def sync(opt: torch.optim.Optimizer, validate: Validate) -> None:
    """Bring every group's views and Paddle keys into agreement (see the module docstring): a view
    changed since the last sync wins; otherwise the Paddle keys do. Nothing is written when
    nothing changed (the steady state of a step reads only).

    Raises:
        ValueError, TypeError: a view written with a bad value (nothing of that group changes).
    """
    views = _views(opt.defaults)
    if not views:
        return
    record: list[tuple[dict[str, Any], dict[str, Any]]] = opt.__dict__.get(_RECORD) or []
    fresh: list[tuple[dict[str, Any], dict[str, Any]]] = []
    changed = len(record) != len(opt.param_groups)
    for i, group in enumerate(opt.param_groups):
        last = record[i][1] if i < len(record) and record[i][0] is group else None
        changed = changed or last is None
        synced = {}
        for view, keys in views.items():
            if not all(k in group for k in keys):
                continue
            current = group.get(view)
            if last is not None and view in last and current is not None and not _same(current, last[view]):
                value = _checked(f"param_groups[{i}]", view, keys, current, validate)
                group.update(zip(keys, value, strict=True))  # the view was written: it wins
                changed = True
            paddle_value = tuple(group[k] for k in keys)
            if not _same(current, paddle_value):
                group[view] = paddle_value
                changed = True
            synced[view] = group[view]
        fresh.append((group, synced))
    if changed:
        setattr(opt, _RECORD, fresh)
