"""DS601 (a prompt built by an f-string inside a request handler) and DS602 (no output cap).

DS601: inside a route handler (or a function nested in it), a string template with words in it
(an f-string, `"...".format(...)`, `"..." % x`) that flows into a model call's arguments is
reported where the template is written. Raw HTTP calls to a model server count when their JSON
body has a `prompt`, `messages` or `input` key. Templates in module constants or in helpers
outside the handler are not reported (a helper is a step toward a prompt file, not the goal).

DS602: a generation call with none of `max_tokens`, `max_completion_tokens`,
`max_output_tokens`, `max_new_tokens` (or one set to None) on the openai (v1 and v0), Azure and
litellm APIs; LangChain `ChatOpenAI`/`AzureChatOpenAI` and llama-index `OpenAI`/`AzureOpenAI`/
`OpenAILike` built without one. Not reported: anthropic (the API requires `max_tokens`),
LangChain's completion-style `OpenAI` (default 256), llama-index `Anthropic` (default 512), and
calls whose `**kwargs` cannot be read. An OpenAI Agents SDK `Agent` is reported where it is
built when its `model_settings` set no `max_tokens` (its `Runner.run` calls take none).
"""

from __future__ import annotations

import ast

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit
from dayshift.review.rules._flow import BaseFlowRules, run_family, scope_nodes
from dayshift.review.taint import EMPTY, Sink

CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens", "max_tokens_to_sample",
        "num_predict")
BOUNDED_BY_DEFAULT = {"openai-llm", "anthropic", "ollama", "local", "openai-embed"}
PROMPT_KEYS = {"prompt", "messages", "input", "inputs", "system"}
AGENTS = {"agents.Agent", "agents.agent.Agent"}  # the OpenAI Agents SDK


def check(ctx: RuleContext) -> None:
    _unbounded(ctx)


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _unbounded(ctx: RuleContext) -> None:
    for api in ctx.api_calls():
        if not api.generation or api.spread or api.kind in {"anthropic", "langchain", "llamaindex", "chain",
                                                            "openai-agents", "provider"}:
            continue
        if api.kind == "openai-v0" and api.path[0] not in {"ChatCompletion", "Completion"}:
            continue
        cap = next((api.kwargs[c] for c in CAPS if c in api.kwargs), None)
        if cap is None or _is_none(cap) or _defaults_to_none(ctx, cap):
            state = "no max_tokens" if cap is None else "max_tokens=None" if _is_none(cap) else \
                f"max_tokens={ast.unparse(cap)}, which defaults to None"
            ctx.report("DS602", api.call, f"{ctx.describe(api.call)} has {state}: the output is bounded only by "
                                          "the model's context window.")
    for call in ctx.index.calls:
        q = ctx.index.qualname(call.func)
        if q in AGENTS:
            _agent_without_cap(ctx, call)
            continue
        spec = ctx.resolver.construct(call, q, ctx.index.enclosing_scope(call)) if q else None
        if spec is None or spec.kind not in {"langchain", "llamaindex"} or spec.vendor in BOUNDED_BY_DEFAULT:
            continue
        if spec.spread:
            continue
        cap = spec.arg(*CAPS)
        model_kwargs = spec.arg("model_kwargs")
        if isinstance(model_kwargs, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in CAPS
                                                       for k in model_kwargs.keys):
            continue
        if cap is None or _is_none(cap):
            state = "max_tokens=None" if cap is not None else "no max_tokens"
            ctx.report("DS602", call, f"{ctx.describe(call)} is built with {state}: every call on it is "
                                      "bounded only by the model's context window.")


