"""`dayshift monitor report`: the morning checklist over the traces; `dayshift monitor watch`: the detectors on a
schedule, sending alerts.

    dayshift monitor report --since 24h                  # what changed (the standup digest), then cost, quality,
                                                         # drift, retrieval, latency: ok | warn | alert
    dayshift monitor report --since 7d --html report.html --json
    dayshift monitor watch --every 15m --webhook URL     # one line per run; alerts to a Slack-style webhook

`report` exits 0, 3 or 4 when the worst status is ok, warn or alert, so cron
can act on it; 1 and 2 keep their meaning for every dayshift command, a crash
and a bad option or configuration (the error on stderr): the report did not run.
Both read the trace database of the data dir (or trace.url); a question's
embedding, needed by the query-drift check, loads the embedder on first use.

Left out: a daemon mode (run `watch` under systemd or a container) and
reports per tenant (every finding names its tenant in its scope).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console

from dayshift.embed.base import Embedder
from dayshift.errors import ConfigError
from dayshift.monitor.findings import AREAS, MonitorReport
from dayshift.monitor.report import EXIT_CODES, clean_text, print_report, report_json, window_start
from dayshift.monitor.rules import Rules, load_rules, with_slo
from dayshift.settings import Settings
from dayshift.trace.store import TraceStore, default_trace_url

if TYPE_CHECKING:
    from dayshift.monitor.alerts import AlertState, WebhookSink
    from dayshift.monitor.run import Watch

monitor_app = typer.Typer(help="The monitor: cost, quality, drift and retrieval checks over the traces.",
                          no_args_is_help=True)

RulesOption = Annotated[Path | None, typer.Option("--rules", help="A rules file laid over the shipped rules.toml.")]


@monitor_app.command("report")
def report(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="The window: 24h, 7d, 90m, or a UTC date or time.")] = "24h",
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML page (plots) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the checklist.")] = False,
    rules_file: RulesOption = None,
) -> None:
    """Run every check over the window and print the checklist.

    Exit status: 0 all ok, 3 warn, 4 alert; 1 or 2 when the report could not run (1 a crash, 2 a bad option
    or configuration, with the error on stderr).
    """
    from dayshift.cli.standup import gather_inputs
    from dayshift.monitor.standup import build_digest, digest_html, digest_json, print_digest

    settings: Settings = ctx.obj
    now = datetime.now(UTC)
    start = _window_start(since, now=now)
    rules = with_slo(load_rules(rules_file), settings.monitor.slo)
    with open_traces(settings) as store:
        from dayshift.monitor.run import run_detectors

        found = run_detectors(store, since=start, until=now, rules=rules, embed_queries=LazyQueryEmbedder(settings),
                              now=now)
    with ExitStack() as stack:
        digest = build_digest(gather_inputs(settings, rules, stack), since=start, until=now)
    config = found.served  # what served the window's traces, not this shell's settings
    if html is not None:
        from dayshift.monitor.report_html import render_html

        page = render_html(found, config=config, runbook_base=rules.runbook_base_url, prelude=digest_html(digest))
        html.write_text(page, encoding="utf-8")
        typer.secho(f"wrote {html}", err=True)
    if as_json:
        typer.echo(json.dumps({"standup": digest_json(digest), **report_json(found, config=config)}, indent=2))
    else:
        console = Console(highlight=False)
        print_digest(digest, console=console)
        console.print()
        print_report(found, console=console, config=config)
    raise typer.Exit(EXIT_CODES[found.status])


def _window_start(text: str, *, now: datetime) -> datetime:
    try:
        return window_start(text, now=now)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def open_traces(settings: Settings) -> TraceStore:
    """The trace database of these settings, with the traces of CLI runs (cli/tracing.py) flushed into it.

    A missing SQLite file with no CLI traces waiting is an error, not a new empty database."""
    from dayshift.cli.tracing import CLI_SPOOLS, drain_cli_spools

    url = settings.trace.url or default_trace_url(settings.data_dir)
    waiting = (settings.data_dir / CLI_SPOOLS).is_dir()
    if settings.trace.url is None and not (settings.data_dir / "traces.sqlite").exists() and not waiting:
        raise ConfigError(f"no trace database at {settings.data_dir / 'traces.sqlite'}: traces are written by "
                          "`dayshift serve`, `dayshift ask` and `dayshift search` (unless trace.cli or "
                          "trace.enabled is false); pass their --data-dir, or set DAYSHIFT_TRACE__URL")
    store = TraceStore(url)
    drain_cli_spools(settings, store)
    return store


class LazyQueryEmbedder:
    """texts -> (n, dim) unit vectors, from the configured embedder, loaded on the first call only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedder: Embedder | None = None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self._embedder is None:
            from dayshift.assemble import open_embedder

            self._embedder = open_embedder(self.settings)
        return self._embedder.embed(texts, kind="query")


# -- watch ----------------------------------------------------------------------

