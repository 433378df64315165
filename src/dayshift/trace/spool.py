"""The spool: traces appended to local files in the request path, read back by the flusher.

    <spool_dir>/
      writer.lock                  flock of the one process appending (`Spool`)
      flusher.lock                 flock of the one process reading (`SpoolReader`)
      segment-000000000007.jsonl   one TraceRecord.to_json() per line, mode 0600
      progress.json                {"segment": 7, "offset": 81920}: all before it is in the database

`Spool.append` is one os.write on an O_APPEND descriptor, and no fsync: once
write() returns the bytes belong to the kernel's page cache, so a SIGKILL
of the process a microsecond later loses nothing. A process that starts
appending always opens a new segment, so a line torn by a kill mid-write
can only be the last line of a segment nobody writes any more; the reader
skips it with a warning. The reader reads a segment that is still being
written only up to its last newline, deletes a segment once it is both in
the database and finished (a newer one exists), and never deletes the
newest, so segment numbers only grow.

Left out: power loss (without fsync the last seconds may go; so would the
page cache of any database not fsyncing), several processes appending to
one folder (the writer lock refuses the second), and Windows (fcntl).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dayshift.errors import StoreError
from dayshift.trace.record import TraceRecord

__all__ = ["Position", "Spool", "SpoolBatch", "SpoolReader", "read_progress"]

logger = logging.getLogger(__name__)

WRITER_LOCK = "writer.lock"
FLUSHER_LOCK = "flusher.lock"
PROGRESS = "progress.json"
_SEGMENT = re.compile(r"^segment-(\d{12})\.jsonl$")


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A point in the spool: byte `offset` of segment number `segment`."""

    segment: int
    offset: int


def segment_path(folder: Path, segment: int) -> Path:
    return folder / f"segment-{segment:012d}.jsonl"


def list_segments(folder: Path) -> list[int]:
    return sorted(int(m.group(1)) for name in os.listdir(folder) if (m := _SEGMENT.match(name)))


