"""JSON log lines with request ids, and nothing secret or personal in them."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
import uvicorn

from dayshift.service.logs import (
    API_KEY_PREFIX,
    SERVICE_LOGGERS,
    ScrubFilter,
    bind_request,
    configure_logging,
    new_api_key,
    request_id_from,
    request_id_var,
    scrub,
    tenant_var,
)

API_KEY = API_KEY_PREFIX + "q7Vb0xZ-3kPn_Lw9TfYa2RcUe8HsMj4D"
ADMIN_KEY = "admin-Secret-for-tests-0b9f1e"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """configure_logging on a StringIO; the loggers' previous state is put back afterwards."""
    saved = {name: (lg.handlers[:], lg.level, lg.propagate) for name in SERVICE_LOGGERS
             for lg in [logging.getLogger(name)]}
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    yield out
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_with_secrets_and_pii_comes_out_clean_json_with_the_request_id(stream: io.StringIO) -> None:
    log = logging.getLogger("dayshift.service.test")
    with bind_request("req-42", tenant="acme"):
        log.warning(
            "call failed: key=%s header=%r contact %s card %s iban %s",
            API_KEY, "Authorization: Bearer eyJraWQiOiJrMSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl",
            "maria.gonzalez@example.org", "4242 4242 4242 4242", "DE89 3704 0044 0532 0130 00",
            extra={"client_ip": "203.0.113.7", "phone": "+1 415-555-0132", "attempts": 3},
        )
    (entry,) = _lines(stream)
    text = json.dumps(entry)
    for leaked in (API_KEY, "eyJraWQ", "maria.gonzalez", "example.org", "4242 4242", "DE89", "203.0.113.7",
                   "415-555-0132"):
        assert leaked not in text, leaked
    assert entry["request_id"] == "req-42" and entry["tenant"] == "acme"
    assert entry["level"] == "WARNING" and entry["logger"] == "dayshift.service.test"
    assert "[REDACTED]" in entry["message"] and "[EMAIL]" in entry["message"]
    assert "[CARD]" in entry["message"] and "[IBAN]" in entry["message"]
    assert (entry["client_ip"], entry["phone"], entry["attempts"]) == ("[IP]", "[PHONE]", 3)
    assert entry["ts"].endswith("Z")
    assert datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0


def test_registered_secrets_and_exceptions_are_scrubbed(stream: io.StringIO) -> None:
    ScrubFilter.add_secret(ADMIN_KEY)
    ScrubFilter.add_secret(None)  # an unset key is ignored
    log = logging.getLogger("dayshift.test")
    try:
        raise ValueError(f"bad admin key {ADMIN_KEY} from bob@example.com")
    except ValueError:
        log.exception("request failed")
    (entry,) = _lines(stream)
    assert ADMIN_KEY not in json.dumps(entry) and "bob@example.com" not in json.dumps(entry)
    assert "ValueError: bad admin key [REDACTED] from [EMAIL]" in entry["exc"]
    assert entry["request_id"] == ""  # outside any request


def test_lines_outside_dayshift_and_uvicorn_are_not_taken_over(stream: io.StringIO) -> None:
    logging.getLogger("some.library").warning("not ours")
    logging.getLogger("dayshift.x").debug("ours, at DEBUG")
    assert [e["message"] for e in _lines(stream)] == ["ours, at DEBUG"]


def test_arguments_that_do_not_fit_still_log_one_scrubbed_line(stream: io.StringIO) -> None:
    logging.getLogger("dayshift.x").info("two %s %s", "only-one bob@example.com")
    (entry,) = _lines(stream)
    assert "did not fit" in entry["message"]
    assert "bob@example.com" not in json.dumps(entry)


