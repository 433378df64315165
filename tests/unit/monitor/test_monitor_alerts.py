"""Alerts: dedup and cooldown persisted in SQLite, and the webhook against a real local HTTP server."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dayshift.monitor.alerts import (
    Alert,
    AlertState,
    WebhookError,
    WebhookSink,
    dedup_key,
    due_alerts,
    notify,
    slack_payload,
)
from dayshift.monitor.findings import Finding
from dayshift.monitor.rules import Rules

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def finding(status: str = "alert", check: str = "abstention_rate", **scope: str) -> Finding:
    return Finding(area="quality", check=check, status=status, summary=f"{check} is {status}",  # type: ignore[arg-type]
                   runbook="docs/runbooks/abstention-rate.md", scope=scope or {"tenant": "acme"},
                   config={"prompt_version": "answer@4", "model": "gpt-4o-mini", "index_version": "v9"},
                   started_at=NOW - timedelta(minutes=20), detected_at=NOW, samples=321)


class Hook:
    """A local webhook: answers each POST with the next planned status (then 200), records the bodies."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                status, headers = hook.plan.pop(0) if hook.plan else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T1/B2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def test_dedup_key_uses_the_rule_keys_and_stars_what_is_missing() -> None:
    f = finding(tenant="acme", prompt_version="answer@4")
    assert dedup_key(f, ("check", "tenant", "prompt_version")) == "abstention_rate|tenant=acme|prompt_version=answer@4"
    assert dedup_key(f, ("check", "model")) == "abstention_rate|model=*"


def test_cooldown_and_escalation_survive_a_restart(tmp_path: Path, rules: Rules) -> None:
    cooldown = rules.check("abstention_rate").cooldown_s
    with AlertState(tmp_path / "alerts.sqlite") as state:
        sent = notify([finding("warn"), finding("alert", tenant="globex")], rules=rules, state=state, sink=None, now=NOW)
        assert [a.key for a in sent] == ["abstention_rate|tenant=globex|prompt_version=*"]  # warn: not notified
        assert notify([finding("alert", tenant="globex")], rules=rules, state=state, sink=None,
                      now=NOW + timedelta(minutes=15)) == []
    with AlertState(tmp_path / "alerts.sqlite") as state:  # a restarted watch remembers
        assert due_alerts([finding("alert", tenant="globex")], rules=rules, state=state,
                          now=NOW + timedelta(seconds=cooldown - 1)) == []
        again = notify([finding("alert", tenant="globex")], rules=rules, state=state, sink=None,
                       now=NOW + timedelta(seconds=cooldown))
        assert len(again) == 1 and state.count(again[0].key) == 2


def test_an_escalation_is_sent_inside_the_cooldown(tmp_path: Path, rules: Rules) -> None:
    warn_too = dataclasses.replace(rules, notify="warn")
    with AlertState(tmp_path / "alerts.sqlite") as state:
        assert len(notify([finding("warn")], rules=warn_too, state=state, sink=None, now=NOW)) == 1
        assert notify([finding("warn")], rules=warn_too, state=state, sink=None, now=NOW + timedelta(minutes=5)) == []
        up = notify([finding("alert")], rules=warn_too, state=state, sink=None, now=NOW + timedelta(minutes=10))
        assert [a.status for a in up] == ["alert"]
        # One key twice in a batch (the hour's and the day's window): one alert, the worse.
        both = due_alerts([finding("warn", tenant="x"), finding("alert", tenant="x")], rules=warn_too, state=state,
                          now=NOW)
        assert [a.status for a in both] == ["alert"]


def test_the_slack_payload_carries_summary_scope_config_and_runbook() -> None:
    alert = Alert("abstention_rate|tenant=acme", finding(), "https://git.example.com/blob/main/docs/runbooks/x.md")
    payload = slack_payload(alert)
    assert payload["text"].startswith("[ALERT] abstention_rate: abstention_rate is alert")
    assert "https://git.example.com/blob/main/docs/runbooks/x.md" in payload["text"]
    blocks = json.dumps(payload["blocks"])
    for needle in ("tenant acme", "prompt_version answer@4", "model gpt-4o-mini", "index_version v9",
                   "2025-03-10 11:40 UTC", "321", "<https://git.example.com/blob/main/docs/runbooks/x.md|"):
        assert needle in blocks
    assert payload["blocks"][0]["type"] == "header"
    plain = slack_payload(dataclasses.replace(alert, runbook_url="docs/runbooks/abstention-rate.md"))
    assert "`docs/runbooks/abstention-rate.md`" in json.dumps(plain["blocks"])


def test_webhook_delivers_to_a_real_server(hook: Hook, tmp_path: Path, rules: Rules) -> None:
    with WebhookSink(hook.url) as sink, AlertState(tmp_path / "a.sqlite") as state:
        sent = notify([finding()], rules=rules, state=state, sink=sink, now=NOW)
    assert len(sent) == 1 and len(hook.bodies) == 1
    assert set(hook.bodies[0]) == {"text", "blocks"} and "abstention_rate" in hook.bodies[0]["text"]


def test_webhook_retries_server_errors_and_honours_retry_after(hook: Hook) -> None:
    hook.plan = [(500, {}), (429, {"Retry-After": "0"}), (200, {})]
    with WebhookSink(hook.url, retries=3, backoff_s=0.01) as sink:
        sink.send(slack_alert())
    assert len(hook.bodies) == 3


def test_webhook_gives_up_after_its_retries_and_does_not_retry_a_404(hook: Hook) -> None:
    hook.plan = [(503, {})] * 3
    with WebhookSink(hook.url, retries=2, backoff_s=0.01) as sink, pytest.raises(WebhookError, match="503"):
        sink.send(slack_alert())
    assert len(hook.bodies) == 3
    hook.plan = [(404, {})]
    with WebhookSink(hook.url, retries=2, backoff_s=0.01) as sink, pytest.raises(WebhookError, match="404"):
        sink.send(slack_alert())
    assert len(hook.bodies) == 4


def test_an_unreachable_webhook_is_retried_on_the_next_tick(tmp_path: Path, rules: Rules) -> None:
    closed = Hook()
    url = closed.url
    closed.close()  # nothing listens there now
    with WebhookSink(url, retries=1, backoff_s=0.01, timeout_s=1.0) as sink, AlertState(tmp_path / "a.sqlite") as state:
        with pytest.raises(WebhookError, match="cannot reach the webhook.*DAYSHIFT_ALERT_WEBHOOK"):
            sink.send(slack_alert())
        assert notify([finding()], rules=rules, state=state, sink=sink, now=NOW) == []  # logged, not recorded
        assert state.last("abstention_rate|tenant=acme|prompt_version=*") is None
    with pytest.raises(WebhookError, match="http"):
        WebhookSink("hooks.slack.com/services/x")


def slack_alert() -> Alert:
    return Alert("k", finding(), "docs/runbooks/abstention-rate.md")
