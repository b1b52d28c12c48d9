"""Arithmetic on numbers only, through a parser: the calculator tool never calls ``eval``.

The expression is parsed with ``ast.parse(mode="eval")`` and evaluated by walking an allow-list of
node types: number literals, ``+ - * / // % **``, unary ``+``/``-`` and parentheses (which are not
nodes at all). Names, calls, attributes, subscripts, strings and everything else are refused, so no
code can run. Typed and spoken forms are normalised first: ``×``, ``·``, ``∗`` and ``x`` between
numbers mean times, ``÷`` means divide, ``^`` means power (not XOR), ``−`` is minus, and a trailing
``=`` or ``?`` is dropped.

Limits keep a request from eating the CPU or memory: at most 200 characters, exponents of at most
1000 in size, and no result (intermediate ones included) beyond 1e100 in magnitude.
"""

from __future__ import annotations

import ast
import math
import operator
import re

from voicecli.tools.registry import ToolError

MAX_LENGTH = 200
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e100

Number = int | float


class CalcError(ToolError):
    """The expression is not plain arithmetic, or is out of bounds."""


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}

_REFUSED = {
    ast.Name: "names",
    ast.Call: "function calls",
    ast.Attribute: "attributes",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators",
}
ALLOWED = "numbers, + - * / // % ** (or ^) and parentheses"


def normalise(expression: str) -> str:
    """Typed and spoken forms of the operators, as Python arithmetic."""
    text = expression.strip().rstrip("=?").strip()
    for symbol, py in (("×", "*"), ("·", "*"), ("∗", "*"), ("÷", "/"), ("−", "-"), ("–", "-"), ("^", "**")):
        text = text.replace(symbol, py)
    # "17 x 23" / "17x23": x between two operands means times (not inside a word or a hex literal).
    return re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(.])", "*", text)


def _check(value: Number) -> Number:
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise CalcError(f"the result is too large (the limit is {MAX_MAGNITUDE:g})")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalcError(f"the exponent {exponent:g} is too large (the limit is {MAX_EXPONENT})")
    # Refuse before computing: |base| ** exponent > 1e100 exactly when exponent * log10|base| > 100.
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise CalcError(f"the result is too large (the limit is {MAX_MAGNITUDE:g})")
    if base == 0 and exponent < 0:
        raise CalcError("zero cannot be raised to a negative power")
    result = base**exponent
    if isinstance(result, complex):
        raise CalcError("a negative number to a fractional power has no real result")
    return result


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        if type(node.value) in (int, float):
            return _check(node.value)
        raise CalcError(f"only numbers are allowed, not {type(node.value).__name__} values")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _check(_power(left, right))
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise CalcError("division by zero")
        return _check(_BINARY[type(node.op)](left, right))
    what = _REFUSED.get(type(node), f"'{type(node).__name__}' expressions")
    raise CalcError(f"{what} are not allowed; use only {ALLOWED}")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, or :class:`CalcError` saying why not."""
    text = normalise(expression)
    if not text:
        raise CalcError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise CalcError(f"the expression is too long (at most {MAX_LENGTH} characters)")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as e:
        raise CalcError(
            f"not an arithmetic expression ({getattr(e, 'msg', e)}); use only {ALLOWED}"
        ) from None
    try:
        return _eval(tree)
    except (OverflowError, MemoryError, RecursionError):
        raise CalcError(f"the result is too large (the limit is {MAX_MAGNITUDE:g})") from None


def format_number(value: Number) -> str:
    """Integers as they are; other numbers to 12 significant digits, without float noise."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)
