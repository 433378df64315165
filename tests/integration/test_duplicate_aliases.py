"""De-duplicated documents come back from document search under their own ids (retrieve/aliases.py).

A real ingest (dedup included) into a real data folder, the real MiniLM embedder (its ONNX runtime, the
quickest to load), the retriever the CLI and the service open (assemble.open_retriever).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dayshift.assemble import open_catalog, open_embedder, open_ingestor, open_retriever
from dayshift.cli.main import app
from dayshift.retrieve.aliases import DuplicateAliases
from dayshift.settings import Settings
from dayshift.settings import load_settings as _load_settings

TIDES = (
    "# Tides\n\nThe moon's gravity pulls the oceans toward it, and the sun's gravity adds to the pull or works "
    "against it. Where the water piles up the tide is high; half a turn of the earth later it is high again, so "
    "on most coasts the tides rise and fall twice a day. Spring tides come at new and full moon, when the sun "
    "and the moon pull in one line; neap tides come at the quarter moons, when they pull at right angles.\n"
)
TEXTS = {
    "teamA/tides.md": TIDES,
    "teamB/tides.md": TIDES,  # an exact copy: ingest keeps one
    "teamC/tides-notes.md": TIDES.replace("most coasts", "many coasts"),  # a near copy
    "teamA/bees.md": "# Bees\n\nHoney bees dance to tell the hive where the flowers with nectar are.\n",
    "teamA/volcano.md": "# Volcano\n\nMagma rises through the crust and erupts from a volcano as lava.\n",
}


def load_settings(*, data_dir: Path) -> Settings:
    return _load_settings(data_dir=data_dir, embed={"runtime": "onnx"})


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(corpus, data_dir), built once: the last test deletes a file from it."""
    tmp_path = tmp_path_factory.mktemp("aliases")
    corpus = tmp_path / "docs"
    for name, text in TEXTS.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "index")
    report = open_ingestor(settings, embedder=open_embedder(settings)).sync(corpus)
    assert report.ok and len(report.duplicates) == 2, report.duplicates
    return corpus, tmp_path / "index"


def test_document_search_returns_each_duplicate_under_its_own_id(index: tuple[Path, Path]) -> None:
    _, data_dir = index
    retriever = open_retriever(load_settings(data_dir=data_dir))
    for mode in ("keyword", "dense", "hybrid"):
        hits = retriever.search("why do the tides rise and fall", k=5, mode=mode, per_document=True).hits  # type: ignore[arg-type]
        sources = [h.chunk.source for h in hits]
        tides = [s for s in sources if "tides" in s]
        # the kept copy first, then its two duplicates, at the same score, before anything else
        assert len(tides) == 3 and sources[:3] == tides, (mode, sources)
        assert len({h.chunk.doc_id for h in hits}) == len(hits)  # distinct documents
        assert len(hits) == 5 or mode == "keyword"  # BM25 finds only documents with a query word
        kept, *aliases = hits[:3]
        assert all(a.score == kept.score and a.chunk.text == kept.chunk.text for a in aliases)
        assert all(a.chunk.metadata["duplicate_of"] == kept.chunk.doc_id for a in aliases)
        assert "duplicate_of" not in kept.chunk.metadata
    # chunk search (what an answer reads) keeps the words once
    chunks = retriever.search("why do the tides rise and fall", k=5, mode="hybrid").hits
    assert sum("tides" in h.chunk.source for h in chunks) == 1


def test_k_counts_aliases_as_documents(index: tuple[Path, Path]) -> None:
    _, data_dir = index
    retriever = open_retriever(load_settings(data_dir=data_dir))
    hits = retriever.search("tides", k=2, mode="keyword", per_document=True).hits
    assert len(hits) == 2 and all("tides" in h.chunk.source for h in hits)


def test_the_catalog_is_read_again_only_after_the_refresh_interval(index: tuple[Path, Path]) -> None:
    _, data_dir = index
    catalog = open_catalog(load_settings(data_dir=data_dir))
    reads: list[str | None] = []

    class Counted:
        def documents(self, *, source: str | None = None, status: str | None = None):  # type: ignore[no-untyped-def]
            reads.append(status)
            return catalog.documents(source=source, status=status)

    cached = DuplicateAliases(Counted, refresh_s=3600.0)
    kept = next(d.duplicate_of for d in catalog.documents(status="duplicate"))
    assert len(cached.of(kept)) == 2 and cached.of("nothing") == []
    assert reads == ["duplicate"]  # one read, kept for refresh_s
    always = DuplicateAliases(Counted, refresh_s=0.0)
    assert always.of(kept) == cached.of(kept) and len(reads) == 2
    always.of(kept)
    assert len(reads) == 3


def test_dayshift_search_documents_lists_the_duplicates(index: tuple[Path, Path]) -> None:
    _, data_dir = index
    args = ["--data-dir", str(data_dir), "search", "why do the tides rise and fall", "--k", "3"]
    env = {"DAYSHIFT_EMBED__RUNTIME": "onnx"}
    listed = CliRunner().invoke(app, [*args, "--documents", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    hits = json.loads(listed.output)["hits"]
    assert [h["source"] for h in hits] == ["docs/teamA/tides.md", "docs/teamB/tides.md", "docs/teamC/tides-notes.md"]
    assert [h.get("duplicate_of") for h in hits] == [None, "docs/teamA/tides.md", "docs/teamA/tides.md"]
    plain = json.loads(CliRunner().invoke(app, [*args, "--json"], env=env).output)["hits"]
    assert [h["source"] for h in plain].count("docs/teamA/tides.md") == 1 and all("duplicate_of" not in h for h in plain)


def test_an_alias_goes_when_its_file_is_deleted(index: tuple[Path, Path]) -> None:
    corpus, data_dir = index
    settings = load_settings(data_dir=data_dir)
    retriever = open_retriever(settings)
    before = {h.chunk.source for h in retriever.search("tides", k=5, per_document=True).hits}
    (corpus / "teamB" / "tides.md").unlink()
    assert open_ingestor(settings).sync(corpus).ok
    fresh = open_retriever(settings)  # a new retriever reads the catalog on its first search
    after = {h.chunk.source for h in fresh.search("tides", k=5, per_document=True).hits}
    assert sum("teamB" in s for s in before) == 1 and not any("teamB" in s for s in after)
    assert sum("tides" in s for s in after) == 2
