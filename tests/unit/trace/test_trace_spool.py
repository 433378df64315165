"""The spool and flush_once in one process: appends from many threads, rotation, torn and corrupt lines,
file modes, one writer and one reader per folder."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from trace_factory import make_record

from dayshift.errors import StoreError
from dayshift.trace.flusher import flush_once
from dayshift.trace.spool import Position, Spool, SpoolReader, list_segments, read_progress, segment_path
from dayshift.trace.store import TraceStore


def test_eight_threads_appending_lose_nothing(tmp_path: Path, sqlite_store: TraceStore) -> None:
    spool = Spool(tmp_path / "spool", segment_bytes=256 << 10)  # small segments: rotation under contention
    go = threading.Barrier(8)

    def append(thread: int) -> None:
        go.wait()
        for n in range(500):
            spool.append(make_record(thread * 1000 + n, query=f"thread {thread} record {n}"))

    threads = [threading.Thread(target=append, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list_segments(spool.folder)) > 3
    assert flush_once(spool.folder, sqlite_store, store_text="raw") == 4000
    assert sqlite_store.count() == 4000
    stored = sqlite_store.get(make_record(7 * 1000 + 499).trace_id, tenant="acme")
    assert stored.record == make_record(7 * 1000 + 499, query="thread 7 record 499")
    assert flush_once(spool.folder, sqlite_store, store_text="raw") == 0
    assert len(list_segments(spool.folder)) == 1  # all flushed and deleted but the one being written
    spool.close()


def test_spool_files_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(make_record(1))
    assert stat.S_IMODE(os.stat(spool.folder).st_mode) == 0o700
    for segment in list_segments(spool.folder):
        assert stat.S_IMODE(os.stat(segment_path(spool.folder, segment)).st_mode) == 0o600
    spool.close()


def test_one_line_per_record_and_rotation(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", segment_bytes=10_000)
    start = spool.position()
    for i in range(20):
        spool.append(make_record(i))
    segments = list_segments(spool.folder)
    assert segments[0] == start.segment and len(segments) > 2
    lines = [line for s in segments for line in segment_path(spool.folder, s).read_text().splitlines()]
    assert [json.loads(line)["trace_id"] for line in lines] == [make_record(i).trace_id for i in range(20)]
    end = spool.rotate()
    assert end.segment == segments[-1] and spool.position() == Position(segments[-1] + 1, 0)
    assert spool.rotate() == Position(segments[-1] + 1, 0)  # nothing new: no new segment
    assert len(list_segments(spool.folder)) == len(segments) + 1
    spool.close()


def test_appends_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(make_record(1, params={"when": object()}))  # not JSON: written as its str()
    spool.close()
    with caplog.at_level(logging.ERROR):
        spool.append(make_record(2))
    assert spool.dropped == 1 and "trace dropped" in caplog.text


def test_a_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, sqlite_store: TraceStore, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "spool"
    spool = Spool(folder)
    for i in range(3):
        spool.append(make_record(i))
    segment = segment_path(folder, spool.position().segment)
    spool.close()  # the writer is gone, as if killed, half-way through a fourth line:
    line = json.dumps(make_record(3).to_json()).encode()
    with open(segment, "ab") as f:
        f.write(line[: len(line) // 2])
    with caplog.at_level(logging.WARNING):
        assert flush_once(folder, sqlite_store, store_text="raw") == 3
    assert "torn last line" in caplog.text and "VPN" not in caplog.text
    assert read_progress(folder) == Position(int(segment.stem.split("-")[1]), segment.stat().st_size)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert flush_once(folder, sqlite_store, store_text="raw") == 0
    assert caplog.text == ""
    Spool(folder).close()  # a new writer: the old segment is finished, so the flusher deletes it
    flush_once(folder, sqlite_store, store_text="raw")
    assert not segment.exists() and sqlite_store.count() == 3


def test_a_line_being_written_is_left_for_later(tmp_path: Path, sqlite_store: TraceStore) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(make_record(1))
    line = (json.dumps(make_record(2).to_json()) + "\n").encode()
    with open(segment_path(spool.folder, spool.position().segment), "ab") as f:
        f.write(line[:100])  # a write in progress, seen by the reader before it completes
        f.flush()
        assert flush_once(spool.folder, sqlite_store, store_text="raw") == 1
        f.write(line[100:])
    assert flush_once(spool.folder, sqlite_store, store_text="raw") == 1
    assert sqlite_store.count() == 2
    spool.close()


def test_a_corrupt_line_is_skipped_and_the_rest_goes_in(
    tmp_path: Path, sqlite_store: TraceStore, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(make_record(1))
    with open(segment_path(spool.folder, spool.position().segment), "ab") as f:
        f.write(b'{"not": "a trace"}\n\xff\xfe garbage\n')
    spool.append(make_record(2))
    with caplog.at_level(logging.WARNING):
        assert flush_once(spool.folder, sqlite_store, store_text="raw") == 2
    assert caplog.text.count("not a trace") == 2
    spool.close()


def test_batches_commit_progress_as_they_go(tmp_path: Path, sqlite_store: TraceStore) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(25):
        spool.append(make_record(i))
    reader = SpoolReader(spool.folder)
    batch = reader.read(max_records=10)
    assert [r.trace_id for r in batch.records] == [make_record(i).trace_id for i in range(10)]
    sqlite_store.write(batch.records)
    reader.commit(batch)
    assert read_progress(spool.folder) == batch.end
    reader.close()
    reader = SpoolReader(spool.folder)  # a new reader resumes at the mark
    assert [r.trace_id for r in reader.read(max_records=100).records] == [
        make_record(i).trace_id for i in range(10, 25)
    ]
    reader.close()
    spool.close()


def test_one_writer_and_one_reader_per_folder(tmp_path: Path, sqlite_store: TraceStore) -> None:
    spool = Spool(tmp_path / "spool")
    with pytest.raises(StoreError, match="its own trace spool folder"):
        Spool(tmp_path / "spool", lock_wait_s=0.1)
    reader = SpoolReader(spool.folder)
    with pytest.raises(StoreError, match="another process is flushing"):
        flush_once(spool.folder, sqlite_store, store_text="raw")
    reader.close()
    spool.close()
    Spool(tmp_path / "spool").close()  # free again
