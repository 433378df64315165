"""DS801: a loop that calls a model until the model decides to stop, with no step or cost bound.

A `while` loop is reported when its body makes a generation call (directly, or through a
function of the same module it calls, up to three calls deep) and nothing bounds it:
  - its condition compares no counter (a name that the loop increments, a `len(...)`, a time
    reading, or a name that says it is a bound: step, turn, iteration, attempt, round, tries,
    retries, count, budget, cost, limit, max_..., deadline, elapsed);
  - no `if` in the body tests such a counter and leaves the loop (break, return, raise).
`for` loops are bounded by their iterable and never reported. A loop that reads a person's
input each turn (`input()`, `st.chat_input`, `typer.prompt`, `Prompt.ask`, `session.prompt`,
a websocket's `receive_*`) is a conversation, not an agent loop, and is not reported.

Left out: recursion (an agent that calls itself) and loops whose model call is in another module.
"""

from __future__ import annotations

import ast
import re

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope

BOUND_NAME = re.compile(r"step|turn|iter|attempt|round|tries|retries|count|budget|cost|spent|limit|max|deadline|"
                        r"elapsed|remaining|depth|n_calls|num_calls", re.IGNORECASE)
HUMAN_INPUT = {"input", "getpass", "prompt", "ask", "chat_input", "receive_text", "receive_json", "receive",
               "receive_bytes", "readline", "confirm"}
TIME_CALLS = {"time.time", "time.monotonic", "time.perf_counter", "datetime.datetime.now", "loop.time"}


def check(ctx: RuleContext) -> None:
    model_functions = _functions_calling_models(ctx)
    for loop in ctx.index.loops:
        body = list(_body_nodes(loop))
        if not _calls_model(ctx, body, model_functions):
            continue
        if any(_human_input(call) for call in body if isinstance(call, ast.Call)):
            continue
        counters = {n.target.id for n in body if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
        counters |= {ctx.index.dotted(n.target) for n in body if isinstance(n, ast.AugAssign)} - {None}
        if _bounded_test(ctx, loop.test, counters) or _bounded_exit(ctx, body, counters):
            continue
        ctx.report("DS801", loop, "this loop calls a model until the model stops asking for more, with no step or "
                                  "cost bound.")


def _body_nodes(loop: ast.While):
    """Every node of the loop body, not descending into nested functions or classes."""
    todo = list(loop.body)
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                todo.append(child)


def _functions_calling_models(ctx: RuleContext) -> set[str]:
    direct: dict[str, Scope] = {}
    for api in ctx.api_calls():
        if api.generation and api.scope is not None:
            for scope in ctx.index.scope_chain(api.scope):
                if scope.node is not None:
                    direct[scope.node.name] = scope
    names = set(direct)
    for _ in range(3):  # callers of callers
        for name, scopes in ctx.index.functions.items():
            if name in names:
                continue
            if any(callee.node is not None and callee.node.name in names for s in scopes for callee in
                   ctx.index.callees(s)):
                names.add(name)
    return names


def _calls_model(ctx: RuleContext, body: list[ast.AST], model_functions: set[str]) -> bool:
    for node in body:
        if not isinstance(node, ast.Call):
            continue
        api = ctx.resolver.api_call(node)
        if api is not None and api.generation:
            return True
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) and \
            isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"} else None
        if name in model_functions:
            return True
    return False


def _human_input(call: ast.Call) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in HUMAN_INPUT


def _counter_like(ctx: RuleContext, node: ast.expr, counters: set) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and (sub.id in counters or BOUND_NAME.search(sub.id)):
            return True
        if isinstance(sub, ast.Attribute) and (ctx.index.dotted(sub) in counters or BOUND_NAME.search(sub.attr)):
            return True
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name) and sub.func.id == "len":
                return True
            if ctx.index.qualname(sub.func) in TIME_CALLS:
                return True
    return False


def _bounded_test(ctx: RuleContext, test: ast.expr, counters: set) -> bool:
    return any(isinstance(n, ast.Compare) and _counter_like(ctx, n, counters) for n in ast.walk(test))


def _bounded_exit(ctx: RuleContext, body: list[ast.AST], counters: set) -> bool:
    for node in body:
        if isinstance(node, ast.If) and _bounded_test(ctx, node.test, counters) and \
                any(isinstance(s, (ast.Break, ast.Return, ast.Raise)) for s in ast.walk(node)):
            return True
    return False
