"""Arithmetic on numbers only, through a parser: the calculator tool never calls ``eval``.

The expression is parsed with ``ast.parse(mode="eval")`` and evaluated by walking an allow-list of
node types: number literals, ``+ - * / // % **``, unary ``+``/``-`` and parentheses (which are not
nodes at all). Names, calls, attributes, subscripts, strings and everything else are refused, so no
code can run. Typed and spoken forms are normalised first: ``×``, ``·``, ``∗`` and ``x`` between
numbers mean times, ``÷`` means divide, ``^`` means power (not XOR), ``−`` is minus, and a trailing
``=`` or ``?`` is dropped.

Limits keep a request from eating the CPU or memory: at most 200 characters, exponents of at most
1000 in size, and no result (intermediate ones included) beyond 1e100 in magnitude.

A result is right or refused, never silently wrong. ``0x10`` is refused: the "x means times" rule
would read it as 0 × 10, Python as sixteen, and nobody can tell which was meant. Python's other
literal forms are right as Python reads them: ``1_000`` is 1000, ``0b101`` 5, ``0o17`` 15;
``1e400`` (infinite as a float) is refused as too large, ``1j`` as not a real number. Likewise
a non-zero value too small for a float (``1e-400``, ``2 ** -2000``, ``1e-200 * 1e-200``) is refused,
not shown as 0.
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
MIN_MAGNITUDE = 1e-100  # below this a float has lost the digits that matter, or became 0

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
    if value and abs(value) < MIN_MAGNITUDE:
        raise _too_small()
    return value


def _too_small() -> CalcError:
    return CalcError(f"the result is too small to calculate exactly (the limit is {MIN_MAGNITUDE:g})")


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
            result = _power(left, right)
        else:
            if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
                raise CalcError("division by zero")
            result = _BINARY[type(node.op)](left, right)
        # A float product, quotient or power of non-zero numbers that came out 0 underflowed.
        if result == 0 and left and isinstance(node.op, (ast.Mult, ast.Div, ast.Pow)) and \
                (right or isinstance(node.op, ast.Pow)) and isinstance(result, float):
            raise _too_small()
        return _check(result)
    what = _REFUSED.get(type(node), f"'{type(node).__name__}' expressions")
    raise CalcError(f"{what} are not allowed; use only {ALLOWED}")


_HEX = re.compile(r"(?<![\w.])0[xX][0-9a-fA-F]")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, or :class:`CalcError` saying why not."""
    if _HEX.search(expression):
        raise CalcError("hexadecimal numbers such as 0x10 are not supported (is it 0 times 10, or sixteen?); "
                        "write the number in decimal, and use * for times")
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
    for node in ast.walk(tree):  # a literal such as 1e-400 is already 0.0 in the tree
        if isinstance(node, ast.Constant) and node.value == 0 and type(node.value) is float:
            mantissa = re.split("[eE]", ast.get_source_segment(text, node) or "0")[0]
            if any(c in "123456789" for c in mantissa):
                raise _too_small()
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
