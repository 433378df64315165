"""`calculator`: arithmetic on numbers, parsed as a Python expression tree and evaluated node by node.

    "(523.06 - 303.96) / 303.96 * 100"  ->  72.08...
    "round(1000 * 1.035 ** 10, 2)"      ->  1410.6

Allowed: numbers, + - * / // % **, unary minus, parentheses, and the functions in FUNCTIONS.
Everything else -- names, attributes, subscripts, strings, lambdas, comprehensions -- is refused
before anything runs; `eval` is never called. Results are bounded: integers to 10**100 (an
exponent is checked before it is applied, so 9**9**9 is refused rather than computed) and floats
must stay finite.

Left out: variables, units, dates, and exact decimal arithmetic (floats, rounded for display to 10
significant digits).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from dayshift.agents.tools.base import Evidence, RunContext, ToolError, ToolOutput

Number = int | float
MAX_INT = 10**100
MAX_EXPRESSION_CHARS = 300

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs, "round": round, "min": min, "max": max, "sqrt": math.sqrt, "log": math.log, "log10": math.log10,
    "exp": math.exp, "floor": math.floor, "ceil": math.ceil,
}


class CalculatorArgs(BaseModel):
    expression: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS,
                            description="arithmetic on numbers copied from earlier results: + - * / ** ( ) "
                                        "and round, sqrt, min, max")


def evaluate(expression: str) -> Number:
    """The value of `expression`; ToolError naming what is not allowed."""
    try:
        tree = ast.parse(expression.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot read {expression!r} as arithmetic ({exc.msg}); write e.g. (2 + 3) * 4") from None
    return _value(tree.body)


def _value(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000 and abs(left) > 1:
            raise ToolError(f"the exponent {right} is too large: keep exponents within 1000")
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large to compute") from None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
            and not node.keywords:
        values = [_value(arg) for arg in node.args]
        try:
            return _bounded(FUNCTIONS[node.func.id](*values))
        except (TypeError, ValueError) as exc:
            raise ToolError(f"{node.func.id}() cannot take {values}: {exc}") from None
    raise ToolError(f"{type(node).__name__} is not arithmetic: use numbers, + - * / // % **, parentheses and "
                    f"{', '.join(FUNCTIONS)}")


def _bounded(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError("only numbers are allowed")
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ToolError("the result has more than 100 digits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    return value


def display(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.10g}"


class Calculator:
    name = "calculator"
    description = ("Evaluate an arithmetic expression (numbers, + - * / // % **, parentheses, round, abs, min, max, "
                   "sqrt, log, exp). Use it for arithmetic on numbers that other tools returned.")
    Args = CalculatorArgs

    def run(self, args: CalculatorArgs, *, run: RunContext) -> ToolOutput:
        value = display(evaluate(args.expression))
        evidence = Evidence(id=run.new_id("C"), kind="calculator", label=args.expression, text=f"= {value}")
        return ToolOutput(text=f"[{evidence.id}] {args.expression} = {value}", evidence=(evidence,),
                          data={"value": value})
