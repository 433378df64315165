"""Alerts: which findings are sent, once per incident, and the webhook that sends them.

    findings --due_alerts (status >= rules.notify; dedup key; cooldown)--> [Alert]
             --WebhookSink.send (Slack-compatible JSON; dayshift.http's timeouts, retries)--> chat
             --AlertState.sent (SQLite)--> the cooldown starts

An alert's dedup key is made of the scope keys its rule names, e.g.
"abstention_rate|tenant=acme|prompt_version=answer@4": the same problem seen
again on the next tick is the same key, and is not sent again until the
rule's cooldown has passed, unless it got worse (warn -> alert). The state
lives in a small SQLite file, so a restarted `dayshift monitor watch` does
not page twice. A key is recorded only once its message was delivered, so a
webhook that is down is retried on the next tick.

AlertState also keeps each alert's life for the standup digest: "opened" when
it is first delivered, "escalated" (warn -> alert), and "closed" once no run
has seen its condition (at the notify level) for rules.close_after_s; a
condition seen again after that opens a new one.

Left out: "resolved" messages to the webhook, routing by severity to several
channels, and acknowledgements (Slack and the pager do those).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dayshift.errors import DayshiftError
from dayshift.http import HttpPolicy, send
from dayshift.http import check as check_response
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.monitor.findings import Finding, Status
from dayshift.monitor.rules import Rules
from dayshift.sqlite import open_database

__all__ = ["Alert", "AlertEvent", "AlertState", "WebhookError", "WebhookSink", "dedup_key", "due_alerts", "notify",
           "slack_payload"]

log = logging.getLogger(__name__)
MIGRATIONS = baseline(  # dayshift.migrations: append, never edit
    "CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, status TEXT NOT NULL, sent_at TEXT NOT NULL, "
    "count INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS open_alerts (key TEXT PRIMARY KEY, status TEXT NOT NULL, last_seen TEXT NOT NULL, "
    "check_name TEXT NOT NULL, summary TEXT NOT NULL, scope TEXT NOT NULL, runbook TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alert_events (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
    "key TEXT NOT NULL, event TEXT NOT NULL, status TEXT NOT NULL, check_name TEXT NOT NULL, summary TEXT NOT NULL, "
    "scope TEXT NOT NULL, runbook TEXT NOT NULL)"
)
_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}


class WebhookError(DayshiftError):
    """The webhook refused the alert, or stayed unreachable through every retry."""


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # the dedup key
    finding: Finding
    runbook_url: str  # the runbook path, behind rules.runbook_base_url when one is set

    @property
    def status(self) -> Status:
        return self.finding.status


@dataclass(frozen=True, slots=True)
class AlertEvent:
    at: datetime
    key: str
    event: str  # opened | escalated | closed
    status: Status
    check: str
    summary: str
    scope: dict[str, str]
    runbook: str


def dedup_key(finding: Finding, keys: Sequence[str]) -> str:
    """"check|tenant=acme|..." over the rule's dedup keys; a key the finding's scope lacks is "*"."""
    return "|".join(finding.check if k == "check" else f"{k}={finding.scope.get(k, '*')}" for k in keys)


class AlertState:
    """Per dedup key: the last status sent and when (SQLite, shared safely between processes)."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(Path(path))
        migrate_sqlite(self._db, "alerts", MIGRATIONS, where=str(path))

    def last(self, key: str) -> tuple[Status, datetime] | None:
        row = self._db.execute("SELECT status, sent_at FROM sent WHERE key = ?", (key,)).fetchone()
        return (row[0], datetime.fromisoformat(row[1])) if row else None

    def sent(self, key: str, status: Status, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO sent (key, status, sent_at, count) VALUES (?, ?, ?, 1) ON CONFLICT (key) DO UPDATE "
            "SET status = excluded.status, sent_at = excluded.sent_at, count = count + 1",
            (key, status, at.astimezone(UTC).isoformat()),
        )

    def opened(self, alert: Alert, at: datetime) -> None:
        """A delivered alert: opened (or escalated) unless it is open at this status already."""
        f = alert.finding
        row = self._db.execute("SELECT status FROM open_alerts WHERE key = ?", (alert.key,)).fetchone()
        if row is not None and _RANK[row[0]] >= _RANK[f.status]:
            return
        values = (alert.key, f.status, _iso(at), f.check, f.summary, json.dumps(f.scope), f.runbook)
        self._db.execute("INSERT INTO open_alerts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                         "status = excluded.status, last_seen = excluded.last_seen, summary = excluded.summary",
                         values)
        self._event(_iso(at), "opened" if row is None else "escalated", values)

    def seen(self, keys: Sequence[str], at: datetime, *, close_after_s: float) -> None:
        """The conditions found by a run at `at`: open alerts among them stay open; one unseen too long closes."""
        for key in keys:
            self._db.execute("UPDATE open_alerts SET last_seen = ? WHERE key = ?", (_iso(at), key))
        stale = self._db.execute("SELECT key, status, last_seen, check_name, summary, scope, runbook FROM open_alerts "
                                 "WHERE last_seen < ?", (_iso(at - timedelta(seconds=close_after_s)),)).fetchall()
        for key, status, _last, check, summary, scope, runbook in stale:
            self._db.execute("DELETE FROM open_alerts WHERE key = ?", (key,))
            self._event(_iso(at), "closed", (key, status, _last, check, summary, scope, runbook))

    def events(self, since: datetime, until: datetime) -> list[AlertEvent]:
        """Alerts opened, escalated and closed in [since, until), oldest first."""
        rows = self._db.execute("SELECT at, key, event, status, check_name, summary, scope, runbook FROM alert_events "
                                "WHERE at >= ? AND at < ? ORDER BY at, id", (_iso(since), _iso(until))).fetchall()
        return [AlertEvent(datetime.fromisoformat(a), k, e, s, c, m, json.loads(sc), r)
                for a, k, e, s, c, m, sc, r in rows]

    def _event(self, at: str, event: str, values: tuple[object, ...]) -> None:
        key, status, _seen, check, summary, scope, runbook = values
        self._db.execute("INSERT INTO alert_events (at, key, event, status, check_name, summary, scope, runbook) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (at, key, event, status, check, summary, scope, runbook))

    def count(self, key: str) -> int:
        row = self._db.execute("SELECT count FROM sent WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AlertState:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def due_alerts(findings: Sequence[Finding], *, rules: Rules, state: AlertState, now: datetime) -> list[Alert]:
    """The findings to send now: at or above rules.notify, outside their key's cooldown or escalated.

    Two findings with one key in the same batch (a 1-hour and a 24-hour window) make one alert, the worse.
    """
    chosen: dict[str, Finding] = {}
    for finding in findings:
        if _RANK[finding.status] < _RANK[rules.notify]:
            continue
        rule = rules.check(finding.check)
        key = dedup_key(finding, rule.dedup)
        previous = state.last(key)
        if previous is not None:
            status, at = previous
            cooling = (now - at).total_seconds() < rule.cooldown_s
            if cooling and _RANK[finding.status] <= _RANK[status]:
                continue
        if key not in chosen or _RANK[finding.status] > _RANK[chosen[key].status]:
            chosen[key] = finding
    base = rules.runbook_base_url
    return [Alert(key, f, base + f.runbook if base else f.runbook) for key, f in chosen.items()]


def notify(findings: Sequence[Finding], *, rules: Rules, state: AlertState, sink: WebhookSink | None,
           now: datetime) -> list[Alert]:
    """Send what is due and record it; returns the alerts delivered (all due ones when there is no sink).

    An alert the webhook did not take is logged and left unrecorded, so the next call tries it again.
    """
    delivered = []
    seen = [dedup_key(f, rules.check(f.check).dedup) for f in findings if _RANK[f.status] >= _RANK[rules.notify]]
    for alert in due_alerts(findings, rules=rules, state=state, now=now):
        if sink is not None:
            try:
                sink.send(alert)
            except WebhookError as exc:
                log.warning("alert %s not delivered: %s", alert.key, exc)
                continue
        state.sent(alert.key, alert.status, now)
        state.opened(alert, now)
        delivered.append(alert)
    state.seen(seen, now, close_after_s=rules.close_after_s)
    return delivered


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack-compatible message: `text` (notifications, plain clients) and `blocks` (the layout)."""
    f = alert.finding
    label = "ALERT" if f.status == "alert" else "WARN"
    scope = ", ".join(f"{k} {v}" for k, v in f.scope.items()) or "all traffic"
    config = " · ".join(f"{k} {v}" for k, v in f.config.items()) or "unknown"
    since = f"{f.started_at:%Y-%m-%d %H:%M} UTC" if f.started_at else "unknown"
    runbook = f"<{alert.runbook_url}|{f.runbook}>" if alert.runbook_url.startswith("http") else f"`{f.runbook}`"
    return {
        "text": f"[{label}] {f.check}: {f.summary} (runbook: {alert.runbook_url})",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{label} · {f.area} · {f.check}"[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f.summary[:2900]}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Scope*\n{scope}"},
                {"type": "mrkdwn", "text": f"*Live config*\n{config}"},
                {"type": "mrkdwn", "text": f"*Started*\n{since}"},
                {"type": "mrkdwn", "text": f"*Samples*\n{f.samples}"},
            ]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"Runbook: {runbook} · key `{alert.key}`"},
            ]},
        ],
    }


class WebhookSink:
    """POSTs each alert as JSON to a Slack-compatible incoming webhook, with a timeout and retries.

    Retries, backoff and Retry-After follow dayshift.http (connection errors, timeouts, 408/425/429 and
    5xx are retried with full-jitter backoff; a Retry-After longer than max_wait_s gives up at once, so
    the next tick tries again). Any other 4xx is a wrong URL or payload: raised at once.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5,
                 max_wait_s: float = 30.0, client: httpx.Client | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise WebhookError(f"webhook URL {url!r} is not http(s): set the incoming-webhook URL your chat gave you")
        self.url, self.retries, self.backoff_s, self.max_wait_s = url, retries, backoff_s, max_wait_s
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))
        self._policy = HttpPolicy(
            service="webhook", error=WebhookError, settings="DAYSHIFT_ALERT_", max_retries=retries,
            url_setting="the webhook URL (--webhook or DAYSHIFT_ALERT_WEBHOOK)",
            bad_request_fix="check the webhook URL and that the channel still exists",
            backoff_base_s=backoff_s, backoff_max_s=max_wait_s, max_retry_after_s=max_wait_s,
        )

    def send(self, alert: Alert) -> None:
        self.post(slack_payload(alert))

    def post(self, payload: dict[str, Any]) -> None:
        """POST any Slack-compatible message (the standup digest uses it), with the same retries."""
        check_response(send(self._client, self.url, payload, policy=self._policy), policy=self._policy)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
