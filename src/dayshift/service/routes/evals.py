"""The eval datasets behind the web UI's Review page: list them, filter their cases, label cases, harvest traces.

    GET   /v1/evals/datasets                       the JSONL files of the eval folder (service.eval_dir)
    GET   /v1/evals/cases?dataset=&status=&tag=    cases, in file order, a page at a time
    PATCH /v1/evals/cases/{dataset}/{case_id}      accept / reject, expected answers and sources, answerable, tags, note
    POST  /v1/evals/harvest                        recent traces of the tenant -> candidates in harvested[-<tenant>].jsonl

Datasets hold questions from every tenant's traces, so every route needs the
admin key (or the open loopback server, which has only the default tenant);
a tenant key gets 403. Each PATCH reads, changes and writes the file under
its lock (evals.cases.update_case): two reviewers labelling at once both keep
their changes, even on the same case when they change different fields.

Left out: creating, renaming and deleting datasets (files: the CLI and an
editor do that), adding cases by hand, and edit conflicts on the same field
(the later write wins).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as Path_
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from dayshift.errors import ConfigError
from dayshift.evals.cases import CaseStatus, Dataset, EvalCase, UnknownCaseError, dataset_dir, load_dataset, update_case
from dayshift.evals.harvest import harvest, window_start
from dayshift.service.access import caller
from dayshift.service.api import SINCE_SCHEMA, Problem
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError
from dayshift.service.state import service_of
from dayshift.tenancy import DEFAULT_TENANT

router = APIRouter(prefix="/v1/evals", tags=["evals"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 403, 404, 409, 422, 429)}
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_NAME = re.compile(_NAME_PATTERN)
DatasetName = Annotated[str, Path_(pattern=_NAME_PATTERN, description="a dataset's name: its file without .jsonl")]

# pattern: at least one character that is not whitespace (stripped, the value must not be empty)
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"\S")]
DocId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=r"\S")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"\S")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetOut(BaseModel):
    name: str  # the file name without .jsonl: the {dataset} of the other routes
    file: str
    cases: int
    by_status: dict[str, int]  # accepted, candidate, rejected
    tags: list[str]  # every tag used, sorted
    content_hash: str | None  # of the accepted cases (evals.cases.Dataset.content_hash)
    modified_at: datetime
    error: str | None = None  # why the file could not be read (then the counts are 0)


class DatasetList(BaseModel):
    eval_dir: str
    datasets: list[DatasetOut]


class CaseOut(BaseModel):
    dataset: str
    id: str
    question: str
    expected_answers: list[str]
    expected_sources: list[str]
    answerable: bool
    tags: list[str]
    status: CaseStatus
    origin: dict[str, Any]  # a harvested case: trace_id, reason, comment, answer, retrieved ...
    note: str


class CaseList(BaseModel):
    cases: list[CaseOut]
    total: int  # cases matching the filters, all pages
    next_offset: int | None  # pass as `offset` for the next page; None on the last page


class CaseUpdate(_Body):
    """The fields to change (at least one); those left out stay as they are. None is not a value."""

    # The defaults are None only to tell "left out" apart; the schema and validation take no null.
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "minProperties": 1,
        # an unanswerable case has no expected answer (a change that leaves the stored case so gets 409)
        "if": {"properties": {"answerable": {"const": False}}, "required": ["answerable"]},
        "then": {"properties": {"expected_answers": {"maxItems": 0}}},
    })
    status: CaseStatus = Field(None)  # type: ignore[assignment]
    expected_answers: list[Answer] = Field(None, max_length=100, examples=[["France"]])  # type: ignore[assignment]
    expected_sources: list[DocId] = Field(None, max_length=100,  # type: ignore[assignment]
                                          examples=[["squad2-corpus/Normans.txt"]])
    answerable: StrictBool = Field(None)  # type: ignore[assignment]
    tags: list[Tag] = Field(None, max_length=50)  # type: ignore[assignment]
    note: str = Field(None, max_length=4000)  # type: ignore[assignment]


class HarvestRequest(_Body):
    since: str = Field("7d", max_length=40, json_schema_extra=SINCE_SCHEMA,
                       description="7d, 24h, 90m, or an ISO date or time (UTC)")


class HarvestOut(BaseModel):
    dataset: str
    scanned: int  # traces of the tenant in the window
    candidates: int  # with negative feedback or an abstention
    added: int
    known: int  # already in the dataset (same trace, or the same question of the same tenant)
    repeated: int = 0  # the same question of the same tenant asked again in the window: kept as one case
    without_text: int  # no stored question (trace.store_text = "none")


def operator(who: Annotated[Principal, Depends(caller)]) -> Principal:
    """The admin key, or the open server's caller: datasets hold every tenant's questions."""
    if who.admin or who.key_id == "open":
        return who
    raise ApiError(403, "forbidden", "eval datasets hold questions from every tenant, so they need the admin key "
                                     "(DAYSHIFT_SERVICE__ADMIN_KEY)")


Operator = Annotated[Principal, Depends(operator)]


@router.get("/datasets", response_model=DatasetList, responses=_ERRORS, summary="The eval datasets")
def datasets(request: Request, who: Operator) -> DatasetList:
    folder = dataset_dir(service_of(request).settings)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return DatasetList(eval_dir=str(folder), datasets=[_dataset_out(path) for path in files])


@router.get("/cases", response_model=CaseList, responses=_ERRORS, summary="Cases, filtered, in file order")
def cases(
    request: Request,
    who: Operator,
    dataset: str | None = Query(None, pattern=_NAME_PATTERN,
                                description="one dataset (its name); default: every dataset"),
    status: CaseStatus | None = None,
    tag: str | None = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> CaseList:
    folder = dataset_dir(service_of(request).settings)
    if dataset is not None:
        chosen = [_path(folder, dataset)]
    else:
        chosen = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    found = [
        _case_out(path.stem, case) for path in chosen for case in _load(path).cases
        if (status is None or case.status == status) and (tag is None or tag in case.tags)
    ]
    page = found[offset:offset + limit]
    more = offset + limit < len(found)
    return CaseList(cases=page, total=len(found), next_offset=offset + limit if more else None)


@router.patch("/cases/{dataset}/{case_id}", response_model=CaseOut, responses=_ERRORS,
              summary="Label one case: status, expected answers and sources, answerable, tags, note")
def label(dataset: DatasetName, case_id: str, body: CaseUpdate, request: Request,
          who: Operator) -> CaseOut:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise ApiError(400, "invalid", f"nothing to change; send one or more of {', '.join(CaseUpdate.model_fields)}")
    path = _path(dataset_dir(service_of(request).settings), dataset)
    try:
        return _case_out(dataset, update_case(path, case_id, **changes))
    except UnknownCaseError as exc:
        raise ApiError(404, "not_found", f"no case {case_id!r} in dataset {dataset!r}") from exc
    except ConfigError as exc:  # the change does not fit the case as it stands (or the file cannot be read)
        raise ApiError(409, "conflict", str(exc)) from exc


@router.post("/harvest", response_model=HarvestOut, responses=_ERRORS,
             summary="Candidate cases from the tenant's recent traces with negative feedback or an abstention")
def harvest_traces(body: HarvestRequest, request: Request, who: Operator) -> HarvestOut:
    service = service_of(request)
    now = datetime.now(UTC)
    try:
        start = window_start(body.since, now=now)
    except ConfigError as exc:
        raise ApiError(400, "invalid", f"since: {exc}") from exc
    name = "harvested" if who.tenant == DEFAULT_TENANT else f"harvested-{who.tenant}"
    service.traces.sync()
    report = harvest(service.traces.store, dataset_dir(service.settings) / f"{name}.jsonl", since=start, until=now,
                     tenant=who.tenant)
    return HarvestOut(dataset=name, scanned=report.scanned, candidates=report.candidates, added=report.added,
                      known=report.known, repeated=report.repeated, without_text=report.without_text)


# -- helpers ---------------------------------------------------------------------


def _path(folder: Path, name: str) -> Path:
    """The dataset file called `name`: checked, so no name reaches outside the eval folder."""
    if not _NAME.fullmatch(name):
        raise ApiError(400, "invalid", f"dataset {name!r}: use the name of a .jsonl file of the eval folder, "
                                       "without the extension (letters, digits, '.', '_', '-')")
    path = folder / f"{name}.jsonl"
    if not path.is_file():
        raise ApiError(404, "not_found", f"no dataset {name!r} in {folder}; list them at GET /v1/evals/datasets")
    return path


def _load(path: Path) -> Dataset:
    try:
        return load_dataset(path)
    except ConfigError as exc:
        raise ApiError(400, "invalid", str(exc)) from exc


def _dataset_out(path: Path) -> DatasetOut:
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    try:
        loaded = load_dataset(path)
    except ConfigError as exc:
        return DatasetOut(name=path.stem, file=path.name, cases=0, by_status={}, tags=[], content_hash=None,
                          modified_at=modified, error=str(exc))
    by_status = {s: sum(c.status == s for c in loaded.cases) for s in ("candidate", "accepted", "rejected")}
    return DatasetOut(name=path.stem, file=path.name, cases=len(loaded.cases), by_status=by_status,
                      tags=sorted({t for c in loaded.cases for t in c.tags}), content_hash=loaded.content_hash,
                      modified_at=modified)


def _case_out(dataset: str, case: EvalCase) -> CaseOut:
    return CaseOut(dataset=dataset, **case.to_json())
