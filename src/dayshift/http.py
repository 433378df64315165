"""dayshift's HTTP client policy: timeouts, retries with backoff, Retry-After and error mapping, in one place.

Every outbound HTTP call dayshift makes (embedding servers, rerankers, LLM servers, alert webhooks)
follows these rules:

    retried          timeouts, connection errors, and the statuses in RETRYABLE_STATUS:
                     408 Request Timeout, 425 Too Early, 429 Too Many Requests, and every 5xx
                     except 501 Not Implemented and 505 HTTP Version Not Supported (a retry
                     cannot change those)
    not retried      every other 4xx: a bad key, URL or request; it fails at once with the fix
    the wait         the server's Retry-After (seconds or an HTTP date) when it sent one, else
                     full jitter: uniform(0, min(backoff_max_s, backoff_base_s * 2**retry))
    Retry-After      longer than max_retry_after_s: give up at once rather than hold the caller
    timeouts         one per attempt (connect, read); callers with a deadline cap them

    RetryPolicy      the numbers above, one frozen value per backend
    retryable_status the one status list every caller shares
    retry_after_s    parse Retry-After from response headers
    backoff_s        the full-jitter arithmetic; retry_wait_s adds Retry-After
    HttpPolicy       a backend's words for its errors (service name, error class, settings prefix)
    send             POST with retries: tenacity drives the loop, this module decides what is
                     retried and how long to wait
    check            map a failed response to the backend's DayshiftError, naming the fix

`dayshift.llm.client.LLMClient` keeps its own attempt loop, because a streamed answer cannot be
retried once text was shown and each failure also feeds a model's circuit breaker and fallback
chain; its waits and its retryable set come from here (`retry_wait_s`, and the LLM backend
maps statuses with `retryable_status`).

The API key never appears in an error or a log line: `HttpPolicy.secret` is replaced by "***" in
anything a server echoes back, and URLs are shown without credentials or query strings.

Left out: async clients, retry budgets shared between calls, hedged requests, and retrying a
POST whose body was already streamed (every body here is a small JSON document sent whole).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity

from dayshift.errors import ConfigError, DayshiftError

__all__ = [
    "RETRYABLE_STATUS",
    "HttpPolicy",
    "RetryPolicy",
    "backoff_s",
    "check",
    "display_url",
    "http_client",
    "json_body",
    "post_json",
    "redact",
    "retry_after_s",
    "retry_wait_s",
    "retryable_status",
    "send",
    "server_message",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, *range(500, 600)}) - {501, 505}


def retryable_status(code: int) -> bool:
    """Could the same request succeed if sent again later? 408, 425, 429 and 5xx but 501/505."""
    return code in RETRYABLE_STATUS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. `settings` names the settings prefix used in fixes."""

    max_retries: int = 2  # after the first attempt
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    max_retry_after_s: float = 60.0  # a server asking for a longer pause fails fast instead
    settings: str = "DAYSHIFT_LLM__"

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(
                f"max_retries must be 0 or more, got {self.max_retries}: fix {self.settings}MAX_RETRIES"
            )
        if self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.max_retry_after_s < 0:
            raise ConfigError(
                f"backoff times must be 0 or more: fix {self.settings}BACKOFF_BASE_S / {self.settings}BACKOFF_MAX_S"
            )


def backoff_s(retry: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Full jitter (AWS style): a uniform draw below the capped exponential, so clients spread out.

    retry 0 -> [0, base), 1 -> [0, 2 base), 2 -> [0, 4 base) ... never above backoff_max_s.
    """
    ceiling_s = min(policy.backoff_max_s, policy.backoff_base_s * 2.0**retry)
    return (rng or random).uniform(0.0, ceiling_s)


def retry_wait_s(
    retry: int, policy: RetryPolicy, rng: random.Random | None = None, *, retry_after_s: float | None = None
) -> float:
    """Seconds to wait before retry number `retry` (0-based): Retry-After when the server said, capped."""
    if retry_after_s is not None:
        return min(max(0.0, retry_after_s), policy.backoff_max_s)
    return backoff_s(retry, policy, rng)


def retry_after_s(headers: Mapping[str, str] | httpx.Headers) -> float | None:
    """Seconds the server asks to wait (Retry-After: seconds or an HTTP date), if it says."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# --- one backend's words ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How one HTTP backend retries, and how its errors name their fixes."""

    service: str  # "embedding server", words for messages
    error: type[DayshiftError]
    settings: str  # prefix of the settings named in fixes: "DAYSHIFT_EMBED__"
    max_retries: int = 3
    base_url_hint: str = ""  # appended to "check <prefix>BASE_URL"
    bad_request_fix: str = "check the request settings"
    secret: str | None = None  # redacted from anything the server echoes back
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0
    url_setting: str | None = None  # where the URL is set, when not <prefix>BASE_URL

    def setting(self, name: str) -> str:
        if name == "BASE_URL" and self.url_setting:
            return self.url_setting
        return f"{self.settings}{name}"

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            max_retry_after_s=self.max_retry_after_s,
            settings=self.settings,
        )


