"""`dayshift store migrate`: the embedded index copied to Qdrant (local mode) without re-embedding, verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run

from dayshift.cli.demo import corpus_dir

pytest.importorskip("qdrant_client", reason="the Qdrant store needs qdrant-client: pip install 'dayshift[qdrant]'")


def test_migrate_copies_the_index_and_search_answers_the_same(tmp_path: Path) -> None:
    assert run(tmp_path, "ingest", str(corpus_dir())).returncode == 0
    before = run(tmp_path, "search", "how does dayshift combine keyword and dense search", "--k", "3", "--json")
    moved = run(tmp_path, "store", "migrate", "--from", "embedded", "--to", "qdrant", "--json")
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["verified"] and report["copied"] == report["source_documents"] > 0
    assert report["target_chunks"] == report["source_chunks"]
    (tmp_path / "dayshift.toml").write_text('[store]\nbackend = "qdrant"\n')
    after = run(tmp_path, "--config", str(tmp_path / "dayshift.toml"), "search",
                "how does dayshift combine keyword and dense search", "--k", "3", "--json")
    assert after.returncode == 0, after.stderr
    ids = [[h["chunk_id"] for h in json.loads(out.stdout)["hits"]] for out in (before, after)]
    assert ids[0] == ids[1]
    again = json.loads(run(tmp_path, "store", "migrate", "--from", "embedded", "--to", "qdrant", "--json").stdout)
    assert again["copied"] == 0 and again["skipped"] == report["copied"] and again["verified"]
    same = run(tmp_path, "store", "migrate", "--from", "embedded", "--to", "embedded")
    assert same.returncode == 2 and "same store" in same.stderr
