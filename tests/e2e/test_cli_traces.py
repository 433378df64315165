"""A CLI-only setup can be monitored: `dayshift ask` and `search` leave traces, and the report says what served them.

Real commands on a real data folder: ingest the demo corpus, search, ask with the bundled
reader, then `monitor report` from a shell whose settings differ (another prompt): its
config is the traces' (the prompt and model that answered), not that shell's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dayshift.cli.demo import corpus_dir

DAYSHIFT = str(Path(sys.executable).with_name("dayshift"))


def run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    return subprocess.run([DAYSHIFT, "--data-dir", str(data_dir), *args], capture_output=True, text=True,
                          timeout=600, env={**clean, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", **env})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli-traces")
    assert run(data, "ingest", str(corpus_dir())).returncode == 0
    return data


def routes(data: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(data / "traces.sqlite") as db:
        return db.execute("SELECT route, status, query FROM traces ORDER BY started_at").fetchall()


def test_ask_and_search_leave_traces_that_the_report_reads(folder: Path) -> None:
    assert not (folder / "traces.sqlite").exists()
    searched = run(folder, "search", "how are stale chunks removed", "--k", "2", "--json")
    assert searched.returncode == 0, searched.stderr
    asked = run(folder, "ask", "How does dayshift keep stale chunks out of search?", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert len(list((folder / "trace-spool-cli").iterdir())) == 2  # one spool per command, nothing flushed yet
    report = run(folder, "monitor", "report", "--since", "1h", "--json", DAYSHIFT_ANSWER__PROMPT="qa@9")
    assert report.returncode == 5, report.stderr  # two traces: every check lacks data, which is not "ok"
    data = json.loads(report.stdout)
    assert data["traces"] == 2 and data["status"] == "no_data"
    assert set(data["areas"].values()) == {"no_data"}
    assert not any(f["status"] == "ok" for f in data["findings"])
    # what served the traces, not this shell's DAYSHIFT_ANSWER__PROMPT
    assert data["config"]["prompt_version"] == answer["prompt"] and "qa@9" not in json.dumps(data["config"])
    assert data["config"]["model"] == answer["model"]
    assert [r[:2] for r in routes(folder)] == [("dayshift search", "ok"), ("dayshift ask", "ok")]
    assert not (folder / "trace-spool-cli").exists() or not any((folder / "trace-spool-cli").iterdir())


def test_one_setting_turns_cli_traces_off(folder: Path) -> None:
    before = len(routes(folder))
    assert run(folder, "search", "chunks", DAYSHIFT_TRACE__CLI="false").returncode == 0
    assert run(folder, "search", "chunks", DAYSHIFT_TRACE__ENABLED="false").returncode == 0
    assert run(folder, "traces", "list", "--since", "1h").returncode == 0  # drains whatever is waiting
    assert len(routes(folder)) == before


def test_the_stored_question_is_redacted(folder: Path) -> None:
    assert run(folder, "search", "What did Jane Doe write to jane.doe@example.com?").returncode == 0
    assert run(folder, "traces", "list", "--since", "1h").returncode == 0
    stored = routes(folder)[-1][2] or ""
    assert "jane.doe@example.com" not in stored and "Jane Doe" not in stored, stored
