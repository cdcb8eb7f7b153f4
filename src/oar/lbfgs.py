"""L-BFGS (Liu & Nocedal, 1989, "On the limited memory BFGS method for large scale
optimization", Math. Programming 45; strong-Wolfe line search: Nocedal & Wright, "Numerical
Optimization", Algorithm 3.5) with ``paddle.optimizer.LBFGS``'s semantics
(https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/LBFGS_en.html).

Paddle's LBFGS is a port of ``torch.optim.LBFGS``; oar runs Paddle's iteration loop and reuses
torch's line search (``torch.optim.lbfgs._strong_wolfe``, the code Paddle ported) and torch's
flat-gradient helpers."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, cast

import torch
from torch.optim import lbfgs as _torch_lbfgs

from . import state_dict as _state_dict
from . import step_check as _step_check
from .algorithms import Algorithm, Traffic, register
from .clip import ClipGradBase
from .lr import LRScheduler
from .optimizer import Optimizer
from .params import Params, real_view
from .regularizer import WeightDecayRegularizer
from .validate import RuntimeTypeError, RuntimeValueError, check_lr, count, number, show

__all__ = ["LBFGS"]

_STATE_KEYS = (
    "func_evals",
    "n_iter",
    "d",
    "alpha",
    "old_yk",
    "old_sk",
    "ro",
    "H_diag",
    "prev_flat_grad",
    "prev_loss",
    "al",
)


class _LaterGradsNonfinite(Exception):
    """Raised out of a line search when a closure's grads are not finite (skip_nonfinite=True)."""


