"""DS401: user data reaches a third-party model or telemetry call without redaction.

Sources of user data:
  - the parameters of a route handler (FastAPI bodies and query values, chainlit messages), but
    not `self`, injected dependencies (`Depends(...)`), or framework objects (Request,
    WebSocket, BackgroundTasks, a DB session);
  - what a request object carries: `request.json`, `.get_json()`, `.form`, `.args`, `.values`,
    `.data`, `.files`, `.body()`, `.query_params`, `await request.json()`, a websocket's
    `receive_text()` / `receive_json()`, on a handler's `request` parameter or Flask/Quart's
    global `request`;
  - Streamlit inputs: `st.chat_input`, `st.text_input` (not `type="password"`), `st.text_area`,
    `st.file_uploader`, `st.camera_input`, `st.audio_input`.
A model's reply is the model's text, not user data, even when the prompt held some: sending the
reply on (to a memory store, a second model) is not reported; the prompt's own send is.
Sinks: requests that carry content to a remote model API (generation calls, embeddings, files,
assistant messages, moderation, transcription; LangChain and llama-index models and the chains
built on them; other providers' SDKs: groq, together, cerebras, g4f, mistralai, cohere,
google-genai; mem0's add and search, whose messages and query go to its LLM and embedder) unless
the client points at localhost or a local runtime (Ollama, llama.cpp, a mem0 config whose models
are all local); and
telemetry or feedback calls (Sentry, PostHog, Segment, Mixpanel, Trubrics, Langfuse, LangSmith
feedback, OpenTelemetry span attributes and events, logfire, wandb, mlflow).
Sanitizers: any call whose name says it redacts (redact, anonymize, scrub, mask, sanitize,
deidentify, pseudonymize, strip_pii, remove_pii, presidio, sha256/hash), plus the names in
`[tool.dayshift.review] redaction-functions`.

Also sources: a parameter typed `Request`/`WebSocket` in any function, and chat platforms and UI
callbacks (rules/entries.py: Discord, Slack Bolt, python-telegram-bot, Gradio).

The flow crosses functions and modules through summaries (taint/summaries.py), and state kept
between calls through module-level names, chainlit's user session and fields of `self`
(taint/state.py). What it cannot see: calls the project cannot resolve (a function looked up by
name, an object of unknown class, a runnable handed to a background task), libraries it does not
model (raglite, instructor's old DSL), raw HTTP calls to a model endpoint (`requests.post` to a
Hugging Face or ElevenLabs URL: the URL does not say it is a model), a database round trip, and
telemetry sent implicitly
by an instrumentation library (an OpenTelemetry or Langfuse auto-instrumentor records prompts
without any call in your code).
"""

from __future__ import annotations

import ast

from dayshift.review.engine.clients import ApiCall
from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.libraries import provider_sent
from dayshift.review.engine.module import Scope
from dayshift.review.engine.project import Project
from dayshift.review.engine.units import Unit
from dayshift.review.rules._flow import BaseFlowRules, run_family, scope_nodes
from dayshift.review.rules.entries import user_params
from dayshift.review.taint import EMPTY

USER = frozenset({"user"})
FLASK_REQUESTS = {"flask.request", "quart.request", "sanic.request", "werkzeug.request"}
REQUEST_ATTRS = {"json", "form", "args", "values", "data", "files", "query_params", "path_params", "stream",
                 "get_json", "body", "get_data", "receive_text", "receive_json", "receive_bytes", "receive", "text"}
REQUEST_PARAM_NAMES = {"request", "req", "websocket", "ws"}
FRAMEWORK_TYPES = {"Request", "WebSocket", "BackgroundTasks", "Session", "AsyncSession", "Response",
                   "HTTPConnection", "Depends", "Security"}
STREAMLIT_INPUTS = {"chat_input", "text_input", "text_area", "file_uploader", "camera_input", "audio_input"}
CONTENT_CALLS = {("embeddings", "create"), ("files", "create"), ("messages", "create"), ("threads", "create"),
                 ("threads", "create_and_run"), ("moderations", "create"), ("transcriptions", "create"),
                 ("translations", "create"), ("uploads", "create"), ("images", "generate"), ("images", "edit"),
                 ("images", "create_variation"), ("speech", "create")}
