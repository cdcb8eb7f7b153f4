"""Bad input everywhere: every constructor argument of every optimizer (``oar.algorithms``), clip
and regularizer, and the learning rate wherever it is set.

* A property over all of them: a constructor given any mix of valid and invalid values either
  builds an object whose ``step()`` runs, or raises TypeError or ValueError whose message names
  an argument given (nothing else escapes: no AttributeError, RuntimeError, ZeroDivisionError).
* The same value is judged the same way by the constructor and by a param group.
* Side by side with real Paddle 3.3.1: where Paddle's constructor refuses a value, oar raises an
  instance of Paddle's exception type (a class that is both where Paddle's is not a TypeError or
  ValueError: ``oar.validate.AssertionTypeError``, ...).
* Values Paddle takes and that break training (NaN, infinite or negative learning rates, a
  negative epsilon, a decay rate of 1 or more, ...): Paddle's run shows the damage, oar refuses
  them at construction with a ValueError naming the argument and the value.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from paddle_harness import paddle

import oar  # type: ignore[import-untyped]  # (oar ships no py.typed marker)
from oar.algorithms import Algorithm, algorithms  # type: ignore[import-untyped]

#: 30 examples per test (the whole file: about 80 s on 2 cores); OAR_HYP_EXAMPLES=300 for a
#: deeper search (measured: 300 pass, 12 min).
HYP = settings(max_examples=int(os.environ.get("OAR_HYP_EXAMPLES", "30")), deadline=None, derandomize=True)
CLIPS: list[type] = [oar.ClipGradByValue, oar.ClipGradByNorm, oar.ClipGradByGlobalNorm]
REGULARIZERS: list[type] = [oar.L1Decay, oar.L2Decay]
ALGOS: list[Algorithm] = list(algorithms())
NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------------------------ values
def _values() -> st.SearchStrategy[Any]:
    """Values of many types, valid for some argument or other, and invalid."""
    return st.one_of(
        st.sampled_from(
            [
                None,
                True,
                False,
                0,
                1,
                2,
                3,
                -1,
                10**6,
                10**30,
                10**400,
                0.0,
                1e-8,
                1e-3,
                0.01,
                0.5,
                0.9,
                0.999,
                1.0,
                1.5,
                2.0,
                60.0,
                -0.5,
                -1e-3,
                NAN,
                INF,
                -INF,
                1e38,
                1e300,
                -1e300,
                5e-324,
                "a",
                "0.5",
                "",
                "strong_wolfe",
                "default_group",
                [0.5],
                [],
                (0.5, 1.2),
                (1e-5, 50),
                (0.5,),
                [0.5, 1.2, 2.0],
                {"a": 1},
                1 + 2j,
                Fraction(1, 3),
                np.float32(0.5),
                np.float64(0.9),
                np.int64(3),
            ]
        ),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-5, max_value=5),
        st.sampled_from(
            [
                "tensor0.5",
                "tensor[0.9]",
                "tensor[1,2]",
                "tensor-nan",
                "tensor-int",
                "tensor-bool",
                "L2Decay",
                "L1Decay",
                "clip",
                "sched",
                "lambda-true",
                "lambda-half",
                "object",
            ]
        ).map(_build),
    )


#: Arguments that take a user's function: drawn from functions (good ones, and one of a wrong
#: arity, refused at construction) and non-callables. A callable object that raises when called
#: (a clip given as ``lr_ratio``) would raise inside the user's function at the step, which oar
#: passes on as it is.
CALLABLE_ARGS = ("lr_ratio", "apply_decay_param_fun", "exclude_from_weight_decay_fn")


def _values_for(name: str) -> st.SearchStrategy[Any]:
    if name in CALLABLE_ARGS:
        return st.one_of(
            st.sampled_from([None, 0.5, "a", True, [0.5]]),
            st.sampled_from(["lambda-true", "lambda-half", "lambda-two-args"]).map(_build),
        )
    return _values()


def _build(tag: str) -> Any:
    """The objects among the values (built fresh for each example)."""
    table: dict[str, Callable[[], Any]] = {
        "tensor0.5": lambda: torch.tensor(0.5),
        "tensor[0.9]": lambda: torch.tensor([0.9]),
        "tensor[1,2]": lambda: torch.tensor([1.0, 2.0]),
        "tensor-nan": lambda: torch.tensor(NAN),
        "tensor-int": lambda: torch.tensor([0]),
        "tensor-bool": lambda: torch.tensor([True]),
        "L2Decay": lambda: oar.L2Decay(0.01),
        "L1Decay": lambda: oar.L1Decay(0.01),
        "clip": lambda: oar.ClipGradByGlobalNorm(1.0),
        "sched": lambda: oar.lr.StepDecay(0.1, 2),
        "lambda-true": lambda: lambda *_: True,
        "lambda-half": lambda: lambda *_: 0.5,
        "lambda-two-args": lambda: lambda a, b: True,
        "object": object,
    }
    return table[tag]()


def _arguments(cls: type) -> list[str]:
    return [
        n
        for n, p in inspect.signature(cls).parameters.items()
        if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def _loss(model: torch.nn.Module) -> torch.Tensor:
    x = torch.linspace(-1, 1, 15).reshape(5, 3)
    loss: torch.Tensor = model(x).pow(2).mean()
    return loss


def _step_twice(opt: Any, model: torch.nn.Module) -> None:
    """Two steps of an optimizer over ``model`` (LBFGS with a closure, as it requires)."""

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(model)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    for _ in range(2):
        if isinstance(opt, oar.LBFGS):
            opt.step(closure)
        else:
            closure()
            opt.step()


def _names(message: str) -> str:
    """``message`` with spaces read as underscores too (Paddle's "learning rate ...")."""
    return message + " " + message.replace(" ", "_")


def _outcome(build: Callable[[], Any], after: Callable[[Any], None]) -> tuple[str, BaseException | None]:
    """'ok', 'TypeError' or 'ValueError' (and the exception); anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            obj = build()
        except (TypeError, ValueError) as exc:
            return ("TypeError" if isinstance(exc, TypeError) else "ValueError"), exc
        after(obj)  # must not raise: a built object works
    return "ok", None


def _assert_names(message: str, key: str, value: Any) -> None:
    """``message`` names the argument ``key`` (or with spaces: Paddle's "learning rate") and the
    value (its repr or str)."""
    assert key in _names(message), (key, message)
    assert repr(value) in message or str(value) in message, (value, message)


def _check_message(exc: BaseException, kwargs: dict[str, Any]) -> None:
    """The message names one of the arguments given (or ``parameters``/the group for theirs)."""
    text = _names(str(exc))
    names = [k for k in kwargs] + ["parameters", "param group", "params"]
    assert any(n in text for n in names), (str(exc), list(kwargs))


# ------------------------------------------------------------------------------ the property
@pytest.mark.parametrize("algo", ALGOS, ids=[a.name for a in ALGOS])
@HYP
@given(data=st.data())
def test_optimizer_builds_and_steps_or_raises_type_or_value_error(algo: Algorithm, data: st.DataObject) -> None:
    """Any mix of values for any of the constructor's arguments (``parameters`` too, sometimes):
    the optimizer builds and two steps run on a small model, or TypeError/ValueError names an
    argument given. Runs in about 1 s per algorithm (40 examples)."""
    names = [n for n in _arguments(algo.cls) if n != "parameters"]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="args")
    kwargs = {name: data.draw(_values_for(name), label=name) for name in chosen}
    if algo.required_lr and "learning_rate" not in kwargs:
        kwargs["learning_rate"] = 0.01
    model = _model()
    params: Any = model.parameters()
    if data.draw(st.booleans(), label="bad parameters"):
        params = data.draw(_values(), label="parameters")
        kwargs["parameters"] = params
    else:
        kwargs["parameters"] = params
    _, exc = _outcome(lambda: algo.cls(**kwargs), lambda opt: _step_twice(opt, model))
    if exc is not None:
        _check_message(exc, kwargs)


@pytest.mark.parametrize("cls", CLIPS + REGULARIZERS, ids=[c.__name__ for c in CLIPS + REGULARIZERS])
@HYP
@given(data=st.data())
def test_clip_and_regularizer_build_and_work_or_raise(cls: type, data: st.DataObject) -> None:
    """The same property for the clips and regularizers: built, they clip (a regularizer adds its
    term) inside an optimizer's step; or TypeError/ValueError naming an argument."""
    names = _arguments(cls)
    required = [
        n for n, p in inspect.signature(cls).parameters.items() if n in names and p.default is inspect.Parameter.empty
    ]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True), label="args")
    kwargs = {name: data.draw(_values(), label=name) for name in dict.fromkeys(required + chosen)}
    model = _model()

    def use(obj: Any) -> None:
        key = "grad_clip" if cls in CLIPS else "weight_decay"
        _step_twice(oar.SGD(parameters=model.parameters(), learning_rate=0.1, **{key: obj}), model)

    _, exc = _outcome(lambda: cls(**kwargs), use)
    if exc is not None:
        _check_message(exc, kwargs)