class LBFGS(Optimizer):
    """L-BFGS with Paddle's semantics (``paddle.optimizer.LBFGS``, Paddle 3.3.1). Use it with a
    closure: ``loss = opt.step(closure)``, where ``closure()`` clears the grads, computes the
    loss, calls ``backward()`` and returns the loss; a step runs up to ``max_iter`` iterations.

    Args:
        learning_rate (float): the step length (the first iteration's is scaled by
            ``min(1, 1/sum|g|)``). Default 1.0.
        max_iter (int): iterations per ``step``. Default 20.
        max_eval (int | None): closure evaluations per ``step``; default ``max_iter * 5 // 4``.
        tolerance_grad (float): stop when ``max|g| <= tolerance_grad``. Default 1e-7.
        tolerance_change (float): stop when the step or the loss change is below it. Default 1e-9.
        history_size (int): (s, y) pairs kept. Default 100.
        line_search_fn (str | None): ``'strong_wolfe'`` or None (a fixed step).
        parameters, name: see :class:`oar.Optimizer`. In group mode only the **last** group's
            params are optimized (as Paddle); the others are left alone.
        weight_decay, grad_clip: accepted (and type-checked) but **ignored**, as in Paddle;
            oar warns once (``UserWarning`` naming them).

    State (``opt.state``, and ``state_dict()['state']``, one for the optimizer, as Paddle):
    ``func_evals``, ``n_iter`` (ints), ``d`` (direction), ``alpha`` (last step length),
    ``old_yk``, ``old_sk``, ``ro`` (history lists), ``H_diag``, ``prev_flat_grad``,
    ``prev_loss``, ``al``. torch's LBFGS names them ``t``, ``old_dirs``, ``old_stps`` and keeps
    them under its first param.

    As in Paddle, the learning rate is the attribute ``learning_rate``, read at every step:
    ``get_lr()`` returns the base class's 1.0 and ``set_lr`` / ``set_lr_scheduler`` do not change
    the update (oar warns once, naming them; Paddle is silent).

    Differences from Paddle: an unknown ``line_search_fn`` raises at construction (Paddle raises
    the same RuntimeError at the first ``step`` that reaches the line search); an
    ``LRScheduler`` as ``learning_rate`` raises TypeError at construction (Paddle fails inside
    ``step``); ``set_state_dict`` restores the state (Paddle's keeps none of it); dot products
    are torch's ``dot`` (Paddle: ``(x*y).sum()``), a rounding-level difference.
    Differences from ``torch.optim.LBFGS``: the strong-Wolfe search gets at most 25 evaluations
    per call (torch: ``max_eval`` minus the evaluations so far), Paddle's state names and
    layout, param groups allowed (the last one is optimized), updates ``p + d * t`` computed as
    a product then a sum (torch: ``add_(d, alpha=t)``).

    Raises:
        RuntimeValueError, RuntimeTypeError: ``line_search_fn`` other than None and
            ``'strong_wolfe'`` (Paddle's RuntimeError and message; also a ValueError, or a
            TypeError when it is not a string).
        RuntimeError: a sparse gradient, in ``step`` (Paddle's LBFGS crashes the process on one).
        TypeError: non-number options (``max_iter``, ``max_eval``, ``history_size``: non-ints),
            an ``LRScheduler`` learning rate.
        ValueError: a negative, NaN or infinite ``learning_rate`` or tolerance; a count below 1
            (Paddle takes them all: NaN makes the params NaN, a negative tolerance or count never
            stops or fails in the step).
        NotImplementedError: :meth:`minimize`.

    Complex params are optimized as two reals per element, as ``torch.optim.LBFGS`` does.

    Examples:
        Paddle's style, then torch's (params first); the state each param keeps:

        >>> import torch, oar
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = oar.LBFGS(learning_rate=1.0, parameters=model.parameters())
        >>> def closure():
        ...     opt.clear_grad()
        ...     loss = model(torch.ones(2, 4)).pow(2).mean()
        ...     loss.backward()
        ...     return loss
        >>> loss = opt.step(closure)
        >>> sorted(opt.state)  # one state for the optimizer, as Paddle's
        ['H_diag', 'al', 'alpha', 'd', 'func_evals', 'n_iter', 'old_sk', 'old_yk', 'prev_flat_grad', 'prev_loss', 'ro']
        >>> opt = oar.LBFGS(model.parameters(), learning_rate=1.0)
    """

    def __init__(
        self,
        learning_rate: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-07,
        tolerance_change: float = 1e-09,
        history_size: int = 100,
        line_search_fn: str | None = None,
        parameters: Params | None = None,
        weight_decay: float | WeightDecayRegularizer | None = None,
        grad_clip: ClipGradBase | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(learning_rate, LRScheduler):
            raise TypeError("LBFGS's learning_rate must be a float (Paddle's LBFGS reads no scheduler)")
        check_lr("learning_rate", learning_rate)  # finite, >= 0 (an int too, as Paddle's LBFGS)
        for key, value in (("max_iter", max_iter), ("history_size", history_size)):
            count(key, value)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        count("max_eval", max_eval)
        number("tolerance_grad", tolerance_grad, low=0.0, finite=True)
        number("tolerance_change", tolerance_change, low=0.0, finite=True)
        if line_search_fn is not None and line_search_fn != "strong_wolfe":
            # Paddle's RuntimeError (at its first step), also a TypeError/ValueError
            error = RuntimeValueError if isinstance(line_search_fn, str) else RuntimeTypeError
            raise error(
                f"only 'strong_wolfe' is supported (line_search_fn='strong_wolfe' or None), got "
                f"line_search_fn={show(line_search_fn)}"
            )
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_eval = max_eval
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        self.history_size = history_size
        self.line_search_fn = line_search_fn
        self._warned: set[str] = set()
        super().__init__(1.0, parameters, weight_decay, grad_clip, name, options={})
        ignored = [
            key for key, value in (("weight_decay", weight_decay), ("grad_clip", grad_clip)) if value is not None
        ]
        if ignored:
            self._warn_ignored(" and ".join(ignored))
        self._params: list[torch.Tensor] = self.param_groups[-1]["params"]
        self._numel_cache: int | None = None

    def _warn_ignored(self, what: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"LBFGS ignores {what} (as Paddle's LBFGS)", UserWarning, stacklevel=3)

    def set_lr(self, value: float) -> None:
        """Paddle's ``set_lr``: changes ``get_lr()`` only; the step uses ``learning_rate``."""
        super().set_lr(value)
        self._warn_ignored("set_lr(); set the attribute learning_rate instead")

    def set_lr_scheduler(self, scheduler: LRScheduler) -> None:
        """Paddle's ``set_lr_scheduler``: changes ``get_lr()`` only; warns once."""
        super().set_lr_scheduler(scheduler)
        self._warn_ignored("set_lr_scheduler() (a scheduler)")

    # torch.optim.LBFGS's helpers, which read ``self._params`` and ``self._numel_cache`` only
    _numel = _torch_lbfgs.LBFGS._numel

    def _gather_flat_grad(self) -> torch.Tensor:
        """torch's: the grads of ``_params`` as one vector, zeros for a missing grad.

        Raises:
            RuntimeError: a sparse grad (Paddle's LBFGS crashes on one).
        """
        if any(p.grad is not None and p.grad.is_sparse for p in self._params):
            raise RuntimeError("LBFGS does not support sparse gradients")
        return _torch_gather_flat_grad(self)

    def _clone_param(self) -> list[torch.Tensor]:
        """torch's: a contiguous copy of each of ``_params``."""
        return _torch_clone_param(self)

    def _set_param(self, params_data: list[torch.Tensor]) -> None:
        """torch's: copy ``params_data`` into ``_params``."""
        _torch_set_param(self, params_data)

    def _directional_evaluate(
        self, closure: Callable[[], Any], x: list[torch.Tensor], t: Any, d: torch.Tensor
    ) -> tuple[float, torch.Tensor]:
        """torch's: the loss and flat grad at ``x + t d`` (through this class's ``_add_grad``,
        ``_gather_flat_grad`` and ``_set_param``), the params restored to ``x`` after."""
        return _torch_directional_evaluate(self, closure, x, t, d)

    def _add_grad(self, step_size: Any, update: torch.Tensor) -> None:
        """``p = p + update * step_size`` per param (Paddle's order: the product is rounded). A
        complex param is updated through its real view, two entries of ``update`` per element (as
        torch's ``_gather_flat_grad`` and ``_numel`` count it)."""
        offset = 0
        for p in self._params:
            x = real_view(p)
            numel = x.numel()
            x.add_(update[offset : offset + numel].view_as(x) * step_size)
            offset += numel

    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; returns the closure's first loss.

        Args:
            closure (callable): clears the grads, evaluates the model, calls ``backward()`` and
                returns the loss; it is run with grad enabled.
        """
        closure = torch.enable_grad()(closure)
        orig_loss = closure()
        # checked before anything changes (oar.step_check); skip_nonfinite=True may skip the step
        if _step_check.lbfgs_step_skipped(self, self._params, _by_name(self.state)):
            return orig_loss
        if not self._skip_nonfinite:
            self._iterate(closure, orig_loss)
            return orig_loss
        # The guard covers every closure of the step: a later one with non-finite grads undoes the
        # step whole (params and state as they were before it; counted and warned about once).
        params, state = self._clone_param(), copy.deepcopy(dict(self.state))
        try:
            self._iterate(closure, orig_loss)
        except _LaterGradsNonfinite:
            self._set_param(params)
            self.state.clear()
            self.state.update(state)
        return orig_loss

    def _later_grads_nonfinite(self) -> None:
        """skip_nonfinite=True: after a later closure of a step, the guard on its grads (counted
        and warned about when they are not finite: the step is then undone)."""
        if not self._skip_nonfinite:
            return
        index = len(self.param_groups) - 1
        pairs = [(p, real_view(p.grad)) for p in self._params if p.grad is not None]
        prepared = _step_check.Prepared(
            index, self.param_groups[index], pairs, [real_view(p) for p, _ in pairs], [], [], None
        )
        if pairs and _step_check.guard_nonfinite(self, [prepared], stacklevel=5):
            raise _LaterGradsNonfinite

    def _iterate(self, closure: Callable[[], Any], orig_loss: Any) -> None:
        """The iterations of one ``step`` after its first closure evaluation (``orig_loss``)."""
        lr, max_iter, max_eval = self.learning_rate, self.max_iter, self.max_eval
        tolerance_grad, tolerance_change = self.tolerance_grad, self.tolerance_change
        history_size = self.history_size
        state = _by_name(self.state)
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        loss = _as_float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max() <= tolerance_grad:
            return

        # the previous step's history: None at the first iteration, which sets them (n_iter == 1)
        d: Any = state.get("d")
        alpha: Any = state.get("alpha")
        old_yk: Any = state.get("old_yk")
        old_sk: Any = state.get("old_sk")
        ro: Any = state.get("ro")
        H_diag: Any = state.get("H_diag")
        prev_flat_grad: Any = state.get("prev_flat_grad")
        prev_loss: Any = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_yk, old_sk, ro = [], [], []
                H_diag = torch.tensor(1.0, dtype=flat_grad.dtype, device=flat_grad.device)
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(alpha)
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_yk) == history_size:
                        old_yk.pop(0)
                        old_sk.pop(0)
                        ro.pop(0)
                    old_yk.append(y)
                    old_sk.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_yk)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = flat_grad.neg()
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_sk[i].dot(q) * ro[i]
                    q.add_(old_yk[i] * (-al[i]))
                d = r = torch.mul(q, H_diag)
                for i in range(num_old):
                    be_i = old_yk[i].dot(r) * ro[i]
                    r.add_(old_sk[i] * (al[i] - be_i))
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # min(float, 0-d tensor): either (torch's stubs cannot type the comparison)
            first = cast("float | torch.Tensor", min(1.0, 1.0 / flat_grad.abs().sum()))
            alpha = first * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if self.line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x: list[torch.Tensor], t: Any, direction: torch.Tensor) -> tuple[float, torch.Tensor]:
                    result = self._directional_evaluate(closure, x, t, direction)
                    self._later_grads_nonfinite()
                    return result

                # Paddle's search gets its default budget of 25 evaluations (torch passes
                # max_ls=max_eval - current_evals)
                loss, flat_grad, alpha, ls_func_evals = _torch_strong_wolfe(
                    obj_func, x_init, alpha, d, loss, flat_grad, gtd
                )
                self._add_grad(alpha, d)
                opt_cond: bool | torch.Tensor = flat_grad.abs().max() <= tolerance_grad
            else:
                self._add_grad(alpha, d)
                opt_cond = False
                if n_iter != max_iter:
                    with torch.enable_grad():
                        loss = _as_float(closure())
                    self._later_grads_nonfinite()
                    flat_grad = self._gather_flat_grad()
                    opt_cond = flat_grad.abs().max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if (
                opt_cond
                or (d * alpha).abs().max() <= tolerance_change
                or abs(loss - prev_loss) < tolerance_change
                or current_evals >= max_eval
                or n_iter == max_iter
            ):
                break

        state.update(
            d=d,
            alpha=alpha,
            old_yk=old_yk,
            old_sk=old_sk,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )

    def minimize(
        self,
        loss: Any,
        startup_program: Any = None,
        parameters: Iterable[torch.Tensor | str] | None = None,
        no_grad_set: Iterable[torch.Tensor | str] | None = None,
    ) -> NoReturn:
        """Not supported (as Paddle): use ``step(closure)``.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "LBFGS optimizer does not use this way to minimize loss. Please refer 'Examples' of LBFGS() for usage."
        )

    def state_dict(self) -> dict[str, Any]:
        """Paddle's layout: ``{'state': {'func_evals': ..., 'n_iter': ..., 'd': ..., ...}}`` (the
        entries themselves, not copies, as Paddle). torch's state-dict hooks run around it."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        out: dict[str, Any] = {"state": dict(self.state)}
        if self._skip_nonfinite:
            out["skipped_steps"] = self._skipped_steps  # the non-finite guard's count (oar.step_check)
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (copies of its entries, tensors moved to the params'
        device and floating dtype). The whole dict is checked first
        (:func:`oar.state_dict.unpack_lbfgs`: keys, types, vector sizes, history lengths); on any
        problem nothing is changed.

        Raises:
            ValueError: the first bad entry, named.
        """
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():  # torch's hooks
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        loaded = _state_dict.unpack_lbfgs(state_dict, self._params, self.history_size, _STATE_KEYS)
        skipped = _state_dict.unpack_skipped_steps(state_dict) if self._skip_nonfinite else 0
        self.state.clear()
        _by_name(self.state).update(loaded)
        self._skipped_steps = skipped
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)


