"""Eval datasets: one JSON object per line, one case per object.

    {"id": "squad2-56ddde6b9a695914005b9628", "question": "In what country is Normandy located?",
     "expected_answers": ["France"], "expected_sources": ["squad2-corpus/Normans.txt"], "answerable": true,
     "tags": ["squad2", "Normans"], "status": "accepted", "origin": {"source": "squad2"}, "note": ""}

`expected_sources` are document ids as dayshift ingests them (`Chunk.doc_id`):
"<folder>/<relative path>" for a whole file, "<source>#<key>" for a row of
a JSONL or CSV export. Only `accepted` cases are evaluated; harvested cases
start as `candidate` until a person accepts or rejects them.

Every write replaces the file atomically (a temporary file, then
`os.replace`), so a reader sees the old file or the new one, never half of
one. Writers that read, change and write back (`update_case`, `add_cases`)
hold an exclusive lock on "<file>.lock" throughout, so two people labelling
cases at once both keep their changes.

Left out: other formats (CSV, YAML), and locks that work on Windows or
across network filesystems without POSIX `flock`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from dayshift.errors import ConfigError
from dayshift.settings import Settings

__all__ = [
    "CaseStatus",
    "Dataset",
    "EvalCase",
    "Merged",
    "UnknownCaseError",
    "add_cases",
    "dataset_dir",
    "load_dataset",
    "merge_cases",
    "normalize_question",
    "save_dataset",
    "update_case",
]

CaseStatus = Literal["accepted", "candidate", "rejected"]
STATUSES: tuple[str, ...] = get_args(CaseStatus)
LOCK_TIMEOUT_S = 30.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")  # safe in a URL path segment and a file name
_REQUIRED = ("id", "question", "expected_answers", "expected_sources", "answerable")
_EDITABLE = frozenset({"question", "expected_answers", "expected_sources", "answerable", "tags", "status",
                       "origin", "note"})


class UnknownCaseError(ConfigError):
    """No case with that id in the dataset."""


@dataclass(slots=True)
class EvalCase:
    id: str  # stable, unique in its dataset
    question: str
    expected_answers: list[str]  # any one counts; empty for unanswerable and retrieval-only cases
    expected_sources: list[str]  # document ids (Chunk.doc_id)
    answerable: bool
    tags: list[str] = field(default_factory=list)
    status: CaseStatus = "accepted"
    origin: dict[str, Any] = field(default_factory=dict)  # where the case came from: a data set, a trace
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "question": self.question, "expected_answers": list(self.expected_answers),
            "expected_sources": list(self.expected_sources), "answerable": self.answerable, "tags": list(self.tags),
            "status": self.status, "origin": dict(self.origin), "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> EvalCase:
        """A validated case; ConfigError names `where` ("file:line"), the field and the fix."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a case must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"{where}: unknown field {', '.join(map(repr, unknown))}; the fields are "
                              f"{', '.join(f.name for f in fields(cls))}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise ConfigError(f"{where}: missing field {', '.join(map(repr, missing))}; every case needs "
                              f"{', '.join(_REQUIRED)}")
        case = cls(
            id=_text(data, "id", where), question=_text(data, "question", where),
            expected_answers=_strings(data, "expected_answers", where),
            expected_sources=_strings(data, "expected_sources", where),
            answerable=_flag(data, "answerable", where), tags=_strings(data, "tags", where, default=[]),
            status=_status(data, where), origin=_mapping(data, "origin", where), note=_note(data, where),
        )
        _check_case(case, where)
        return case


def _text(data: dict[str, Any], name: str, where: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: field {name!r} must be a non-empty string, got {value!r}")
    return value


def _strings(data: dict[str, Any], name: str, where: str, default: list[str] | None = None) -> list[str]:
    value = data.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f'{where}: field {name!r} must be a list of non-empty strings (e.g. ["France"]), '
                          f"got {value!r}")
    return list(dict.fromkeys(value))  # one of each, first spelling kept


def _flag(data: dict[str, Any], name: str, where: str) -> bool:
    value = data[name]
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: field {name!r} must be true or false, got {value!r}")
    return value


def _status(data: dict[str, Any], where: str) -> CaseStatus:
    value = data.get("status", "accepted")
    if value not in STATUSES:
        raise ConfigError(f"{where}: field 'status' must be one of {', '.join(STATUSES)}, got {value!r}")
    return value  # type: ignore[no-any-return]