# ------------------------------------------------------------------------------ groups
def _group_keys(algo: Algorithm) -> list[str]:
    """Constructor arguments that are also param-group keys (not ``learning_rate``, which a
    group takes as a multiplier of the base lr)."""
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"learning_rate": 0.01} if algo.required_lr else {}
        opt = algo.cls(parameters=model.parameters(), **kwargs)
    return [n for n in _arguments(algo.cls) if n in opt.defaults and n not in ("learning_rate", "parameters")]


GROUP_KEYS = [(a, k) for a in ALGOS for k in _group_keys(a)]


@pytest.mark.parametrize("algo,key", GROUP_KEYS, ids=[f"{a.name}-{k}" for a, k in GROUP_KEYS])
@HYP
@given(data=st.data())
def test_group_judges_a_value_as_the_constructor(algo: Algorithm, key: str, data: st.DataObject) -> None:
    """A value of an option accepted by the constructor is accepted in a param group, and one it
    refuses is refused with the same kind of error (Paddle checks no group option; a group's int
    ``weight_decay``, which Hugging Face's Trainer builds, is ``L2Decay`` as the constructor's)."""
    value = data.draw(_values_for(key), label=key)
    base = {"learning_rate": 0.01} if algo.required_lr else {}

    def by_constructor() -> Any:
        model = _model()
        return algo.cls(parameters=model.parameters(), **base, **{key: value}), model

    def by_group() -> Any:
        model = _model()
        return algo.cls(parameters=[{"params": list(model.parameters()), key: value}], **base), model

    def run(built: Any) -> None:
        _step_twice(*built)

    got_constructor = _outcome(by_constructor, run)[0]
    got_group = _outcome(by_group, run)[0]
    assert got_constructor == got_group, (key, value, got_constructor, got_group)


