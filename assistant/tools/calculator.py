"""Arithmetic for the ``calculator`` built-in: the expression is parsed with ``ast`` and walked, never
evaluated by Python. Numbers, + - * / // % **, parentheses, and a few functions and constants from
``math``. Sizes are bounded: the expression's length, its nesting, integer results (bits) and the
arguments of the operators that grow them (**, *, factorial)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

MAX_CHARS = 500
MAX_INT_BITS = 4096  # an integer result may have ~1,233 digits
MAX_FACTORIAL = 450

Number = int | float


class CalcError(ValueError):
    """An expression the calculator refuses, with a sentence saying why."""


def _factorial(n: Number) -> Number:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise CalcError("factorial takes a whole number of 0 or more")
    if n > MAX_FACTORIAL:
        raise CalcError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(n)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "atan2": math.atan2, "hypot": math.hypot, "degrees": math.degrees, "radians": math.radians,
    "floor": math.floor, "ceil": math.ceil, "abs": abs, "round": round, "min": min, "max": max,
    "factorial": _factorial,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


def _check_int(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalcError(f"the result is larger than {MAX_INT_BITS} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalcError("the result is too large for a floating-point number" if not math.isnan(value)
                        else "the result is not a number")
    return value


def _power(base: Number, exp: Number) -> Number:
    if isinstance(base, int) and isinstance(exp, int):
        if exp < 0:
            return float(base) ** exp
        if abs(base) > 1 and exp * math.log2(abs(base)) > MAX_INT_BITS:
            raise CalcError(f"the power is larger than {MAX_INT_BITS} bits")
        return base**exp
    result = float(base) ** float(exp)
    if isinstance(result, complex):
        raise CalcError("the power has no real value")
    return result


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, ast.Pow):
        return _check_int(_power(left, right))
    if isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int) \
            and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
        raise CalcError(f"the product is larger than {MAX_INT_BITS} bits")
    fn = _BINARY.get(type(op))
    if fn is None:
        raise CalcError(f"the operator {type(op).__name__} is not supported")
    return _check_int(fn(left, right))


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return _check_int(node.value)
    if isinstance(node, ast.BinOp):
        return _binary(node.op, _eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords:
        if len(node.args) > 16:
            raise CalcError(f"{node.func.id} takes at most 16 arguments")
        return _check_int(FUNCTIONS[node.func.id](*(_eval(a) for a in node.args)))
    if isinstance(node, ast.Name):
        raise CalcError(f"unknown name {node.id!r} (known: {', '.join([*CONSTANTS, *FUNCTIONS])})")
    raise CalcError(f"{ast.unparse(node)[:40]!r} is not arithmetic") if isinstance(node, ast.expr) else CalcError("not arithmetic")


def calculate(expression: str) -> Number:
    """The value of ``expression``; CalcError with a sentence when it is not one the calculator takes."""
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise CalcError("the expression is empty")
    if len(text) > MAX_CHARS:
        raise CalcError(f"the expression is longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
        return _eval(tree)
    except CalcError:
        raise
    except SyntaxError:
        raise CalcError("the expression does not parse as arithmetic") from None
    except ZeroDivisionError:
        raise CalcError("division by zero") from None
    except OverflowError:
        raise CalcError("the result is too large for a floating-point number") from None
    except RecursionError:
        raise CalcError("the expression nests too deeply") from None
    except (ValueError, TypeError) as exc:
        raise CalcError(f"math error: {exc}") from None


def format_number(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)
