"""One-cycle and cyclic schedules: ``OneCycleLR``, ``CyclicLR`` (Paddle 3.3.1).

Both compute the lr from ``last_epoch`` alone (``step(epoch)`` needs no closed form) and save only
``{'last_epoch', 'last_lr'}``, as Paddle does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from .base import LRScheduler

__all__ = ["CyclicLR", "OneCycleLR"]


class OneCycleLR(LRScheduler):
    r"""One-cycle policy (Smith & Topin 2018, *Super-Convergence: Very Fast Training of Neural Networks Using
    Large Learning Rates*, https://arxiv.org/abs/1708.07120), ``paddle.optimizer.lr.OneCycleLR``
    (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/OneCycleLR_en.html).

    Step it once per training step (batch). With ``T = total_steps``, ``p = phase_pct``,
    ``init = max_learning_rate / divide_factor`` and ``min = end_learning_rate`` (an absolute lr, not a
    fraction of ``init``), the schedule is piecewise over phases ``[s_i, s_{i+1}]`` going from ``a_i`` to
    ``a_{i+1}``:

    * two phases (default): boundaries ``[0, p*T - 1, T - 1]``, lrs ``[init, max, min]``;
    * ``three_phase=True``: boundaries ``[0, p*T - 1, 2*p*T - 2, T - 1]``, lrs ``[init, max, init, min]``.

    Epoch ``e`` falls in the first phase with ``e <= s_{i+1}`` (the last phase for anything later, so epoch
    ``T`` extrapolates the last phase by one step). With ``pct = (e - s_i) / (s_{i+1} - s_i)``:

    * ``'cos'``: ``lr = a_{i+1} + (a_i - a_{i+1}) / 2 * (cos(pi * pct) + 1)``;
    * ``'linear'``: ``lr = (a_{i+1} - a_i) * pct + a_i``.

    ``base_lr`` is ``init``. Stepping to an epoch ``e > total_steps`` raises ValueError (``last_epoch`` is
    then already ``e`` and ``last_lr`` unchanged, as in Paddle).

    Args:
        max_learning_rate (float|int): peak lr, >= 0.
        total_steps (int): number of training steps of the cycle, > 0.
        divide_factor (float|int): ``init = max_learning_rate / divide_factor``. Default 25.0.
        end_learning_rate (float|int): final (minimum) lr, absolute, >= 0. Default 0.0001.
        phase_pct (float): fraction of ``total_steps`` spent increasing the lr, in [0, 1] (< 0.5 with
            ``three_phase``); must be a float. Default 0.3.
        anneal_strategy (str): ``'cos'`` or ``'linear'``. Default ``'cos'``.
        three_phase (bool): use the paper's three phases (up, back down to ``init``, then down to ``min``)
            instead of fastai's two. Default False.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``max_learning_rate``, ``end_learning_rate`` or ``divide_factor`` is not a float/int,
            ``total_steps`` is not an int or ``phase_pct`` not a float.
        ValueError: ``max_learning_rate < 0``, ``end_learning_rate < 0``, ``total_steps <= 0``, ``phase_pct``
            outside [0, 1] (or >= 0.5 with ``three_phase``), an unknown ``anneal_strategy``, a negative
            ``divide_factor`` (negative initial lr), or a step beyond ``total_steps``.
        ZeroDivisionError: ``divide_factor == 0``, or a phase of zero length is reached (e.g.
            ``phase_pct * total_steps == 1``), as in Paddle.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.OneCycleLR`` gives the same):

        >>> import oar
        >>> sched = oar.lr.OneCycleLR(max_learning_rate=1.0, total_steps=6)
        >>> lrs = []
        >>> for epoch in range(6):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.04, 0.994416, 0.811764, 0.462689, 0.133561, 0.0001]
    """

    total_steps: int
    anneal_func: Callable[[float, float, float], float]
    _step_config: list[float]
    _steps_size: list[float]
    _lr_config: list[float]

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        divide_factor: float = 25.0,
        end_learning_rate: float = 0.0001,
        phase_pct: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        three_phase: bool = False,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        # The messages below that name an argument are Paddle's own words (including 'total_step').
        if not isinstance(max_learning_rate, (float, int)):
            raise TypeError(f"'max_learning_rate' must be 'float' or 'int', but received {type(max_learning_rate)}")
        if max_learning_rate < 0:
            raise ValueError("'max_learning_rate' must be a positive integer.")
        if not isinstance(end_learning_rate, (float, int)):
            raise TypeError(f"'end_learning_rate' must be 'float' or 'int', but received {type(end_learning_rate)}")
        if end_learning_rate < 0:
            raise ValueError("'end_learning_rate' must be a positive integer.")
        if not isinstance(total_steps, int):
            raise TypeError(f"'total_step' must be 'int', but received {type(total_steps)}")
        if total_steps <= 0:
            raise ValueError("'total_step' must be a positive integer.")
        self.total_steps = total_steps
        if not isinstance(phase_pct, float):
            raise TypeError(f"'phase_pct' must be 'float', but received {type(phase_pct)}")
        if phase_pct < 0 or phase_pct > 1:
            raise ValueError(f"'phase_pct' must be between 0 and 1, but received {phase_pct}")
        if not isinstance(divide_factor, (float, int)):
            raise TypeError(f"'divide_factor' must be 'float' or 'int', but received {type(divide_factor)}")

        if float(divide_factor) == 0.0:
            raise ZeroDivisionError(
                f"'divide_factor' must not be 0 (initial lr = max_learning_rate / divide_factor), "
                f"but received {divide_factor!r}."
            )
        initial_lr = max_learning_rate / float(divide_factor)
        min_lr = float(end_learning_rate)

        # Phase boundaries (steps), lengths and lrs. The lengths list carries one extra entry, as Paddle's.
        if three_phase:
            if phase_pct >= 0.5:
                raise ValueError("When three_phase is True, 'phase_pct' must be less than 0.5")
            up_end = phase_pct * total_steps - 1
            down_end = 2 * phase_pct * total_steps - 2
            last = total_steps - 1
            self._step_config = [0, up_end, down_end, last, last]
            self._steps_size = [up_end - 0, down_end - up_end, last - down_end, last - down_end]
            self._lr_config = [initial_lr, max_learning_rate, initial_lr, min_lr]
        else:
            up_end = phase_pct * total_steps - 1
            last = total_steps - 1
            self._step_config = [0, up_end, last, last]
            self._steps_size = [up_end - 0, last - up_end, last - up_end]
            self._lr_config = [initial_lr, max_learning_rate, min_lr]

        if anneal_strategy == "cos":
            self.anneal_func = self._cos_annealing
        elif anneal_strategy == "linear":
            self.anneal_func = self._linear_annealing
        else:
            raise ValueError(f"'anneal_strategy' must by one of 'cos' or 'linear', but received {anneal_strategy}")
        if initial_lr < 0:
            raise ValueError(
                f"'divide_factor' must be positive: it gives a negative initial learning rate "
                f"max_learning_rate / divide_factor = {max_learning_rate!r} / {divide_factor!r} = {initial_lr!r}."
            )
        super().__init__(initial_lr, last_epoch, verbose)

    def _cos_annealing(self, start_lr: float, end_lr: float, pct: float) -> float:
        """Cosine interpolation from ``start_lr`` (pct 0) to ``end_lr`` (pct 1)."""
        return end_lr + (start_lr - end_lr) / 2.0 * (math.cos(math.pi * pct) + 1)

    def _linear_annealing(self, start_lr: float, end_lr: float, pct: float) -> float:
        """Linear interpolation from ``start_lr`` (pct 0) to ``end_lr`` (pct 1)."""
        return (end_lr - start_lr) * pct + start_lr

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        epoch = self.last_epoch
        if epoch > self.total_steps:
            raise ValueError(f"Tried to step {epoch} times. However the number of total steps is {self.total_steps}")
        last_phase = len(self._lr_config) - 2
        phase = 0
        while phase < last_phase and not epoch <= self._step_config[phase + 1]:
            phase += 1
        length = self._steps_size[phase]
        if length == 0:
            raise ZeroDivisionError(
                f"OneCycleLR: phase {phase} (steps {self._step_config[phase]!r} to {self._step_config[phase + 1]!r})"
                f" has zero length at epoch {epoch!r}; choose 'phase_pct' and 'total_steps' so that no phase "
                "boundary coincides with the previous one."
            )
        pct = (epoch - self._step_config[phase]) / length
        return self.anneal_func(self._lr_config[phase], self._lr_config[phase + 1], pct)


class CyclicLR(LRScheduler):
    r"""Cyclical learning rate (Smith 2017, *Cyclical Learning Rates for Training Neural Networks*,
    https://arxiv.org/abs/1506.01186), ``paddle.optimizer.lr.CyclicLR``
    (https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/optimizer/lr/CyclicLR_en.html).

    Step it once per training step. The lr moves between ``base_learning_rate`` and ``max_learning_rate``
    with period ``C = step_size_up + step_size_down``. With ``e = last_epoch``, ``cycle = 1 + e // C``,
    ``x = 1 + e / C - cycle`` (position in the cycle, in [0, 1)) and ``r = step_size_up / C``:
    ``f = x / r`` if ``x <= r`` else ``(1 - x) / (1 - r)``, and
    ``lr = base_lr + (max_lr - base_lr) * f * scale``, where ``scale`` is

    * ``'triangular'``: 1;
    * ``'triangular2'``: ``1 / 2 ** (cycle - 1)`` (amplitude halved every cycle);
    * ``'exp_range'``: ``exp_gamma ** e``;
    * a custom ``scale_fn(cycle)`` (``scale_mode='cycle'``, a float) or ``scale_fn(e)``
      (``scale_mode='iterations'``); ``mode`` is then ignored.

    The built-in modes fix ``scale_mode`` (``'cycle'`` for the triangular ones, ``'iterations'`` for
    ``'exp_range'``) whatever is passed. Unlike torch's ``CyclicLR``, momentum is not cycled.
    ``scale_fn`` is an attribute only: ``state_dict()`` holds ``last_epoch`` and ``last_lr``.

    Args:
        base_learning_rate (float|int): lower bound of the cycle (``base_lr``), >= 0.
        max_learning_rate (float|int): upper bound (the amplitude may scale it down), >= 0.
        step_size_up (int): steps from the lower to the upper bound, > 0.
        step_size_down (int|None): steps back down, > 0; ``None`` means ``step_size_up``. Default None.
        mode (str): ``'triangular'``, ``'triangular2'`` or ``'exp_range'``. Default ``'triangular'``.
        exp_gamma (float): base of the ``'exp_range'`` scale; must be a float. Default 1.0.
        scale_fn (Callable[[float], float]|None): custom amplitude scale, replacing ``mode``. Default None.
        scale_mode (str): ``'cycle'`` or ``'iterations'``, the argument given to a custom ``scale_fn``.
            Default ``'cycle'``.
        last_epoch (int): Default -1.  verbose (bool): Default False.

    Raises:
        TypeError: ``max_learning_rate`` or ``base_learning_rate`` is not a number, ``step_size_up`` /
            ``step_size_down`` not an int, ``exp_gamma`` not a float, or ``scale_fn`` not callable (at the
            first step, as in Paddle).
        ValueError: ``max_learning_rate < 0``, ``step_size_up <= 0``, ``step_size_down <= 0``, an unknown
            ``mode`` without ``scale_fn``, an unknown ``scale_mode``; plus the base-class errors for
            ``base_learning_rate``.

    Examples:
        The lr of each epoch (Paddle 3.3.1's ``paddle.optimizer.lr.CyclicLR`` gives the same):

        >>> import oar
        >>> sched = oar.lr.CyclicLR(base_learning_rate=0.1, max_learning_rate=1.0, step_size_up=2)
        >>> lrs = []
        >>> for epoch in range(7):
        ...     lrs.append(round(sched(), 6))  # the lr of this epoch
        ...     sched.step()
        >>> lrs
        [0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0]
    """

    cycle_size: float
    step_up_pct: float
    max_lr: float
    amplitude: float
    mode: Literal["triangular", "triangular2", "exp_range"]
    gamma: float
    scale_fn: Callable[[float], float]
    scale_mode: Literal["cycle", "iterations"]

    def __init__(
        self,
        base_learning_rate: float,
        max_learning_rate: float,
        step_size_up: int,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        exp_gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        # The messages below that name an argument are Paddle's own words.
        if not isinstance(max_learning_rate, (float, int)):
            raise TypeError(f"'max_learning_rate' must be 'float' or 'int', but received {type(max_learning_rate)}")
        if max_learning_rate < 0:
            raise ValueError(f"'max_learning_rate' must be a positive integer, but received {max_learning_rate}")
        if not isinstance(step_size_up, int):
            raise TypeError(f"The type of 'step_size_up' must be int, but received {type(step_size_up)}")
        if step_size_up <= 0:
            raise ValueError(f"'step_size_up' must be a positive integer, but received {step_size_up}")
        if step_size_down is not None:
            if not isinstance(step_size_down, int):
                raise TypeError(f"The type of 'step_size_down' must be int, but received {type(step_size_down)}")
            if step_size_down <= 0:
                raise ValueError(f"'step_size_down' must be a positive integer, but received {step_size_down}")
        if not isinstance(exp_gamma, float):
            raise TypeError(f"The type of 'exp_gamma' must be float, but received {type(exp_gamma)}")

        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.cycle_size = up + down
        self.step_up_pct = up / self.cycle_size
        self.max_lr = float(max_learning_rate)
        try:
            # Paddle computes the amplitude before validating base_learning_rate: a non-number fails here
            self.amplitude = self.max_lr - base_learning_rate
        except TypeError:
            raise TypeError(
                "'base_learning_rate' must be a float or int, but received "
                f"{base_learning_rate!r} ({type(base_learning_rate)})."
            ) from None

        if mode not in ["triangular", "triangular2", "exp_range"] and scale_fn is None:
            raise ValueError(
                "'mode' is invalid and 'scale_fn' is not specified, make sure one of 'mode' or 'scale_fn' is valid"
            )
        if scale_mode not in ["cycle", "iterations"]:
            raise ValueError("'scale_mode' must be one of 'cycle' or 'iterations")  # sic, Paddle's message

        self.mode = mode
        self.gamma = exp_gamma
        if scale_fn is not None:
            self.scale_fn = scale_fn
            self.scale_mode = scale_mode
        elif mode == "triangular":
            self.scale_fn = self._triangular_scale_fn
            self.scale_mode = "cycle"
        elif mode == "triangular2":
            self.scale_fn = self._triangular2_scale_fn
            self.scale_mode = "cycle"
        else:
            self.scale_fn = self._exp_range_scale_fn
            self.scale_mode = "iterations"
        super().__init__(base_learning_rate, last_epoch, verbose)

    def _triangular_scale_fn(self, x: float) -> float:
        """Constant amplitude."""
        return 1.0

    def _triangular2_scale_fn(self, x: float) -> float:
        """Amplitude halved at every new cycle ``x`` (1, 2, ...)."""
        scale: float = 1 / (2.0 ** (x - 1))
        return scale

    def _exp_range_scale_fn(self, x: float) -> float:
        """Amplitude ``exp_gamma ** x`` for iteration ``x``."""
        scale: float = self.gamma**x
        return scale

    def get_lr(self) -> float:  # type: ignore[override]  # Paddle's float, not torch's list
        iterations = self.last_epoch
        cycle = 1 + iterations // self.cycle_size
        pct_per_cycle = 1.0 + iterations / self.cycle_size - cycle
        if pct_per_cycle <= self.step_up_pct:
            scale_factor = pct_per_cycle / self.step_up_pct
        else:
            scale_factor = (1 - pct_per_cycle) / (1 - self.step_up_pct)
        base_height = self.amplitude * scale_factor
        fn = self.scale_fn
        if not callable(fn):
            raise TypeError(f"'scale_fn' must be callable, but received {fn!r} ({type(fn)}).")
        return self.base_lr + base_height * fn(cycle if self.scale_mode == "cycle" else iterations)
