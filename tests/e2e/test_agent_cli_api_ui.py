"""The agent end to end with the bundled reader: `dayshift agent` in a real process, POST /v1/agent (JSON and
server-sent events) on `dayshift serve`, the run's trace with one span per step over HTTP, the monitor's
counters on /metrics, and the web UI's Agent page in Chromium drawing the timeline from the trace.

What the model answers is not asserted (that is benchmarks/agents.py's job): what is asserted is what holds
for any run -- every step reported, spans equal to steps, budgets never exceeded, a cited answer or a
stopped run with its reason.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run

from dayshift.errors import PluginError
from dayshift.llm.local import bundled_model_path
from dayshift.testing.serve_process import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TASK = "How many customers does the shop have?"

try:
    bundled_model_path()
except PluginError as exc:  # pragma: no cover - the Makefile installs it
    pytest.skip(f"the bundled language model is not installed: {exc}", allow_module_level=True)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE Customer (CustomerId INTEGER PRIMARY KEY, Name TEXT, Country TEXT);"
                     "INSERT INTO Customer VALUES (1, 'Ada', 'UK'), (2, 'Grace', 'USA'), (3, 'Linus', 'Finland');")
    db.commit()
    db.close()
    return path


def _check_run(result: dict[str, Any], max_steps: int) -> None:
    assert result["usage"]["steps"] <= max_steps and result["overruns"] == []
    assert result["steps"], "a run takes at least one step"
    for n, step in enumerate(result["steps"], 1):
        assert step["n"] == n and step["status"] in ("ok", "error", "refused", "invalid", "repeated", "answer")
    if result["status"] == "stopped":
        assert result["stop_reason"] != "answer" and result["partial"]
    else:
        assert result["steps"][-1]["tool"] == "final_answer"


def test_cli_runs_a_task_within_its_budget(tmp_path: Path, shop: Path) -> None:
    done = run(tmp_path, "agent", TASK, "--tools", "sql,calc", "--db", str(shop), "--max-steps", "3", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    _check_run(result, 3)
    assert result["tools"] == ["sql", "calculator"] and result["protocol"] == "json"
    refused = run(tmp_path, "agent", TASK, "--tools", "sql", "--max-steps", "2")
    assert refused.returncode != 0 and "--db" in refused.stderr  # no database: the fix is named


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shop: Path) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("agent-serve")
    env = {"DAYSHIFT_AGENT__DATABASES": json.dumps([str(shop)]), "DAYSHIFT_AGENT__TOOLS": '["sql", "calculator"]'}
    with ServeProcess(data_dir, env=env) as process:
        yield process.url


def _post(url: str, body: dict[str, Any]) -> tuple[str, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.headers.get("content-type", ""), response.read()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
        return json.loads(body) if response.headers.get("content-type", "").startswith("application/json") else body


def test_api_json_and_events_and_the_trace_has_a_span_per_step(server: str) -> None:
    _, body = _post(f"{server}/v1/agent", {"task": TASK, "max_steps": 2})
    answer = json.loads(body)
    _check_run(answer["result"], 2)
    trace = _get(f"{server}/v1/traces/{answer['trace_id']}")
    spans = trace["detail"]["agent"]["spans"]
    assert [s["name"] for s in spans] == [s["tool"] or "(unreadable reply)" for s in answer["result"]["steps"]]
    assert trace["route"] == "/v1/agent" and all(s["duration_ms"] >= 0 for s in spans)

    kind, raw = _post(f"{server}/v1/agent", {"task": TASK, "max_steps": 2, "stream": True})
    assert kind.startswith("text/event-stream")
    events = [(b.split("\n")[0][7:], json.loads(b.split("\n", 1)[1][6:]))
              for b in raw.decode().strip().split("\n\n")]
    names = [e for e, _ in events]
    assert names[-2:] == ["result", "done"] and set(names[:-2]) == {"step"}
    assert len(names) - 2 == len(events[-2][1]["steps"])

    metrics = _get(f"{server}/metrics").decode()
    assert "dayshift_agent_runs_total" in metrics
    too_many = urllib.request.Request(f"{server}/v1/agent", data=json.dumps({"task": TASK, "tools": ["fetch_url"]})
                                      .encode(), method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(too_many, timeout=30)
    assert refused.value.code == 422


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"drives Debian's Chromium at {CHROMIUM}: apt-get install -y "
                                                  "chromium")
def test_agent_page_draws_the_timeline_from_the_trace(server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason='needs Playwright: pip install -e ".[dev]"')
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(600_000)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{server}/agent")
        page.wait_for_selector("body[data-ready=true]")
        page.get_by_test_id("agent-task").fill(TASK)
        page.get_by_test_id("agent-max-steps").fill("2")
        page.get_by_test_id("agent-run").click()
        page.wait_for_selector("[data-testid=agent-timeline][data-source=trace]")
        steps = page.get_by_test_id("agent-step")
        assert steps.count() >= 1
        trace_id = page.get_by_test_id("agent-trace-id").inner_text().strip()
        spans = _get(f"{server}/v1/traces/{trace_id}")["detail"]["agent"]["spans"]
        assert steps.count() == len(spans)
        assert page.get_by_test_id("agent-step-status").first.inner_text() == spans[0]["status"]
        page.goto(f"{server}/agent?trace={trace_id}")  # a stored run, from its trace alone
        page.wait_for_selector("[data-testid=agent-timeline][data-source=trace]")
        assert page.get_by_test_id("agent-step").count() == len(spans)
        assert not problems, problems
        browser.close()
