"""The contract every ingest catalog passes: one suite that each engine's tests inherit.

    class TestMyCatalog(CatalogContract):
        def open_catalog(self, place: str) -> IngestCatalog:
            return MyCatalog(...)      # the same `place` reopens the same, at first empty, catalog

The suite runs only through `dayshift.ingest.catalog_base.IngestCatalog`, so the SQLite
catalog and the Postgres one are held to the same behaviour, orders included: sources by
path in byte order, documents in the order they were last written (what sync's reports
follow), runs newest first with their counts as given. Every write must be visible to
another handle on the same place as soon as it returns: sync relies on it for crash safety.

Left out: crash safety itself (tests/unit/ingest/test_sync.py kills real syncs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from dayshift.ingest.catalog import DocumentRecord, SourceRecord
from dayshift.ingest.catalog_base import IngestCatalog

INDEX_VERSION = re.compile(r"^sync-(\d+)@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
COUNTS = {"added": 2, "updated": 1, "unchanged": 7, "deleted": 0, "failed": 1, "files": 11}


SOURCE = SourceRecord(path="docs/a.md", root="/data/docs", size=1234, mtime_ns=1_700_000_000_123_456_789,
                      file_hash="a" * 32, status="ok", error_kind=None, error_reason=None, error_fix=None)
DOCUMENT = DocumentRecord(doc_id="docs/a.md", source="docs/a.md", version="v1", status="indexed", duplicate_of=None,
                          fingerprint="f" * 16, signature=bytes(range(256)) * 2, chunks=3)


def source(path: str, **changes: Any) -> SourceRecord:
    return replace(SOURCE, path=path, **changes)


def document(doc_id: str, **changes: Any) -> DocumentRecord:
    return replace(DOCUMENT, doc_id=doc_id, **changes)


class CatalogContract:
    def open_catalog(self, place: str) -> IngestCatalog:
        raise NotImplementedError

    @pytest.fixture
    def catalog(self) -> Iterator[IngestCatalog]:
        opened = self.open_catalog("main")
        yield opened
        opened.close()

    # -- sources ----------------------------------------------------------

    def test_an_empty_catalog_has_nothing(self, catalog: IngestCatalog) -> None:
        assert catalog.source("docs/a.md") is None
        assert (catalog.sources(), catalog.documents(), catalog.runs()) == ([], [], [])
        assert (catalog.last_run(), catalog.versions_indexed(), catalog.index_version()) == (None, 0, "empty")

    def test_a_source_comes_back_as_written_and_a_second_write_replaces_it(self, catalog: IngestCatalog) -> None:
        first = source("docs/a.md", size=0, file_hash=None)
        catalog.put_source(first)
        assert catalog.source("docs/a.md") == first
        failed = source("docs/a.md", size=None, mtime_ns=None, file_hash=None, status="failed",
                        error_kind="encrypted", error_reason="a password protects it", error_fix="qpdf --decrypt")  # fmt: skip
        catalog.put_source(failed)
        assert catalog.source("docs/a.md") == failed and catalog.sources() == [failed]
        catalog.delete_source("docs/a.md")
        catalog.delete_source("docs/never.md")  # nothing to delete is fine
        assert catalog.source("docs/a.md") is None and catalog.sources() == []

    def test_sources_are_ordered_by_path_in_byte_order_and_filtered_by_root(self, catalog: IngestCatalog) -> None:
        paths = ["docs/b.md", "docs/B.md", "docs/ä.md", "docs/a/z.md", "docs/a-z.md", "docs/a.md", "docs/Ω.md"]
        for path in paths:
            catalog.put_source(source(path))
        catalog.put_source(source("other/x.md", root="/data/other"))
        assert [s.path for s in catalog.sources(root="/data/docs")] == sorted(paths)
        assert [s.path for s in catalog.sources(root="/data/other")] == ["other/x.md"]
        assert [s.path for s in catalog.sources()] == sorted([*paths, "other/x.md"])
        assert catalog.sources(root="/nowhere") == []

    # -- documents --------------------------------------------------------

    def test_documents_come_back_as_written_in_the_order_last_written(self, catalog: IngestCatalog) -> None:
        records = [document("d3"), document("d1", signature=None), document("d2", signature=b"\x00\xff\x00")]
        for record in records:
            catalog.put_document(record)
        assert catalog.documents() == records
        changed = document("d3", version="v2", chunks=0)
        catalog.put_document(changed)  # a write moves it last
        assert catalog.documents() == [records[1], records[2], changed]
        assert [d.doc_id for d in catalog.documents(source="docs/a.md")] == ["d1", "d2", "d3"]

    def test_documents_are_filtered_by_source_and_status(self, catalog: IngestCatalog) -> None:
        kept = document("rows.csv#1", source="rows.csv")
        copy = document("rows.csv#2", source="rows.csv", status="duplicate", duplicate_of="rows.csv#1",
                        fingerprint="", signature=None, chunks=0)  # fmt: skip
        other = document("notes.md", source="notes.md")
        for record in (kept, copy, other):
            catalog.put_document(record)
        assert catalog.documents(source="rows.csv") == [kept, copy]
        assert catalog.documents(status="duplicate") == [copy]
        assert catalog.documents(status="indexed") == [kept, other]
        assert catalog.documents(source="rows.csv", status="indexed") == [kept]
        assert catalog.documents(source="absent.md") == []

    def test_deleting_documents(self, catalog: IngestCatalog) -> None:
        for doc_id in ("a", "b", "c", "d"):
            catalog.put_document(document(doc_id))
        catalog.delete_documents(d for d in ("b", "d", "never"))  # any iterable; unknown ids are ignored
        catalog.delete_documents([])
        assert [d.doc_id for d in catalog.documents()] == ["a", "c"]

    # -- runs -------------------------------------------------------------

    def test_runs_newest_first_with_their_counts_as_given(self, catalog: IngestCatalog) -> None:
        first = catalog.start_run("/data/docs")
        catalog.finish_run(first, COUNTS)
        second = catalog.start_run("/data/other")
        assert second > first
        unfinished, done = catalog.runs()
        assert unfinished[0] == "/data/other" and unfinished[2] is None and unfinished[3] == {}
        assert done[0] == "/data/docs" and done[1] <= done[2]  # type: ignore[operator]
        assert list(done[3].items()) == list(COUNTS.items())  # the keys keep their order
        assert catalog.runs(limit=1) == [unfinished] and catalog.last_run() == unfinished
        catalog.finish_run(second, {"added": 1})
        assert catalog.last_run()[3] == {"added": 1}  # type: ignore[index]

    def test_versions_indexed_sums_every_add_and_update(self, catalog: IngestCatalog) -> None:
        for counts in (COUNTS, {"added": 0, "updated": 4, "deleted": 9}, {"unchanged": 5}):
            catalog.finish_run(catalog.start_run("/data/docs"), counts)
        catalog.start_run("/data/docs")  # unfinished: no counts yet
        assert catalog.versions_indexed() == 2 + 1 + 4

    def test_index_version_names_the_last_finished_run_that_changed_something(self, catalog: IngestCatalog) -> None:
        catalog.finish_run(catalog.start_run("/data/docs"), {"added": 0, "updated": 0, "deleted": 0, "unchanged": 3})
        assert catalog.index_version() == "empty"  # nothing changed yet
        changed = catalog.start_run("/data/docs")
        catalog.finish_run(changed, {"added": 1})
        version = catalog.index_version()
        assert (match := INDEX_VERSION.match(version)) and int(match.group(1)) == changed, version
        catalog.start_run("/data/docs")  # still running (or crashed): the version stays
        catalog.finish_run(catalog.start_run("/data/docs"), {"unchanged": 4})
        assert catalog.index_version() == version
        deleted = catalog.start_run("/data/docs")
        catalog.finish_run(deleted, {"deleted": 2})
        assert INDEX_VERSION.match(catalog.index_version()).group(1) == str(deleted)  # type: ignore[union-attr]

    # -- places and handles ------------------------------------------------

    def test_a_reopened_catalog_has_everything_and_another_place_nothing(self, catalog: IngestCatalog) -> None:
        catalog.put_source(source("docs/a.md"))
        catalog.put_document(document("docs/a.md"))
        catalog.finish_run(catalog.start_run("/data/docs"), COUNTS)
        catalog.close()
        again, other = self.open_catalog("main"), self.open_catalog("other")
        try:
            assert again.sources() == [source("docs/a.md")] and again.documents() == [document("docs/a.md")]
            assert again.last_run()[3] == COUNTS and again.versions_indexed() == 3  # type: ignore[index]
            assert (other.sources(), other.documents(), other.runs(), other.index_version()) == ([], [], [], "empty")
        finally:
            again.close()
            other.close()

    def test_a_write_is_visible_to_another_handle_once_it_returns(self, catalog: IngestCatalog) -> None:
        reader = self.open_catalog("main")
        try:
            assert reader.index_version() == "empty"
            catalog.put_source(source("docs/a.md"))
            catalog.put_document(document("docs/a.md"))
            run = catalog.start_run("/data/docs")
            catalog.finish_run(run, {"added": 1})
            assert reader.source("docs/a.md") == source("docs/a.md")
            assert reader.documents() == [document("docs/a.md")]
            assert INDEX_VERSION.match(reader.index_version()).group(1) == str(run)  # type: ignore[union-attr]
            catalog.delete_documents(["docs/a.md"])
            assert reader.documents() == []
        finally:
            reader.close()