TELEMETRY = {"sentry_sdk.capture_message", "sentry_sdk.set_context", "sentry_sdk.set_extra", "sentry_sdk.set_tag",
             "sentry_sdk.set_user", "sentry_sdk.add_breadcrumb", "posthog.capture", "posthog.identify",
             "analytics.track", "analytics.identify", "analytics.page", "trubrics.collect", "trubrics.save",
             "trubrics.log_prompt", "wandb.log", "mlflow.log_param", "mlflow.log_params", "mlflow.log_text",
             "mlflow.log_dict", "logfire.info", "logfire.debug", "logfire.warn", "logfire.error", "logfire.span",
             "logfire.log", "logfire.notice"}
TELEMETRY_CLIENTS = {"langfuse.Langfuse": {"trace", "generation", "span", "event", "score", "update_current_trace",
                                           "update_current_observation"},
                     "langsmith.Client": {"create_feedback", "create_run", "update_run"},
                     "langsmith.client.Client": {"create_feedback", "create_run", "update_run"},
                     "langfuse.client.Langfuse": {"trace", "generation", "span", "event", "score"},
                     "mixpanel.Mixpanel": {"track", "people_set"},
                     "posthog.Posthog": {"capture", "identify"}}
SPAN_METHODS = {"set_attribute", "set_attributes", "add_event", "record_exception", "update_name"}
REDACTING = ("redact", "anonymi", "scrub", "mask", "sanitiz", "deidentif", "de_identif", "pseudonym", "strip_pii",
             "remove_pii", "presidio", "sha256", "hash")


class PrivacyRules(BaseFlowRules):
    trigger = "user"

    def __init__(self) -> None:
        self._flask: dict[int, set[str]] = {}

    def source(self, unit: Unit, node: ast.expr) -> frozenset:
        index = unit.index
        if id(index) not in self._flask:
            self._flask[id(index)] = {name for name, q in index.imports.items() if q in FLASK_REQUESTS}
        return _source(unit.ctx, node, self._flask[id(index)])

    def enter(self, unit: Unit, function: ast.AST, env: dict) -> dict:
        names = _user_params(function) if id(function) in unit.index.handlers else user_params(unit.index, function)
        for name in names or []:
            env[name] = env.get(name, EMPTY) | USER
        return env

    def transfer(self, unit: Unit, call: ast.Call, labels: frozenset) -> frozenset | None:
        redactors = {name.lower() for name in unit.ctx.redactors}
        if _redacts(call, redactors):
            return EMPTY
        api = unit.resolver.api_call(call)
        if api is not None and api.generation:
            return EMPTY  # the model's reply is the model's text: the user's data went out in the request
        return None

    def sinks(self, unit: Unit, call: ast.Call) -> list[tuple[list[ast.expr], str, str]]:
        where = _sink(unit.ctx, call)
        if where is None:
            return []
        api = unit.resolver.api_call(call)
        sent = provider_sent(api.known_specs[0].vendor, api.path, call) \
            if api is not None and api.kind == "provider" and api.known_specs else None
        return [(sent if sent is not None else [*call.args, *[k.value for k in call.keywords]], "DS401",
                 f"{unit.ctx.describe(call)} sends user data {where} without redaction.")]

    def entry(self, unit: Unit, scope: Scope) -> bool:
        """Only code that can hold user data starts an analysis; helpers are analysed when called."""
        index = unit.index
        for node in scope_nodes(unit, scope):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    id(node) in index.handlers or user_params(index, node) is not None):
                return True
            if isinstance(node, ast.Attribute) and node.attr in REQUEST_ATTRS:
                return True
            if isinstance(node, ast.Call) and (index.qualname(node.func) or "").startswith("streamlit."):
                return True
        return False


def check_project(project: Project, errors: dict[str, Exception]) -> None:
    run_family(project, PrivacyRules(), errors)


