"""Eval datasets: the JSONL format, its validation errors, and edits that survive concurrent editors."""

from __future__ import annotations

import json
import multiprocessing
import stat
import threading
from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.evals.cases import (
    EvalCase,
    UnknownCaseError,
    add_cases,
    dataset_dir,
    load_dataset,
    normalize_question,
    save_dataset,
    update_case,
)
from dayshift.settings import load_settings


def _case(i: int, **changes: object) -> EvalCase:
    base = EvalCase(id=f"c{i}", question=f"Who ruled Normandy in year {i}?", expected_answers=[f"Duke {i}"],
                    expected_sources=["squad2-corpus/Normans.txt"], answerable=True, tags=["squad2"])
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def _line(**fields: object) -> str:
    data = {"id": "q1", "question": "In what country is Normandy located?", "expected_answers": ["France"],
            "expected_sources": ["squad2-corpus/Normans.txt"], "answerable": True}
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_a_dataset_round_trips_through_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "evals" / "squad.jsonl"
    cases = [_case(1), _case(2, status="candidate", origin={"trace_id": "ab12", "reason": "abstention"},
                              note="check it", answerable=False, expected_answers=[])]
    save_dataset(path, cases)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["origin"] == {"trace_id": "ab12", "reason": "abstention"}
    loaded = load_dataset(path)
    assert loaded.cases == cases and loaded.path == path
    assert [c.id for c in loaded.accepted()] == ["c1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["squad.jsonl", "squad.jsonl.lock"]  # no temp file left


def test_defaults_fill_optional_fields_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n" + _line() + "\n\n")
    (case,) = load_dataset(path).cases
    assert (case.tags, case.status, case.origin, case.note) == ([], "accepted", {}, "")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (_line(answerable="yes"), "field 'answerable' must be true or false, got 'yes'"),
        (_line(question=...), "missing field 'question'"),
        (_line(expected_answers="France"), "field 'expected_answers' must be a list of non-empty strings"),
        (_line(status="approved"), "field 'status' must be one of accepted, candidate, rejected"),
        (_line(answer="France"), "unknown field 'answer'; the fields are id, question"),
        (_line(answerable=False), "answerable false but expected_answers ['France']"),
        (_line(id="a/b"), "id 'a/b' must be 1 to 200 letters, digits"),
        ('{"id": "q1", "question": ', "not valid JSON"),
        ("[1, 2]", "a case must be a JSON object"),
    ],
)
def test_invalid_lines_are_named_with_file_line_field_and_fix(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(_line(id="ok") + "\n" + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_dataset(path)
    assert f"{path}:2: " in str(caught.value)
    assert says in str(caught.value)


def test_duplicate_ids_are_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([_line(), _line(id="q2"), _line()]) + "\n")
    with pytest.raises(ConfigError, match=r"dup.jsonl:3: id 'q1' is already used on line 1"):
        load_dataset(path)
    with pytest.raises(ConfigError, match="two cases have the id 'c1'"):
        save_dataset(tmp_path / "out.jsonl", [_case(1), _case(1)])


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="create one with `dayshift eval import`"):
        load_dataset(tmp_path / "nope.jsonl")


def test_content_hash_covers_accepted_cases_only_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    save_dataset(path, [_case(1), _case(2), _case(3, status="candidate")])
    first = load_dataset(path).content_hash
    assert len(first) == 64
    save_dataset(path, [_case(2), _case(1), _case(3, status="candidate", note="still unsure")])
    assert load_dataset(path).content_hash == first  # order and candidates do not count
    update_case(path, "c1", expected_answers=["Duke 1", "the first duke"])
    assert load_dataset(path).content_hash != first
    update_case(path, "c3", status="accepted")
    assert load_dataset(path).content_hash != first


def test_update_case_changes_fields_and_validates_them(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    save_dataset(path, [_case(1), _case(2, status="candidate")])
    saved = update_case(path, "c2", status="accepted", tags=["harvested", "checked"], note="ok")
    assert (saved.status, saved.tags, saved.note) == ("accepted", ["harvested", "checked"], "ok")
    assert load_dataset(path).cases[1] == saved
    before = path.read_text()
    with pytest.raises(ConfigError, match="field 'status' must be one of"):
        update_case(path, "c1", status="approved")
    with pytest.raises(ConfigError, match="answerable false but expected_answers"):
        update_case(path, "c1", answerable=False)
    with pytest.raises(ConfigError, match="cannot change 'id'"):
        update_case(path, "c1", id="c9")
    with pytest.raises(UnknownCaseError, match="no case 'c7'"):
        update_case(path, "c7", note="x")
    assert path.read_text() == before  # refused changes leave the file as it was
    cleared = update_case(path, "c1", answerable=False, expected_answers=[])
    assert not cleared.answerable and cleared.expected_answers == []


def test_add_cases_skips_known_ids_and_questions_and_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "harvested.jsonl"
    assert add_cases(path, [_case(1), _case(2)]) == 2
    again = [
        _case(1, question="something else entirely"),  # a known id
        _case(5, question="  WHO ruled normandy in year 2 "),  # a known question, spelled otherwise
        _case(6),
        _case(7, question=_case(6).question.upper()),  # repeated within the batch
    ]
    assert add_cases(path, again) == 1
    assert [c.id for c in load_dataset(path).cases] == ["c1", "c2", "c6"]
    assert add_cases(tmp_path / "empty.jsonl", []) == 0 and load_dataset(tmp_path / "empty.jsonl").cases == []
    with pytest.raises(ConfigError, match="must be a list of non-empty strings"):
        add_cases(path, [_case(8, tags=[""])])


def test_normalize_question_ignores_case_punctuation_and_spacing() -> None:
    assert normalize_question("  In what  COUNTRY is Normandy located?! ") == "in what country is normandy located"


def test_the_eval_folder_setting_defaults_under_the_data_dir(tmp_path: Path) -> None:
    assert dataset_dir(load_settings(data_dir=tmp_path)) == tmp_path / "evals"
    chosen = load_settings(data_dir=tmp_path, service={"eval_dir": tmp_path / "mine"})
    assert dataset_dir(chosen) == tmp_path / "mine"


def test_concurrent_updates_from_threads_all_survive(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    save_dataset(path, [_case(i) for i in range(12)])
    start = threading.Barrier(13)

    def label(i: int) -> None:
        start.wait()
        update_case(path, f"c{i}", note=f"note {i}", status="rejected" if i % 2 else "accepted")

    def tag() -> None:
        start.wait()
        update_case(path, "c0", tags=["squad2", "reviewed"])  # the same case as label(0), another field

    threads = [threading.Thread(target=label, args=(i,)) for i in range(12)] + [threading.Thread(target=tag)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cases = {c.id: c for c in load_dataset(path).cases}
    assert [cases[f"c{i}"].note for i in range(12)] == [f"note {i}" for i in range(12)]
    assert cases["c0"].tags == ["squad2", "reviewed"] and cases["c0"].note == "note 0"


def _edit_many(path: str, worker: int, count: int) -> None:
    for j in range(count):
        update_case(Path(path), f"c{worker * count + j}", note=f"by {worker}")


def test_concurrent_updates_from_processes_all_survive(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    workers, each = 4, 8
    save_dataset(path, [_case(i) for i in range(workers * each)])
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_edit_many, args=(str(path), w, each)) for w in range(workers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    notes = [c.note for c in load_dataset(path).cases]
    assert notes == [f"by {i // each}" for i in range(workers * each)]