def read_progress(folder: Path) -> Position:
    """How far the flusher has committed; (0, 0) when it has not started."""
    try:
        data = json.loads((folder / PROGRESS).read_text())
        return Position(int(data["segment"]), int(data["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Position(0, 0)


class Spool:
    """The writing end; thread-safe. `append` costs one JSON encoding and one write()."""

    def __init__(self, folder: Path, *, segment_bytes: int = 4 << 20, lock_wait_s: float = 2.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.dropped = 0  # traces that could not be written (disk full, closed spool)
        self._lock_fd = _take_lock(
            self.folder / WRITER_LOCK, wait_s=lock_wait_s, busy=f"another process is appending to {self.folder}: "
            "give each server process its own trace spool folder",
        )  # fmt: skip
        self._mutex = threading.Lock()
        # Past every segment and the progress mark, so a number is never reused once its file is deleted.
        self._segment = max([*list_segments(self.folder), read_progress(self.folder).segment]) + 1
        self._fd = _create_segment(segment_path(self.folder, self._segment))
        self._size = 0

    def append(self, record: TraceRecord) -> None:
        """Write one trace; never raises for I/O (a failure is logged and counted in `dropped`)."""
        # default=str: whatever a caller put in params must not fail the request.
        line = (json.dumps(record.to_json(), separators=(",", ":"), default=str) + "\n").encode()
        with self._mutex:
            if self._fd < 0:
                self._drop("the spool is closed")
                return
            try:
                _write_all(self._fd, line)
            except OSError as exc:
                self._drop(f"{exc.strerror or exc}")
                self._rotate()  # a partial line ends this segment; the reader skips it as torn
                return
            self._size += len(line)
            if self._size >= self.segment_bytes:
                self._rotate()

    def rotate(self) -> Position:
        """Start a new segment (unless the current one is empty); returns the end of all appended so far."""
        with self._mutex:
            end = Position(self._segment, self._size)
            if self._size and self._fd >= 0:
                self._rotate()
            return end

    def position(self) -> Position:
        with self._mutex:
            return Position(self._segment, self._size)

    def close(self) -> None:
        with self._mutex:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    def _rotate(self) -> None:
        try:
            fd = _create_segment(segment_path(self.folder, self._segment + 1))
        except OSError as exc:
            logger.error(
                "could not start a new trace spool segment in %s (%s); appending to the old one", self.folder, exc
            )
            return
        os.close(self._fd)
        self._fd, self._segment, self._size = fd, self._segment + 1, 0

    def _drop(self, why: str) -> None:
        self.dropped += 1
        logger.error(
            "trace dropped, %d so far: could not append to the spool in %s (%s)", self.dropped, self.folder, why
        )


@dataclass(slots=True)
class SpoolBatch:
    records: list[TraceRecord]
    end: Position  # committing the batch makes this the progress mark
    finished: list[Path]  # segments fully read that no one writes any more: deleted on commit
    skipped: int  # lines that were not a trace (torn by a kill, or corrupt), each logged


class SpoolReader:
    """The reading end. One per folder at a time (the flusher lock); not thread-safe."""

    def __init__(self, folder: Path, *, lock_wait_s: float = 30.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = _take_lock(
            self.folder / FLUSHER_LOCK, wait_s=lock_wait_s, busy=f"another process is flushing {self.folder} "
            "(a running server's trace flusher): let it finish, or stop that server",
        )  # fmt: skip
        self.position = read_progress(self.folder)

    def read(self, *, max_records: int = 500) -> SpoolBatch:
        """Up to `max_records` traces after the progress mark (fewer, or none, when that is all there is)."""
        segments = list_segments(self.folder)
        writer_alive = _is_locked(self.folder / WRITER_LOCK)
        batch = SpoolBatch([], self.position, [], 0)
        for segment in segments:
            path = segment_path(self.folder, segment)
            done = segment != segments[-1] or not writer_alive  # no one will append to it again
            if segment < self.position.segment:  # read before; its deletion was cut short
                if segment != segments[-1]:
                    batch.finished.append(path)
                continue
            offset = self.position.offset if segment == self.position.segment else 0
            consumed, available = self._read_segment(path, offset, done, batch, max_records)
            batch.end = Position(segment, offset + consumed)
            if consumed < available:
                break  # the batch is full, or this is the newest segment and its last line is still being written
            if done and segment != segments[-1]:
                batch.finished.append(path)
            if len(batch.records) >= max_records:
                break
        return batch

    def commit(self, batch: SpoolBatch) -> None:
        """Call once the batch's records are committed to the database."""
        for path in batch.finished:
            path.unlink(missing_ok=True)  # before the mark: a crash in between replays nothing, it is gone
        if batch.end != self.position or batch.finished:
            temporary = self.folder / f"{PROGRESS}.tmp"
            temporary.write_text(json.dumps({"segment": batch.end.segment, "offset": batch.end.offset}))
            os.replace(temporary, self.folder / PROGRESS)
        self.position = batch.end

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _read_segment(
        self, path: Path, offset: int, done: bool, batch: SpoolBatch, max_records: int
    ) -> tuple[int, int]:
        """Parse lines from `offset` into batch.records; returns (bytes consumed, bytes available)."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return 0, 0
        consumed = 0
        while len(batch.records) < max_records:
            newline = data.find(b"\n", consumed)
            if newline < 0:
                break
            line = data[consumed:newline]
            if line.strip():
                self._parse(line, path, offset + consumed, batch)
            consumed = newline + 1
        if done and consumed < len(data) and data.find(b"\n", consumed) < 0 and len(batch.records) < max_records:
            batch.skipped += 1
            logger.warning(
                "skipped a torn last line of %d bytes in %s: the process writing it died mid-write",
                len(data) - consumed, path.name,
            )  # fmt: skip
            consumed = len(data)
        return consumed, len(data)

    def _parse(self, line: bytes, path: Path, at: int, batch: SpoolBatch) -> None:
        try:
            batch.records.append(TraceRecord.from_json(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            batch.skipped += 1  # the line may hold PII: log where it is, never what
            logger.warning(
                "skipped a line that is not a trace at byte %d of %s (%s)", at, path.name, type(exc).__name__
            )


def _create_segment(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take_lock(path: Path, *, wait_s: float, busy: str) -> int:
    """An exclusive flock on `path`, waited for up to wait_s; StoreError with `busy` if it stays taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreError(busy) from None
            time.sleep(0.02)


def _is_locked(path: Path) -> bool:
    """Whether some process holds the lock on `path` (the check itself holds it for a moment)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the shared lock, if taken