#: AdamW's group weight_decay is its decoupled coefficient (ints taken too: test_adamw.py);
#: Lamb's and LBFGS's constructors have no coupled weight_decay (LBFGS ignores it, as Paddle).
COUPLED = [a for a in ALGOS if a.name not in ("AdamW", "Lamb", "LBFGS")]


@pytest.mark.parametrize("algo", COUPLED, ids=[a.name for a in COUPLED])
def test_int_group_weight_decay_is_l2_decay(algo: Algorithm) -> None:
    """Hugging Face's Trainer builds ``[{'params': decayed, 'weight_decay': 0.01}, {'params':
    others, 'weight_decay': 0}]``: the int 0 means ``L2Decay(0.0)``, the same update as the
    float (Paddle crashes at the first step with a TypeError)."""
    runs = []
    for decay in (0, 0.0, 2, 2.0):
        model = _model()
        first, *rest = list(model.parameters())
        kwargs = {"learning_rate": 0.01} if algo.required_lr else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = algo.cls(
                parameters=[{"params": [first], "weight_decay": 0.01}, {"params": rest, "weight_decay": decay}],
                **kwargs,
            )
            _step_twice(opt, model)
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in ((runs[0], runs[1]), (runs[2], runs[3])):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(runs[0], runs[2], strict=True))  # the decay acts