def _by_name(state: Any) -> dict[str, Any]:
    """``opt.state`` as LBFGS keys it: one state by name (Paddle's layout), not one per param as
    torch's stubs type ``Optimizer.state``."""
    return cast("dict[str, Any]", state)


# torch.optim.LBFGS's helpers and line search, unannotated in torch, typed here. The methods read
# only ``self._params`` and ``self._numel_cache`` (and call ``_add_grad``, ``_gather_flat_grad``
# and ``_set_param``, which oar's class defines).
_torch_gather_flat_grad: Callable[[Any], torch.Tensor] = _torch_lbfgs.LBFGS._gather_flat_grad
_torch_clone_param: Callable[[Any], list[torch.Tensor]] = _torch_lbfgs.LBFGS._clone_param
_torch_set_param: Callable[[Any, list[torch.Tensor]], None] = _torch_lbfgs.LBFGS._set_param
_torch_directional_evaluate: Callable[
    [Any, Callable[[], Any], list[torch.Tensor], Any, torch.Tensor], tuple[float, torch.Tensor]
] = _torch_lbfgs.LBFGS._directional_evaluate
#: ``(obj_func, x, t, d, f, g, gtd) -> (f, g, t, evaluations)``
_torch_strong_wolfe: Callable[..., tuple[float, torch.Tensor, Any, int]] = _torch_lbfgs._strong_wolfe


def _as_float(loss: Any) -> float:
    """A closure's loss as a float (``float(loss)``, without autograd's warning for a tensor
    that requires grad)."""
    return float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)


register(
    Algorithm(
        name="LBFGS",
        cls=LBFGS,
        rule=None,
        traffic=Traffic(2, 1, 1, 0, "LBFGS: not one pass per step (history of 2*history_size vectors)"),
        multi_precision=False,
        demo={
            "peak_lr": 1.0,
            "steps_per_epoch": 1,
            "max_iter": 5,
            "history_size": 10,
            "line_search_fn": "strong_wolfe",
        },
        full_batch=True,
        follows_lr=False,  # Paddle's LBFGS reads its learning_rate attribute, not set_lr's or a scheduler's
    )
)
