"""No trace is lost: not when the client leaves mid-stream, not when the server is killed after responding.

These run `dayshift serve` as a real process on loopback, so a disconnect is a
closed socket and a kill is SIGKILL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dayshift.cli.demo import corpus_dir
from dayshift.testing.serve_process import ServeProcess

DAYSHIFT = [str(Path(sys.executable).with_name("dayshift"))]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("durable")
    subprocess.run([*DAYSHIFT, "--data-dir", str(folder), "ingest", str(corpus_dir())], check=True,
                   capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return folder


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(data_dir) as running:
        yield running


def test_a_client_that_leaves_mid_stream_still_leaves_a_trace(server: ServeProcess) -> None:
    since = datetime.now(UTC).isoformat()
    question = "Explain in detail how dayshift retries calls to failing servers and what the circuit breaker does."
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{server.url}/v1/ask", json={"question": question, "stream": True}) as r:
            first = next(r.iter_lines())
            assert first.startswith("event: ")
        # The connection is closed here, while the model is still writing.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = client.get(f"{server.url}/v1/traces", params={"route": "/v1/ask", "since": since}).json()["traces"]
            if found:
                break
            time.sleep(0.2)
    assert len(found) == 1
    assert found[0]["status"] == "cancelled" and "LLMCancelledError" in found[0]["errors"][0]
    assert found[0]["query"] is not None


def test_traces_survive_a_kill_right_after_the_responses(server: ServeProcess) -> None:
    ids = []
    with httpx.Client(timeout=60) as client:
        for i in range(20):
            r = client.post(f"{server.url}/v1/search", json={"query": f"hybrid search question {i}"})
            assert r.status_code == 200
            ids.append(r.json()["trace_id"])
        r = client.post(f"{server.url}/v1/ask", json={"question": "Which embedding model does dayshift bundle?"})
        ids.append(r.json()["trace_id"])
    server.kill()  # at once: no shutdown, no flush
    server.start()
    with httpx.Client(timeout=60) as client:
        for trace_id in ids:
            got = client.get(f"{server.url}/v1/traces/{trace_id}")
            assert got.status_code == 200, (trace_id, got.text)
        searches = client.get(f"{server.url}/v1/traces", params={"route": "/v1/search", "limit": 500}).json()
    assert len({t["trace_id"] for t in searches["traces"]} & set(ids)) == 20