# ------------------------------------------------------------------------------ Paddle's types
#: Values each argument is tried with against Paddle (bools aside: oar refuses a bool number
#: with TypeError where Paddle reads True as 1 and refuses it by range, a ValueError).
PADDLE_VALUES = [None, "a", -1.0, -1, 0.0, NAN, INF, 2.0, 1e30, [0.5], (0.5,)]
#: (algorithm, argument): values Paddle's constructor refuses and oar accepts, on purpose.
ACCEPTED_BY_OAR: dict[tuple[str, str], tuple[type, ...]] = {
    # AdamW's coefficient: any real number type, a [1]-shaped tensor (Paddle: int, float, 0-d)
    ("AdamW", "weight_decay"): (np.float32,),
}
#: (algorithm, argument): values where Paddle's exception type is an accident of its code, and
#: oar's says what is wrong: Rprop's 1-element range is not a pair (TypeError); Paddle's range
#: check reads element [0] only, is False, and raises ValueError.
INCIDENTAL: dict[tuple[str, str], tuple[Any, ...]] = {("Rprop", "learning_rate_range"): ([0.5], (0.5,))}
#: Builtin exception types Paddle raises on purpose (other types are crashes of its internals:
#: IndexError, SystemError, ...).
PADDLE_TYPES = (TypeError, ValueError, AssertionError, AttributeError, RuntimeError, NotImplementedError)


def _paddle_construction_error(algo: Algorithm, kwargs: dict[str, Any]) -> type[BaseException] | None:
    p = paddle.create_parameter([3], "float32")
    try:
        getattr(paddle.optimizer, algo.name)(parameters=[p], **kwargs)
    except Exception as exc:
        return type(exc)
    return None


def _paddle_args() -> list[tuple[Algorithm, str]]:
    return [(a, n) for a in ALGOS for n in _arguments(a.cls) if n not in ("parameters", "name")]


@pytest.mark.parametrize("algo,key", _paddle_args(), ids=[f"{a.name}-{k}" for a, k in _paddle_args()])
def test_paddle_refusals_have_paddles_exception_type(algo: Algorithm, key: str) -> None:
    """Each argument with each of ``PADDLE_VALUES``: where Paddle's constructor raises one of its
    deliberate exception types, oar raises an instance of it (which is also a TypeError or
    ValueError). Where Paddle accepts, oar may refuse (see ``BREAKS_TRAINING``)."""
    base = {"learning_rate": 0.01} if algo.required_lr and key != "learning_rate" else {}
    for value in PADDLE_VALUES:
        expected = _paddle_construction_error(algo, {**base, key: value})
        if expected is None or not issubclass(expected, PADDLE_TYPES):
            continue
        if value in INCIDENTAL.get((algo.name, key), ()):
            with pytest.raises(TypeError):
                algo.cls(parameters=_model().parameters(), **base, **{key: value})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                algo.cls(parameters=_model().parameters(), **base, **{key: value})
            except Exception as exc:
                assert isinstance(exc, expected), (key, value, expected, exc)
                assert isinstance(exc, (TypeError, ValueError)), (key, value, exc)
                continue
        assert isinstance(value, ACCEPTED_BY_OAR.get((algo.name, key), ())), (key, value, expected)


