"""The flusher: moves spooled traces into the trace database, redacting them first.

    flusher = TraceFlusher.start(spool_dir, url, store_text="redacted")   # at startup
    flusher.append(record)          # in the request path: one JSON line, one write()
    flusher.sync(timeout_s=5)       # True once everything appended so far is in the database
    flusher.stop(timeout_s=10)      # at shutdown: drain, then the child exits

The work happens in a child process (spawn), so Presidio and the database
never hold the request threads' GIL. Each pass the child reads up to a batch
from the spool, redacts it, writes it in one transaction, and only then
moves the spool's progress mark: a crash replays at most one batch, and
replay is harmless because the store inserts-or-ignores by trace_id. On
start the child first writes whatever a killed predecessor left behind;
when its parent dies it drains what the parent wrote and exits.

The parent wakes the child through a pipe, one byte per wake-up; the end of
the pipe (the parent called stop(), or died) tells the child to make a last
pass and exit. Nothing the two share is a lock: a parent SIGKILLed while
waking the child (a multiprocessing.Event holds a semaphore across that
hand-over) would leave an orphan blocked for good, holding the spool, and
the next server's flusher waiting behind it.

A thread in the parent starts a new spool segment every `rotate_every_s`,
so a fully flushed segment can be deleted and unredacted text stays on disk
for about that long.

`flush_once` does the same work in the calling process: for tests and the CLI.

Left out: more than one flushing process per spool, and a bound on the spool's
size when the database stays down (it grows until the database is back).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from dayshift.errors import RedactionError, StoreError
from dayshift.trace.record import TraceRecord
from dayshift.trace.redact import StoreText, TextRedactor, prepare_for_storage
from dayshift.trace.spool import Position, Spool, SpoolReader, read_progress
from dayshift.trace.store import TraceStore, create_trace_engine

__all__ = ["TraceFlusher", "flush_once"]

logger = logging.getLogger(__name__)

# The database is away or busy: keep the batch in the spool and try again later.
_TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError, sa.exc.TimeoutError)
_MAX_BACKOFF_S = 5.0
_PURGE_EVERY_S = 3600.0


class TraceFlusher:
    """The serving process's handle: the spool it appends to and the child process that flushes it."""

    def __init__(
        self, spool: Spool, process: multiprocessing.process.BaseProcess,
        line: multiprocessing.connection.Connection, *, rotate_every_s: float,
    ) -> None:  # fmt: skip
        self.spool = spool
        self._process = process
        self._line: multiprocessing.connection.Connection | None = line  # the pipe's writing end
        self._line_lock = threading.Lock()  # a write never meets a closed (and reused) descriptor
        os.set_blocking(line.fileno(), False)
        self._closed = threading.Event()
        self._rotator = threading.Thread(
            target=self._rotate_periodically, args=(rotate_every_s,), name="dayshift-trace-rotate", daemon=True
        )
        self._rotator.start()

    @classmethod
    def start(
        cls, spool_dir: Path, url: str, *, store_text: StoreText = "redacted", interval_s: float = 0.2,
        rotate_every_s: float = 1.0, segment_bytes: int = 4 << 20, batch_size: int = 500,
        retention_days: int | None = None,
    ) -> TraceFlusher:  # fmt: skip
        """Open the spool and start the child, which migrates the database, then flushes every interval_s
        (and, with retention_days, deletes older traces every hour)."""
        create_trace_engine(url).dispose()  # a bad URL fails here, in the caller, not later in the child
        spool = Spool(Path(spool_dir), segment_bytes=segment_bytes)  # before the child: it marks older segments done
        options = _ChildOptions(
            str(spool.folder), url, store_text, interval_s, batch_size, retention_days, parent_pid=os.getpid()
        )
        context = multiprocessing.get_context("spawn")
        child_end, parent_end = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_main,
            args=(options, child_end),
            name="dayshift-trace-flusher",
            daemon=True,  # at a normal exit without stop(), the spool keeps what is left for the next start
        )
        try:
            process.start()
        except BaseException:
            parent_end.close()
            spool.close()
            raise
        finally:
            child_end.close()  # the child has its own copy
        return cls(spool, process, parent_end, rotate_every_s=rotate_every_s)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def append(self, record: TraceRecord) -> None:
        self.spool.append(record)

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Wait until every trace appended before this call is in the database; False on timeout."""
        return self._wait_for(self.spool.rotate(), timeout_s)

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Flush what was appended, end the child and close the spool; True if everything got flushed."""
        self._closed.set()
        target = self.spool.rotate()
        with self._line_lock:  # the end of the pipe: the child makes a last pass and exits
            if self._line is not None:
                self._line.close()
                self._line = None
        self._process.join(timeout_s)
        if self._process.is_alive():
            logger.warning("the trace flusher did not finish in %.1f s; what is left stays in the spool", timeout_s)
            self._process.terminate()
            self._process.join(5)
        self.spool.close()
        return read_progress(self.spool.folder) >= target

    def _wake(self) -> None:
        with self._line_lock:
            if self._line is None:
                return
            try:
                os.write(self._line.fileno(), b"w")
            except (BlockingIOError, BrokenPipeError):  # a full pipe holds wake-ups already; a broken one, no child
                pass

    def _wait_for(self, target: Position, timeout_s: float) -> bool:
        self._wake()
        deadline = time.monotonic() + timeout_s
        while read_progress(self.spool.folder) < target:
            if not self._process.is_alive() or time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _rotate_periodically(self, every_s: float) -> None:
        while not self._closed.wait(every_s):
            self.spool.rotate()


