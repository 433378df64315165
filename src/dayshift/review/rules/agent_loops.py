"""DS801: a loop that calls a model until the model decides to stop, with no step or cost bound.

A `while` loop is reported when its body makes a generation call (directly, or through a
function it calls, in this module or another, at any depth) and nothing bounds it:
  - its condition compares no counter (a name that the loop increments, a `len(...)`, a time
    reading, or a name that says it is a bound: step, turn, iteration, attempt, round, tries,
    retries, count, budget, cost, limit, max_..., deadline, elapsed);
  - no `if` in the body tests such a counter and leaves the loop (break, return, raise).
`for` loops are bounded by their iterable and never reported. A loop that reads a person's
input each turn (`input()`, `st.chat_input`, `typer.prompt`, `Prompt.ask`, `session.prompt`,
a websocket's `receive_*`) is a conversation, not an agent loop, and is not reported; nor is a
worker that takes its work from a queue (`await queue.get()` on an `asyncio.Queue`, or any
receiver named *queue*).

Left out: recursion (an agent that calls itself), and model calls the project resolution cannot
follow (engine/project.py).
"""

from __future__ import annotations

import ast
import re

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit

BOUND_NAME = re.compile(r"step|turn|iter|attempt|round|tries|retries|count|budget|cost|spent|limit|max|deadline|"
                        r"elapsed|remaining|depth|n_calls|num_calls", re.IGNORECASE)
HUMAN_INPUT = {"input", "getpass", "prompt", "ask", "chat_input", "receive_text", "receive_json", "receive",
               "receive_bytes", "readline", "confirm"}
QUEUE_READS = {"get", "get_nowait", "receive", "receive_messages"}
TIME_CALLS = {"time.time", "time.monotonic", "time.perf_counter", "datetime.datetime.now", "loop.time"}


def check(ctx: RuleContext) -> None:
    for loop in ctx.index.loops:
        body = list(_body_nodes(loop))
        if not _calls_model(ctx, body):
            continue
        if any(_human_input(ctx, call) for call in body if isinstance(call, ast.Call)):
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


def _calls_model(ctx: RuleContext, body: list[ast.AST]) -> bool:
    """A generation call in the loop body, or a call to a function (in any module) that makes one,
    directly or through the functions it calls (each function is judged once per project)."""
    project = ctx.project
    assert project is not None
    unit = project.unit_of(ctx.index)
    for node in body:
        if not isinstance(node, ast.Call):
            continue
        api = ctx.resolver.api_call(node)
        if api is not None and api.generation:
            return True
        if any(_function_calls_model(project, t.unit, t.scope) for t in project.callees(unit, node)):
            return True
    return False


def _function_calls_model(project: Project, unit: Unit, scope: Scope) -> bool:
    memo = project.shared.setdefault("calls_model", {})
    assert isinstance(memo, dict)
    if scope.id in memo:
        return memo[scope.id]
    memo[scope.id] = False  # a cycle calls no model through itself
    found = False
    for call in project.calls_in(unit, scope):
        api = unit.resolver.api_call(call)
        if api is not None and api.generation:
            found = True
            break
        if any(_function_calls_model(project, t.unit, t.scope) for t in project.callees(unit, call)):
            found = True
            break
    memo[scope.id] = found
    return found


def _human_input(ctx: RuleContext, call: ast.Call) -> bool:
    """Input from outside the loop: a person (`input()`, a websocket) or a work queue (`queue.get()`)."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name in HUMAN_INPUT:
        return True
    return name in QUEUE_READS and isinstance(func, ast.Attribute) and _is_queue(ctx, func.value)


def _is_queue(ctx: RuleContext, receiver: ast.expr) -> bool:
    if "queue" in (ctx.index.dotted(receiver) or "").lower():
        return True
    scope = ctx.index.enclosing_scope(receiver)
    bound = ctx.index.lookup(receiver, scope) if isinstance(receiver, (ast.Name, ast.Attribute)) else []
    return any(isinstance(b.value, ast.Call) and (ctx.index.qualname(b.value.func) or "").endswith("Queue")
               for b in bound)


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