@pytest.mark.parametrize(
    "build,paddle_build",
    [
        (lambda: oar.ClipGradByValue(max=-1.0), lambda: paddle.nn.ClipGradByValue(max=-1.0)),
        (
            lambda: oar.ClipGradByGlobalNorm(1.0, auto_skip_clip=1),
            lambda: paddle.nn.ClipGradByGlobalNorm(1.0, auto_skip_clip=1),
        ),
        (lambda: oar.Adam(parameters=None), lambda: paddle.optimizer.Adam(parameters=None)),
        (
            lambda: oar.Adam(parameters=[{"learning_rate": 0.1}]),
            lambda: paddle.optimizer.Adam(parameters=[{"learning_rate": 0.1}]),
        ),
        (
            lambda: oar.Adam(beta1=None, parameters=_model().parameters()),
            lambda: paddle.optimizer.Adam(beta1=None, parameters=[paddle.create_parameter([3], "float32")]),
        ),
    ],
    ids=[
        "ClipGradByValue-max",
        "ClipGradByGlobalNorm-auto_skip_clip",
        "parameters-None",
        "group-without-params",
        "Adam-beta1-None",
    ],
)
def test_paddles_other_exception_types_are_also_type_or_value_errors(
    build: Callable[[], Any], paddle_build: Callable[[], Any]
) -> None:
    """Where Paddle raises AssertionError or AttributeError, oar's exception is an instance of it
    and of TypeError or ValueError, its message naming the argument."""
    with pytest.raises(Exception) as paddle_exc:
        paddle_build()
    with pytest.raises(Exception) as oar_exc:
        build()
    assert isinstance(oar_exc.value, type(paddle_exc.value))
    assert type(paddle_exc.value) in (AssertionError, AttributeError)
    assert isinstance(oar_exc.value, (TypeError, ValueError))


def test_lbfgs_line_search_fn_raises_paddles_runtime_error_at_construction() -> None:
    """Paddle raises RuntimeError at its first step; oar at construction, an instance of
    RuntimeError and ValueError (an unknown name) or TypeError (not a string)."""

    def paddle_step(value: Any) -> BaseException:
        p = paddle.create_parameter([3], "float32")
        opt = paddle.optimizer.LBFGS(parameters=[p], line_search_fn=value)

        def closure() -> Any:
            opt.clear_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        with pytest.raises(Exception) as exc:
            opt.step(closure)
        return exc.value

    for value, kind in (("wolfe", ValueError), (3, TypeError)):
        expected = paddle_step(value)
        with pytest.raises(RuntimeError) as got:
            oar.LBFGS(parameters=_model().parameters(), line_search_fn=value)
        assert isinstance(expected, RuntimeError) and isinstance(got.value, kind)
        assert "line_search_fn" in str(got.value) and repr(value) in str(got.value)


