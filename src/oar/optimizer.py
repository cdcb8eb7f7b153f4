"""``oar.Optimizer``: Paddle's optimizer base class as a ``torch.optim.Optimizer``.

The step pipeline is the same for every algorithm (Paddle's dygraph ``Optimizer.step``,
https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/Optimizer_en.html):
for each param group, collect ``(param, grad)`` pairs of trainable params that have a grad → clip
(the group's ``grad_clip`` or the optimizer's) → regularize (coupled L1/L2 with Paddle's
precedence) → create missing state → hand the group to an engine that runs the algorithm's
update rule. An algorithm subclass declares only its signature and validation, its per-group
hyper-parameters, its accumulators and its rule.

Paddle and torch vocabularies meet here only: ``param_groups[i]['lr']`` always holds the
effective learning rate (base lr or scheduler value × the group's ``learning_rate`` multiplier),
so torch LR schedulers, ``GradScaler`` and loggers work; and ``param_groups[i]['betas']`` mirrors
``beta1``/``beta2`` both ways (:mod:`oar.group_views`), so torch's momentum-cycling schedulers
work; everything else uses Paddle's names.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from . import engine as _engine
from . import group_views as _group_views
from . import state_dict as _state_dict
from . import step_check as _step_check
from . import var_names as _var_names
from .clip import ClipGradBase
from .engine.rule import Hyper, State
from .lr import LRScheduler
from .params import Params, RealViews, lr_multiplier, parse_parameters, real_view, select_params, zero_in_place
from .precision import LOW_PRECISION, as_float, round_to, rounded_lr, state_dtype
from .regularizer import WeightDecayRegularizer, as_regularizer
from .torch_compat import accept_torch_convention, same_lr, zero_defaults
from .validate import check_lr, number, show

__all__ = ["Optimizer"]

#: A group's ``(param, grad)`` pairs, as :meth:`Optimizer._collect` gives them.
_Pairs = Sequence[tuple[torch.Tensor, torch.Tensor]]

#: Instance attributes that copies and pickles leave out (torch's ``__getstate__`` keeps only
#: ``defaults``, ``state`` and ``param_groups``; oar keeps its settings too): torch's hooks
#: (torch drops them: often lambdas, which cannot be pickled), and the ``step`` wrapper a torch
#: LR scheduler sets on the instance with its flag (the wrapper reaches the optimizer through a
#: weak reference: a copy carrying it would step the original's params); and oar's caches that
#: are rebuilt when missing and hold weak references or ids of the original's params
#: (:mod:`oar.step_check`'s ``_state_specs`` and ``_verified_states``: a weak reference cannot be
#: pickled).
_TRANSIENT = frozenset(
    {
        "step",
        "_opt_called",
        "_optimizer_step_pre_hooks",
        "_optimizer_step_post_hooks",
        "_optimizer_state_dict_pre_hooks",
        "_optimizer_state_dict_post_hooks",
        "_optimizer_load_state_dict_pre_hooks",
        "_optimizer_load_state_dict_post_hooks",
        "_state_specs",
        "_verified_states",
    }
)


class Optimizer(torch.optim.Optimizer):
    """Base class of oar's optimizers (``paddle.optimizer.Optimizer`` semantics on torch).

    Args:
        learning_rate (float | oar.lr.LRScheduler): the base learning rate. A scheduler is read at
            every ``step()`` and never stepped by the optimizer.
        parameters (iterable): tensors; ``(name, tensor)`` pairs (``model.named_parameters()``);
            or param-group dicts with ``'params'`` and any constructor option, where a group's
            ``'learning_rate'`` is a *multiplier* of the base lr. May also be given first,
            positionally, as in torch (``Adam(model.parameters(), learning_rate=1e-3)``).
        weight_decay (float | L1Decay | L2Decay | None): coupled regularization; a float means
            ``L2Decay``. A parameter's own ``regularizer`` takes precedence in list mode.
        grad_clip (ClipGradByValue | ClipGradByNorm | ClipGradByGlobalNorm | None): gradient
            clipping applied per group before regularization.
        name (str | None): kept for Paddle compatibility.
        engine (str, keyword only): how the update runs: ``'auto'`` (default) or one of
            ``oar.engine.ENGINES``; see :meth:`set_engine`.
        skip_nonfinite (bool, keyword only): oar's non-finite guard (default False: Paddle's
            behaviour, NaN propagates). True: a step in which any grad holds a NaN or an inf is
            skipped whole (no param, accumulator, beta pow or step count changes), counted in
            :attr:`skipped_steps` and the state dict, with a ``RuntimeWarning`` naming the first
            offending parameter. See :mod:`oar.step_check`.

    Raises:
        TypeError: ``learning_rate`` is not a float or scheduler (an int included, as Paddle);
            ``weight_decay``, ``grad_clip`` or ``name`` of a wrong type; torch's keyword names;
            ``skip_nonfinite`` not a bool.
        ValueError: a float ``learning_rate`` or a number ``weight_decay`` that is negative, NaN
            or infinite (Paddle takes them; oar refuses them here, see README); a param in two
            groups, or no params.
        AttributeTypeError: ``parameters`` is None (Paddle's ``AttributeError``, also a
            ``TypeError``).

    Complex parameters are updated as torch.optim updates them: the rule runs on
    ``torch.view_as_real`` views of the param, its grad and its state (each complex number is two
    reals), for every algorithm and engine; their state is kept in that real form (shape
    ``[*param.shape, 2]``).
    """

    # ================================================================== subclass hooks
    # An algorithm is a subclass that defines its constructor (Paddle's signature, calling
    # ``super().__init__(learning_rate, parameters, weight_decay, grad_clip, name,
    # options={...per-group options...}, multi_precision=...)``) and these hooks, nothing else;
    # then it registers itself in ``oar.algorithms`` (see "Adding an optimizer" in the README).
    #
    #   _rule             the update rule: a pure function of tensors (``oar.engine.rule.Rule``)
    #   _accumulators     its state for one param (names, shapes, dtypes, initial values)
    #   _hyper            the rule's keyword arguments for a group (plain floats and bools)
    #   _float32_hypers   which of them Paddle's kernel takes as C++ float (rounded to float32)
    #   _hyper_key        what else makes ``_hyper`` differ between params of a group
    #   _validate_group   check per-group options (constructor's and groups'), raising
    #   _check_grad       refuse gradients it cannot take (sparse, by default)
    #   _torch_kwarg_hints, _callable_keys: torch keyword names refused with a hint; group keys
    #                     holding callables (not saved in state dicts)

    _torch_kwarg_hints: ClassVar[dict[str, str]] = {}
    _callable_keys: ClassVar[tuple[str, ...]] = ()
    _float32_hypers: ClassVar[frozenset[str]] = frozenset()

    # ``*args, **hyper``: a rule's own keyword-only signature overrides it (``oar.engine.rule.Rule``)
    def _rule(
        self, param: torch.Tensor, grad: torch.Tensor, state: State, *args: Any, **hyper: Any
    ) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} defines no update rule")

    def _accumulators(self, target: torch.Tensor, group: Mapping[str, Any]) -> State:
        """The algorithm's state for one parameter (``target`` is the master weight if any)."""
        return {}

    def _hyper(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Any) -> Hyper:
        """Keyword arguments of the rule (besides ``lr``) as plain floats and bools (rounded for
        ``dtype`` by ``_hypers_for``, not here), for the params whose ``_hyper_key`` is ``param_key``. Called once per step for each distinct
        (dtype, lr, ``_hyper_key``) of a group; the params sharing them share the dict."""
        return {}

    def _hyper_key(self, group: Mapping[str, Any], param: torch.Tensor) -> Hashable:
        """What, besides dtype and lr, makes ``_hyper`` differ between params of a group."""
        return None

    def _validate_group(self, group: Mapping[str, Any]) -> None:
        """Subclasses validate their per-group options here (raise on bad values)."""

    def _check_grad(self, param: torch.Tensor, grad: torch.Tensor, regularizer: WeightDecayRegularizer | None) -> None:
        """Subclasses reject unsupported gradients here (e.g. sparse)."""
        if grad.is_sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")

    # ================================================================== construction

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_oar_wrapped", False):
            cls.__init__ = accept_torch_convention(init)  # type: ignore[method-assign]  # deliberate wrapping

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        multi_precision: bool = False,
    ) -> None:
        if not isinstance(learning_rate, (float, LRScheduler)) or isinstance(learning_rate, bool):
            raise TypeError(f"learning rate should be float or LRScheduler, got {type(learning_rate)} here")
        if isinstance(learning_rate, float):
            check_lr("learning_rate", learning_rate)
        weight_decay = as_regularizer(weight_decay)  # a number: L2Decay (finite, >= 0)
        if name is not None and not isinstance(name, str):
            # Paddle fails at the first step (it builds the accumulators' names from it)
            raise TypeError(f"name must be a str or None, got {show(name)} ({type(name).__name__})")
        if grad_clip is not None and not isinstance(grad_clip, ClipGradBase):
            raise TypeError(
                "'grad_clip' should be an instance of ClipGradBase's derived class "
                f"(ClipGradByValue, ClipGradByNorm, ClipGradByGlobalNorm), got {grad_clip!r}"
            )
        if not isinstance(multi_precision, bool):
            raise TypeError(f"multi_precision must be a bool, got {multi_precision!r}")
        self._learning_rate = learning_rate
        self._grad_clip = grad_clip
        self._name = name
        self._multi_precision = multi_precision
        self._engine = "auto"
        self._skip_nonfinite = False  # set by the skip_nonfinite keyword (oar.torch_compat)
        self._skipped_steps = 0
        self._real_views = RealViews()  # complex params, updated through their real views
        self._synced_base_lr: float | None = None
        self._wrapper_lr = zero_defaults().get("learning_rate")
        self._validate_group(dict(options or {}))
        groups, self._list_mode = parse_parameters(parameters)
        defaults = {
            "learning_rate": 1.0,
            "weight_decay": weight_decay,
            "grad_clip": None,
            **(options or {}),
        }
        _group_views.add_defaults(defaults)  # torch's 'betas' (see oar.group_views)
        super().__init__(groups, defaults)
        if isinstance(learning_rate, LRScheduler):
            learning_rate._add_listener(self)
        self._synced_base_lr = self._base_lr()

    # ------------------------------------------------------------------ param groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (torch API). Paddle's group semantics apply: ``'learning_rate'`` is
        a multiplier of the base lr, ``'weight_decay'`` a float/L1Decay/L2Decay/None, and
        ``'grad_clip'`` a clip object or None. A torch-style ``'lr'`` is taken as the group's
        effective lr until the base lr next changes."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        mult = group.get("learning_rate", 1.0)
        if self._wrapper_lr is not None and same_lr(mult, self._wrapper_lr):
            # ZeroRedundancyOptimizer filled the group with its constructor's learning_rate:
            # that is the base lr, not a multiplier (see oar.torch_compat.zero_defaults).
            mult = 1.0
        if isinstance(mult, bool) or not isinstance(mult, numbers.Real):
            raise TypeError(
                f"param group 'learning_rate' is a multiplier of the base lr and must be a float, got {mult!r}"
            )
        group["learning_rate"] = check_lr("param group 'learning_rate'", mult)  # finite, >= 0
        if "weight_decay" in group:
            group["weight_decay"] = self._parse_group_weight_decay(group["weight_decay"])
        clip = group.get("grad_clip")
        if clip is not None and not isinstance(clip, ClipGradBase):
            raise TypeError(f"param group 'grad_clip' must be a ClipGradBase instance or None, got {clip!r}")
        _group_views.take_explicit(group, self.defaults, self._validate_group)  # torch's 'betas'
        self._validate_group(group)
        explicit_lr = group.pop("lr", None)
        if explicit_lr is not None:  # torch's key: finite, >= 0 too
            explicit_lr = as_float(number("param group 'lr'", explicit_lr, low=0.0, finite=True, tensor=True))
        super().add_param_group(group)
        group["lr"] = self._base_lr() * group["learning_rate"]
        if explicit_lr is not None:
            group["lr"] = explicit_lr
        _group_views.sync(self, self._validate_group)

    def _parse_group_weight_decay(self, value: object) -> WeightDecayRegularizer | float | None:
        """A group's ``weight_decay``, judged as the constructor's (``oar.regularizer.as_regularizer``:
        an int or float means ``L2Decay``)."""
        return as_regularizer(value, "param group 'weight_decay'")

    # ------------------------------------------------------------------ learning rate
    def _base_lr(self) -> float:
        lr = self._learning_rate
        return float(lr()) if isinstance(lr, LRScheduler) else float(lr)

    def _sync_group_lrs(self) -> None:
        base = self._base_lr()
        for group in self.param_groups:
            group["lr"] = base * group["learning_rate"]
        self._synced_base_lr = base

    def _on_lr_change(self) -> None:
        """Called by an attached LRScheduler after its lr changed."""
        self._sync_group_lrs()

    def get_lr(self) -> float:
        """The base learning rate: the float given, or the scheduler's current value."""
        return self._base_lr()

    def set_lr(self, value: float) -> None:
        """Set a float base learning rate.

        Raises:
            TypeError: ``value`` is not an int or float.
            RuntimeError: the optimizer uses an LRScheduler.
            ValueError: ``value`` is negative, NaN or infinite (Paddle takes them; the next step
                would make every param NaN).
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"The type of 'value' in optimizer.set_lr must be float, but received {type(value)}.")
        if isinstance(self._learning_rate, LRScheduler):
            raise RuntimeError(
                "optimizer's learning rate can't be LRScheduler when invoke this API, "
                "because this will lead to conflict."
            )
        self._learning_rate = check_lr("set_lr's value", value)
        self._sync_group_lrs()

    def set_lr_scheduler(self, scheduler: LRScheduler) -> None:
        """Use ``scheduler`` (an ``oar.lr.LRScheduler``) as the base learning rate from now on.

        Raises:
            TypeError: ``scheduler`` is not an LRScheduler.
        """
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(
                "The type of 'scheduler' in optimizer.set_lr_scheduler must be LRScheduler, "
                f"but received {type(scheduler)}."
            )
        if isinstance(self._learning_rate, LRScheduler) and self._learning_rate is not scheduler:
            self._learning_rate._remove_listener(self)  # the old scheduler no longer drives this optimizer
        self._learning_rate = scheduler
        scheduler._add_listener(self)
        self._sync_group_lrs()

    def set_engine(self, engine: str) -> None:
        """Choose how updates are executed: ``'auto'`` (by parameter count, dtype and device) or
        one of ``oar.engine.ENGINES``. Every engine gives the eager engine's results up to float
        rounding.

        Raises:
            ValueError: an unknown engine name.
        """
        if engine != "auto" and engine not in _engine.ENGINES:
            raise ValueError(f"engine must be 'auto' or one of {sorted(_engine.ENGINES)}, got {engine!r}")
        self._engine = engine

    # ------------------------------------------------------------------ state
    def _init_state(self, param: torch.Tensor, group: Mapping[str, Any]) -> State:
        state: dict[str, torch.Tensor] = {}
        target = param
        if self._multi_precision and param.dtype in LOW_PRECISION:
            state["master_weight"] = param.detach().to(torch.float32, copy=True)
            target = state["master_weight"]
        state.update(self._accumulators(target, group))
        return state

    @staticmethod
    def _zeros(target: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(target, dtype=state_dtype(target), memory_format=torch.preserve_format)

    @staticmethod
    def _filled(target: torch.Tensor, value: float) -> torch.Tensor:
        """A state tensor like ``target`` filled with ``value`` rounded to the state dtype (a
        finite value beyond float32's range is inf there, as Paddle's cast; ``torch.full_like``
        would raise)."""
        dtype = state_dtype(target)
        fill = torch.tensor(value, dtype=torch.float64).to(dtype)
        return torch.empty_like(target, dtype=dtype, memory_format=torch.preserve_format).copy_(fill)

    @staticmethod
    def _scalar_state(target: torch.Tensor, value: float) -> torch.Tensor:
        return torch.full((1,), value, dtype=state_dtype(target), device=target.device)

    # ------------------------------------------------------------------ the step
    def _regularizer_for(
        self, param: torch.Tensor, group: Mapping[str, Any], list_mode: bool
    ) -> WeightDecayRegularizer | None:
        """Paddle's precedence: in list mode a param's own regularizer, else the group's
        ``weight_decay``; a group's ``None`` means the optimizer's ``weight_decay`` (Paddle writes
        the group's value into ``param.regularizer``, and a None there falls back to the
        optimizer's; checked against Paddle 3.3.1)."""
        if list_mode:
            own: WeightDecayRegularizer | None = getattr(param, "regularizer", None)
            if own is not None:
                return own
        reg: WeightDecayRegularizer | None = group["weight_decay"]
        if reg is None:
            reg = self.defaults["weight_decay"]
        return reg

    def _hypers_for(self, group: Mapping[str, Any], dtype: torch.dtype, param_key: Hashable) -> Hyper:
        """``_hyper``'s values as Paddle's kernel for ``dtype`` sees them: every float rounded
        to ``dtype`` (the kernel's type T), after rounding to float32 those in
        ``_float32_hypers`` (C++ ``float`` attributes in Paddle). The rule, and every engine,
        then computes derived constants (1 - beta, bias corrections) from the rounded values in
        T, as Paddle's kernels do: rounding ``1 - beta`` computed from the unrounded beta
        instead disagrees with the float32 beta pows and moves early float32 Adam updates by
        ~6e-6 (beta2=0.999)."""
        hyper = self._hyper(group, dtype, param_key)
        for name, value in hyper.items():
            if type(value) is float:  # flags (bool) and tensors are left as they are
                if name in self._float32_hypers:
                    value = round_to(value, torch.float32)
                hyper[name] = round_to(value, dtype)
        return hyper

    def _collect(
        self, group: dict[str, Any], only: set[torch.Tensor] | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            (p, p.grad)
            for p in group["params"]
            if p.requires_grad and p.grad is not None and (only is None or p in only)
        ]

    def _prepare_group(self, index: int, group: dict[str, Any], pairs: _Pairs) -> _step_check.Prepared:
        """One group's step, checked with nothing changed (see :mod:`oar.step_check`): each
        grad against its param, the clip and the param's state; the algorithm's ``_check_grad``;
        each param's regularizer and hyper-parameters.

        Raises:
            the first failing check's exception, naming the parameter.
        """
        # A complex param is two reals per element, as in torch.optim: from here on its grad,
        # the param the rule updates (``x``) and its state are ``torch.view_as_real`` views;
        # attributes, names and state keys stay the param's own (``p``).
        clip = group.get("grad_clip") or self._grad_clip
        list_mode = self._list_mode and index == 0
        viewed, targets, regs, hypers = [], [], [], []
        shared: dict[tuple[torch.dtype, torch.device, float, Hashable], Hyper] = {}
        for p, g in pairs:
            try:
                x = self._real_views(p)
                g = real_view(g)
            except (TypeError, RuntimeError) as exc:
                raise _step_check.named(exc, _step_check.param_label(self, index, group, p)) from None
            _step_check.check_pair(self, index, group, p, x, g, clip)
            reg = self._regularizer_for(p, group, list_mode)
            try:
                self._check_grad(x, g, reg)
                param_key = self._hyper_key(group, p)
            except Exception as exc:
                raise _step_check.named(exc, _step_check.param_label(self, index, group, p)) from None
            dtype = state_dtype(x)  # the master weight's (float32) for a low-precision param
            multiplier = lr_multiplier(p) if list_mode else 1.0
            # Keyed by the multiplier, not the lr: under torch.compile the lr is symbolic.
            key = (dtype, p.device, multiplier, param_key)
            hyper = shared.get(key)
            if hyper is None:  # params with equal keys share one dict (engines only read it)
                hyper = shared[key] = self._hypers_for(group, dtype, param_key)
                hyper["lr"] = rounded_lr(group["lr"] * multiplier, dtype, p.device)
            viewed.append((p, g))
            targets.append(x)
            regs.append(reg)
            hypers.append(hyper)
        return _step_check.Prepared(index, group, viewed, targets, regs, hypers, clip)

    def _apply_prepared(self, prepared: _step_check.Prepared) -> None:
        """Run one checked group's step: clip, regularize, create missing state, run the engine."""
        params, grads, states = [], [], []
        for (p, g), x, reg in zip(prepared.clipped(), prepared.targets, prepared.regs, strict=True):
            if reg is not None and reg.coeff != 0.0:  # g + 0 p is g (a pass saved; see README)
                g = reg(x, g)
            state = self.state[p]
            if not state:
                state.update(self._init_state(x, prepared.group))
            params.append(x)
            grads.append(g)
            states.append(state)
        if params:
            _engine.run(self._rule, params, grads, states, prepared.hypers, engine=self._engine)

    def _apply_group(self, index: int, group: dict[str, Any], pairs: _Pairs) -> None:
        """One group's step on its own: checked (:meth:`_prepare_group`), then applied."""
        self._apply_prepared(self._prepare_group(index, group, pairs))

    def _run_step(self, work: Iterable[tuple[int, dict[str, Any], _Pairs]]) -> None:
        """The step of every ``(index, group, pairs)`` in ``work``: all groups checked first,
        then, unless the non-finite guard skips the step (``skip_nonfinite=True``), applied. A
        failing check raises before anything has changed."""
        prepared = [self._prepare_group(index, group, pairs) for index, group, pairs in work if pairs]
        if self._skip_nonfinite and prepared and _step_check.guard_nonfinite(self, prepared):
            return
        for item in prepared:
            self._apply_prepared(item)

    @property
    def skipped_steps(self) -> int:
        """Steps skipped by the non-finite guard (``skip_nonfinite=True``); saved in the state
        dict as ``'skipped_steps'``."""
        return self._skipped_steps

    def _refresh_lr(self) -> None:
        if isinstance(self._learning_rate, LRScheduler) and self._learning_rate() != self._synced_base_lr:
            self._sync_group_lrs()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every param group (Paddle's ``step``; torch's ``step(closure)``).

        Params without a grad (or with ``requires_grad=False``) are skipped entirely.

        Args:
            closure (callable, optional): re-evaluates the model and returns the loss; it runs
                with grad enabled before the update.

        Returns:
            The closure's loss, or None.

        Raises:
            RuntimeError, TypeError, ...: a grad or state that does not fit its param, or a grad
                the algorithm refuses (the parameter named), raised before anything changes (no
                param, state, grad or scheduler): the step is atomic (:mod:`oar.step_check`).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._refresh_lr()
        _group_views.sync(self, self._validate_group)  # a torch scheduler's 'betas'
        self._run_step([(index, group, self._collect(group)) for index, group in enumerate(self.param_groups)])
        return loss

    @torch.no_grad()
    def minimize(
        self,
        loss: torch.Tensor,
        startup_program: object = None,
        parameters: Iterable[torch.Tensor | str] | None = None,
        no_grad_set: Iterable[torch.Tensor | str] | None = None,
    ) -> tuple[list[Any], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Update with the existing grads (Paddle dygraph ``minimize``: it does not run backward;
        call ``loss.backward()`` first, and it does not clear grads).

        Args:
            loss (torch.Tensor): unused beyond Paddle compatibility.
            startup_program: ignored (static graph only).
            parameters (list of tensors or names, optional): restrict the update to these.
            no_grad_set (set of tensors or names, optional): leave these out.

        Returns:
            tuple: ``([], [(param, grad), ...])``, the (param, grad) pairs that were used.
        """
        selected = select_params(self.param_groups, parameters, no_grad_set)
        self._refresh_lr()
        _group_views.sync(self, self._validate_group)
        used, work = [], []
        for index, group in enumerate(self.param_groups):
            pairs = self._collect(group, selected)
            used.extend(pairs)
            work.append((index, group, pairs))
        self._run_step(work)
        return [], used

    def clear_grad(self, set_to_zero: bool = True) -> None:
        """Zero-fill the grads in place (default), or set them to None (``set_to_zero=False``).
        Only trainable params (``requires_grad``) are touched (Paddle's ``clear_grad`` skips
        ``stop_gradient`` params). A grad that is part of a graph is detached first, one that
        requires grad stops requiring it (as torch's ``zero_grad``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if not p.requires_grad or p.grad is None:
                    continue
                if set_to_zero:
                    zero_in_place(p.grad)
                else:
                    p.grad = None

    clear_gradients = clear_grad

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's ``zero_grad`` (torch 2.13's rules): every param's grad, a frozen param's
        (``requires_grad=False``) included, is set to None (default) or, with
        ``set_to_none=False``, zero-filled in place (a grad in a graph detached first, one that
        requires grad made not to). Recorded by the profiler as
        ``Optimizer.zero_grad#<class>.zero_grad``, as torch's. Paddle's :meth:`clear_grad`
        zero-fills by default and skips frozen params."""
        if not hasattr(self, "_zero_grad_profile_name"):
            self._patch_step_function()
        with torch.autograd.profiler.record_function(self._zero_grad_profile_name):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if set_to_none:
                        p.grad = None
                    else:
                        zero_in_place(p.grad)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as plain data (``torch.load`` with
        ``weights_only=True`` reads it back); layout in :mod:`oar.state_dict`. torch's state-dict
        hooks run around it."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        _group_views.sync(self, self._validate_group)  # a 'betas' written since the last step
        out = _state_dict.pack(self)
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, out)
            if result is not None:
                out = result
        return out

    def _expected_state(self, param: torch.Tensor, group: Mapping[str, Any]) -> State:
        """The accumulators ``param`` has in ``group`` (on the meta device: names, shapes, dtypes;
        a complex param's are those of its real view)."""
        return self._init_state(real_view(torch.empty_like(param, device="meta")), group)

    def _scheduler(self) -> LRScheduler | None:
        return self._learning_rate if isinstance(self._learning_rate, LRScheduler) else None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()``, also one saved on another device or dtype (cast on load).

        The whole dict is checked first (optimizer kind, groups and their options, params,
        accumulator names, shapes, types and dtypes, counts and beta pows, the scheduler's
        state: :func:`oar.state_dict.unpack`); on any problem nothing is changed. Options a
        saved group lacks keep the optimizer's values (Paddle's dicts hold none); a group
        without ``'lr'`` gets the loaded base lr times its multiplier.

        Raises:
            ValueError: the first bad entry, named.
            AssertionError: the optimizer uses a scheduler and ``'LR_Scheduler'`` is missing (as Paddle).
        """
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        loaded = _state_dict.unpack(self, state_dict)
        skipped = _state_dict.unpack_skipped_steps(state_dict) if self._skip_nonfinite else 0
        # Everything checked: apply.
        scheduler = self._scheduler()
        if scheduler is not None and loaded.scheduler is not None:
            scheduler.set_state_dict(loaded.scheduler)
        elif loaded.learning_rate is not None:
            self._learning_rate = loaded.learning_rate
        self.param_groups[:] = loaded.groups
        _group_views.sync(self, self._validate_group)
        self.state.clear()
        self.state.update(loaded.state)
        self._skipped_steps = skipped
        self._synced_base_lr = self._base_lr()
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Paddle's name for :meth:`load_state_dict`."""
        self.load_state_dict(state_dict)

    def __getstate__(self) -> dict[str, Any]:
        """What ``copy.deepcopy`` and ``pickle`` carry: every attribute (oar's settings, the
        scheduler, the state, the groups) except torch's hooks and a torch scheduler's ``step``
        wrapper (``_TRANSIENT``), which torch's ``__getstate__`` leaves out too."""
        return {key: value for key, value in self.__dict__.items() if key not in _TRANSIENT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a copy: torch's rebuilding (empty hooks, the profiler's step wrapper), then
        oar's: the copy listens to its own ``oar.lr`` scheduler (a scheduler's listeners are never
        copied). torch's ``defaults['differentiable']`` is not added (oar has no such option)."""
        had_differentiable = "differentiable" in state.get("defaults", {})
        super().__setstate__(state)
        if not had_differentiable:
            self.defaults.pop("differentiable", None)
        scheduler = self.__dict__.get("_learning_rate")
        if isinstance(scheduler, LRScheduler):
            scheduler._add_listener(self)

    def get_opti_var_name_list(self) -> list[str]:
        """Paddle's names of the accumulators created so far, in the order they were created:
        ``'{param name}_{[name_]}{accumulator}_0'`` (see :func:`oar.var_names.opti_var_names`:
        the param names, and how they differ from Paddle's).

        Returns:
            list[str]: e.g. ``['fc.weight_moment1_0', 'fc.weight_moment2_0', ...]``.
        """
        return _var_names.opti_var_names(self)
