"""Every /v1/search and /v1/ask trace names the index it read: the catalog's last sync run that changed it.

The version moves when an ingest changes the index (an upload job here, or `dayshift ingest` in another
process), and stays when a sync finds nothing new, so the monitor's alerts can say which index was live.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from service_env import ServiceEnv, start_service

from dayshift.cli.demo import corpus_dir
from dayshift.ingest.catalog import Catalog

VERSION = re.compile(r"^sync-(\d+)@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
OUT_OF_CORPUS = "What is the boiling point of tungsten?"  # abstained without a model call: a quick /v1/ask


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, models) -> Iterator[ServiceEnv]:  # type: ignore[no-untyped-def]
    yield from start_service(tmp_path_factory.mktemp("indexed"), models)


def search_version(env: ServiceEnv) -> str:
    r = env.client.post("/v1/search", json={"query": "hybrid search weighted fusion", "k": 3})
    assert r.status_code == 200, r.text
    trace = env.client.get(f"/v1/traces/{r.json()['trace_id']}").json()
    return trace["params"]["index_version"]


def ask_version(env: ServiceEnv) -> str:
    r = env.client.post("/v1/ask", json={"question": OUT_OF_CORPUS})
    assert r.status_code == 200, r.text
    trace = env.client.get(f"/v1/traces/{r.json()['trace_id']}").json()
    return trace["params"]["index_version"]


def upload(env: ServiceEnv, name: str, text: str) -> dict[str, int]:
    r = env.client.post("/v1/documents", files=[("files", (name, text.encode(), "text/markdown"))])
    assert r.status_code == 202, r.text
    for _ in range(400):
        status = env.client.get(r.json()["status_url"]).json()
        if status["state"] in ("done", "failed"):
            assert status["state"] == "done", status
            return status["counts"]
        time.sleep(0.05)
    raise AssertionError("the upload job did not finish")


def test_traces_carry_the_index_version_and_it_changes_after_an_ingest(env: ServiceEnv) -> None:
    assert search_version(env) == "empty"  # nothing ingested yet
    with env.service.pool.use("default") as runtime:
        runtime.ingestor.sync(corpus_dir())
    first = search_version(env)
    assert VERSION.match(first), first
    assert ask_version(env) == first  # /v1/ask records it too

    with env.service.pool.use("default") as runtime:
        assert runtime.ingestor.sync(corpus_dir()).counts()["unchanged"] > 0
    assert search_version(env) == first  # a sync that changed nothing is not a new index

    assert upload(env, "zorblax.md", "# Zorblax\n\nThe Zorblax protocol rotates keys every ninety minutes.\n")["added"] == 1
    second = search_version(env)
    assert VERSION.match(second) and second != first
    assert int(VERSION.match(second)[1]) > int(VERSION.match(first)[1])
    assert ask_version(env) == second


def test_an_ingest_by_another_process_is_seen_on_the_next_request(env: ServiceEnv) -> None:
    before = search_version(env)
    # `dayshift ingest` writes the same catalog file through its own connection.
    other = Catalog(env.settings.data_dir / "catalog.sqlite")
    try:
        run = other.start_run("/srv/docs")
        assert search_version(env) == before  # a run still going is not a version yet
        other.finish_run(run, {"added": 0, "updated": 2, "deleted": 0})
    finally:
        other.close()
    after = search_version(env)
    assert after != before and after.startswith(f"sync-{run}@")


def test_deleting_a_document_through_the_api_is_a_new_index_version(env: ServiceEnv) -> None:
    upload(env, "quarrel.md", "# Quarrel\n\nThe Quarrel index is rebuilt every Tuesday at dawn.\n")
    before = search_version(env)
    docs = env.client.get("/v1/documents").json()
    doc_id = next(d["doc_id"] for d in docs["documents"] if d["doc_id"].endswith("quarrel.md"))
    r = env.client.delete(f"/v1/documents/{doc_id}")
    assert r.status_code == 200, r.text
    after = search_version(env)
    assert VERSION.match(after) and int(VERSION.match(after)[1]) > int(VERSION.match(before)[1])
