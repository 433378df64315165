"""Clients the code never builds itself: injected ones known by their type, and the OpenAI Agents
SDK's runner, whose model calls go through the client its Agent's model holds.

    def embed(q: str, client: AsyncOpenAI):     # an OpenAI client (opaque: its timeout and retries
        client.embeddings.create(input=q)       # are set where it was built, which is not seen)
    agent = Agent(model=OpenAIResponsesModel(model="gpt-4o", openai_client=client))
    await Runner.run(agent, input=messages)     # a generation call on `client`

An opaque client makes its calls model calls (the data-flow rules see them: user data sent,
model output returned) but decides nothing about timeouts or retries.

Left out: other agent frameworks' runners (CrewAI, AutoGen, agno, smolagents), and models given
as a string (the Agents SDK's default client is built inside the SDK).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from dayshift.review.engine.libraries import AGENT_MODELS, annotated_kind
from dayshift.review.engine.module import Scope
from dayshift.review.engine.specs import UNKNOWN, ClientSpec, Spec

if TYPE_CHECKING:
    from dayshift.review.engine.clients import ClientResolver


def annotated_spec(resolver: ClientResolver, name: str, scope: Scope) -> ClientSpec | None:
    """`client: AsyncOpenAI` (an injected client): its kind, not its construction."""
    for probe in resolver.index.scope_chain(scope):
        if probe.node is None or name not in probe.params:
            continue
        args = probe.node.args
        annotation = next((a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]
                           if a.arg == name), None)
        if annotation is None:
            return None
        names = [resolver.index.qualname(n) or "" for n in ast.walk(annotation)
                 if isinstance(n, (ast.Name, ast.Attribute))]
        found = annotated_kind(names)
        if found is None:
            return None
        node = ast.copy_location(ast.Call(func=annotation, args=[], keywords=[]), annotation)
        return ClientSpec(found[0], found[1], node, where=resolver.index.path, opaque=True)
    return None


def agent_specs(resolver: ClientResolver, agent: ast.expr | None, scope: Scope) -> list[Spec]:
    """The client behind an Agents SDK Agent: Agent(model=OpenAIResponsesModel(openai_client=client))."""
    values = [b.value for b in resolver.index.lookup(agent, scope)] if isinstance(agent, (ast.Name, ast.Attribute)) \
        else [agent] if agent is not None else []
    found: list[Spec] = []
    for value in values:
        if not (isinstance(value, ast.Call) and (resolver.index.qualname(value.func) or "").startswith("agents.")):
            continue
        model = next((kw.value for kw in value.keywords if kw.arg == "model"), None)
        models = [b.value for b in resolver.index.lookup(model, scope)] if isinstance(model, ast.Name) else [model]
        for built in models:
            if isinstance(built, ast.Call) and (resolver.index.qualname(built.func) or "").rsplit(".", 1)[-1] \
                    in AGENT_MODELS:
                client = next((kw.value for kw in built.keywords if kw.arg == "openai_client"), None)
                found.extend(resolver.specs(client, scope) if client is not None else [])
    return found or [UNKNOWN]