def _mapping(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: field {name!r} must be a JSON object, got {value!r}")
    return value


def _note(data: dict[str, Any], where: str) -> str:
    value = data.get("note", "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: field 'note' must be a string, got {value!r}")
    return value


def _check_case(case: EvalCase, where: str) -> None:
    if not _ID.match(case.id):
        raise ConfigError(f"{where}: id {case.id!r} must be 1 to 200 letters, digits, '.', '_', ':' or '-', "
                          "starting with a letter or digit")
    if not case.answerable and case.expected_answers:
        raise ConfigError(f"{where}: case {case.id} has answerable false but expected_answers "
                          f"{case.expected_answers!r}; empty expected_answers, or set answerable to true")


@dataclass(slots=True)
class Dataset:
    path: Path
    cases: list[EvalCase]

    def accepted(self) -> list[EvalCase]:
        return [c for c in self.cases if c.status == "accepted"]

    @property
    def content_hash(self) -> str:
        """sha256 of the accepted cases' canonical JSON, in id order: what an eval run was measured on."""
        lines = [_canonical(c) for c in sorted(self.accepted(), key=lambda c: c.id)]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _canonical(case: EvalCase) -> str:
    return json.dumps(case.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def dataset_dir(settings: Settings) -> Path:
    """The folder of eval datasets: service.eval_dir, else <data_dir>/evals."""
    return settings.service.eval_dir or settings.data_dir / "evals"


def normalize_question(text: str) -> str:
    """The form two questions are compared in for duplicates: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


# -- reading and writing ---------------------------------------------------------


def load_dataset(path: Path) -> Dataset:
    """Every case of a JSONL file, validated; ConfigError names the line, the field and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no eval dataset at {path}; create one with `dayshift eval import` or "
                          "`dayshift eval harvest`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the eval dataset {path}: {exc}; it must be a UTF-8 JSONL file") from exc
    cases: list[EvalCase] = []
    seen: dict[str, int] = {}
    # split on "\n" only: splitlines() also breaks at U+2028, U+0085 and \x1c, which json.dumps leaves raw
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be one "
                              "case as a JSON object") from None
        case = EvalCase.from_json(data, where=where)
        if case.id in seen:
            raise ConfigError(f"{where}: id {case.id!r} is already used on line {seen[case.id]}; give each case "
                              "its own id")
        seen[case.id] = number
        cases.append(case)
    return Dataset(path=path, cases=cases)


def save_dataset(path: Path, cases: Sequence[EvalCase]) -> None:
    """Write `cases` to `path`, replacing it atomically, under the dataset's lock."""
    path = Path(path)
    _check_unique(path, cases)
    with _locked(path):
        _write(path, cases)


def update_case(path: Path, case_id: str, **changes: Any) -> EvalCase:
    """Change fields of one case (not its id) and save, all under the lock; returns the case as saved."""
    path = Path(path)
    bad = sorted(set(changes) - _EDITABLE)
    if bad:
        raise ConfigError(f"cannot change {', '.join(map(repr, bad))} of a case; editable fields are "
                          f"{', '.join(sorted(_EDITABLE))}")
    with _locked(path):
        dataset = load_dataset(path)
        for i, case in enumerate(dataset.cases):
            if case.id == case_id:
                updated = EvalCase.from_json({**case.to_json(), **changes}, where=f"{path}: case {case_id}")
                dataset.cases[i] = updated
                _write(path, dataset.cases)
                return updated
    raise UnknownCaseError(f"no case {case_id!r} in {path}; list the ids with GET /v1/evals/cases")


@dataclass(frozen=True, slots=True)
class Merged:
    added: int  # new cases written
    known: int  # already in the file (same id, or the same question of the same tenant)
    repeated: int  # the same question of the same tenant again in this batch: merged into its first case


def add_cases(path: Path, cases: Sequence[EvalCase]) -> int:
    """Append the cases whose id and question are both new to `path` (created if missing); returns how many."""
    return merge_cases(path, cases).added


def merge_cases(path: Path, cases: Sequence[EvalCase]) -> Merged:
    """add_cases, saying what became of each case. A question is the same case only within one tenant
    (origin["tenant"], when the case has one): two tenants asking alike are two cases."""
    path = Path(path)
    with _locked(path):
        existing = load_dataset(path).cases if path.exists() else []
        ids = {c.id for c in existing}
        in_file = {_question_key(c) for c in existing}
        in_batch: set[tuple[str | None, str]] = set()
        added: list[EvalCase] = []
        known = repeated = 0
        for case in cases:
            key = _question_key(case)
            if case.id in ids or key in in_file:
                known += 1
                continue
            if key in in_batch:
                repeated += 1
                continue
            ids.add(case.id)
            in_batch.add(key)
            added.append(_validated(case, f"{path}: new case {case.id}"))
        if added or not path.exists():
            _write(path, [*existing, *added])
        return Merged(added=len(added), known=known, repeated=repeated)


def _question_key(case: EvalCase) -> tuple[str | None, str]:
    tenant = case.origin.get("tenant") if isinstance(case.origin, dict) else None
    return (str(tenant) if tenant is not None else None, normalize_question(case.question))


def _validated(case: EvalCase, where: str) -> EvalCase:
    """`case` checked as if read from a file (a case built in code may hold anything)."""
    return EvalCase.from_json(case.to_json(), where=where)


def _check_unique(path: Path, cases: Sequence[EvalCase]) -> None:
    seen: set[str] = set()
    for case in cases:
        _validated(case, f"{path}: case {case.id}")
        if case.id in seen:
            raise ConfigError(f"{path}: two cases have the id {case.id!r}; give each case its own id")
        seen.add(case.id)


def _write(path: Path, cases: Sequence[EvalCase]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for case in cases:
                handle.write(json.dumps(case.to_json(), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a dataset is shared like any source file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive flock on "<path>.lock", between threads and processes alike (one open file each)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(f"{path} is still being written by another editor after {timeout_s:.0f} s; "
                                      "try again once it has finished") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
