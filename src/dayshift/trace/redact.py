"""What of a trace's text reaches the trace database (settings.trace.store_text).

    "redacted"  question and answer pass the PII redactor:  "Call John Smith" -> "Call <PERSON_1>"
    "none"      question and answer are not stored (NULL)
    "raw"       stored as given

Redaction costs milliseconds per text, so it runs in the flusher's process,
never in the request path. It fails closed: when the redactor fails, the
trace is stored without its text, with a note in `errors`, rather than
with the raw text.

Left out: the other fields. errors, params and abstain_reason are stored as
given, so nothing that writes a trace may put user text there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from dayshift.errors import RedactionError
from dayshift.llm.base import Message
from dayshift.llm.pii import PresidioRedactor
from dayshift.trace.record import TraceRecord

__all__ = ["REDACTION_FAILED", "StoreText", "TextRedactor", "prepare_for_storage"]

logger = logging.getLogger(__name__)

StoreText = Literal["redacted", "none", "raw"]
REDACTION_FAILED = "trace text withheld: PII redaction failed"


class TextRedactor:
    """PII redaction of plain strings: one value gets one placeholder across the strings of a call."""

    def __init__(self, redactor: PresidioRedactor | None = None) -> None:
        self._redactor = redactor or PresidioRedactor()

    def warm_up(self) -> None:
        self._redactor.warm_up()

    def redact(self, texts: Sequence[str | None]) -> list[str | None]:
        """The texts with PII replaced (None and "" pass through); RedactionError on any failure."""
        present = [i for i, text in enumerate(texts) if text]
        out = list(texts)
        if present:
            messages, _count, _restorer = self._redactor.redact(tuple(Message("user", texts[i] or "") for i in present))
            for i, message in zip(present, messages):
                out[i] = message.content
        return out


def prepare_for_storage(record: TraceRecord, *, store_text: StoreText, redactor: TextRedactor | None) -> TraceRecord:
    """The record as it may be stored under `store_text`; `redactor` is required for "redacted"."""
    if store_text == "raw":
        return record
    if store_text == "none":
        return replace(record, query=None, answer=None)  # type: ignore[arg-type]  # NULL: not stored
    if store_text != "redacted":
        raise ValueError(f'store_text must be "redacted", "none" or "raw", got {store_text!r}')
    if redactor is None:
        raise ValueError('store_text="redacted" needs a TextRedactor')
    try:
        query, answer = redactor.redact([record.query, record.answer])
    except RedactionError as exc:
        logger.warning("trace %s stored without its text: %s", record.trace_id, exc)
        return replace(record, query=None, answer=None, errors=[*record.errors, REDACTION_FAILED])  # type: ignore[arg-type]
    return replace(record, query=query, answer=answer)  # type: ignore[arg-type]
