"""Build a scheduler from a one-line expression, safely: ``oar lr plot`` reads its schedule this way.

The expression is parsed with :mod:`ast` and built node by node; nothing is evaluated by Python. Only
these are accepted:

* calls of the schedulers of :mod:`oar.lr` (``CosineAnnealingDecay(0.1, T_max=1000)``, also written
  ``lr.CosineAnnealingDecay`` or ``oar.lr.CosineAnnealingDecay``), with positional and keyword
  arguments, nested (``LinearWarmup(CosineAnnealingDecay(...), 100, 0.0, 0.1)``);
* literals: numbers, strings, ``True``/``False``/``None``, lists and tuples of them;
* arithmetic on numbers (``+ - * / // % **``, unary ``-`` and ``+``), e.g. ``0.1 * 8``, ``2 ** -10``
  (an exponent is limited to ``|x| <= 1000`` so a line cannot ask for an enormous integer).

Anything else (another name, an attribute, a lambda, a comprehension, a subscript...) raises
:class:`ScheduleExpressionError` naming what was refused and where. ``LambdaDecay``, ``MultiplicativeDecay``
and ``CyclicLR(scale_fn=...)`` need a Python callable and so cannot be written here, and
``ReduceOnPlateau`` follows a metric rather than the step count: use the Python API for them.
"""

from __future__ import annotations

import ast
import importlib
import operator
from collections.abc import Callable
from typing import Any

from .base import LRScheduler

__all__ = ["ScheduleExpressionError", "parse_schedule", "scheduler_classes"]

_MAX_EXPONENT = 1000
_MAX_BITS = 1 << 16  # an integer power may have at most this many bits
_MAX_LENGTH = 10_000
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_NOT_FROM_A_LINE = {
    "LambdaDecay": "it needs a Python callable (lr_lambda)",
    "MultiplicativeDecay": "it needs a Python callable (lr_lambda)",
    "ReduceOnPlateau": "it follows a metric, not the step count",
}


class ScheduleExpressionError(ValueError):
    """An expression that is not a scheduler built from ``oar.lr`` names and literals."""


def scheduler_classes() -> dict[str, type[LRScheduler]]:
    """The concrete scheduler classes of :mod:`oar.lr` by name (the base class excluded)."""
    lr = importlib.import_module(__name__.rpartition(".")[0])  # the oar.lr package
    found: dict[str, type[LRScheduler]] = {}
    for name in lr.__all__:
        obj = getattr(lr, name)
        if isinstance(obj, type) and issubclass(obj, LRScheduler) and obj is not LRScheduler:
            found[name] = obj
    return found


def _where(node: ast.AST) -> str:
    return f"column {getattr(node, 'col_offset', 0) + 1}"


def _callee(node: ast.expr, classes: dict[str, type[LRScheduler]]) -> type[LRScheduler]:
    """The scheduler class a call names: ``X``, ``lr.X`` or ``oar.lr.X``."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        raise ScheduleExpressionError(
            f"only oar.lr schedulers can be called, not {ast.unparse(node)!r} ({_where(node)})"
        )
    parts.append(cur.id)
    dotted = ".".join(reversed(parts))
    prefix, _, name = dotted.rpartition(".")
    if prefix not in ("", "lr", "oar.lr") or name not in classes:
        known = ", ".join(sorted(classes))
        raise ScheduleExpressionError(f"unknown scheduler {dotted!r} ({_where(node)}); known: {known}")
    if name in _NOT_FROM_A_LINE:
        raise ScheduleExpressionError(
            f"{name} cannot be built from an expression: {_NOT_FROM_A_LINE[name]}; use the Python API"
        )
    return classes[name]


def _build(node: ast.AST, classes: dict[str, type[LRScheduler]]) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise ScheduleExpressionError(f"literal {node.value!r} is not allowed ({_where(node)})")
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_build(elt, classes) for elt in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand = _number(_build(node.operand, classes), node.operand)
        return _UNARY[type(node.op)](operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _number(_build(node.left, classes), node.left)
        right = _number(_build(node.right, classes), node.right)
        if isinstance(node.op, ast.Pow) and (
            abs(right) > _MAX_EXPONENT or (isinstance(left, int) and left.bit_length() * abs(right) > _MAX_BITS)
        ):
            raise ScheduleExpressionError(f"{ast.unparse(node)!r} is too large a power ({_where(node)})")
        try:
            return _BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError) as exc:
            raise ScheduleExpressionError(f"{ast.unparse(node)!r}: {exc} ({_where(node)})") from None
    if isinstance(node, ast.Call):
        cls = _callee(node.func, classes)
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ScheduleExpressionError(f"*arguments are not allowed ({_where(arg)})")
            args.append(_build(arg, classes))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ScheduleExpressionError(f"**arguments are not allowed ({_where(kw.value)})")
            kwargs[kw.arg] = _build(kw.value, classes)
        return cls(*args, **kwargs)
    raise ScheduleExpressionError(
        f"{type(node).__name__} {ast.unparse(node)!r} is not allowed ({_where(node)}): only oar.lr schedulers, "
        "number/string literals, lists, tuples and arithmetic on numbers"
    )


def _number(value: Any, node: ast.AST) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleExpressionError(f"arithmetic needs numbers, not {value!r} ({_where(node)})")
    return value


def parse_schedule(text: str) -> LRScheduler:
    """Build the scheduler that ``text`` describes, e.g.
    ``"LinearWarmup(CosineAnnealingDecay(0.1, T_max=1000), 100, 0.0, 0.1)"``.

    Args:
        text (str): one scheduler call made of ``oar.lr`` names and literals (see the module docstring).

    Returns:
        oar.lr.LRScheduler: the scheduler, constructed (so already at its first epoch).

    Raises:
        ScheduleExpressionError (a ValueError): a syntax error, a name, call or construct that is not
            allowed, or an expression that is not a scheduler.
        TypeError, ValueError, AssertionError: raised by the scheduler's own argument checks.
    """
    if not isinstance(text, str):
        raise TypeError(f"the schedule expression must be a str, but received {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ScheduleExpressionError(f"the expression is {len(text)} characters long; at most {_MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ScheduleExpressionError(f"invalid syntax in {text!r}: {exc.msg} (column {exc.offset})") from None
    result = _build(tree.body, scheduler_classes())
    if not isinstance(result, LRScheduler):
        raise ScheduleExpressionError(
            f"{text!r} is not a scheduler but {result!r}: write a call such as 'CosineAnnealingDecay(0.1, T_max=100)'"
        )
    return result
