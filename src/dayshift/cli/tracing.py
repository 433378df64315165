"""Traces of `dayshift ask` and `dayshift search`, like the service's, so a CLI-only setup can be monitored.

    dayshift ask / search --> TraceRecord (route "dayshift ask" / "dayshift search")
        --> its own spool folder, <data_dir>/trace-spool-cli/<run>/: one JSON line, mode 0600
    dayshift monitor report | traces | eval harvest --open_traces--> drain_cli_spools
        --> PII redacted (trace.store_text) --> the trace database, then the folder is removed

The command itself only appends the line: no redactor to load, no database to open, a
millisecond. A server's spool is locked by its writer, so each CLI run writes a folder of
its own; the commands that read traces flush them first. `trace.cli = false` turns CLI
traces off (and `trace.enabled = false` turns every trace off).

Left out: spans and Prometheus metrics (a CLI run has no exporter or scrape), and draining by
`dayshift serve` (its report route reads only its own spool).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dayshift.errors import DayshiftError, LLMCancelledError
from dayshift.settings import Settings
from dayshift.tenancy import DEFAULT_TENANT
from dayshift.trace.flusher import flush_once
from dayshift.trace.spool import WRITER_LOCK, Spool, list_segments, read_progress, segment_path
from dayshift.trace.store import TraceStore

log = logging.getLogger(__name__)
CLI_SPOOLS = "trace-spool-cli"


def cli_traces_on(settings: Settings) -> bool:
    return bool(settings.trace.enabled and getattr(settings.trace, "cli", True))


@contextmanager
def traced(settings: Settings, route: str, *, query: str, params: dict[str, Any]) -> Iterator[Any]:
    """A trace for one CLI call: yields its Pending (service.tracing) to fill; written when the block ends,
    failed or not. Yields None when CLI traces are off."""
    if not cli_traces_on(settings):
        yield None
        return
    from dayshift.service.tracing import start_trace  # the service's record shape, so both read alike

    started = time.perf_counter()
    pending = start_trace(route, tenant=_tenant(settings), request_id=f"cli-{uuid.uuid4().hex[:12]}", query=query,
                          params=params, started=started)
    try:
        yield pending
    except BaseException as exc:
        record = pending.record
        record.status = "cancelled" if isinstance(exc, LLMCancelledError | KeyboardInterrupt) else "error"
        record.errors.append(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        pending.record.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        _append(settings.data_dir / CLI_SPOOLS, pending.record)


def _tenant(settings: Settings) -> str:
    """The tenant whose folder the settings point at (tenant_settings sets the store's namespace)."""
    return getattr(settings.store, "namespace", None) or DEFAULT_TENANT


def _append(root: Path, record: Any) -> None:
    try:
        spool = Spool(root / f"{int(time.time())}-{uuid.uuid4().hex[:8]}", lock_wait_s=0.0)
    except (OSError, DayshiftError) as exc:  # a trace must never fail the command
        log.warning("could not write this command's trace under %s: %s", root, exc)
        return
    try:
        spool.append(record)
    finally:
        spool.close()


def drain_cli_spools(settings: Settings, store: TraceStore) -> int:
    """Flush every CLI spool under the data folder into `store`; returns how many traces were new.

    A folder still held by a running command is skipped (its writer lock is taken) and drained next time.
    """
    root = settings.data_dir / CLI_SPOOLS
    if not root.is_dir():
        return 0
    written, redactor = 0, None
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if settings.trace.store_text == "redacted" and redactor is None and list_segments(folder):
            from dayshift.trace.redact import TextRedactor

            redactor = TextRedactor()
        try:
            written += flush_once(folder, store, store_text=settings.trace.store_text, redactor=redactor)
        except DayshiftError as exc:
            log.info("trace spool %s skipped for now: %s", folder, exc)
            continue
        if _finished(folder):
            shutil.rmtree(folder, ignore_errors=True)
    return written


def _finished(folder: Path) -> bool:
    """Every line flushed, and no writer holds the folder (the command that wrote it has ended)."""
    progress, segments = read_progress(folder), list_segments(folder)
    for number in segments:
        size = segment_path(folder, number).stat().st_size
        if (number, size) > (progress.segment, progress.offset):
            return False
    try:
        fd = os.open(folder / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