def test_uvicorn_access_lines_are_json_with_fields(stream: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    with bind_request("req-7"):
        access.info('%s - "%s %s HTTP/%s" %d', "198.51.100.23:51234", "GET", "/v1/traces?q=ann@example.com",
                    "1.1", 200)
    (entry,) = _lines(stream)
    assert entry["logger"] == "uvicorn.access" and entry["request_id"] == "req-7"
    assert (entry["client"], entry["method"], entry["path"], entry["status"]) == (
        "[IP]:51234", "GET", "/v1/traces?q=[EMAIL]", 200)
    assert entry["message"] == '[IP]:51234 - "GET /v1/traces?q=[EMAIL] HTTP/1.1" 200'


async def _app(scope: dict, receive: object, send: object) -> None:
    """A pure ASGI app that binds a request id around its response, as the service's middleware does."""
    if scope["type"] != "http":
        return
    with bind_request("req-uvicorn", tenant="acme"):
        logging.getLogger("dayshift.service.app").info("handling %s", scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def test_a_real_uvicorn_server_logs_json(stream: io.StringIO) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, log_config=None, lifespan="off", access_log=True))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/ask").status_code == 204
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    entries = _lines(stream)  # every line is JSON, uvicorn's startup lines included
    assert any(e["logger"] == "uvicorn.error" for e in entries)
    (access,) = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert access["request_id"] == "req-uvicorn" and access["tenant"] == "acme"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/v1/ask", 204)
    assert access["client"].startswith("127.0.0.1:")  # loopback stays
    (app_line,) = [e for e in entries if e["logger"] == "dayshift.service.app"]
    assert app_line["message"] == "handling /v1/ask" and app_line["request_id"] == "req-uvicorn"


def test_bind_request_restores_the_previous_ids() -> None:
    with bind_request("outer", "t1"):
        with bind_request("inner", "t2"):
            assert (request_id_var.get(), tenant_var.get()) == ("inner", "t2")
        assert (request_id_var.get(), tenant_var.get()) == ("outer", "t1")
    assert (request_id_var.get(), tenant_var.get()) == ("", "")


def test_request_ids_from_clients_are_taken_only_when_plain() -> None:
    assert request_id_from("abc-123_X.y") == "abc-123_X.y"
    for bad in (None, "", "a" * 65, "has space", 'quote"', "new\nline"):
        generated = request_id_from(bad)
        assert generated != bad and len(generated) == 32


def test_api_keys_have_the_shape_the_scrubber_knows() -> None:
    key = new_api_key()
    assert key.startswith(API_KEY_PREFIX) and len(key) == len(API_KEY_PREFIX) + 32
    assert scrub(f"got {key}.") == "got [REDACTED]."
    assert scrub("key id dsk_AbCdEfGh") == "key id dsk_AbCdEfGh"  # a key id (12 characters) is safe to log


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [REDACTED]"),
        ("headers {'authorization': 'Bearer abc.DEF-1'}", "headers {'authorization': '[REDACTED]'}"),
        ("sent bearer abc123== to the server", "sent bearer [REDACTED] to the server"),
        ("X-API-Key: whatever-it-is", "X-API-Key: [REDACTED]"),
        ("password=hunter2&user=bob", "password=[REDACTED]&user=bob"),
        ("postgresql+psycopg://app:s3cret@db:5432/traces", "postgresql+psycopg://app:[REDACTED]@db:5432/traces"),
        ("openai key sk-proj-abcdefghijklmnopqrstuvwxyz", "openai key [REDACTED]"),
        ("cards 4111111111111111, 5500-0000-0000-0004", "cards [CARD], [CARD]"),
        ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
        ("IBANs GB82WEST12345698765432 and fr14 2004 1010 0505 0001 3m02 606", "IBANs [IBAN] and [IBAN]"),
        ("not an IBAN DE00 3704 0044 0532 0130 00", "not an IBAN DE00 3704 0044 0532 0130 00"),
        ("call +44 20 7946 0958 or (415) 555-0132", "call [PHONE] or [PHONE]"),
        ("from 10.20.30.40 and 127.0.0.1", "from [IP] and 127.0.0.1"),
        ("from [2001:db8::8a2e:370:7334]:443 and ::1", "from [[IP]]:443 and ::1"),
        ("at 2025-01-15 09:30:00 took 1234.5 ms, score 0.8312345678912", None),
        ("status 200 HTTP/1.1 after 3 attempt(s), 900 input tokens", None),
        ("trace 4f1c2e3a9b7d4c1e8f2a1b2c3d4e5f60, doc 0a1b2c3d-e5f6, std::vector", None),
    ],
)
def test_scrub(line: str, expected: str | None) -> None:
    assert scrub(line) == (line if expected is None else expected)


def test_a_typical_line_passes_the_scrubber_unchanged() -> None:
    line = "llm answered by gpt-4o-mini after 1 attempt(s) with 900 input tokens in 1234.5 ms"
    assert scrub(line) == line  # its cost per line: benchmarks/log_scrub.py