# ------------------------------------------------------------------------------ refused on purpose
#: (algorithm, arguments) Paddle takes and oar refuses at construction with a ValueError naming
#: the (first) argument and its value; ``breaks``: Paddle's params are NaN/inf, or the loss rose,
#: within 5 steps of a small model (shown side by side below).
BREAKS_TRAINING: list[tuple[str, dict[str, Any], bool]] = [
    *[
        (a.name, {"learning_rate": v}, True)
        for a in ALGOS
        if a.name not in ("NAdam", "RAdam", "Rprop")
        for v in (NAN, INF)
    ],
    *[(a.name, {"learning_rate": -0.5}, True) for a in ALGOS if a.name not in ("NAdam", "RAdam", "Rprop", "Adadelta")],
    ("Adadelta", {"learning_rate": -0.5}, True),
    ("NAdam", {"learning_rate": INF}, True),
    ("RAdam", {"learning_rate": INF}, True),
    *[
        (a.name, {"weight_decay": v}, True)
        for a in ALGOS
        if "weight_decay" in _arguments(a.cls) and a.name != "LBFGS"
        for v in (NAN, INF)
    ],
    ("AdamW", {"weight_decay": -0.5}, False),
    ("SGD", {"weight_decay": -3.0}, True),
    ("Adam", {"epsilon": INF}, False),
    ("AdamW", {"epsilon": INF}, False),
    ("Adamax", {"epsilon": INF}, False),
    ("Adadelta", {"epsilon": -0.5}, True),
    ("Adadelta", {"epsilon": NAN}, True),
    ("Adadelta", {"rho": 2.0}, True),
    ("Adadelta", {"rho": -1}, True),
    ("Adadelta", {"rho": INF}, True),
    ("Adagrad", {"epsilon": NAN}, True),
    ("Adagrad", {"epsilon": -1.0}, False),
    ("Adagrad", {"initial_accumulator_value": NAN}, True),
    ("Adagrad", {"initial_accumulator_value": -INF}, True),
    ("Lamb", {"beta1": 1.0}, True),
    ("Lamb", {"beta2": -1}, True),
    ("Lamb", {"beta1": NAN}, True),
    ("Lamb", {"lamb_weight_decay": -0.5}, False),
    ("Lamb", {"lamb_weight_decay": NAN}, True),
    ("Lamb", {"epsilon": NAN}, True),
    ("Momentum", {"momentum": NAN}, True),
    ("Momentum", {"momentum": INF}, True),
    ("RMSProp", {"rho": 2.0}, True),
    ("RMSProp", {"rho": 1.0}, True),
    ("RMSProp", {"momentum": INF}, True),
    ("NAdam", {"epsilon": INF}, False),
    ("NAdam", {"momentum_decay": INF}, False),
    ("LBFGS", {"tolerance_grad": NAN}, False),
    ("LBFGS", {"tolerance_change": -1.0}, False),
]


def _paddle_run(name: str, kwargs: dict[str, Any], steps: int = 5) -> bool:
    """Paddle builds the optimizer (asserted) and runs ``steps`` steps on a small model; True
    when it broke: a non-finite param, or a loss above the initial one."""
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Linear(3, 4), paddle.nn.Tanh(), paddle.nn.Linear(4, 1))
    x = paddle.to_tensor(np.linspace(-1, 1, 15, dtype="float32").reshape(5, 3))
    opt = getattr(paddle.optimizer, name)(parameters=model.parameters(), **kwargs)

    def closure() -> Any:
        opt.clear_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        return loss

    first = float(closure())
    broke = False
    for _ in range(steps):
        try:
            if name == "LBFGS":
                opt.step(closure)
            else:
                closure()
                opt.step()
        except Exception:
            return True
        loss = float(closure())
        params = [p.numpy() for p in model.parameters()]
        broke = broke or not all(np.isfinite(a).all() for a in params) or not math.isfinite(loss) or loss > first
    return broke


