"""migrate_store: a copy with the exact vectors, resumable, mirroring deletions, verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dayshift.store.embedded import EmbeddedStore
from dayshift.store.migrate import migrate_store
from dayshift.testing.memory_store import MemoryStore
from dayshift.testing.store_contract import SPACE, ids, kw, put, random_units


def _source(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore(data_dir=tmp_path / "src", space=SPACE, dim=8)
    put(store, "alpha", ["the alpha protocol rotates keys", "alpha keys expire"], version="a1")
    put(store, "beta", ["beta reactors cool at night"], version="b1", page=2)
    return store


def test_copies_every_document_and_searches_the_same(tmp_path: Path) -> None:
    source, target = _source(tmp_path), MemoryStore(space=SPACE, dim=8)
    report = migrate_store(source, target)
    assert (report.copied, report.skipped, report.removed, report.chunks) == (2, 0, 0, 3)
    assert report.verified and target.document_versions() == {"alpha": "a1", "beta": "b1"}
    assert ids(kw(target, "alpha keys")) == ids(kw(source, "alpha keys"))
    query = random_units(1, dim=8, seed="q")[0]
    assert ids(target.dense_search(query, k=3)) == ids(source.dense_search(query, k=3))
    exported = {d: v for d, _, v in target.export_documents()}
    np.testing.assert_array_equal(exported["alpha"], {d: v for d, _, v in source.export_documents()}["alpha"])


def test_a_second_run_skips_what_is_there_and_mirrors_changes(tmp_path: Path) -> None:
    source, target = _source(tmp_path), EmbeddedStore(data_dir=tmp_path / "dst", space=SPACE, dim=8)
    migrate_store(source, target)
    put(source, "beta", ["beta reactors now cool by day"], version="b2")
    source.delete_documents(["alpha"])
    put(target, "stray", ["a document only the target has"])
    report = migrate_store(source, target)
    assert (report.copied, report.skipped, report.removed) == (1, 0, 2)
    assert report.verified and target.document_versions() == {"beta": "b2"}
    again = migrate_store(source, target)
    assert (again.copied, again.skipped, again.removed) == (0, 1, 0) and again.verified
