"""DS201: a model call (a generation or an embedding) on a request path with no retry, where the
client's max_retries is 0 or unset.

A request path is a route handler (FastAPI/Starlette/Flask/Quart `@app.get(...)`,
`@router.post`, `@bp.route`, `@app.websocket`, chainlit `@cl.on_message`), the functions nested
in it, and the functions it calls, transitively, in any module of the reviewed tree
(engine/project.py: `from .llm import ask`, `self.engine.chat(...)` on a project class).

A retry counts when: the client sets `max_retries` to something other than 0 (also through
`with_options`), litellm gets `num_retries`/`max_retries` (or `litellm.num_retries` is set), a
LangChain model is `.with_retry()`'d or built with `max_retries`, the function or a caller on
the path is decorated with a retrying decorator (tenacity `@retry`, `backoff.on_exception`,
any decorator named *retry*/*backoff*; what such a function calls, in any module, is retried
too), or the call sits in a loop with a `try` around it (a hand-written retry loop). A decorator
that retries only on errors of the model's output (tenacity `retry_if_exception_type` or
`backoff.on_exception` naming JSONDecodeError, ValidationError, ValueError ...) re-asks on bad
output and leaves rate limits and server errors unretried: it does not count. A client handed in
as a typed parameter is checked as the clients of its type the project builds
(engine/frameworks.py); other providers' SDKs (groq, mistralai, cohere ...) are not checked.

Left out: calls the project resolution cannot follow (engine/project.py), and retries done by
a proxy or gateway in front of the model.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.clients import ApiCall, ClientSpec
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit


def check(ctx: RuleContext) -> None:
    index, project = ctx.index, ctx.project
    assert project is not None
    path = project.request_path
    if not path:
        return
    globals_set = {key[2] for key in index.bindings if key[0] == "global"}
    retrying = _retrying_scopes(project)
    for api in ctx.api_calls():
        if not (api.generation or _embeds(api)) or api.scope is None:
            continue
        if not any(s.id in path for s in index.scope_chain(api.scope) if s.node is not None):
            continue
        if _has_retry(ctx, api, globals_set, retrying):
            continue
        if api.kind == "provider":  # other providers' SDKs: their retry defaults are not modelled
            continue
        if api.kind in {"openai", "anthropic", "langchain", "llamaindex", "chain", "openai-agents"} \
                and not api.known_specs:
            continue
        ctx.report("DS201", api.call, f"{ctx.describe(api.call)} runs on a request path with no retry: "
                                      f"{_why(api)}, and nothing around it retries.")


def _embeds(api: ApiCall) -> bool:
    """An embedding request: a model call a request waits on, as a generation is."""
    return api.path[-2:] == ("embeddings", "create") or (api.kind == "litellm" and api.path[-1] in {"embedding",
                                                                                                    "aembedding"})


def _why(api: ApiCall) -> str:
    if api.kind == "openai-v0":
        return "the v0 SDK does not retry"
    if api.kind == "litellm":
        return "litellm does not retry unless num_retries is set"
    spec = api.known_specs[0] if api.known_specs else None
    if spec is not None and spec.arg("max_retries") is not None:
        return "its client sets max_retries=0"
    return "its client leaves max_retries unset"


def _configured(value: ast.expr | None) -> bool:
    """max_retries given as anything but the literal 0."""
    if value is None:
        return False
    return not (isinstance(value, ast.Constant) and value.value in (0, None, False))


def _spec_retries(spec: ClientSpec) -> bool:
    if spec.retried:
        return True
    if spec.kind == "chain":
        return any(_spec_retries(m) for m in spec.inner)
    return _configured(spec.arg("max_retries", "num_retries"))


def _has_retry(ctx: RuleContext, api: ApiCall, globals_set: set[str], retrying: set[int]) -> bool:
    if _configured(api.kwargs.get("num_retries")) or _configured(api.kwargs.get("max_retries")):
        return True
    if api.kind == "litellm" and "litellm.num_retries" in globals_set:
        return True
    if api.kind == "openai-module" and "openai.max_retries" in globals_set:
        return True
    if api.known_specs and all(_spec_retries(s) for s in api.known_specs):
        return True
    if any(s.id in retrying for s in ctx.index.scope_chain(api.scope) if s.node is not None):
        return True
    return _in_retry_loop(ctx, api.call)


def _retrying_scopes(project: Project) -> set[int]:
    """Functions with a retrying decorator, and everything they call, in any module (once per project)."""
    cached = project.shared.get("retrying")
    if isinstance(cached, set):
        return cached
    starts: list[tuple[Unit, Scope]] = []
    for unit in project.units:
        for scope in unit.index.scopes.values():
            if scope.node is None:
                continue
            for deco in scope.node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                name = (unit.index.dotted(target) or "").lower()
                if ("retry" in name or "backoff" in name or "retrying" in name) and not _only_parse_errors(deco):
                    starts.append((unit, scope))
    found = project.reach(starts)
    project.shared["retrying"] = found
    return found


# Errors that mean the model answered badly, not that the call failed: a retry on them alone re-asks
# on bad output and leaves rate limits, timeouts and server errors unretried.
PARSE_ERRORS = {"jsondecodeerror", "validationerror", "valueerror", "keyerror", "typeerror", "assertionerror",
                "indexerror", "attributeerror", "outputparserexception", "schemaerror", "decodeerror"}


def _only_parse_errors(deco: ast.expr) -> bool:
    """tenacity `@retry(retry=retry_if_exception_type((json.JSONDecodeError, ValidationError)))` or
    `@backoff.on_exception(backoff.expo, json.JSONDecodeError)`: a retry that re-asks on bad output
    only, so a rate limit, timeout or server error is not retried."""
    if not isinstance(deco, ast.Call):
        return False
    named: list[ast.expr] = []
    for kw in deco.keywords:
        if kw.arg == "retry" and isinstance(kw.value, ast.Call) and \
                (ast.unparse(kw.value.func).rsplit(".", 1)[-1] == "retry_if_exception_type"):
            named.extend(kw.value.args)
    if ast.unparse(deco.func).endswith("on_exception") and len(deco.args) >= 2:
        named.append(deco.args[1])
    names = [(n.attr if isinstance(n, ast.Attribute) else n.id).lower() for e in named
             for n in (e.elts if isinstance(e, ast.Tuple) else [e]) if isinstance(n, (ast.Attribute, ast.Name))]
    return bool(names) and all(n in PARSE_ERRORS for n in names)


def _in_retry_loop(ctx: RuleContext, call: ast.Call) -> bool:
    inside_try = False
    for node in ctx.index.ancestors(call):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return False
        if isinstance(node, (ast.Try, ast.TryStar)) and node.handlers:
            inside_try = True
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)) and inside_try:
            return True
        if isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor)):
            text = ctx.index.segment(node.iter if isinstance(node, (ast.For, ast.AsyncFor))
                                     else node.items[0].context_expr) or ""
            if "Retrying" in text or "retry" in text.lower():
                return True
    return False