@pytest.mark.parametrize("name,kwargs,breaks", BREAKS_TRAINING, ids=[f"{n}-{kw}" for n, kw, _ in BREAKS_TRAINING])
def test_values_paddle_takes_that_break_training_are_refused(name: str, kwargs: dict[str, Any], breaks: bool) -> None:
    """Paddle builds the optimizer (and, for ``breaks``, its params turn non-finite or the loss
    rises within 5 steps); oar refuses the value, naming the argument and the value. (Entries
    without ``breaks`` do their damage later or silently: an infinite epsilon stops every update,
    a negative decay grows the weights, a NaN tolerance never stops LBFGS's iterations.)"""
    key, value = next(iter(kwargs.items()))
    if getattr(oar, name) in [a.cls for a in ALGOS if a.required_lr] and "learning_rate" not in kwargs:
        kwargs = {"learning_rate": 0.01, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _paddle_run(name, kwargs) is True or not breaks
        with pytest.raises(ValueError) as exc:
            getattr(oar, name)(parameters=_model().parameters(), **kwargs)
    _assert_names(str(exc.value), key, value)


# ------------------------------------------------------------------------------ learning rates
@pytest.mark.parametrize("algo", ALGOS, ids=[a.name for a in ALGOS])
@pytest.mark.parametrize("bad", [NAN, INF, -INF, -0.1])
def test_learning_rate_nan_inf_negative_refused_everywhere(algo: Algorithm, bad: float) -> None:
    """A NaN, infinite or negative learning rate, as the constructor's float, ``set_lr``, a param
    group's multiplier, a torch-style group ``'lr'`` and ``set_param_attr``'s multiplier: a
    ValueError naming it and the value, and nothing changed (Paddle takes all of them)."""
    model = _model()
    kwargs = {"learning_rate": 0.01} if algo.required_lr else {}
    extra = torch.nn.Parameter(torch.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calls: list[tuple[str, Callable[[Any], Any]]] = [
            ("learning_rate", lambda opt: algo.cls(parameters=_model().parameters(), learning_rate=bad)),
            ("set_lr", lambda opt: opt.set_lr(bad)),
            ("'learning_rate'", lambda opt: opt.add_param_group({"params": [extra], "learning_rate": bad})),
            ("'lr'", lambda opt: opt.add_param_group({"params": [extra], "lr": bad})),
            ("learning_rate", lambda opt: oar.set_param_attr(extra, learning_rate=bad)),
        ]
        opt = algo.cls(parameters=model.parameters(), **kwargs)
        before = opt.get_lr()
        for key, call in calls:
            with pytest.raises(ValueError) as exc:
                call(opt)
            _assert_names(str(exc.value), key, bad)
        assert opt.get_lr() == before and len(opt.param_groups) == 1
        assert getattr(extra, "optimize_attr", None) is None
        _step_twice(opt, model)
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


@pytest.mark.parametrize("name", ["SGD", "Adam", "Momentum", "RMSProp"])
def test_paddle_takes_a_nan_lr_and_its_first_step_makes_params_nan(name: str) -> None:
    """Why oar refuses it: Paddle accepts ``learning_rate=nan`` (and ``set_lr(nan)``) and every
    param is NaN after one step."""
    for how in ("constructor", "set_lr"):
        p = paddle.create_parameter([3], "float32")
        lr = NAN if how == "constructor" else 0.01
        opt = getattr(paddle.optimizer, name)(learning_rate=lr, parameters=[p])
        if how == "set_lr":
            opt.set_lr(NAN)
        (p * p).sum().backward()
        opt.step()
        assert np.isnan(p.numpy()).all()


def test_messages_name_the_argument_and_the_value() -> None:
    params = list(_model().parameters())
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: oar.Adam(params, epsilon=INF), r"epsilon.*inf"),
        (lambda: oar.Adam(params, weight_decay=-1), r"weight_decay.*-1"),
        (lambda: oar.Adam([{"params": params, "weight_decay": "0.1"}]), r"'weight_decay'.*'0\.1'"),
        (lambda: oar.Adam(params, weight_decay=10**400), r"weight_decay.*1000"),
        (lambda: oar.L2Decay(NAN), r"coeff.*nan"),
        (lambda: oar.ASGD(params, batch_num=-2), r"batch_num.*-2"),
        (lambda: oar.ASGD(params, batch_num=2**63), r"batch_num.*9223372036854775808"),
        (lambda: oar.LBFGS(params, history_size=0), r"history_size.*0"),
        (lambda: oar.Rprop(params, etas=(0.5, INF)), r"etas\[1\].*inf"),
        (lambda: oar.Adam(params, name=3), r"name.*3"),
        (lambda: oar.Lamb(params, beta1=torch.tensor([1.0])), r"beta1.*1"),
        (lambda: oar.Momentum(params, rescale_grad=-1.0), r"rescale_grad.*-1"),
    ]
    for build, pattern in cases:
        with pytest.raises((TypeError, ValueError), match=pattern):
            build()
