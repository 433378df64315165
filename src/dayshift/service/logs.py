"""Structured JSON logs, one object a line, with the request id, and no secrets or PII in them.

    {"ts": "2025-01-15T09:30:00.123Z", "level": "INFO", "logger": "dayshift.llm.client",
     "message": "llm answered by gpt-4o-mini after 1 attempt(s)", "request_id": "4f1c...", "tenant": "acme"}

`configure_logging` puts one handler on the "dayshift" logger tree and on
uvicorn's loggers (uvicorn's access lines become JSON with method, path,
status and client fields). The handler's filters run on every record before
it is formatted: `RequestContextFilter` stamps the request id and tenant of
the current request (contextvars, set by `bind_request`), and `ScrubFilter`
replaces what must not be logged:

    registered secrets (admin key, backend API keys)     -> [REDACTED]
    Authorization / X-API-Key / password= / token= values, Bearer tokens,
    dayshift keys (dsk_...), sk-... keys, JWTs, user:pass@ in URLs  -> [REDACTED]
    e-mail addresses -> [EMAIL]   card numbers (Luhn-valid) -> [CARD]   IBANs (mod-97-valid) -> [IBAN]
    phone numbers (9-15 digits with separators, or +international) -> [PHONE]
    IPv4 / IPv6 addresses, except loopback -> [IP]

Only precompiled regular expressions run, and the number patterns only on
lines with a digit, the e-mail one only on lines with an "@": a typical line
costs a few microseconds. Scrubbing errs towards removing too much: a
Luhn-valid 16-digit id or a version string shaped like an IPv4 address goes
too. A dayshift key id (`dsk_` and 8 characters) is meant to be logged and stays.

Left out: names and street addresses (that needs the NER model of
dayshift.llm.pii, far too slow for every line), phone numbers written as one
run of digits without "+" (indistinguishable from ids and timestamps), and
log shipping (stdout is the interface; a collector picks it up).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ClassVar, TextIO

from dayshift.keys.base import API_KEY_PREFIX, new_api_key  # re-exported: the scrubber knows their shape

__all__ = [
    "API_KEY_PREFIX", "JsonFormatter", "RequestContextFilter", "ScrubFilter", "bind_request", "configure_logging",
    "new_api_key", "new_request_id", "request_id_from", "request_id_var", "scrub", "tenant_var",
]  # fmt: skip

SERVICE_LOGGERS = ("dayshift", "uvicorn", "uvicorn.access")  # uvicorn.error propagates to uvicorn

request_id_var: ContextVar[str] = ContextVar("dayshift_request_id", default="")
tenant_var: ContextVar[str] = ContextVar("dayshift_tenant", default="")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is short and plain (it goes into every log line), else a new id."""
    if header and _CLIENT_REQUEST_ID.match(header):
        return header
    return new_request_id()


@contextmanager
def bind_request(request_id: str, tenant: str = "") -> Iterator[None]:
    """Log lines inside the block carry this request id and tenant (`tenant_var.set` once it is known)."""
    id_token, tenant_token = request_id_var.set(request_id), tenant_var.set(tenant)
    try:
        yield
    finally:
        tenant_var.reset(tenant_token)
        request_id_var.reset(id_token)


# -- scrubbing ----------------------------------------------------------------------------------

_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization|\bx-api-key|\bapi[_-]?key|\b(?:access|refresh|id)[_-]?token|\btoken"
    r"|\bsecret|\bpassword|\bpasswd|\bpwd|\bcookie)\b([\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic|digest|token|apikey)\s+)?[^\s\"',;&}]+"
)
_HEADER_HINTS = ("auth", "key", "token", "secret", "pass", "pwd", "cookie")
# (keywords one of which the lowercased line must contain; the rule; what its match becomes)
_TOKEN_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("bearer",), re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]+=*"), r"\1 [REDACTED]"),
    (("://",), re.compile(r"(?<=://)([^/\s:@]+):[^/\s@]+(?=@)"), r"\1:[REDACTED]"),
    (("dsk_", "sk-"), re.compile(r"(?<![A-Za-z0-9])(?:dsk_[A-Za-z0-9_-]{16,}|sk-[A-Za-z0-9_-]{20,})"), "[REDACTED]"),
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), "[REDACTED]"),
)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN_HINT = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)")  # two letters, two digits: cheap to look for
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?(?![\w:]|\.\d)"
)
_NUMBER_HINT = re.compile(r"\d[\d .()+:-]{5,}\d")  # seven or more digits and separators: IPv4, card, phone
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_NUMBER = re.compile(
    rf"(?P<ipv4>(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d))"
    r"|(?<![\w+.-])\+?(?:\(\d{1,4}\)|\d)(?:[ .-]?(?:\(\d{1,4}\)|\d)){6,22}(?!\w|[.-]\d)"
)
_NOT_DIGIT = re.compile(r"\D")
_NOT_DIGIT_OR_PLUS = re.compile(r"[^\d+]")  # what is left of a plain number or a +number
_DECIMAL_OR_DATE = re.compile(r"\d+\.\d+|\d{4}-\d{2}-\d{2}(?:\D.*)?|\d{2}[./-]\d{2}[./-]\d{4}(?:\D.*)?")


