"""What the review knows about a client and about a call that reaches a model or HTTP API.

    ClientSpec(kind="openai", vendor="openai", node=<OpenAI(timeout=30)>, kwargs=(("timeout", ...),))
    ApiCall(call=<client.chat.completions.create(...)>, kind="openai", path=("chat", "completions", "create"),
            specs=[that ClientSpec], kwargs={...}, spread=False, generation=True)

engine/clients.py finds them; the rules read them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from dayshift.review.engine.libraries import LOCAL_HOSTS
from dayshift.review.engine.module import Scope

UNKNOWN = "unknown"  # a value of unknown origin (a parameter): a possible client of any kind


@dataclass(frozen=True)
class ClientSpec:
    """A client or model object, as constructed: its library, its arguments and what was layered on."""

    kind: str  # openai | anthropic | litellm | requests | httpx | aiohttp | langchain | llamaindex | chain | provider
    vendor: str  # openai | openai-llm | anthropic | ollama | local | litellm | http | a provider (groq, mem0 ...)
    node: ast.Call
    kwargs: tuple[tuple[str, ast.expr], ...] = ()
    spread: bool = False  # **kwargs we could not read
    overrides: tuple[tuple[str, ast.expr], ...] = ()
    retried: bool = False  # .with_retry() or a retrying wrapper
    inner: tuple[ClientSpec, ...] = ()  # the models a chain wraps
    where: str = ""  # the module it is built in
    opaque: bool = False  # known only by a type annotation: its construction (timeout, retries) is not seen
    on_host: bool = False  # configured to run on this host (a mem0 config whose models are all ollama ...)
    inferred: bool = False  # not followed to this construction: the project's only clients of the parameter's type

    def arg(self, *names: str) -> ast.expr | None:
        for source in (self.overrides, self.kwargs):
            for name, value in source:
                if name in names:
                    return value
        return None

    def has(self, *names: str) -> bool:
        return self.arg(*names) is not None

    @property
    def local(self) -> bool:
        if self.vendor in {"ollama", "local"} or self.on_host:
            return True
        if self.kind == "chain":
            return bool(self.inner) and all(i.local for i in self.inner)
        for name in ("base_url", "api_base", "azure_endpoint", "endpoint", "host", "openai_api_base"):
            value = self.arg(name)
            text = literal_prefix(value)
            if text and any(h in text for h in LOCAL_HOSTS):
                return True
        return False

    def models(self) -> tuple[ClientSpec, ...]:
        return self.inner if self.kind == "chain" else (self,)


Spec = ClientSpec | str  # a ClientSpec or UNKNOWN


@dataclass
class ApiCall:
    """A call that sends a request to a model or HTTP API."""

    call: ast.Call
    kind: str  # openai | openai-v0 | openai-module | anthropic | litellm | requests | httpx | aiohttp | langchain | llamaindex | chain | provider
    path: tuple[str, ...]
    specs: list[Spec]
    kwargs: dict[str, ast.expr]
    spread: bool  # **kwargs we could not read
    generation: bool
    scope: Scope = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def known_specs(self) -> list[ClientSpec]:
        """The clients whose construction is seen (not those known only by an annotation)."""
        return [s for s in self.specs if isinstance(s, ClientSpec) and not s.opaque]

    @property
    def remote(self) -> bool:
        if self.kind == "litellm":
            model = literal_prefix(self.kwargs.get("model"))
            return not (model and model.startswith(("ollama", "ollama_chat")))
        if self.kind in {"requests", "httpx", "aiohttp"}:
            url = literal_prefix(self.call.args[0]) if self.call.args else literal_prefix(self.kwargs.get("url"))
            return not (url and any(h in url for h in LOCAL_HOSTS))
        known = self.known_specs
        return not known or not all(s.local for s in known)


def literal_prefix(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


