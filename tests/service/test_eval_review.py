"""The eval review routes through the real app: who may use them, listing and filtering, labelling (validated,
and safe when reviewers edit at once), and harvesting the tenant's traces.

The dataset is a real SQuAD 2.0 sample (dayshift.evals.importers) with a few cases turned into candidates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from service_env import ServiceEnv, start_service

from dayshift.evals.cases import load_dataset, save_dataset
from dayshift.evals.importers import import_squad
from dayshift.service.auth import KeyRing
from dayshift.trace.record import Feedback, TraceRecord

ADMIN = "admin-key-for-evals-0123456789"


@pytest.fixture(scope="module")
def squad_file(shared_data: Path) -> Path:
    path = shared_data / "squad2" / "dev-v2.0-part-a.json.gz"
    if not path.exists():
        pytest.skip(f"needs {path} (set DAYSHIFT_SHARED_DATA to the folder holding squad2/)")
    return path


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, models, squad_file: Path  # type: ignore[no-untyped-def]
          ) -> Iterator[tuple[ServiceEnv, str]]:
    data_dir = tmp_path_factory.mktemp("evals")
    ring = KeyRing(data_dir / "keys.sqlite")
    tenant_key = ring.create("acme")[0]
    ring.close()
    cases = import_squad(squad_file, corpus_dir=data_dir / "squad2-corpus", articles=1, limit=30, seed=5).cases
    for case in cases[:20]:
        case.status = "candidate"
    save_dataset(data_dir / "evals" / "squad2.jsonl", cases)
    (data_dir / "evals" / "broken.jsonl").write_text('{"id": "x"}\n')
    for env in start_service(data_dir, models, admin_key=ADMIN, rate_limit_burst=10_000):
        yield env, tenant_key


def _dataset(env: ServiceEnv) -> Path:
    return env.settings.data_dir / "evals" / "squad2.jsonl"


def test_only_the_admin_key_reaches_the_datasets(keyed: tuple[ServiceEnv, str]) -> None:
    env, tenant_key = keyed
    calls = [("GET", "/v1/evals/datasets", None), ("GET", "/v1/evals/cases?dataset=squad2", None),
             ("PATCH", f"/v1/evals/cases/squad2/{load_dataset(_dataset(env)).cases[0].id}", {"note": "x"}),
             ("POST", "/v1/evals/harvest", {"since": "1d"})]
    before = _dataset(env).read_text()
    for method, url, body in calls:
        assert env.client.request(method, url, json=body).status_code == 401
        refused = env.client.request(method, url, json=body, headers=env.headers(tenant_key))
        assert refused.status_code == 403, (url, refused.text)
        assert "admin key" in refused.json()["detail"]
    assert _dataset(env).read_text() == before
    assert env.client.get("/v1/evals/datasets", headers=env.headers(ADMIN)).status_code == 200


def test_datasets_are_listed_with_counts_and_unreadable_ones_say_why(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    listed = env.client.get("/v1/evals/datasets", headers=env.headers(ADMIN)).json()
    assert listed["eval_dir"] == str(env.settings.data_dir / "evals")
    by_name = {d["name"]: d for d in listed["datasets"]}
    assert set(by_name) == {"broken", "squad2"}
    squad = by_name["squad2"]
    on_disk = load_dataset(_dataset(env))
    assert squad["cases"] == len(on_disk.cases) and squad["content_hash"] == on_disk.content_hash
    assert squad["by_status"]["candidate"] + squad["by_status"]["accepted"] == 30
    assert "squad2" in squad["tags"] and squad["error"] is None
    assert "missing field 'question'" in by_name["broken"]["error"] and "broken.jsonl:1" in by_name["broken"]["error"]


def test_cases_are_filtered_and_paged(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    admin = env.headers(ADMIN)
    on_disk = load_dataset(_dataset(env)).cases
    candidates = env.client.get("/v1/evals/cases", params={"dataset": "squad2", "status": "candidate"},
                                headers=admin).json()
    assert [c["id"] for c in candidates["cases"]] == [c.id for c in on_disk if c.status == "candidate"]
    assert all(c["dataset"] == "squad2" for c in candidates["cases"])
    unanswerable = env.client.get("/v1/evals/cases", params={"dataset": "squad2", "tag": "unanswerable"},
                                  headers=admin).json()
    assert unanswerable["total"] == sum(not c.answerable for c in on_disk) > 0
    first = env.client.get("/v1/evals/cases", params={"dataset": "squad2", "limit": 7}, headers=admin).json()
    second = env.client.get("/v1/evals/cases", params={"dataset": "squad2", "limit": 7, "offset": first["next_offset"]},
                            headers=admin).json()
    assert [c["id"] for c in first["cases"] + second["cases"]] == [c.id for c in on_disk[:14]]
    assert first["total"] == len(on_disk) and first["next_offset"] == 7
    assert env.client.get("/v1/evals/cases", params={"dataset": "nope"}, headers=admin).status_code == 404
    bad = env.client.get("/v1/evals/cases", params={"dataset": "../keys"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    broken = env.client.get("/v1/evals/cases", params={"dataset": "broken"}, headers=admin)
    assert broken.status_code == 400 and "broken.jsonl:1" in broken.json()["detail"]


def test_a_case_is_labelled_and_the_file_changes(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    case = next(c for c in load_dataset(_dataset(env)).cases if c.status == "candidate" and c.answerable)
    body = {"status": "accepted", "expected_answers": ["  the Normans ", "Normans"], "tags": ["squad2", "checked"],
            "note": "reviewed"}
    saved = env.client.patch(f"/v1/evals/cases/squad2/{case.id}", json=body, headers=env.headers(ADMIN))
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == "accepted" and saved.json()["expected_answers"] == ["the Normans", "Normans"]
    stored = next(c for c in load_dataset(_dataset(env)).cases if c.id == case.id)
    assert (stored.status, stored.expected_answers, stored.tags, stored.note) == (
        "accepted", ["the Normans", "Normans"], ["squad2", "checked"], "reviewed")
    assert stored.question == case.question and stored.expected_sources == case.expected_sources


def test_labels_are_validated(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    admin = env.headers(ADMIN)
    case = next(c for c in load_dataset(_dataset(env)).cases if c.answerable and c.expected_answers)
    url = f"/v1/evals/cases/squad2/{case.id}"
    before = _dataset(env).read_text()
    contradiction = env.client.patch(url, json={"answerable": False}, headers=admin)
    assert contradiction.status_code == 409 and "empty expected_answers" in contradiction.json()["detail"]
    for body in ({"status": "maybe"}, {"id": "other"}, {"expected_answers": [""]}, {"tags": "one"}):
        assert env.client.patch(url, json=body, headers=admin).status_code == 422, body
    empty = env.client.patch(url, json={}, headers=admin)
    assert empty.status_code == 400 and "nothing to change" in empty.json()["detail"]
    assert env.client.patch("/v1/evals/cases/squad2/no-such-case", json={"note": "x"}, headers=admin).status_code == 404
    assert env.client.patch(f"/v1/evals/cases/missing/{case.id}", json={"note": "x"}, headers=admin).status_code == 404
    assert _dataset(env).read_text() == before
    cleared = env.client.patch(url, json={"answerable": False, "expected_answers": []}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["answerable"] is False


def test_reviewers_editing_at_once_keep_every_change(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    admin = env.headers(ADMIN)
    ids = [c.id for c in load_dataset(_dataset(env)).cases][:16]
    start = threading.Barrier(len(ids) + 1)
    answers: list[int] = []

    def note(case_id: str) -> None:
        start.wait()
        answers.append(env.client.patch(f"/v1/evals/cases/squad2/{case_id}", json={"note": f"seen {case_id}"},
                                        headers=admin).status_code)

    def tag() -> None:  # the same case as the first reviewer, another field
        start.wait()
        answers.append(env.client.patch(f"/v1/evals/cases/squad2/{ids[0]}", json={"tags": ["busy"]},
                                        headers=admin).status_code)

    threads = [threading.Thread(target=note, args=(i,)) for i in ids] + [threading.Thread(target=tag)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * (len(ids) + 1)
    stored = {c.id: c for c in load_dataset(_dataset(env)).cases}
    assert [stored[i].note for i in ids] == [f"seen {i}" for i in ids]
    assert stored[ids[0]].tags == ["busy"]


def test_harvest_takes_the_tenants_recent_traces(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    now = datetime.now(UTC)
    store = env.service.traces.store

    def trace(n: int, tenant: str, query: str, **fields: object) -> TraceRecord:
        return TraceRecord(trace_id=f"e{n:031x}", tenant=tenant, route="/v1/ask",
                           started_at=now - timedelta(hours=n), query=query, answer="An answer [1].", **fields)  # type: ignore[arg-type]

    store.write([trace(1, "default", "How long is the Norman coast?"),
                 trace(2, "default", "What is the boiling point of tungsten?", abstained=True),
                 trace(3, "default", "Who led the Normans?"),
                 trace(4, "acme", "Where is the acme vault?", abstained=True),
                 trace(5, "default", "What is the boiling point of tungsten?", abstained=True),  # asked again
                 trace(24 * 3, "default", "An old question?", abstained=True)])
    assert store.add_feedback(Feedback(f"e{1:031x}", "default", "down", "wrong coast"))
    assert store.add_feedback(Feedback(f"e{3:031x}", "default", "up"))

    done = env.client.post("/v1/evals/harvest", json={"since": "2d"}, headers=env.headers(ADMIN))
    assert done.status_code == 200, done.text
    # the tungsten question asked twice in the window is one case, counted as repeated, not as already there
    assert done.json() == {"dataset": "harvested", "scanned": 4, "candidates": 3, "added": 2, "known": 0,
                           "repeated": 1, "without_text": 0}
    harvested = {c.question: c for c in load_dataset(env.settings.data_dir / "evals" / "harvested.jsonl").cases}
    assert set(harvested) == {"How long is the Norman coast?", "What is the boiling point of tungsten?"}
    assert harvested["How long is the Norman coast?"].origin["comment"] == "wrong coast"
    listed = env.client.get("/v1/evals/cases", params={"dataset": "harvested", "status": "candidate"},
                            headers=env.headers(ADMIN)).json()
    assert listed["total"] == 2 and all(c["origin"]["trace_id"].startswith("e") for c in listed["cases"])

    again = env.client.post("/v1/evals/harvest", json={"since": "2d"}, headers=env.headers(ADMIN)).json()
    assert (again["added"], again["known"], again["repeated"]) == (0, 3, 0)
    acme = env.client.post("/v1/evals/harvest", json={}, headers={**env.headers(ADMIN), "X-Dayshift-Tenant": "acme"})
    assert acme.json()["dataset"] == "harvested-acme" and acme.json()["added"] == 1
    (case,) = load_dataset(env.settings.data_dir / "evals" / "harvested-acme.jsonl").cases
    assert case.question == "Where is the acme vault?" and case.origin["tenant"] == "acme"
    bad = env.client.post("/v1/evals/harvest", json={"since": "a week"}, headers=env.headers(ADMIN))
    assert bad.status_code == 400 and "7d, 24h, 90m" in bad.json()["detail"]


def test_an_open_loopback_server_may_review(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    save_dataset(tmp_path / "evals" / "mine.jsonl", [])
    for env in start_service(tmp_path, models):
        listed = env.client.get("/v1/evals/datasets").json()["datasets"]
        assert [(d["name"], d["cases"]) for d in listed] == [("mine", 0)]