def scrub(text: str) -> str:
    """`text` without registered secrets, credentials, e-mail addresses, card numbers, IBANs,
    phone numbers and non-loopback IP addresses."""
    secret_re = ScrubFilter._secret_re
    if secret_re is not None:
        text = secret_re.sub("[REDACTED]", text)
    lowered = text.lower()  # the rules run only where a cheap substring test finds their keyword
    if ("=" in text or ":" in text) and _any_in(_HEADER_HINTS, lowered):
        text = _HEADER.sub(r"\1\2[REDACTED]", text)
    for hints, pattern, replacement in _TOKEN_RULES:
        if _any_in(hints, lowered):
            text = pattern.sub(replacement, text)
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _IBAN_HINT.search(text):
        text = _IBAN.sub(_iban, text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_ipv6, text)
    if _NUMBER_HINT.search(text):
        text = _NUMBER.sub(_number, text)
    return text


def _any_in(needles: tuple[str, ...], text: str) -> bool:
    for needle in needles:
        if needle in text:
            return True
    return False


def _iban(m: re.Match[str]) -> str:
    return "[IBAN]" if _iban_valid(m.group()) else m.group()


def _ipv6(m: re.Match[str]) -> str:
    found = m.group()
    try:
        address = ipaddress.IPv6Address(found.split("%", 1)[0])
    except ValueError:
        return found  # a time of day, a MAC address
    mapped = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified or (mapped is not None and mapped.is_loopback):
        return found
    return "[IP]"


def _number(m: re.Match[str]) -> str:
    found = m.group()
    if m.lastgroup == "ipv4":
        return found if found.startswith("127.") else "[IP]"
    if _DECIMAL_OR_DATE.fullmatch(found):
        return found
    digits = _NOT_DIGIT.sub("", found)
    if 13 <= len(digits) <= 19 and _luhn_valid(digits):
        return "[CARD]"
    international = found.startswith("+")
    separated = _NOT_DIGIT_OR_PLUS.search(found) is not None
    if (international and 8 <= len(digits) <= 15) or (separated and 9 <= len(digits) <= 15):
        return "[PHONE]"
    return found


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_valid(found: str) -> bool:
    iban = found.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# -- filters and the formatter ---------------------------------------------------------------------

_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_UNSCRUBBED = frozenset({"request_id", "tenant"})  # ids dayshift made or checked itself


class RequestContextFilter(logging.Filter):
    """Stamps the request id and tenant of the current request, and gives uvicorn's access lines fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "tenant"):
            record.tenant = tenant_var.get()
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            record.client, record.method, record.path, _, record.status = record.args
        return True


class ScrubFilter(logging.Filter):
    """Scrubs the message (its arguments merged in), the exception text and every extra field.

    Secrets registered with `ScrubFilter.add_secret` are scrubbed from every log line of the
    process: logging is process-wide, so the registry is too."""

    _secrets: ClassVar[set[str]] = set()
    _secret_re: ClassVar[re.Pattern[str] | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def add_secret(cls, secret: str | None) -> None:
        if not secret:
            return
        with cls._lock:
            cls._secrets.add(secret)
            ordered = sorted(cls._secrets, key=len, reverse=True)  # longest first: no half-scrubbed secret
            cls._secret_re = re.compile("|".join(re.escape(s) for s in ordered))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep what can be shown
            message = f"{record.msg} (log arguments did not fit the format)"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in _UNSCRUBBED:
                record.__dict__[key] = _scrub_value(value)
        return True


def _scrub_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(v) for v in value]
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, request_id, tenant, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or request_id_var.get(),
            "tenant": getattr(record, "tenant", "") or tenant_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """JSON lines to `stream` (stderr) for dayshift's and uvicorn's loggers, replacing their handlers.

    Call it once at the server's entry point, and run uvicorn with `log_config=None` so that
    uvicorn keeps these handlers instead of installing its own."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.addFilter(ScrubFilter())
    for name in SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False  # a root handler would print every line a second time, unformatted
    return handler
