"""Which calls reach an LLM or HTTP API, and through which client object.

A client is followed from its construction to its calls:

    client = OpenAI(timeout=30)                 # ClientSpec(kind="openai", kwargs={"timeout": ...})
    self.llm = ChatOpenAI(model="gpt-4o")       # bound to ("self", "Bot", "llm")
    fast = client.with_options(max_retries=0)   # the same spec with overrides
    chain = prompt | self.llm | parser          # a chain over the model (kind "chain")
    client.chat.completions.create(...)         # ApiCall(kind="openai", path=("chat","completions","create"))

through names, `self` attributes, module attributes (`bp.client`), `**kwargs` dicts
(engine/kwargs.py), wrappers (`instructor.from_openai(OpenAI())`), functions that return a
client, a chat framework's user session, and, in a project (engine/project.py), names imported
from other modules (`from .clients import llm`) and factories defined there. A parameter
annotated with a client type is an opaque client (engine/frameworks.py). A receiver that
resolves to nothing known (an unannotated parameter, an object built by reflection) gives no
ApiCall: the rules stay silent rather than guess.

A client stored under a constant key of a dict (`clients["openai"] = AsyncOpenAI(...)` in a
FastAPI lifespan, read as `clients["openai"]` in a handler) is followed through that key, in the
module and, for a module-level dict, in every module of the project that imports it.

Left out: clients stored in lists or under computed keys, and clients passed as unannotated
arguments.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from dayshift.review.engine.frameworks import agent_specs, annotated_specs
from dayshift.review.engine.kwargs import call_kwargs
from dayshift.review.engine.libraries import (
    ANTHROPIC_CTORS,
    DERIVING_METHODS,
    HTTP_METHODS,
    INVOKE_METHODS,
    LANGCHAIN_MODELS,
    LITELLM_GENERATION,
    LITELLM_NETWORK,
    LLAMAINDEX_MODELS,
    OPENAI_CTORS,
    OPENAI_RESOURCES,
    PROVIDER_CTORS,
    PROVIDER_LOCAL_WORDS,
    RUNS_GIVEN,
    WRAPPERS,
    WRAPS_GIVEN,
    agents_run,
    anthropic_generation,
    openai_generation,
    provider_call,
)
from dayshift.review.engine.module import ModuleIndex, Scope, session_key
from dayshift.review.engine.specs import UNKNOWN, ApiCall, ClientSpec, Spec

if TYPE_CHECKING:
    from dayshift.review.engine.project import Project
    from dayshift.review.engine.units import Unit




class ClientResolver:
    """Finds the client specs an expression may hold, and classifies calls. One per module."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.project: Project | None = None  # set when the module is part of a project: names cross modules
        self.unit: Unit | None = None
        self._cache: dict[tuple[int, int], list[Spec]] = {}
        self._active: set[tuple[int, int]] = set()
        self._calls: dict[int, ApiCall | None] = {}

    # ---- kwargs ------------------------------------------------------------------------------
    def kwargs(self, call: ast.Call, scope: Scope) -> tuple[dict[str, ast.expr], bool]:
        """The keyword arguments of `call`, and whether a `**d` could not be read (engine/kwargs.py)."""
        found, known = call_kwargs(self, call, scope)
        return found, not known

    # ---- what an expression holds ----------------------------------------------------------
    def specs(self, expr: ast.expr, scope: Scope, depth: int = 0) -> list[Spec]:
        key = (id(expr), scope.id)
        if key in self._cache:
            return self._cache[key]
        if key in self._active or depth > 8:
            return []
        self._active.add(key)
        try:
            found = self._specs(expr, scope, depth)
        finally:
            self._active.discard(key)
        self._cache[key] = found
        return found

    def _specs(self, expr: ast.expr, scope: Scope, depth: int) -> list[Spec]:
        if isinstance(expr, ast.Await):
            return self.specs(expr.value, scope, depth + 1)
        if isinstance(expr, ast.Call):
            return self._call_specs(expr, scope, depth)
        if isinstance(expr, (ast.BoolOp, ast.IfExp)):
            parts = expr.values if isinstance(expr, ast.BoolOp) else [expr.body, expr.orelse]
            return [s for p in parts for s in self.specs(p, scope, depth + 1)]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            inner = [s for side in (expr.left, expr.right) for s in self.specs(side, scope, depth + 1)
                     if isinstance(s, ClientSpec)]
            models = tuple(m for s in inner for m in s.models() if m.kind in {"langchain", "llamaindex"}
                           and not m.vendor.endswith("embed"))
            return [ClientSpec("chain", models[0].vendor, models[0].node, inner=models)] if models else []
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) \
                and isinstance(expr.slice.value, str):
            return [s for value, owner in self._stored(expr.value, expr.slice.value, scope)
                    for s in owner.specs(value, owner.index.enclosing_scope(value), depth + 1)]
        if isinstance(expr, (ast.Name, ast.Attribute)):
            found: list[Spec] = []
            for binding in self.index.lookup(expr, scope):
                found.extend(self.specs(binding.value, binding.scope, depth + 1))
            if not found:
                found.extend(self._imported_specs(expr, depth))
            if isinstance(expr, ast.Name) and scope.node is not None and _is_param(expr.id, scope, self.index):
                found.extend(annotated_specs(self, expr.id, scope) or [UNKNOWN])
            return found
        return []

    def _stored(self, container: ast.expr, name: str, scope: Scope) -> list[tuple[ast.expr, ClientResolver]]:
        """What `clients["openai"] = AsyncOpenAI(...)` stored under a constant key of a dict, in this
        module or, for a dict defined in a module of the project, in every module that imports it
        (a FastAPI lifespan filling `clients` from globals.py, handlers reading it in chat.py)."""
        key = self.index.key_for(container, scope)
        found = [(v, self) for k, v in self.index.dict_items.get(key, []) if k in (name, None)] if key else []
        if self.project is None or self.unit is None or not isinstance(container, ast.Name):
            return found
        home = self._dict_home(self, container.id)
        if home is None:
            return found
        for unit in self.project.units:
            if unit.resolver is self:
                continue
            for (kind, _, text), items in unit.index.dict_items.items():
                if kind == "global" and "." not in text and self._dict_home(unit.resolver, text) == home:
                    found.extend((v, unit.resolver) for k, v in items if k in (name, None))
        return found

    @staticmethod
    def _dict_home(resolver: ClientResolver, name: str) -> tuple[int, str] | None:
        """The module-level name a plain name of `resolver`'s module stands for: its own, or the one imported."""
        if resolver.project is None or resolver.unit is None:
            return None
        if name in resolver.index.imports:
            found = resolver.project.symbol(resolver.unit, resolver.index.imports[name])
            return (id(found.unit), found.name) if found is not None and found.kind == "value" else None
        if ("global", "", name) in resolver.index.bindings:
            return (id(resolver.unit), name)
        return None

    def _imported_specs(self, expr: ast.expr, depth: int) -> list[Spec]:
        """`client` after `from .llm import client`: what that module-level name holds there."""
        if self.project is None or self.unit is None:
            return []
        found = self.project.symbol(self.unit, self.index.qualname(expr))
        if found is None or found.kind != "value":
            return []
        other = found.unit
        return [s for b in other.index.bindings.get(("global", "", found.name), [])
                for s in other.resolver.specs(b.value, b.scope, depth + 1)]

    def _call_specs(self, call: ast.Call, scope: Scope, depth: int) -> list[Spec]:
        stored = session_key(self.index, call, "get")
        if stored is not None:  # cl.user_session.get("chain"): what a handler stored there
            return [s for b in self.index.bindings.get(("global", "", stored), [])
                    for s in self.specs(b.value, b.scope, depth + 1)]
        q = self.index.qualname(call.func)
        made = self.construct(call, q, scope)
        if made is not None:
            return [made]
        if q in WRAPPERS and call.args:
            return self.specs(call.args[0], scope, depth + 1)
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in DERIVING_METHODS:
            base = self.specs(func.value, scope, depth + 1)
            if func.attr == "with_options":
                kw, _ = self.kwargs(call, scope)
                return [replace(s, overrides=tuple(kw.items()) + s.overrides) if isinstance(s, ClientSpec) else s
                        for s in base]
            if func.attr == "with_retry":
                return [replace(s, retried=True) if isinstance(s, ClientSpec) else s for s in base]
            return base
        returned = self._factory_specs(call, scope, depth)
        if returned:
            return returned
        # a constructor that takes a model object: an agent, a chain, a query engine
        inner: list[ClientSpec] = []
        for arg in [*call.args, *[kw.value for kw in call.keywords if kw.arg in {None, "llm", "model", "agent",
                                                                                  "chain", "runnable"}]]:
            if isinstance(arg, (ast.Name, ast.Attribute, ast.Call)):
                inner.extend(s for s in self.specs(arg, scope, depth + 1) if isinstance(s, ClientSpec)
                             and s.kind in {"langchain", "llamaindex", "chain"} and not s.vendor.endswith("embed"))
        models = tuple(m for s in inner for m in s.models())
        if models:
            return [ClientSpec("chain", models[0].vendor, call, inner=models)]
        return []

    def returned(self, call: ast.Call) -> list[tuple[ast.expr, Scope, ClientResolver]]:
        """What a call to a project function (`f()`, `self.f()`, an imported `f()`) may return,
        with the scope and the resolver (of its module) to read each value in."""
        func = call.func
        if self.project is not None and self.unit is not None:
            targets = [(t.scope, t.unit.resolver) for t in self.project.callees(self.unit, call)
                       if t.scope.node is not None and t.scope.node.name != "__init__"]
        else:
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id in {"self", "cls"} else None)
            targets = [(t, self) for t in self.index.functions.get(name, [])] if name else []
        found = []
        for target, owner in targets:
            for sub in ast.walk(target.node):
                if isinstance(sub, ast.Return) and sub.value is not None and \
                        owner.index.enclosing_scope(sub) is target:
                    found.append((sub.value, target, owner))
        return found

    def _factory_specs(self, call: ast.Call, scope: Scope, depth: int) -> list[Spec]:
        """`get_client()` or `self._client()` where that module function returns a client."""
        found: list[Spec] = []
        for value, target, owner in self.returned(call):
            found.extend(s for s in owner.specs(value, target, depth + 1) if s != UNKNOWN)
        return found

    def construct(self, call: ast.Call, q: str | None, scope: Scope) -> ClientSpec | None:
        """A ClientSpec when `call` builds a client or model object we know."""
        if q is None:
            return None
        module, _, name = q.rpartition(".")
        top = module.split(".", 1)[0]
        kind = vendor = None
        if top == "openai" and name in OPENAI_CTORS and module == "openai":
            kind, vendor = "openai", "openai"
        elif top == "anthropic" and name in ANTHROPIC_CTORS:
            kind, vendor = "anthropic", "anthropic"
        elif q == "litellm.Router":
            kind, vendor = "litellm", "litellm"
        elif q in {"requests.Session", "requests.session"}:
            kind, vendor = "requests", "http"
        elif q in {"httpx.Client", "httpx.AsyncClient"}:
            kind, vendor = "httpx", "http"
        elif q == "aiohttp.ClientSession":
            kind, vendor = "aiohttp", "http"
        elif top.startswith("langchain") and name in LANGCHAIN_MODELS:
            kind, vendor = "langchain", LANGCHAIN_MODELS[name]
        elif top == "llama_index" and name in LLAMAINDEX_MODELS and ".llms" in f".{module}":
            kind, vendor = "llamaindex", LLAMAINDEX_MODELS[name]
        elif q in PROVIDER_CTORS:
            kind, vendor = "provider", PROVIDER_CTORS[q]
        if kind is None:
            return None
        kw, spread = self.kwargs(call, scope)
        if vendor == "mem0" and self._local_config(call, scope):
            return ClientSpec(kind, vendor, call, tuple(kw.items()), spread, where=self.index.path, on_host=True)
        for name in ("http_client", "http_async_client"):
            if self._maybe_none(kw.get(name), scope):
                del kw[name]  # `http_client = None` unless a proxy is configured: the default client is used
        return ClientSpec(kind, vendor, call, tuple(kw.items()), spread, where=self.index.path)

    def _local_config(self, call: ast.Call, scope: Scope) -> bool:
        """A mem0 config whose every "provider" (llm, embedder, vector store) runs on this host (ollama ...)."""
        values: list[ast.expr] = [*call.args, *[k.value for k in call.keywords]]
        for value in list(values):
            if isinstance(value, ast.Name):
                values.extend(b.value for b in self.index.lookup(value, scope))
        providers = [v.value for value in values if isinstance(value, ast.Dict) for d in ast.walk(value)
                     if isinstance(d, ast.Dict) for k, v in zip(d.keys, d.values, strict=True)
                     if isinstance(k, ast.Constant) and k.value == "provider" and isinstance(v, ast.Constant)
                     and isinstance(v.value, str)]
        models = [p for p in providers if p not in {"qdrant", "chroma", "faiss", "pgvector", "redis", "milvus",
                                                    "elasticsearch", "opensearch", "weaviate", "pinecone"}]
        return bool(models) and all(any(w in p.lower() for w in PROVIDER_LOCAL_WORDS) for p in models)

    def _maybe_none(self, value: ast.expr | None, scope: Scope) -> bool:
        if not isinstance(value, ast.Name):
            return False
        return any(isinstance(b.value, ast.Constant) and b.value.value is None for b in self.index.lookup(value, scope))

    # ---- calls -------------------------------------------------------------------------------
    def api_call(self, call: ast.Call) -> ApiCall | None:
        if id(call) not in self._calls:
            self._calls[id(call)] = self._classify(call)
        return self._calls[id(call)]

    def _classify(self, call: ast.Call) -> ApiCall | None:
        scope = self.index.enclosing_scope(call)
        q = self.index.qualname(call.func)
        if q in RUNS_GIVEN or (isinstance(call.func, ast.Attribute) and call.func.attr == "run_in_executor"):
            return self._given_call(call, scope, RUNS_GIVEN.get(q or "", 1))
        return self._classify_in(call, scope, q)

    def _classify_in(self, call: ast.Call, scope: Scope, q: str | None) -> ApiCall | None:
        if q is not None:
            found = self._module_function(call, q, scope)
            if found is not None:
                return found
        if isinstance(call.func, ast.Name):
            return self._alias_call(call, scope)
        if not isinstance(call.func, ast.Attribute):
            return None
        path: list[str] = []
        receiver: ast.expr = call.func
        while isinstance(receiver, ast.Attribute):
            path.insert(0, receiver.attr)
            receiver = receiver.value
            specs = [s for s in self.specs(receiver, scope) if s != UNKNOWN]
            if specs:
                return self._method_call(call, scope, tuple(path), self.specs(receiver, scope))
            if isinstance(receiver, ast.Call):
                break
        return None

    def _given_call(self, call: ast.Call, scope: Scope, at: int) -> ApiCall | None:
        """`asyncio.to_thread(f, *args, **kw)`, `loop.run_in_executor(None, f, *args)`: the call of f."""
        if len(call.args) <= at or not isinstance(call.args[at], (ast.Attribute, ast.Name)):
            return None
        func = call.args[at]
        synthetic = ast.copy_location(ast.Call(func=func, args=call.args[at + 1:], keywords=call.keywords), call)
        found = self._classify_in(synthetic, scope, self.index.qualname(func))
        if found is not None:
            found.call = call
        return found

    def _alias_call(self, call: ast.Call, scope: Scope) -> ApiCall | None:
        """`completion = litellm.completion` / `create = client.chat.completions.create`, then `completion(...)`;
        or a model object called directly: `llm("...")`."""
        assert isinstance(call.func, ast.Name)
        specs = [s for s in self.specs(call.func, scope) if s != UNKNOWN]
        if specs:
            return self._method_call(call, scope, ("__call__",), specs)
        for binding in self.index.lookup(call.func, scope):
            value = binding.value
            if isinstance(value, ast.Call) and value.args and self.index.qualname(value.func) in WRAPS_GIVEN:
                # `create = sync_to_async(client.chat.completions.create)` / `functools.partial(f, model=m)`
                value = value.args[0]
            if not isinstance(value, ast.Attribute):
                continue
            synthetic = ast.Call(func=value, args=call.args, keywords=call.keywords)
            ast.copy_location(synthetic, call)
            q = self.index.qualname(value)
            found = self._module_function(synthetic, q, scope) if q else None
            if found is None:
                path: list[str] = []
                receiver: ast.expr = value
                while isinstance(receiver, ast.Attribute) and found is None:
                    path.insert(0, receiver.attr)
                    receiver = receiver.value
                    specs = [s for s in self.specs(receiver, binding.scope) if s != UNKNOWN]
                    if specs:
                        found = self._method_call(synthetic, scope, tuple(path), specs)
            if found is not None:
                found.call = call
                return found
        return None

    def _module_function(self, call: ast.Call, q: str, scope: Scope) -> ApiCall | None:
        parts = q.split(".")
        top, rest = parts[0], parts[1:]
        kwargs, spread = self.kwargs(call, scope)
        if top == "openai" and rest:
            if rest[0][:1].isupper() and len(rest) == 2:  # v0: openai.ChatCompletion.create
                gen = rest[0] in {"ChatCompletion", "Completion"} and rest[1] in {"create", "acreate"}
                return ApiCall(call, "openai-v0", tuple(rest), [], kwargs, spread, gen, scope)
            if rest[0] in OPENAI_RESOURCES and len(rest) >= 2:
                return ApiCall(call, "openai-module", tuple(rest), [], kwargs, spread,
                               openai_generation(tuple(rest)), scope)
            return None
        run = agents_run(q)
        if run is not None:  # the OpenAI Agents SDK: Runner.run(agent, input) makes the model calls
            agent = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "starting_agent"),
                                                        None)
            return ApiCall(call, "openai-agents", ("Runner", run), agent_specs(self, agent, scope), kwargs, spread,
                           True, scope)
        if top == "litellm" and len(rest) == 1 and rest[0] in LITELLM_NETWORK:
            return ApiCall(call, "litellm", tuple(rest), [], kwargs, spread, rest[0] in LITELLM_GENERATION, scope)
        if top in {"requests", "httpx"} and len(rest) == 1 and rest[0] in HTTP_METHODS:
            return ApiCall(call, top, tuple(rest), [], kwargs, spread, False, scope)
        return None

    def _method_call(self, call: ast.Call, scope: Scope, path: tuple[str, ...], specs: list[Spec]) -> ApiCall | None:
        path = tuple(p for p in path if p not in {"with_raw_response", "with_streaming_response"})
        known = [s for s in specs if isinstance(s, ClientSpec)]
        kind = known[0].kind
        kwargs, spread = self.kwargs(call, scope)
        method = path[-1] if path else ""
        if kind in {"openai", "anthropic"}:
            if len(path) < 2 or method in DERIVING_METHODS | {"close", "copy"}:
                return None
            gen = openai_generation(path) if kind == "openai" else anthropic_generation(path)
            return ApiCall(call, kind, path, specs, kwargs, spread, gen, scope)
        if kind in {"requests", "httpx", "aiohttp"}:
            if path not in {(m,) for m in HTTP_METHODS | {"ws_connect"}}:
                return None
            return ApiCall(call, kind, path, specs, kwargs, spread, False, scope)
        if kind == "litellm":
            if len(path) != 1 or path[0] not in LITELLM_NETWORK:
                return None
            return ApiCall(call, kind, path, specs, kwargs, spread, path[0] in LITELLM_GENERATION, scope)
        if kind == "provider":
            generates = provider_call(known[0].vendor, path)
            if generates is None:
                return None
            return ApiCall(call, kind, path, specs, kwargs, spread, generates, scope)
        if method in INVOKE_METHODS and len(path) == 1:
            return ApiCall(call, kind, path, specs, kwargs, spread, True, scope)
        return None


def _is_param(name: str, scope: Scope, index: ModuleIndex) -> bool:
    for probe in index.scope_chain(scope):
        if probe.node is None:
            return False
        if name in probe.params:
            return True
        if name in probe.assigned:
            return False
    return False
