"""Typed answers from a model: JSON that validates against a pydantic model or a JSON schema.

    model, completion = complete_structured(client, messages, Verdict)
    value, completion = complete_json(client, messages, {"type": "object", ...})   # a user's schema.json

Each attempt sends `ChatRequest.json_schema` (so backends that can constrain
decoding produce valid JSON), then finds the JSON in the reply
(`dayshift.llm.json_repair`: fences, prose, near-JSON, truncation) and
validates it. When that fails, the conversation goes on with the bad reply as
the assistant's turn and a user turn quoting the error by field path, asking
for corrected JSON only -- at most `max_reasks` times, then
`StructuredOutputError`.

The successful attempt's Completion comes back with metadata
`{"reasks": n, "repaired": bool, "total_cost_usd": float}` (the last sums
every attempt, failed ones included).

Left out: streaming partial objects, and describing the schema in the first
prompt (the caller's messages say what to produce; re-asks include the schema).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from dayshift.errors import ConfigError, StructuredOutputError
from dayshift.llm.base import CancelToken, ChatRequest, Completion, Message
from dayshift.llm.json_repair import JSONExtractionError, extract_json, find_json

__all__ = ["CompletionClient", "JSONExtractionError", "check_json_schema", "complete_json", "complete_structured",
           "extract_json"]

M = TypeVar("M", bound=BaseModel)

_MAX_ERRORS_QUOTED = 6
_MAX_SCHEMA_CHARS = 2000  # longer schemas are left out of re-asks (the json_schema field still carries them)


class CompletionClient(Protocol):
    """What `complete_structured` needs of `dayshift.llm.client.LLMClient`."""

    def complete(
        self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None
    ) -> Completion: ...


def complete_structured(
    client: CompletionClient,
    messages: Sequence[Message],
    schema: type[M],
    *,
    max_reasks: int = 2,
    max_tokens: int = 512,
    temperature: float = 0.0,
    tenant: str | None = None,
    cancel: CancelToken | None = None,
) -> tuple[M, Completion]:
    """Ask until the reply validates against `schema`; raises StructuredOutputError after `max_reasks`."""

    def validate(value: Any) -> M:
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            raise _Invalid(_describe_validation(exc)) from None

    return _complete(client, messages, schema.model_json_schema(), validate, name=schema.__name__,
                     max_reasks=max_reasks, max_tokens=max_tokens, temperature=temperature, tenant=tenant, cancel=cancel)


def complete_json(
    client: CompletionClient,
    messages: Sequence[Message],
    json_schema: Mapping[str, Any],
    *,
    max_reasks: int = 2,
    max_tokens: int = 512,
    temperature: float = 0.0,
    tenant: str | None = None,
    cancel: CancelToken | None = None,
    source_texts: Sequence[str] = (),
    prompt_texts: Sequence[str] = (),
) -> tuple[Any, Completion]:
    """`complete_structured` for a JSON schema given as data (Draft 2020-12): the validated JSON value.

    `source_texts`: indexed text inside the messages, which PII redaction leaves alone (llm.redact_sources).
    `prompt_texts`: the prompt's own messages (no variable in them), which PII redaction never touches.
    """
    validator = check_json_schema(json_schema)

    def validate(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            parts = [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]
            more = len(parts) - _MAX_ERRORS_QUOTED
            text = "; ".join(parts[:_MAX_ERRORS_QUOTED])
            raise _Invalid(f"{text}; and {more} more" if more > 0 else text)
        return value

    return _complete(client, messages, dict(json_schema), validate, name="schema", max_reasks=max_reasks,
                     max_tokens=max_tokens, temperature=temperature, tenant=tenant, cancel=cancel,
                     source_texts=tuple(source_texts), prompt_texts=tuple(prompt_texts))


def check_json_schema(json_schema: Mapping[str, Any]) -> Any:
    """A validator for `json_schema`; ConfigError naming the problem when the schema itself is invalid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(json_schema)
    except SchemaError as exc:
        path = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"the JSON schema is invalid at {path}: {exc.message}; fix the schema file") from None
    if json_schema.get("type") != "object":
        raise ConfigError('a structured answer\'s JSON schema must describe an object: set "type": "object" at its root')
    return Draft202012Validator(json_schema)


def _complete(
    client: CompletionClient, messages: Sequence[Message], json_schema: dict[str, Any], validate: Callable[[Any], Any],
    *, name: str, max_reasks: int, max_tokens: int, temperature: float, tenant: str | None, cancel: CancelToken | None,
    source_texts: tuple[str, ...] = (), prompt_texts: tuple[str, ...] = (),
) -> tuple[Any, Completion]:
    if max_reasks < 0:
        raise ValueError(f"max_reasks must be 0 or more, got {max_reasks}")
    conversation = list(messages)
    total_cost_usd = 0.0
    for attempt in range(max_reasks + 1):
        request = ChatRequest(
            messages=tuple(conversation), max_tokens=max_tokens, temperature=temperature, json_schema=json_schema,
            source_texts=source_texts, prompt_texts=prompt_texts,
        )
        completion = client.complete(request, cancel=cancel, tenant=tenant)
        total_cost_usd += completion.cost_usd
        try:
            value, repaired = _parse(completion.text, validate)
        except _Invalid as invalid:
            error = invalid.describe(completion.finish_reason)
            conversation += [Message("assistant", completion.text), Message("user", _reask(error, json_schema))]
            continue
        metadata = {**completion.metadata, "reasks": attempt, "repaired": repaired, "total_cost_usd": total_cost_usd}
        return value, dataclasses.replace(completion, metadata=metadata)
    raise StructuredOutputError(
        f"no valid {name} JSON after {max_reasks} re-ask(s): {error}. Fix: describe the fields in the "
        "prompt, raise max_tokens if replies were cut off, or use a model or backend that supports json_schema",
        last_output=completion.text,
        validation_error=error,
    )


class _Invalid(Exception):
    """A reply that is not JSON, or JSON that does not validate; `problem` is what the re-ask quotes."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def describe(self, finish_reason: str) -> str:
        if finish_reason == "length":
            return f"{self.problem} (the reply was cut off at max_tokens)"
        return self.problem


def _parse(text: str, validate: Callable[[Any], Any]) -> tuple[Any, bool]:
    """(validated value, whether the JSON needed repair); raises _Invalid with a short, field-path message."""
    try:
        found = find_json(text, top_level="object")
    except JSONExtractionError as exc:
        raise _Invalid(f"the reply is not JSON: {exc}") from None
    return validate(found.value), found.repaired


def _describe_validation(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in errors]
    more = len(parts) - _MAX_ERRORS_QUOTED
    text = "; ".join(parts[:_MAX_ERRORS_QUOTED])
    return f"{text}; and {more} more" if more > 0 else text


def _reask(error: str, json_schema: Mapping[str, Any]) -> str:
    schema_text = json.dumps(json_schema, separators=(",", ":"))
    lines = [f"That reply is not valid: {error}."]
    if len(schema_text) <= _MAX_SCHEMA_CHARS:
        lines.append(f"It must be one JSON object matching this JSON schema: {schema_text}")
    lines.append("Reply with the corrected JSON object only: no prose, no code fences.")
    return "\n".join(lines)
