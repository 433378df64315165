"""DS101 (no timeout) and DS102 (an infinite timeout) for LLM and HTTP calls.

Where each library's default leaves a call unbounded or nearly so, a missing timeout is a
finding: openai/AsyncOpenAI/Azure and the v0 module API (600 s), anthropic (600 s), litellm
(600 s), requests (none), aiohttp (300 s total, no read bound), LangChain chat models (none of
their own). httpx (5 s) and llama-index LLMs (60 s) are bounded when left alone, so only an
explicit `None` is reported for them.

SDK clients are reported at each call (a call can still pass `timeout=` or use
`with_options`); LangChain and llama-index models at their construction, since their calls
happen inside chains. A client built in another module of the reviewed tree and imported
(`from .clients import llm`) is followed there. An `http_client=` that may be None (set only
when a proxy is configured) does not count as a timeout. A call whose `**kwargs` cannot be read,
or whose client comes from an unannotated parameter, is not reported. A parameter annotated with
the client's type is taken to hold one of the clients of that type the project builds
(engine/frameworks.py); where the project builds none, it is not reported. The OpenAI Agents
SDK's `Runner.run` is checked against the client its Agent's model holds
(`OpenAIResponsesModel(openai_client=...)`). Other providers' SDKs (groq, mistralai, cohere ...)
are not checked: their defaults differ and are not modelled.
"""

from __future__ import annotations

import ast

from dayshift.review.engine.clients import ApiCall, ClientSpec
from dayshift.review.engine.context import RuleContext

DEFAULTS = {"openai": "the SDK default of 600 s", "anthropic": "the SDK default of 600 s",
            "litellm": "litellm's default of 600 s", "requests": "requests waits forever by default",
            "aiohttp": "aiohttp's default is 300 s in total with no read bound",
            "openai-agents": "the openai SDK default of 600 s"}
TIMEOUT_KWARGS = ("timeout", "request_timeout", "default_request_timeout")


def check(ctx: RuleContext) -> None:
    globals_set = {key[2] for key in ctx.index.bindings if key[0] == "global"}
    for api in ctx.api_calls():
        _check_call(ctx, api, globals_set)
    for call in ctx.index.calls:
        _check_construction(ctx, call)


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _check_call(ctx: RuleContext, api: ApiCall, globals_set: set[str]) -> None:
    names = ("timeout", "request_timeout") if api.kind in {"openai-v0", "litellm"} else ("timeout",)
    given = next((api.kwargs[n] for n in names if n in api.kwargs), None)
    if given is not None:
        if _is_none(given):
            ctx.report("DS102", given, f"{ctx.describe(api.call)} passes timeout=None: it may wait forever.")
        return
    if api.spread or api.kind in {"httpx", "langchain", "llamaindex", "chain"}:
        return
    what = ctx.describe(api.call)
    if api.kind == "openai-v0":
        if "openai.timeout" not in globals_set:
            ctx.report("DS101", api.call, f"{what} has no request_timeout; the v0 SDK waits up to 600 s.")
        return
    if api.kind == "openai-module":
        if "openai.timeout" not in globals_set:
            ctx.report("DS101", api.call, f"{what} uses the module client and openai.timeout is never set "
                                           f"({DEFAULTS['openai']}).")
        return
    if api.kind == "litellm" and not api.known_specs:
        if not {"litellm.request_timeout", "litellm.timeout"} & globals_set:
            ctx.report("DS101", api.call, f"{what} has no timeout and litellm.request_timeout is not set "
                                           f"({DEFAULTS['litellm']}).")
        return
    if api.kind == "requests":
        ctx.report("DS101", api.call, f"{what} has no timeout ({DEFAULTS['requests']}).")
        return
    bare = [s for s in api.known_specs if _without_timeout(s)]
    if bare:
        spec = bare[0]
        where = f"line {spec.node.lineno}" if spec.where in {"", ctx.path} else f"{spec.where}:{spec.node.lineno}"
        whose = "its client" if not spec.inferred else "the client it is handed (typed, so taken to be one " \
                                                     "this project builds"
        ctx.report("DS101", api.call,
                   f"{what} has no timeout, and {whose} ({ctx.describe(spec.node)}, {where}"
                   f"{')' if spec.inferred else ''}) was built without one ({DEFAULTS.get(api.kind, 'no bound')}).")


def _without_timeout(spec: ClientSpec) -> bool:
    if spec.spread:
        return False
    if spec.kind in {"openai", "anthropic"}:
        return not spec.has("timeout", "http_client")
    if spec.kind == "litellm":
        return not spec.has("timeout")
    if spec.kind == "aiohttp":
        return not spec.has("timeout")
    return spec.kind == "requests"


def _check_construction(ctx: RuleContext, call: ast.Call) -> None:
    q = ctx.index.qualname(call.func)
    if q in {"httpx.Timeout"} and call.args and _is_none(call.args[0]) and not call.keywords:
        ctx.report("DS102", call, "httpx.Timeout(None) turns every timeout off.")
        return
    if q == "aiohttp.ClientTimeout":
        total = next((kw.value for kw in call.keywords if kw.arg == "total"), None)
        if _is_none(total):
            ctx.report("DS102", total, "aiohttp.ClientTimeout(total=None) has no overall bound.")
        return
    scope = ctx.index.enclosing_scope(call)
    spec = ctx.resolver.construct(call, q, scope)
    if spec is None:
        return
    for name in TIMEOUT_KWARGS:
        value = spec.arg(name)
        if _is_none(value):
            ctx.report("DS102", value, f"{ctx.describe(call)} is built with {name}=None: calls may wait forever.")
            return
    if spec.kind == "langchain" and not spec.local and not spec.spread and not spec.has(*TIMEOUT_KWARGS) \
            and not spec.has("http_client", "http_async_client"):
        ctx.report("DS101", call, f"{ctx.describe(call)} is built without a timeout: LangChain passes none, "
                                  "so each call may wait for the provider SDK's default or forever.")
