"""dayshift.http: the one HTTP client policy, against a real loopback server that plays a script of answers.

What is retried (and what is not), how long each wait is (Retry-After in seconds or as a date, else full
jitter), when a too-long Retry-After gives up at once, and that every backend maps statuses the same way.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from dayshift.errors import EmbeddingError, LLMRequestError, LLMServerError
from dayshift.http import (
    RETRYABLE_STATUS,
    HttpPolicy,
    RetryPolicy,
    backoff_s,
    check,
    http_client,
    post_json,
    retry_after_s,
    retry_wait_s,
    retryable_status,
    send,
)
from dayshift.llm.openai import OpenAIBackend

SECRET = "sk-policy-test-0123456789"


class Script:
    """A loopback server answering each POST with the next (status, headers) of `plan`, then 200."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.requests = 0
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                script.requests += 1
                status, headers = script.plan.pop(0) if script.plan else (200, {})
                body = json.dumps({"ok": True} if status == 200 else {"error": {"message": f"no ({SECRET})"}})
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def script() -> Iterator[Script]:
    server = Script()
    yield server
    server.close()


def policy(**kwargs: object) -> HttpPolicy:
    return HttpPolicy(service="test server", error=EmbeddingError, settings="DAYSHIFT_TEST__", secret=SECRET,
                      **kwargs)  # type: ignore[arg-type]


def test_one_retryable_list_for_every_caller() -> None:
    assert {408, 425, 429, 500, 502, 503, 504, 599} <= RETRYABLE_STATUS
    assert not {200, 400, 401, 403, 404, 409, 422, 501, 505} & RETRYABLE_STATUS
    assert retryable_status(503) and not retryable_status(501)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_s({"retry-after": "2.5"}) == 2.5
    assert retry_after_s({"retry-after": "-3"}) == 0.0
    assert retry_after_s({}) is None and retry_after_s({"retry-after": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25.0 < (retry_after_s({"retry-after": later}) or 0.0) <= 30.0


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    rule, rng = RetryPolicy(backoff_base_s=0.5, backoff_max_s=3.0), random.Random(7)
    for retry, ceiling_s in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 3.0)]:
        samples = [backoff_s(retry, rule, rng) for _ in range(500)]
        assert 0.0 <= min(samples) and max(samples) < ceiling_s and max(samples) > 0.8 * ceiling_s
    assert retry_wait_s(0, rule, rng, retry_after_s=10.0) == 3.0  # Retry-After is capped by backoff_max_s


def test_retryable_statuses_are_retried_with_the_servers_retry_after(script: Script) -> None:
    script.plan = [(503, {"Retry-After": "1.5"}), (429, {"Retry-After": "0.25"}), (502, {})]
    waits: list[float] = []
    with http_client(script.url, api_key=SECRET, timeout_s=5.0) as client:
        response = send(client, "things", {"x": 1}, policy=policy(max_retries=3), sleep=waits.append)
    assert response.status_code == 200 and response.json() == {"ok": True} and script.requests == 4
    assert waits[:2] == [1.5, 0.25] and 0.0 <= waits[2] < 2.0  # the third is jitter below base * 2**2


def test_other_4xx_and_501_fail_at_once_naming_the_fix_without_the_key(script: Script) -> None:
    for status, fix in [(401, "DAYSHIFT_TEST__API_KEY"), (404, "DAYSHIFT_TEST__BASE_URL"), (501, "request settings")]:
        script.plan, script.requests = [(status, {})], 0
        with http_client(script.url, api_key=SECRET, timeout_s=5.0) as client:
            with pytest.raises(EmbeddingError, match=f"HTTP {status}.*{fix}") as info:
                post_json(client, "things", {}, policy=policy())
        assert script.requests == 1 and SECRET not in str(info.value) and "***" in str(info.value)


def test_retries_run_out_and_the_last_status_is_reported(script: Script) -> None:
    script.plan = [(500, {})] * 3
    with http_client(script.url, api_key=None, timeout_s=5.0) as client:
        response = send(client, "things", {}, policy=policy(max_retries=2), sleep=lambda _s: None)
        with pytest.raises(EmbeddingError, match="HTTP 500.*failed 3 times"):
            check(response, policy=policy(max_retries=2))
    assert script.requests == 3


def test_a_retry_after_longer_than_allowed_gives_up_at_once(script: Script) -> None:
    script.plan = [(429, {"Retry-After": "120"})]
    with http_client(script.url, api_key=None, timeout_s=5.0) as client:
        with pytest.raises(EmbeddingError, match="asks to wait 120 s"):
            send(client, "things", {}, policy=policy(max_retry_after_s=60.0), sleep=lambda _s: None)
    assert script.requests == 1


def test_an_unreachable_server_is_retried_then_named() -> None:
    closed = Script()
    url = closed.url
    closed.close()
    waits: list[float] = []
    with http_client(url, api_key=None, timeout_s=2.0) as client:
        with pytest.raises(EmbeddingError, match="cannot reach the test server.*2 attempts.*DAYSHIFT_TEST__BASE_URL"):
            send(client, "things", {}, policy=policy(max_retries=1), sleep=waits.append)
    assert len(waits) == 1


def test_the_llm_backend_maps_statuses_by_the_same_list() -> None:
    url = "http://127.0.0.1:9/v1"
    backend = OpenAIBackend(model="m", base_url=url)

    def mapped(status: int, headers: dict[str, str]) -> Exception:
        response = httpx.Response(status, headers=headers, json={}, request=httpx.Request("POST", url))
        return backend._status_error(response)

    try:
        for status in (408, 425, 429, 500, 503, 504, 400, 401, 404, 422, 501, 505):
            assert mapped(status, {}).retryable == retryable_status(status), status  # type: ignore[attr-defined]
        server_error = mapped(503, {"Retry-After": "4"})
        assert isinstance(server_error, LLMServerError) and server_error.retry_after_s == 4.0
        assert isinstance(mapped(501, {}), LLMRequestError)
    finally:
        backend.close()