def http_client(base_url: str, *, api_key: str | None, timeout_s: float) -> httpx.Client:
    """A client for `base_url` whose relative paths keep its path ("v1/" + "embeddings")."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=httpx.Timeout(timeout_s))


# --- the retry loop -----------------------------------------------------------------------------


def send(
    client: httpx.Client,
    path: str,
    payload: dict[str, Any],
    *,
    policy: HttpPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> httpx.Response:
    """POST with retries. Returns the final response (maybe an error status, for `check`).

    Timeouts and connection errors that outlast the retries raise `policy.error` naming the fix.
    """
    retry = policy.retry
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retry.max_retries + 1),
        retry=tenacity.retry_if_exception_type(httpx.TransportError)
        | tenacity.retry_if_result(lambda response: retryable_status(response.status_code)),
        wait=_Wait(client, path, policy, rng),
        sleep=sleep,
        before_sleep=lambda state: _log_retry(state, client, path, policy),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )
    try:
        response: httpx.Response = retrying(client.post, path, json=payload)
    except httpx.TimeoutException as exc:
        raise policy.error(_timeout_message(client, path, policy)) from exc
    except httpx.TransportError as exc:
        raise policy.error(_unreachable_message(client, path, policy, exc)) from exc
    return response


class _Wait(tenacity.wait.wait_base):
    """Retry-After when the failed response carried one (too long: give up now), else full jitter."""

    def __init__(self, client: httpx.Client, path: str, policy: HttpPolicy, rng: random.Random | None) -> None:
        self.client, self.path, self.policy, self.rng = client, path, policy, rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        retry = retry_state.attempt_number - 1
        outcome = retry_state.outcome
        asked = None
        if outcome is not None and not outcome.failed:
            asked = retry_after_s(outcome.result().headers)
        if asked is not None and asked > self.policy.max_retry_after_s:
            raise self.policy.error(
                f"{self.policy.service} at {display_url(self.client, self.path)} asks to wait {asked:.0f} s "
                f"(Retry-After): try again later, or raise the server's rate limit"
            )
        if asked is not None:
            return asked
        return backoff_s(retry, self.policy.retry, self.rng)


def _log_retry(state: tenacity.RetryCallState, client: httpx.Client, path: str, policy: HttpPolicy) -> None:
    outcome = state.outcome
    if outcome is None:
        return
    if outcome.failed:
        exc = outcome.exception()
        reason = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    else:
        reason = f"HTTP {outcome.result().status_code}"
    wait_s = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "%s at %s: %s; retry %d/%d in %.2f s",
        policy.service, display_url(client, path), reason, state.attempt_number, policy.max_retries, wait_s,
    )


# --- error mapping ------------------------------------------------------------------------------


def check(response: httpx.Response, *, policy: HttpPolicy) -> None:
    """Raise `policy.error` naming the fix unless `response` is a success."""
    if response.is_success:
        return
    code = response.status_code
    where = f"{policy.service} at {_url_of(response)}"
    said = server_message(response, policy)
    if code in (401, 403):
        sent = "" if "authorization" in response.request.headers else " (no key was sent)"
        fix = f"set {policy.setting('API_KEY')} to a valid key{sent}"
    elif code == 404:
        fix = f"check {policy.setting('BASE_URL')}{policy.base_url_hint} and {policy.setting('MODEL')}"
    elif code == 429:
        fix = (
            f"still rate limited after {policy.max_retries + 1} attempts: "
            "send fewer requests or raise the server's limit"
        )
    elif retryable_status(code):
        fix = f"failed {policy.max_retries + 1} times: check the server's logs"
    else:
        fix = policy.bad_request_fix
    raise policy.error(f"{where} answered HTTP {code} ({said}): {fix}")


def json_body(response: httpx.Response, *, policy: HttpPolicy) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content-type")
        start = redact(response.text[:80], policy.secret)
        raise policy.error(
            f"{policy.service} at {_url_of(response)} answered with a body that is not JSON "
            f"({kind}, starting {start!r}): check that {policy.setting('BASE_URL')} points at the API"
            f"{policy.base_url_hint}"
        ) from exc


def post_json(client: httpx.Client, path: str, payload: dict[str, Any], *, policy: HttpPolicy) -> Any:
    """POST `payload`, retrying per `policy`; the decoded JSON of a success."""
    response = send(client, path, payload, policy=policy)
    check(response, policy=policy)
    return json_body(response, policy=policy)


def server_message(response: httpx.Response, policy: HttpPolicy) -> str:
    """The error text a server sent, in any of the common shapes, shortened and redacted."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        body = error or body.get("message") or body.get("detail") or body
    text = " ".join(str(body).split())[:300] or response.reason_phrase
    return redact(text, policy.secret)


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def display_url(client: httpx.Client, path: str) -> str:
    """The URL without credentials or query string: safe for messages and logs."""
    return _safe(client.base_url.join(path))


def _url_of(response: httpx.Response) -> str:
    return _safe(response.request.url)


def _safe(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None, query=None))


def _timeout_message(client: httpx.Client, path: str, policy: HttpPolicy) -> str:
    timeout_s = client.timeout.read
    return (
        f"{policy.service} at {display_url(client, path)} did not answer within {timeout_s} s "
        f"({policy.max_retries + 1} attempts): check that it is up and not overloaded, "
        f"or raise {policy.setting('TIMEOUT_S')}"
    )


def _unreachable_message(client: httpx.Client, path: str, policy: HttpPolicy, exc: Exception) -> str:
    return (
        f"cannot reach the {policy.service} at {display_url(client, path)} "
        f"({policy.max_retries + 1} attempts; {type(exc).__name__}: {redact(str(exc), policy.secret)}): "
        f"check that it is running and that {policy.setting('BASE_URL')} is right"
    )