@monitor_app.command("watch")
def watch(
    ctx: typer.Context,
    every: Annotated[str, typer.Option("--every", help="How often to run: 15m, 1h, 30s.")] = "15m",
    window: Annotated[str, typer.Option("--window", help="The trailing window each run tests (and 24h hourly).")]
    = "1h",
    webhook: Annotated[str | None, typer.Option(
        "--webhook", envvar="DAYSHIFT_ALERT_WEBHOOK", show_envvar=True,
        help="Slack-compatible incoming webhook for alerts; without one, due alerts are only printed.")] = None,
    rules_file: RulesOption = None,
    runs: Annotated[int, typer.Option("--runs", help="Stop after this many runs (0: until Ctrl-C).", min=0)] = 0,
) -> None:
    """Run the checks every --every, send alerts through the rules' sink, print one line per run."""
    from dayshift.monitor.alerts import AlertState, WebhookSink
    from dayshift.monitor.run import Watch, WatchWindow

    settings: Settings = ctx.obj
    every_s, window_s = _duration_s(every, "--every"), _duration_s(window, "--window")
    rules = with_slo(load_rules(rules_file), settings.monitor.slo)
    windows = [WatchWindow(timedelta(seconds=window_s), timedelta(seconds=every_s))]
    if window_s < 86_400:
        windows.append(WatchWindow(timedelta(days=1), timedelta(seconds=max(every_s, 3600))))
    sink = WebhookSink(webhook, timeout_s=rules.webhook_timeout_s, retries=rules.webhook_retries) if webhook else None
    console = Console(highlight=False)
    done = 0
    with open_traces(settings) as store, AlertState(settings.data_dir / ALERT_STATE_FILE) as state, \
            _stop_on_sigterm():
        run = _WatchRun(Watch(store, rules=rules, embed_queries=LazyQueryEmbedder(settings), windows=windows),
                        rules=rules, state=state, sink=sink)
        console.print(f"watching {settings.data_dir} every {every} "
                      f"({', '.join(_window_text(w.length) for w in windows)} windows); Ctrl-C stops")
        try:
            while True:
                started = time.monotonic()
                line = run.once(datetime.now(UTC))
                done += 1
                console.print(line, soft_wrap=True, markup=False)
                if runs and done >= runs:
                    break
                time.sleep(max(0.0, every_s - (time.monotonic() - started)))
        except KeyboardInterrupt:
            console.print(f"stopped after {done} run{'s' * (done != 1)}")
        finally:
            if sink is not None:
                sink.close()


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (systemd, `docker stop`) stops the watch as Ctrl-C does, between two database writes."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


ALERT_STATE_FILE = "alerts.sqlite"  # under data_dir: what was sent when, so a restarted watch does not page twice


@dataclass(slots=True)
class _WatchRun:
    watch: Watch
    rules: Rules
    state: AlertState
    sink: WebhookSink | None

    def once(self, now: datetime) -> str:
        """One run: the windows due now, their alerts sent, as one line."""
        from dayshift.monitor.alerts import notify

        stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            reports = self.watch.tick(now)
            findings = [f for r in reports for f in r.findings]
            alerts = notify(findings, rules=self.rules, state=self.state, sink=self.sink, now=now)
        except Exception as exc:  # noqa: BLE001 - one failed run must not stop the watch; the next may succeed
            return f"{stamp}  error  {type(exc).__name__}: {clean_text(str(exc), limit=300)}"
        how = "sent" if self.sink is not None else "due (no webhook)"
        keys = f": {', '.join(a.key for a in alerts)}" if alerts else ""
        return f"{stamp}  {run_line(reports)}  ·  {len(alerts)} alert{'s' * (len(alerts) != 1)} {how}{keys}"


def run_line(reports: Sequence[MonitorReport]) -> str:
    """'ALERT  1h: cost alert (cost_spike), 812 traces  ·  24h: all ok, 20,114 traces'."""
    if not reports:
        return "ok     nothing due"
    severity = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
    worst = max((r.status for r in reports), key=severity.__getitem__)
    parts = []
    for r in reports:
        bad = [f"{a} {r.area_status(a)} ({', '.join(f.check for f in r.findings if f.area == a and f.status in ('warn', 'alert'))})"
               for a in AREAS if r.area_status(a) in ("warn", "alert")]
        calm = "no data to judge" if r.status == "no_data" else "all ok"
        parts.append(f"{_window_text(r.until - r.since)}: {'; '.join(bad) if bad else calm}, {r.traces:,} traces")
    return f"{worst.upper():<6} " + "  ·  ".join(parts)


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration_s(text: str, option: str) -> float:
    text = text.strip().lower()
    if len(text) > 1 and text[:-1].isdigit() and text[-1] in _UNITS_S and int(text[:-1]) > 0:
        return float(int(text[:-1]) * _UNITS_S[text[-1]])
    raise typer.BadParameter(f'"{text}" is not a duration: use 30s, 15m, 1h or 1d', param_hint=option)


def _window_text(length: timedelta) -> str:
    """24h, 7d, 15m, 90s: days only from two of them."""
    seconds = int(length.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
