"""POST /v1/documents (upload, as an ingest job), GET its progress, GET the list, DELETE one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile

from dayshift.ingest.loaders import loader_for
from dayshift.ingest.report import FileFailure
from dayshift.service.access import caller
from dayshift.service.api import (
    DocumentDeleted,
    DocumentList,
    DocumentOut,
    FileFailureOut,
    JobAccepted,
    JobStatus,
    Problem,
)
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError
from dayshift.service.jobs import UPLOADS, Job, safe_name
from dayshift.service.state import service_of

router = APIRouter(prefix="/v1/documents", tags=["documents"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 404, 413, 422, 429)}


@router.post("", status_code=202, response_model=JobAccepted, responses=_ERRORS,
             summary="Upload files to ingest, as a background job")
async def upload(
    request: Request,
    files: Annotated[list[UploadFile], File(min_length=1, max_length=1000,
                                            description="PDF, HTML, Markdown, MediaWiki XML, CSV, JSONL, SQLite, "
                                                        "text; one file or more")],
    who: Principal = Depends(caller),
) -> JobAccepted:
    service = service_of(request)
    if not files:
        raise ApiError(422, "invalid", "no file in the upload; send one or more `files` parts")
    saved: list[tuple[str, bytes]] = []
    rejected: list[FileFailure] = []  # listed on the job, as `dayshift ingest` lists files it cannot read
    for upload in files:
        name = safe_name(upload.filename or "")
        if name is None:
            rejected.append(FileFailure(source=str(upload.filename), kind="bad_name", reason="not a plain file name",
                                        fix="give each file a plain name with an extension, such as report.pdf"))
        elif loader_for(Path(name)) is None:
            rejected.append(FileFailure(source=name, kind="unsupported", reason="no loader reads this kind of file",
                                        fix="upload PDF, HTML, Markdown, MediaWiki XML (.xml, .bz2), CSV, JSONL, "
                                            "SQLite or text, named with its extension"))
        else:
            saved.append((name, await upload.read()))
    job = service.jobs.submit(who.tenant, saved, rejected=rejected)
    service.metrics.job("queued")
    return JobAccepted(job_id=job.job_id, status_url=f"/v1/documents/jobs/{job.job_id}", files=job.files)


@router.get("/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS, summary="An ingest job's progress")
def job_status(job_id: str, request: Request, who: Principal = Depends(caller)) -> JobStatus:
    job = service_of(request).jobs.get(job_id, tenant=None if who.admin else who.tenant)
    if job is None:
        raise ApiError(404, "not_found", f"no ingest job {job_id} for this tenant; jobs are kept in memory "
                                         "until the server restarts")
    return _status(job)


@router.get("", response_model=DocumentList, responses=_ERRORS, summary="The tenant's documents and versions")
def documents(request: Request, who: Principal = Depends(caller)) -> DocumentList:
    with service_of(request).pool.use(who.tenant) as runtime:
        versions = runtime.store.document_versions()
    return DocumentList(documents=[DocumentOut(doc_id=d, version=v) for d, v in sorted(versions.items())])


@router.delete("/{doc_id:path}", response_model=DocumentDeleted, responses=_ERRORS,
               summary="Remove a document and every one of its chunks")
def delete(doc_id: str, request: Request, who: Principal = Depends(caller)) -> DocumentDeleted:
    service = service_of(request)
    with service.pool.use(who.tenant) as runtime, runtime.write_lock:
        if doc_id not in runtime.store.document_versions():
            raise ApiError(404, "not_found", f"no document {doc_id} for this tenant; GET /v1/documents lists them")
        catalog = runtime.ingestor.catalog
        sources = {d.source for d in catalog.documents() if d.doc_id == doc_id}
        run = catalog.start_run(f"DELETE /v1/documents/{doc_id}")  # a change to the index: a new index version
        removed = runtime.store.delete_documents([doc_id])
        catalog.delete_documents([doc_id])
        uploads = runtime.settings.data_dir / UPLOADS
        for source in sources:  # an uploaded file goes too, or the next upload job would bring it back
            path = runtime.settings.data_dir / source  # sources of the upload folder are "uploads/<name>"
            if path.parent == uploads and path.is_file():
                path.unlink()
                catalog.delete_source(source)
        runtime.store.flush()
        catalog.finish_run(run, {"deleted": 1})
    return DocumentDeleted(doc_id=doc_id, chunks_removed=removed)


def _status(job: Job) -> JobStatus:
    report = job.report
    return JobStatus(
        job_id=job.job_id, state=job.state, files=job.files, stage=job.stage, done=job.done, total=job.total,
        counts=report.counts() if report else {},
        failures=[FileFailureOut(source=f.source, kind=f.kind, reason=f.reason, fix=f.fix)
                  for f in [*job.rejected, *(report.failed if report else [])]],
        error=job.error, created_at=job.created_at, finished_at=job.finished_at,
    )
