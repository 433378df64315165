"""Clients the code never builds itself: injected ones known by their type, and the OpenAI Agents
SDK's runner, whose model calls go through the client its Agent's model holds.

    def embed(q: str, client: AsyncOpenAI):     # an OpenAI client (opaque: its timeout and retries
        client.embeddings.create(input=q)       # are set where it was built, which is not seen)
    agent = Agent(model=OpenAIResponsesModel(model="gpt-4o", openai_client=client))
    await Runner.run(agent, input=messages)     # a generation call on `client`

An injected client is taken to be one of the clients of its type that the reviewed project builds
(type-based points-to, as call-graph builders resolve a method by the class hierarchy): a FastAPI
app that builds its `AsyncOpenAI` clients in `openai_clients.py`, keeps them in the lifespan state
and hands them to handlers as `client: AsyncOpenAI` gets their timeouts and retries checked at
every call. A LangChain `Runnable` parameter is taken to be a chain over the project's LangChain
chat models, when it builds any. Where the project builds no client of the type, the parameter
is an opaque client: its calls are model calls (the data-flow rules see them: user data sent,
model output returned) but decide nothing about timeouts or retries. The cost: a client of the
type built outside the reviewed files (an installed package, a test double) is assumed to look
like the ones inside them.

Left out: other agent frameworks' runners (CrewAI, AutoGen, agno, smolagents), and models given
as a string (the Agents SDK's default client is built inside the SDK).
"""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING

from dayshift.review.engine.libraries import AGENT_MODELS, RUNNABLE_TYPES, annotated_kind
from dayshift.review.engine.module import Scope
from dayshift.review.engine.specs import UNKNOWN, ClientSpec, Spec

if TYPE_CHECKING:
    from dayshift.review.engine.clients import ClientResolver


def annotated_specs(resolver: ClientResolver, name: str, scope: Scope) -> list[ClientSpec]:
    """`client: AsyncOpenAI` (an injected client): the project's clients of that type, else an
    opaque client of its kind; `app: Runnable`: the project's LangChain chat models, if any."""
    for probe in resolver.index.scope_chain(scope):
        if probe.node is None or name not in probe.params:
            continue
        args = probe.node.args
        annotation = next((a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]
                           if a.arg == name), None)
        if annotation is None:
            return []
        names = [resolver.index.qualname(n) or "" for n in ast.walk(annotation)
                 if isinstance(n, (ast.Name, ast.Attribute))]
        found = annotated_kind(names)
        runnable = any(q.startswith(("langchain", "langgraph")) and q.rsplit(".", 1)[-1] in RUNNABLE_TYPES for q in names)
        if found is None and not runnable:
            return []
        built = [s for s in built_clients(resolver, found[0] if found else "langchain")
                 if found is None or found[0] != "provider" or s.vendor == found[1]]
        if built:
            return [replace(s, inferred=True) for s in built]
        if found is None:
            return []  # a Runnable in a project that builds no model: it may be anything
        node = ast.copy_location(ast.Call(func=annotation, args=[], keywords=[]), annotation)
        return [ClientSpec(found[0], found[1], node, where=resolver.index.path, opaque=True)]
    return []


def built_clients(resolver: ClientResolver, kind: str) -> list[ClientSpec]:
    """Every client of `kind` constructed in the project (or this module when it stands alone), once
    per project; LangChain embedding models are not chat models."""
    project = resolver.project
    shared: dict[str, object] = project.shared if project is not None else vars(resolver).setdefault("_built", {})
    key = f"built:{kind}"
    cached = shared.get(key)
    if isinstance(cached, list):
        return cached
    shared[key] = []  # a construction whose arguments lead back here sees none
    resolvers = [u.resolver for u in project.units] if project is not None else [resolver]
    found: list[ClientSpec] = []
    for owner in resolvers:
        for call in owner.index.calls:
            q = owner.index.qualname(call.func)
            if q is None:
                continue
            spec = owner.construct(call, q, owner.index.enclosing_scope(call))
            if spec is not None and spec.kind == kind and not spec.vendor.endswith("embed"):
                found.append(spec)
    shared[key] = found
    return found


def agent_specs(resolver: ClientResolver, agent: ast.expr | None, scope: Scope) -> list[Spec]:
    """The client behind an Agents SDK Agent: Agent(model=OpenAIResponsesModel(openai_client=client))."""
    values = [(b.value, b.scope) for b in resolver.index.lookup(agent, scope)] \
        if isinstance(agent, (ast.Name, ast.Attribute)) else [(agent, scope)] if agent is not None else []
    found: list[Spec] = []
    for value, where in values:  # each value is read in the scope it was bound in (a field set in __init__)
        if not (isinstance(value, ast.Call) and (resolver.index.qualname(value.func) or "").startswith("agents.")):
            continue
        model = next((kw.value for kw in value.keywords if kw.arg == "model"), None)
        models = [(b.value, b.scope) for b in resolver.index.lookup(model, where)] if isinstance(model, ast.Name) \
            else [(model, where)]
        for built, inside in models:
            if isinstance(built, ast.Call) and (resolver.index.qualname(built.func) or "").rsplit(".", 1)[-1] \
                    in AGENT_MODELS:
                client = next((kw.value for kw in built.keywords if kw.arg == "openai_client"), None)
                found.extend(resolver.specs(client, inside) if client is not None else [])
    return found or [UNKNOWN]
