"""Shared plumbing for the data-flow rules: which bodies to analyse, and try/except checks."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.taint import analyse


def roots_with(ctx: RuleContext, calls: Iterable[ast.Call]) -> list[Scope]:
    """The outermost functions (or the module body) that contain any of `calls`."""
    roots: dict[int, Scope] = {}
    for call in calls:
        root = ctx.index.root_of(ctx.index.enclosing_scope(call))
        roots[root.id] = root
    return list(roots.values())


def run_flows(ctx: RuleContext, roots: Iterable[Scope], *, source, sanitizer=lambda call: False,
              on_call=lambda call, flow: None, enter=lambda function, env: env, rounds: int = 4) -> None:
    """Run the taint flow over `roots`, then follow tainted arguments into the parameters of the
    functions of this module they are passed to (`helper(user_text)` taints `helper`'s
    parameter), re-running until nothing new is learned (at most `rounds` times). Only functions
    of the same module, called by name or through `self.`/`cls.`, are followed."""
    seeds: dict[int, dict[str, frozenset]] = defaultdict(dict)
    changed = [False]

    def hook(call: ast.Call, flow) -> None:
        on_call(call, flow)
        for callee, params in _callees(ctx, call):
            bound = seeds[id(callee.node)]
            pairs = list(zip(params, call.args)) + [(k.arg, k.value) for k in call.keywords if k.arg in params]
            for name, arg in pairs:
                labels = flow.labels(arg)
                if labels and not labels <= bound.get(name, frozenset()):
                    bound[name] = bound.get(name, frozenset()) | labels
                    changed[0] = True

    def seeded(function: ast.AST, env: dict) -> dict:
        env = enter(function, env)
        for name, labels in seeds.get(id(function), {}).items():
            env[name] = env.get(name, frozenset()) | labels
        return env

    wanted = {root.id for root in roots}
    everything = [ctx.index.module_scope] + [s for s in ctx.index.scopes.values()
                                             if s.node is not None and ctx.index.root_of(s) is s]
    # a root is worth a run when it holds a sink, or passes arguments to functions of this module
    relevant = [r for r in everything if r.id in wanted or any(_callees(ctx, c) for c in _calls_in(ctx, r))]
    for _ in range(rounds):
        changed[0] = False
        for root in relevant:
            analyse(ctx.index, root.node, source=source, sanitizer=sanitizer, on_call=hook, enter=seeded)
        if not changed[0]:
            break


def _calls_in(ctx: RuleContext, root: Scope) -> list[ast.Call]:
    if root.node is None:
        return [c for c in ctx.index.calls if ctx.index.root_of(ctx.index.enclosing_scope(c)) is root]
    return [n for n in ast.walk(root.node) if isinstance(n, ast.Call)]


def _callees(ctx: RuleContext, call: ast.Call) -> list[tuple[Scope, list[str]]]:
    """Functions of this module a call may run, with the parameter names its arguments bind to."""
    func = call.func
    if isinstance(func, ast.Name):
        targets = [s for s in ctx.index.functions.get(func.id, []) if s.cls is None]
        skip_first = False
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"}:
        targets = [s for s in ctx.index.functions.get(func.attr, []) if s.cls is not None]
        skip_first = True
    else:
        return []
    found = []
    for target in targets:
        args = target.node.args  # type: ignore[union-attr]
        names = [a.arg for a in [*args.posonlyargs, *args.args]]
        if skip_first and names:
            names = names[1:]
        found.append((target, names + [a.arg for a in args.kwonlyargs]))
    return found


def handled(ctx: RuleContext, call: ast.Call, accepted: set[str]) -> bool:
    """True when `call` sits in the body of a try whose handlers catch one of `accepted`
    (or everything: a bare `except`, Exception, BaseException)."""
    child: ast.AST = call
    for node in ctx.index.ancestors(call):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return _retried_on(ctx, node, accepted)
        if isinstance(node, ast.Lambda):
            return False
        if isinstance(node, (ast.Try, ast.TryStar)) and child in node.body:
            for handler in node.handlers:
                names = _exception_names(handler.type)
                reraises = any(isinstance(stmt, ast.Raise) and (stmt.exc is None or (
                    isinstance(stmt.exc, ast.Name) and stmt.exc.id == handler.name)) for stmt in handler.body)
                if not reraises and (handler.type is None or names & (accepted | {"Exception", "BaseException"})):
                    return True
        child = node
    return False


def _retried_on(ctx: RuleContext, function: ast.AST, accepted: set[str]) -> bool:
    """A retrying decorator that names one of the errors: tenacity
    `@retry(retry=retry_if_exception_type(json.JSONDecodeError))` re-asks the model."""
    for deco in function.decorator_list:  # type: ignore[attr-defined]
        text = ast.get_source_segment(ctx.index.source, deco) or ""
        if ("retry" in text.lower() or "backoff" in text.lower()) and any(name in text for name in accepted):
            return True
    return False


def _exception_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return set().union(*(_exception_names(e) for e in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Name):
        return {node.id}
    return set()
