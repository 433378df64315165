"""The OpenAI-compatible surface's bodies, and what a "model" is: a prompt version, named as OpenAI clients expect.

    model id                     what answers
    dayshift-answer              the prompt "answer": its production label, else its highest version
    dayshift-answer@production   its version labelled production (with no such label: as above)
    dayshift-qa@candidate        a label of a prompt in answer.prompt_dir
    dayshift-qa@v3               one version

Each model id is answered by dayshift's whole pipeline (retrieval, excerpts, the reader, citations, the
support check, abstention) with that prompt version; the reader is the configured LLM. The answer's
citations travel twice: as [n] markers in the text, and in the `dayshift` extension field, which is the
/v1/ask response (service.api.AskResponse) unchanged. "I don't know" is an ordinary assistant message.

Requests are read as OpenAI's chat completions: the question is the last user message. Left out, each
refused with a 400 that says so: tools and function calls, n > 1, images. Ignored, because the prompt
version decides them: temperature, top_p, max_tokens, stop, and earlier turns of the conversation
(dayshift answers each question from the sources alone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dayshift.answer.prompts import PromptTemplate
from dayshift.errors import ConfigError
from dayshift.prompts import PromptRegistry
from dayshift.service.api import AskResponse

MODEL_PREFIX = "dayshift-"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class DayshiftOptions(BaseModel):
    """The `dayshift` extension of a request (the OpenAI SDK sends it through `extra_body`)."""

    model_config = ConfigDict(extra="forbid")

    where: list[str] = Field(default_factory=list, max_length=20, examples=[["source=nist", "page>=3"]])
    # Streaming: send the model's draft as it is written (as /v1/ask does); a draft the support check
    # withdraws is followed by the withdrawal. False: send only the checked answer, once it is known.
    stream_draft: bool = True


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI parameters this server does not use are accepted

    model: str = Field(min_length=1, max_length=200, examples=["dayshift-answer@production"])
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, le=128)
    tools: list[dict[str, Any]] | None = None
    functions: list[dict[str, Any]] | None = None
    user: str | None = Field(None, max_length=256)
    dayshift: DayshiftOptions = Field(default_factory=DayshiftOptions)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str  # chatcmpl-<trace id>
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str  # the prompt file's content hash, first 16 hex digits
    choices: list[Choice]
    usage: CompletionUsage
    dayshift: AskResponse  # the extension: citations, abstained, confidence, reason, trace_id (as /v1/ask returns)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "dayshift"
    dayshift: dict[str, Any]  # {prompt: "answer@v1", description, labels: [...]}


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- models -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRef:
    model_id: str  # as the client named it
    template: PromptTemplate


def resolve_model(model_id: str, registry: PromptRegistry) -> ModelRef:
    """The prompt version a model id names; ConfigError (a 404 for the client) when it names none."""
    if not model_id.startswith(MODEL_PREFIX) or len(model_id) == len(MODEL_PREFIX):
        raise ConfigError(f'model "{model_id}" is not a dayshift model: use "{MODEL_PREFIX}<prompt>[@label|@vN]", '
                          f'e.g. {MODEL_PREFIX}answer@production; GET /v1/models lists them')
    ref = model_id[len(MODEL_PREFIX):]
    name, _, selector = ref.partition("@")
    if selector == "production" and "production" not in registry.labels(name):
        ref = name  # no production label: the version the prompt resolves to is the one in production
    return ModelRef(model_id=model_id, template=registry.get(ref))


def list_models(registry: PromptRegistry) -> ModelList:
    """Each prompt once as itself and @production, then each label and each version."""
    cards: list[ModelCard] = []
    for name in registry.names():
        versions = registry.versions(name)
        labels = registry.labels(name)
        default = registry.get(name)
        cards.append(_card(f"{MODEL_PREFIX}{name}", default, labels))
        named = {"production": labels.get("production", default.version), **labels}
        for label, version in sorted(named.items()):
            cards.append(_card(f"{MODEL_PREFIX}{name}@{label}", registry.get(f"{name}@v{version}"), labels))
        for template in versions:
            cards.append(_card(f"{MODEL_PREFIX}{name}@v{template.version}", template, labels))
    return ModelList(data=cards)


def _card(model_id: str, template: PromptTemplate, labels: dict[str, int]) -> ModelCard:
    return ModelCard(id=model_id, created=_created(template.path), dayshift={
        "prompt": template.ref, "description": template.description,
        "labels": sorted(label for label, version in labels.items() if version == template.version),
        "content_hash": template.content_hash[:16],
    })


def _created(path: str) -> int:
    try:
        return int(Path(path).stat().st_mtime)
    except OSError:
        return int(time.time())


# -- the question -------------------------------------------------------------------------------------


def question_of(body: ChatCompletionRequest) -> str:
    """The text of the last message, which must be the user's; ValueError says what is wrong."""
    if body.n not in (None, 1):
        raise ValueError("n must be 1: dayshift gives one grounded answer per question")
    if body.tools or body.functions:
        raise ValueError("tools and function calling are not supported; send the question as a user message")
    last = body.messages[-1]
    if last.role != "user":
        raise ValueError(f'the last message must be the user\'s question, not a "{last.role}" message')
    if isinstance(last.content, list):
        parts = [p for p in last.content if p.type != "text" or p.text is None]
        if parts:
            raise ValueError(f'only text content is supported, not "{parts[0].type}" parts')
        text = "\n".join(p.text or "" for p in last.content)
    else:
        text = last.content or ""
    if not text.strip():
        raise ValueError("the last user message is empty: ask a question")
    return text.strip()
