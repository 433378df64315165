"""Ingest jobs: uploaded files are saved to the tenant's upload folder, then synced in the background.

    POST /v1/documents  -> files saved to <tenant data_dir>/uploads/ -> Job queued -> sync(uploads) -> done
    GET  /v1/documents/jobs/{id}  -> stage, progress, counts, failures

One worker runs jobs one after another (embedding uses the cores already),
and a tenant's writes (ingest, delete) hold its write lock. Files are written
to a temporary name and renamed, so a crash never leaves half a file to be
ingested; a crash mid-sync leaves the folder and catalog for the next job (or
`dayshift ingest`) to complete. Job states are kept in memory for
`keep_jobs` jobs.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from dayshift.ingest.report import FileFailure, SyncReport
from dayshift.service.tenants import TenantPool

log = logging.getLogger(__name__)
JobState = Literal["queued", "running", "done", "failed"]
UPLOADS = "uploads"


@dataclass(slots=True)
class Job:
    job_id: str
    tenant: str
    files: list[str]
    state: JobState = "queued"
    stage: str | None = None
    done: int = 0
    total: int | None = None
    report: SyncReport | None = None
    rejected: list[FileFailure] = field(default_factory=list)  # uploaded files not saved: name or kind unusable
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


class _JobProgress:
    """The ingestor's progress, written onto the job for GET /v1/documents/jobs/{id}."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def start(self, stage: str, *, total: int | None) -> None:
        self.job.stage, self.job.done, self.job.total = stage, 0, total

    def advance(self, stage: str, n: int = 1) -> None:
        if stage == self.job.stage:
            self.job.done += n


def safe_name(filename: str) -> str | None:
    """The file's own name, stripped of any folder part; None when nothing usable is left."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", "..") or name.startswith(".") or "\x00" in name or len(name) > 255:
        return None
    return name


class JobRunner:
    def __init__(self, pool: TenantPool, *, keep_jobs: int = 1000,
                 on_finish: Callable[[Job], None] | None = None) -> None:
        self.pool = pool
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep_jobs
        self._on_finish = on_finish
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dayshift-ingest")

    def uploads_dir(self, tenant: str) -> Path:
        return self.pool.settings_for(tenant).data_dir / UPLOADS

    def submit(self, tenant: str, files: list[tuple[str, bytes]], *, rejected: list[FileFailure] = ()) -> Job:  # type: ignore[assignment]
        """Save `files` (name, content) to the tenant's upload folder and queue their ingest; `rejected` are
        reported as the job's failures, like files `dayshift ingest` cannot read."""
        folder = self.uploads_dir(tenant)
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files:
            partial = folder / f".{name}.{uuid.uuid4().hex}.part"  # dot files are never ingested
            partial.write_bytes(content)
            os.replace(partial, folder / name)
        job = Job(job_id=uuid.uuid4().hex, tenant=tenant, files=[name for name, _ in files], rejected=list(rejected))
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str, *, tenant: str | None) -> Job | None:
        """The job, if it exists and belongs to `tenant` (None: any tenant, for the admin)."""
        job = self._jobs.get(job_id)
        if job is None or (tenant is not None and job.tenant != tenant):
            return None
        return job

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            with self.pool.use(job.tenant) as runtime, runtime.write_lock:
                job.report = runtime.ingestor.sync(self.uploads_dir(job.tenant), progress=_JobProgress(job))
            job.state = "done"
        except Exception as exc:  # reported on the job; the worker goes on with the next one
            log.exception("ingest job %s failed", job.job_id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = datetime.now(UTC)
            if self._on_finish is not None:
                self._on_finish(job)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
