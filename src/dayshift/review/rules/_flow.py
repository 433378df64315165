"""Shared plumbing for the data-flow rules: default FlowRules, the driver, and try/except checks."""

from __future__ import annotations

import ast

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit
from dayshift.review.taint import EMPTY, Sink, Summaries


class BaseFlowRules:
    """Defaults for a rule family's FlowRules (taint/summaries.py): no sources, no sinks."""

    trigger = ""  # the label that makes a finding

    def source(self, unit: Unit, node: ast.expr) -> frozenset:
        return EMPTY

    def enter(self, unit: Unit, function: ast.AST, env: dict) -> dict:
        return env

    def transfer(self, unit: Unit, call: ast.Call, labels: frozenset) -> frozenset | None:
        return None

    def sinks(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]:
        return []

    def fires(self, labels: frozenset) -> bool:
        return self.trigger in labels

    def handled_at(self, unit: Unit, call: ast.Call, sink: Sink) -> bool:
        return False

    def report(self, sink: Sink, labels: frozenset, via: tuple[Unit, ast.Call] | None) -> None:
        sink.unit.ctx.report(sink.rule_id, sink.call, sink.message + passed_in(sink, via))

    def entry(self, unit: Unit, scope: Scope) -> bool:
        return True


def passed_in(sink: Sink, via: tuple[Unit, ast.Call] | None) -> str:
    """' (passed in at routes.py:12)' for a finding fed by a caller, so the reader can find the source."""
    if via is None:
        return ""
    unit, call = via
    where = f"line {call.lineno}" if unit is sink.unit else f"{unit.path}:{call.lineno}"
    return f" (the data is passed in at {where})"


def run_family(project: Project, rules: BaseFlowRules, errors: dict[str, Exception]) -> None:
    """Run one family's inter-procedural flow over the whole project."""
    Summaries(project, rules).run(errors)


def scope_nodes(unit: Unit, scope: Scope) -> list[ast.AST]:
    """The nodes of a root function (nested functions included), or of the module body's statements."""
    assert unit.ctx.project is not None
    return unit.ctx.project.nodes(unit, scope)


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
        text = ast.unparse(deco)
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