def _agent_without_cap(ctx: RuleContext, call: ast.Call) -> None:
    """An OpenAI Agents SDK Agent whose model_settings set no max_tokens: every run's output is unbounded."""
    if any(kw.arg is None for kw in call.keywords):
        return
    settings = next((kw.value for kw in call.keywords if kw.arg == "model_settings"), None)
    values = [settings] if not isinstance(settings, ast.Name) else [
        b.value for b in ctx.index.lookup(settings, ctx.index.enclosing_scope(call))]
    for value in values:
        if value is None:
            continue
        if not isinstance(value, ast.Call) or any(kw.arg is None for kw in value.keywords):
            return  # settings built elsewhere, or spread: not readable
        cap = next((kw.value for kw in value.keywords if kw.arg == "max_tokens"), None)
        if cap is not None and not _is_none(cap):
            return
    ctx.report("DS602", call, f"{ctx.describe(call)} is built without model_settings=ModelSettings(max_tokens=...): "
                              "every run's output is bounded only by the model's context window.")


def _defaults_to_none(ctx: RuleContext, cap: ast.expr) -> bool:
    """`max_tokens=max_tokens` where that is a parameter of the enclosing function defaulting to None."""
    if not isinstance(cap, ast.Name):
        return False
    for scope in ctx.index.scope_chain(ctx.index.enclosing_scope(cap)):
        if scope.node is None:
            return False
        if cap.id in scope.assigned and cap.id not in scope.params:
            return False
        args = scope.node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        if cap.id in defaults:
            return _is_none(defaults[cap.id])
        if cap.id in scope.params:
            return False
    return False


def _template(node: ast.expr) -> bool:
    """A string template with words in it: f"Summarise: {text}", "...{}".format(x), "%s" % x."""
    if isinstance(node, ast.JoinedStr):
        has_value = any(isinstance(v, ast.FormattedValue) for v in node.values)
        words = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return has_value and any(c.isalpha() for c in words)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        base = node.func.value
        return isinstance(base, ast.Constant) and isinstance(base.value, str) and any(c.isalpha() for c in base.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
    return False


class PromptRules(BaseFlowRules):
    """DS601: a template written in a handler, followed into a model call here or in any function it reaches."""

    def __init__(self, project: Project) -> None:
        self.units = {id(u): u for u in project.units}

    def source(self, unit: Unit, node: ast.expr) -> frozenset:
        if _template(node) and unit.index.in_handler(unit.index.enclosing_scope(node)):
            return frozenset({("template", id(unit), node.lineno, node.col_offset, node.end_lineno or node.lineno)})
        return EMPTY

    def sinks(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]:
        if not _prompt_sink(unit.ctx, call):
            return []
        return [([*call.args, *[k.value for k in call.keywords]], "DS601", unit.ctx.describe(call))]

    def fires(self, labels: frozenset) -> bool:
        return any(isinstance(label, tuple) and label[0] == "template" for label in labels)

    def report(self, sink: Sink, labels: frozenset, via: tuple[Unit, ast.Call] | None) -> None:
        where = f"line {sink.call.lineno}"
        for _, owner, line, col, end in sorted(label for label in labels if label[0] == "template"):
            unit = self.units[owner]
            if unit is not sink.unit:
                where = f"{sink.unit.path}:{sink.call.lineno}"
            node = ast.Constant(value="")
            node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = line, col, end, col
            unit.ctx.report("DS601", node, f"a prompt is built inline in a request handler and sent by "
                                           f"{sink.message} ({where}); keep it in a versioned prompt file.")

    def entry(self, unit: Unit, scope: Scope) -> bool:
        index = unit.index
        return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(n) in index.handlers
                   for n in scope_nodes(unit, scope))


def check_project(project: Project, errors: dict[str, Exception]) -> None:
    run_family(project, PromptRules(project), errors)


def _prompt_sink(ctx: RuleContext, call: ast.Call) -> bool:
    api = ctx.resolver.api_call(call)
    if api is not None:
        if api.generation:
            return True
        if api.kind in {"requests", "httpx", "aiohttp"}:
            body = api.kwargs.get("json")
            return isinstance(body, ast.Dict) and any(isinstance(k, ast.Constant) and k.value in PROMPT_KEYS
                                                      for k in body.keys)
    return False
