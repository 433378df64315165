"""A data folder written by the previous release (commit fde6da6) opens under this one: stamped, not rebuilt.

tests/fixtures/prev-release/data-fde6da6.tar.gz was written by that release's own code
(tests/fixtures/prev-release/make.sh): the demo corpus ingested for the default tenant and for
acme, and an API key for acme. Its tables carry no schema version; opening them must keep every
row, record version 1 of each component (dayshift.migrations), and change nothing on the next open.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dayshift.cli.demo import corpus_dir
from dayshift.service.auth import KeyRing

FIXTURE = Path(__file__).parents[1] / "fixtures" / "prev-release"
DAYSHIFT = str(Path(sys.executable).with_name("dayshift"))


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    return subprocess.run([DAYSHIFT, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=600,
                          env={**env, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"})


def versions(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        try:
            return dict(db.execute("SELECT component, MAX(version) FROM schema_migrations GROUP BY component"))
        except sqlite3.OperationalError:
            return {}


@pytest.fixture
def old_folder(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE / "data-fde6da6.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    data = tmp_path / "data"
    assert versions(data / "catalog.sqlite") == {}  # as the old release left it: no versions at all
    return data


def counts(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_the_old_folder_opens_keeps_every_row_and_is_stamped(old_folder: Path) -> None:
    before = {name: counts(old_folder / name, table) for name, table in
              (("index.sqlite", "chunks"), ("catalog.sqlite", "documents"), ("embed_cache.sqlite", "vectors"),
               ("keys.sqlite", "api_keys"))}
    status = run(old_folder, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["chunks"] == before["index.sqlite"] > 0
    hits = run(old_folder, "search", "how does dayshift keep stale chunks out of search", "--json")
    assert hits.returncode == 0 and json.loads(hits.stdout)["hits"], hits.stderr
    acme = run(old_folder, "--tenant", "acme", "search", "stale chunks", "--json")
    assert acme.returncode == 0 and json.loads(acme.stdout)["hits"], acme.stderr
    for name, table in (("index.sqlite", "chunks"), ("catalog.sqlite", "documents"), ("keys.sqlite", "api_keys")):
        assert counts(old_folder / name, table) == before[name], name  # opening it rewrote nothing

    # The old release recorded the demo corpus at its own checkout's path; this release's package has it at
    # another. After an upgrade that checkout is gone (as on CI): point the record at a path that cannot exist,
    # so a leftover checkout of the old release on this machine does not decide the test.
    with sqlite3.connect(old_folder / "catalog.sqlite") as db:
        (old_root,) = {root for (root,) in db.execute("SELECT root FROM sources")}
        assert old_root.endswith("/src/dayshift/demo/corpus") and old_root != str(corpus_dir().resolve())
        gone = str(old_folder.parent / "removed-checkout" / "src" / "dayshift" / "demo" / "corpus")
        db.execute("UPDATE sources SET root = ?", (gone,))
    resync = run(old_folder, "ingest", str(corpus_dir()), "--json")
    assert resync.returncode == 0, resync.stderr
    (report,) = json.loads(resync.stdout)
    # the same folder, moved: the old catalog is understood, nothing re-added or deleted (a file the demo
    # changed since that release is an update of its document, under the same id)
    assert report["moved_from"] == [gone]
    assert (report["counts"]["added"], report["counts"]["deleted"], report["counts"]["failed"]) == (0, 0, 0)
    assert report["counts"]["unchanged"] + report["counts"]["updated"] == before["catalog.sqlite"]
    assert counts(old_folder / "catalog.sqlite", "documents") == before["catalog.sqlite"]
    again = run(old_folder, "ingest", str(corpus_dir()), "--json")
    (second,) = json.loads(again.stdout)
    assert second["moved_from"] == [] and second["counts"]["unchanged"] == before["catalog.sqlite"]
    assert versions(old_folder / "catalog.sqlite") == {"catalog": 1}
    assert versions(old_folder / "index.sqlite") == {"index": 1}
    assert versions(old_folder / "embed_cache.sqlite") == {"embed_cache": 1}
    assert versions(old_folder / "tenants" / "acme" / "index.sqlite") == {"index": 1}


def test_the_old_key_still_authenticates(old_folder: Path) -> None:
    key = (FIXTURE / "acme-key.txt").read_text(encoding="utf-8").strip()
    ring = KeyRing(old_folder / "keys.sqlite")
    try:
        who = ring.lookup(key)
        assert who is not None and who.tenant == "acme"
    finally:
        ring.close()
    assert versions(old_folder / "keys.sqlite") == {"keys": 1}
