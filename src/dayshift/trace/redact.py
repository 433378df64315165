"""What of a trace's text reaches the trace database (settings.trace.store_text).

    "redacted"  question and answer pass the PII redactor:  "Call John Smith" -> "Call <PERSON_1>"
    "none"      question and answer are not stored (NULL)
    "raw"       stored as given

Redaction costs milliseconds per text, so it runs in the flusher's process,
never in the request path. It fails closed: when the redactor fails, the
trace is stored without its text, with a note in `errors`, rather than
with the raw text.

The debugger's `detail` (trace/detail.py) holds text too: the prompt as
rendered, the excerpts, the draft. Its text values are redacted in the same
call as the question and answer (one placeholder per value across all of
them), dropped under "none", and withheld with them when redaction fails.

Credentials a user pastes (a Bearer token, a JWT, a dsk_ or sk- key) are no
PII type Presidio knows: `TextRedactor` replaces them with [REDACTED] first,
with the patterns the log scrubber (service/logs.py) uses for the same.
A feedback comment is user text too: `prepare_comment` applies the same
setting to it ("none" stores "", a failure stores "" rather than the text).

Left out: the other fields. errors, params and abstain_reason are stored as
given, so nothing that writes a trace may put user text there.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from dayshift.errors import RedactionError
from dayshift.llm.base import Message
from dayshift.llm.pii import PresidioRedactor
from dayshift.trace.detail import text_slots
from dayshift.trace.record import TraceRecord

__all__ = ["REDACTION_FAILED", "StoreText", "TextRedactor", "prepare_comment", "prepare_for_storage"]

logger = logging.getLogger(__name__)

StoreText = Literal["redacted", "none", "raw"]
REDACTION_FAILED = "trace text withheld: PII redaction failed"
# Credentials pasted into a question or a comment: (pattern, what its match becomes). The same shapes as
# the log scrubber's rules (service/logs.py); a dsk_ key id (dsk_ and 8 characters) is not a key and stays.
_CREDENTIALS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]+=*"), r"\1 [REDACTED]"),
    (re.compile(r"(?<![A-Za-z0-9])(?:dsk_[A-Za-z0-9_-]{16,}|sk-[A-Za-z0-9_-]{20,})"), "[REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), "[REDACTED]"),
)


class TextRedactor:
    """PII redaction of plain strings: one value gets one placeholder across the strings of a call."""

    def __init__(self, redactor: PresidioRedactor | None = None) -> None:
        self._redactor = redactor or PresidioRedactor()

    def warm_up(self) -> None:
        self._redactor.warm_up()

    def redact(self, texts: Sequence[str | None]) -> list[str | None]:
        """The texts with credentials and PII replaced (None and "" pass through); RedactionError on any failure."""
        present = [i for i, text in enumerate(texts) if text]
        out = list(texts)
        if present:
            messages, _count, _restorer = self._redactor.redact(
                tuple(Message("user", _without_credentials(texts[i] or "")) for i in present)
            )
            for i, message in zip(present, messages):
                out[i] = message.content
        return out


def prepare_for_storage(record: TraceRecord, *, store_text: StoreText, redactor: TextRedactor | None) -> TraceRecord:
    """The record as it may be stored under `store_text`; `redactor` is required for "redacted"."""
    if store_text == "raw":
        return record
    if store_text == "none":
        return replace(record, query=None, answer=None, detail=_detail_with(record.detail, None))  # type: ignore[arg-type]
    if store_text != "redacted":
        raise ValueError(f'store_text must be "redacted", "none" or "raw", got {store_text!r}')
    if redactor is None:
        raise ValueError('store_text="redacted" needs a TextRedactor')
    detail = copy.deepcopy(record.detail)
    slots = text_slots(detail)
    texts = [_joined(container[key]) for container, key in slots]
    try:
        query, answer, *redacted = redactor.redact([record.query, record.answer, *texts])
    except RedactionError as exc:
        logger.warning("trace %s stored without its text: %s", record.trace_id, exc)
        return replace(record, query=None, answer=None, detail=_detail_with(record.detail, None),  # type: ignore[arg-type]
                       errors=[*record.errors, REDACTION_FAILED])
    for (container, key), text in zip(slots, redacted):
        container[key] = text.split("\n") if isinstance(container[key], list) and text else text
    return replace(record, query=query, answer=answer, detail=detail)  # type: ignore[arg-type]


def prepare_comment(comment: str, *, store_text: StoreText, redactor: TextRedactor | None) -> str:
    """A feedback comment as it may be stored under `store_text` ("" when not stored or when redaction fails)."""
    if store_text == "raw" or not comment:
        return comment
    if store_text == "none":
        return ""
    if redactor is None:
        raise ValueError('store_text="redacted" needs a TextRedactor')
    try:
        (redacted,) = redactor.redact([comment])
    except RedactionError as exc:
        logger.warning("a feedback comment stored without its text: %s", exc)
        return ""
    return redacted or ""


def _without_credentials(text: str) -> str:
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def _joined(value: str | list[str]) -> str:
    return "\n".join(value) if isinstance(value, list) else value


def _detail_with(detail: dict[str, Any], text: None) -> dict[str, Any]:
    """A copy of `detail` with every text value set to `text` (None: not stored)."""
    out = copy.deepcopy(detail)
    for container, key in text_slots(out):
        container[key] = text
    return out
