"""`dayshift monitor report` and `dayshift monitor watch` over a trace store filled with real TraceRecords:
seven calm days, then a bad one (dayshift.testing.monitor_traffic).

The commands are mounted on a small Typer app built here, with the same context the real `dayshift` app
hands its commands (a Settings object in ctx.obj). Stopping the watch (Ctrl-C, SIGTERM) runs it in a process
of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer
from typer.testing import CliRunner

from dayshift.cli.monitor import monitor_app
from dayshift.errors import ConfigError
from dayshift.settings import Settings
from dayshift.testing.monitor_traffic import synthetic_traffic, write_traffic
from dayshift.trace.store import TraceStore, default_trace_url

AREAS = ("cost", "quality", "drift", "retrieval", "latency")
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def make_app(data_dir: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=data_dir)

    app.add_typer(monitor_app, name="monitor")
    return app


def _store(path: Path, *, incident: bool) -> Path:
    records, feedback = synthetic_traffic(now=datetime.now(UTC), days=8, per_day=120, incident=incident)
    with TraceStore(default_trace_url(path)) as store:
        write_traffic(store, records, feedback)
    return path


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("incident"), incident=True)


def invoke(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(make_app(data_dir), ["monitor", *args], env=ENV)


def test_report_prints_the_checklist_and_exits_4_on_an_alert(incident: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = invoke(incident, "report", "--since", "24h", "--html", str(page))
    assert result.exit_code == 4, result.output
    assert f"wrote {page}" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("standup ")  # what changed comes first, then the checklist
    header = next(line for line in lines if line.startswith("dayshift monitor"))
    assert "ALERT" in header and "120 traces" in header
    statuses = {line.split()[1].lower(): line.split()[2] for line in lines if line[:1] in "✓!✗" and len(line.split()) > 2}
    assert set(statuses) == set(AREAS) and statuses["quality"] == "alert" and statuses["cost"] in ("warn", "alert")
    assert "abstention rate" in result.output and "docs/runbooks/abstention-rate.md" in result.output
    assert "served by  prompt_version=answer@3" in result.output  # what the traces recorded, not this shell
    html = page.read_text()
    assert all(f'data-area="{a}"' in html for a in AREAS) and "<svg" in html
    assert '<script>alert("drift")' not in html


def test_report_as_json(incident: Path) -> None:
    result = invoke(incident, "report", "--since", "24h", "--json")
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert data["status"] == "alert" and data["traces"] == 120
    assert {f["check"] for f in data["findings"]} >= {"cost_spike", "abstention_rate", "query_drift", "low_evidence"}
    alerts = [f for f in data["findings"] if f["status"] == "alert"]
    # Each alert carries what was live: the incident day's prompt, model and re-indexed index.
    assert alerts and all(f["config"]["prompt_version"] == "answer@3" and f["config"]["model"] == "gpt-4o-mini"
                          and f["config"]["index_version"].startswith("sync-42@") for f in alerts)


def test_report_on_calm_traffic_exits_0(tmp_path: Path) -> None:
    result = invoke(_store(tmp_path, incident=False), "report", "--since", "24h")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("dayshift monitor"))
    assert "OK" in header and "alert" not in result.output.lower().replace("alerts", "")


def test_report_without_traces_says_where_they_come_from(tmp_path: Path) -> None:
    result = invoke(tmp_path, "report")
    assert isinstance(result.exception, ConfigError) and "dayshift serve" in str(result.exception)
    assert not (tmp_path / "traces.sqlite").exists()  # reading never creates an empty database
    bad = invoke(tmp_path, "report", "--since", "yesterday")
    assert bad.exit_code == 2 and "use 24h, 7d" in bad.output


def test_report_exits_3_when_the_worst_is_a_warning(incident: Path, tmp_path: Path) -> None:
    checks = {f["check"] for f in json.loads(invoke(incident, "report", "--json").stdout)["findings"]}
    warn_only = tmp_path / "rules.toml"  # every alert bar out of reach: what alerted now only warns
    warn_only.write_text("".join(f"[checks.{check}]\nalert = 1e9\n" for check in sorted(checks)))
    result = invoke(incident, "report", "--since", "24h", "--json", "--rules", str(warn_only))
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["status"] == "warn"


def test_the_dayshift_command_keeps_2_for_a_report_that_could_not_run(incident: Path, tmp_path: Path) -> None:
    # Through the real entry point, where an error (DayshiftError) exits 2: an alert must not read the same.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")} | ENV

    def dayshift(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from dayshift.cli.main import main; main()",
                               "--data-dir", str(data_dir), "monitor", "report", *args],
                              capture_output=True, text=True, env=env, timeout=300, check=False)

    missing = dayshift(tmp_path)
    assert missing.returncode == 2 and "no trace database" in missing.stderr, missing.stderr
    alert = dayshift(incident, "--since", "24h", "--json")
    assert alert.returncode == 4 and json.loads(alert.stdout)["status"] == "alert", alert.stderr


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def test_watch_sends_each_alert_once_across_restarts(incident: Path, webhook: tuple[str, list[dict[str, Any]]]
                                                      ) -> None:
    url, received = webhook
    first = invoke(incident, "watch", "--every", "15m", "--runs", "1", "--webhook", url)
    assert first.exit_code == 0, first.output
    run_lines = [line for line in first.output.splitlines() if line.startswith("20")]
    assert len(run_lines) == 1 and "ALERT" in run_lines[0] and "1h: " in run_lines[0] and "24h: " in run_lines[0]
    assert received and all(message["text"].startswith(("[ALERT]", "[WARN]")) for message in received)
    assert f"{len(received)} alerts sent" in run_lines[0]
    again = invoke(incident, "watch", "--runs", "1", "--webhook", url)  # a restarted watch does not page twice
    assert "0 alerts sent" in again.output and len(received) == len(run_lines[0].split("alerts sent: ")[1].split(", "))


def test_watch_without_a_webhook_prints_what_is_due(tmp_path: Path) -> None:
    data_dir = _store(tmp_path, incident=True)
    result = invoke(data_dir, "watch", "--every", "1h", "--window", "24h", "--runs", "1")
    assert result.exit_code == 0, result.output
    due = result.output.split("alerts due (no webhook): ")[1]
    assert "abstention_rate|" in due and "cost_spike|" in due
    assert "24h windows" in result.output.splitlines()[0]
    assert invoke(data_dir, "watch", "--every", "soon").exit_code == 2


_WATCH = """
import sys
from pathlib import Path
import typer
from dayshift.cli.monitor import monitor_app
from dayshift.settings import Settings

app = typer.Typer()

@app.callback()
def _root(ctx: typer.Context) -> None:
    ctx.obj = Settings(data_dir=Path(sys.argv[1]))

app.add_typer(monitor_app, name="monitor")
app(sys.argv[2:])
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_watch_stops_cleanly(incident: Path, stop: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")} | ENV
    # A background job of a non-interactive shell (CI often is one) starts with SIGINT ignored, and Python then
    # never turns Ctrl-C into KeyboardInterrupt; a terminal user's process has the default, as here.
    watch = subprocess.Popen([sys.executable, "-c", _WATCH, str(incident), "monitor", "watch", "--every", "1h"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert watch.stdout is not None
        lines = [watch.stdout.readline(), watch.stdout.readline()]  # "watching ...", then the first run
        assert lines[0].startswith("watching") and lines[1].startswith("20"), lines
        watch.send_signal(stop)
        rest, _ = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, rest
    assert rest.strip().splitlines()[-1] == "stopped after 1 run" and "Traceback" not in rest