def _sink(ctx: RuleContext, call: ast.Call) -> str | None:
    api = ctx.resolver.api_call(call)
    if api is not None:
        return _model_sink(api)
    q = ctx.index.qualname(call.func)
    if q in TELEMETRY:
        return f"to telemetry ({q.split('.')[0]})"
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in SPAN_METHODS:
        receiver = ctx.index.dotted(func.value) or ""
        if "span" in receiver.lower() or (isinstance(func.value, ast.Call) and
                                          (ctx.index.qualname(func.value.func) or "").endswith("get_current_span")):
            return "to a trace span"
    scope = ctx.index.enclosing_scope(call)
    for binding in ctx.index.lookup(func.value, scope) if isinstance(func.value, (ast.Name, ast.Attribute)) else []:
        if isinstance(binding.value, ast.Call):
            methods = TELEMETRY_CLIENTS.get(ctx.index.qualname(binding.value.func) or "")
            if methods and func.attr in methods:
                return f"to telemetry ({ctx.index.qualname(binding.value.func)})"
    return None


def _model_sink(api: ApiCall) -> str | None:
    if api.kind in {"requests", "httpx", "aiohttp"} or not api.remote:
        return None
    if api.generation or api.kind == "provider" or api.path[-2:] in CONTENT_CALLS or api.kind == "openai-v0" and \
            api.path[0] in {"Embedding", "Audio", "Moderation"}:
        return "to a third-party model API"
    return None


def _source(ctx: RuleContext, node: ast.expr, flask_request: set[str]) -> frozenset:
    if isinstance(node, ast.Call):
        q = ctx.index.qualname(node.func) or ""
        if q.startswith("streamlit.") and q.rsplit(".", 1)[-1] in STREAMLIT_INPUTS:
            kind = next((k.value for k in node.keywords if k.arg == "type"), None)
            if isinstance(kind, ast.Constant) and kind.value == "password":
                return frozenset()
            return USER
        return frozenset()
    if isinstance(node, ast.Attribute) and node.attr in REQUEST_ATTRS and isinstance(node.value, ast.Name):
        name = node.value.id
        if name in flask_request:
            return USER
        scope = ctx.index.enclosing_scope(node)
        for probe in ctx.index.scope_chain(scope):
            if probe.node is None or name not in probe.params:
                continue
            typed = _annotation(probe.node, name) in {"Request", "WebSocket"}  # a request object, in any function
            if typed or (id(probe.node) in ctx.index.handlers and name in REQUEST_PARAM_NAMES):
                return USER
    return frozenset()


def _user_params(function: ast.AST) -> list[str]:
    args = function.args  # type: ignore[attr-defined]
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    defaults = dict(zip([a.arg for a in [*args.posonlyargs, *args.args]][::-1], args.defaults[::-1]))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    found = []
    for index, arg in enumerate(params):
        if index == 0 and arg.arg in {"self", "cls"}:
            continue
        if arg.arg in REQUEST_PARAM_NAMES:
            continue
        default = defaults.get(arg.arg)
        if isinstance(default, ast.Call) and isinstance(default.func, (ast.Name, ast.Attribute)) and \
                (default.func.id if isinstance(default.func, ast.Name) else default.func.attr) in {"Depends",
                                                                                                   "Security"}:
            continue
        if _annotation_text(arg.annotation) & FRAMEWORK_TYPES:
            continue
        found.append(arg.arg)
    return found


def _annotation(function: ast.AST, name: str) -> str | None:
    for arg in function.args.args:  # type: ignore[attr-defined]
        if arg.arg == name and arg.annotation is not None:
            names = _annotation_text(arg.annotation)
            return next(iter(names)) if names else None
    return None


def _annotation_text(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return names & (FRAMEWORK_TYPES | {"Request", "WebSocket"})


def _redacts(call: ast.Call, extra: set[str]) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    lowered = name.lower()
    return lowered in extra or any(word in lowered for word in REDACTING) or lowered in {"len", "bool"}