def flush_once(
    spool_dir: Path, store: TraceStore, *, store_text: StoreText, redactor: TextRedactor | None = None,
    batch_size: int = 500,
) -> int:  # fmt: skip
    """Write everything now in the spool to `store`, in this process; returns how many traces were new.

    StoreError when another process (a running server's flusher) is flushing the same spool.
    """
    if store_text == "redacted" and redactor is None:
        redactor = TextRedactor()
    reader = SpoolReader(Path(spool_dir), lock_wait_s=0.0)
    try:
        return _Drain(reader, store, store_text=store_text, redactor=redactor, batch_size=batch_size).run()
    finally:
        reader.close()


class _Drain:
    def __init__(
        self, reader: SpoolReader, store: TraceStore, *, store_text: StoreText, redactor: TextRedactor | None,
        batch_size: int,
    ) -> None:  # fmt: skip
        self.reader, self.store, self.store_text, self.redactor = reader, store, store_text, redactor
        self.batch_size = batch_size

    def run(self) -> int:
        """Flush batches until the spool has nothing new; transient database errors propagate."""
        written = 0
        while True:
            batch = self.reader.read(max_records=self.batch_size)
            if batch.end == self.reader.position and not batch.finished:
                return written
            records = [
                prepare_for_storage(r, store_text=self.store_text, redactor=self.redactor) for r in batch.records
            ]
            written += self._write(records)
            self.reader.commit(batch)

    def _write(self, records: Sequence[TraceRecord]) -> int:
        try:
            return self.store.write(records)
        except _TRANSIENT:
            raise
        except Exception:  # noqa: BLE001 -- a record the database refuses must not stop the ones behind it
            if len(records) == 1:
                _log_refused(records[0])
                return 0
        written = 0
        for record in records:  # find the record(s) at fault; the rest go in
            try:
                written += self.store.write([record])
            except _TRANSIENT:
                raise
            except Exception:  # noqa: BLE001
                _log_refused(record)
        return written


def _yield_to_requests() -> None:
    """Run only on a core nothing else wants: requests come first.

    Redaction is the flusher's main cost (about 5 ms a text). At normal priority it takes its
    share of the cores from the requests it traces (+11% on /v1search p50 on two cores, measured
    by benchmarks/load.py); as SCHED_IDLE it runs in the gaps, and the spool absorbs a burst.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not allowed: the lowest nice level instead
        os.nice(19)


def _log_refused(record: TraceRecord) -> None:
    logger.exception("trace %s dropped: the trace database refused it", record.trace_id)


# -- the child process ------------------------------------------------------------


@dataclass(frozen=True)
class _ChildOptions:
    spool_dir: str
    url: str
    store_text: StoreText
    interval_s: float
    batch_size: int
    retention_days: int | None
    parent_pid: int


class _ParentLine:
    """The child's end of the pipe from its parent: a byte is a wake-up, the end of the pipe means stop."""

    def __init__(self, connection: multiprocessing.connection.Connection) -> None:
        self._connection = connection
        self.ended = False

    def wait(self, timeout_s: float) -> None:
        """Until a wake-up, the end of the pipe, or timeout_s."""
        if not self.ended and select.select([self._connection.fileno()], [], [], timeout_s)[0]:
            self._read()

    def has_ended(self) -> bool:
        """True once the parent has called stop() or died (wake-ups waiting are read on the way)."""
        self.wait(0.0)
        return self.ended

    def _read(self) -> None:
        if not os.read(self._connection.fileno(), 65536):
            self.ended = True

    def close(self) -> None:
        self._connection.close()


def _child_main(options: _ChildOptions, connection: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides when to stop
    _yield_to_requests()
    line = _ParentLine(connection)
    try:
        _flush_until_stopped(options, line)
    finally:
        line.close()


def _flush_until_stopped(options: _ChildOptions, line: _ParentLine) -> None:
    redactor = _redactor(options.store_text)
    reader = _open_reader(Path(options.spool_dir), options.parent_pid, line)
    if reader is None:
        return
    store: TraceStore | None = None
    pause_s, next_purge = options.interval_s, 0.0
    try:
        while True:
            # Asked to stop, or orphaned: one more pass, then exit.
            last = line.has_ended() or os.getppid() != options.parent_pid
            try:
                store = store or TraceStore(options.url)
                drain = _Drain(reader, store, store_text=options.store_text, redactor=redactor,
                               batch_size=options.batch_size)  # fmt: skip
                drain.run()
                if options.retention_days and time.monotonic() >= next_purge:
                    store.purge(datetime.now(UTC) - timedelta(days=options.retention_days))
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                pause_s = options.interval_s
            except Exception as exc:  # noqa: BLE001 -- the flusher outlives a database that is down for a while
                logger.warning("trace flush failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, pause_s)
                pause_s = min(pause_s * 2, _MAX_BACKOFF_S)
            if last:
                break
            line.wait(pause_s)
    finally:
        reader.close()
        if store is not None:
            store.close()


def _open_reader(spool_dir: Path, parent_pid: int, line: _ParentLine) -> SpoolReader | None:
    """The spool's reading end, once a predecessor whose parent died has finished draining it.

    None when asked to stop, or orphaned, while another flusher holds it: that one drains the spool.
    """
    waited = False
    while True:
        try:
            return SpoolReader(spool_dir, lock_wait_s=1.0)
        except StoreError as exc:
            if line.has_ended() or os.getppid() != parent_pid:
                return None
            if not waited:
                logger.warning("trace flusher waiting: %s", exc)
                waited = True


def _redactor(store_text: StoreText) -> TextRedactor | None:
    if store_text != "redacted":
        return None
    redactor = TextRedactor()
    try:
        redactor.warm_up()  # seconds; better here than on the first batch
    except RedactionError as exc:
        logger.error("traces will be stored without their text until the PII redactor loads: %s", exc)
    return redactor
