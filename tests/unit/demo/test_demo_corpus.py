"""The demo corpus ships inside the package and stays true: its architecture notes are the docs' own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dayshift.cli.demo import QUESTIONS, corpus_dir

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_corpus_ships_in_the_package() -> None:
    files = sorted(p.name for p in corpus_dir().iterdir() if p.suffix == ".md")
    assert files == ["architecture.md", "faq.md"]


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not beside the package (an installed copy)")
def test_the_shipped_architecture_notes_match_docs() -> None:
    shipped = (corpus_dir() / "architecture.md").read_text(encoding="utf-8")
    assert shipped == (DOCS / "architecture.md").read_text(encoding="utf-8"), (
        "copy docs/architecture.md to src/dayshift/demo/corpus/architecture.md"
    )


def test_the_faq_holds_an_answer_to_every_in_corpus_demo_question() -> None:
    faq = (corpus_dir() / "faq.md").read_text(encoding="utf-8").lower()
    assert "all-minilm-l6-v2" in faq and "weighted fusion" in faq and "pdf, html, markdown" in faq
    assert "mercury" not in faq  # the last demo question must stay unanswerable
    assert QUESTIONS[-1].endswith("mercury?")


def test_the_faq_names_the_default_reader() -> None:
    """The demo asks about dayshift itself, so its FAQ must name the reader that actually answers."""
    from dayshift.llm.readers import DEFAULT_READER, READERS

    title = READERS[DEFAULT_READER].title
    faq = (corpus_dir() / "faq.md").read_text(encoding="utf-8")
    assert title.split(" (")[0] in faq  # "Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)" -> its model name
    section = faq.split("## The bundled language model", 1)[1].split("##", 1)[0]
    assert f"default reader is {title.split(' (')[0]}" in section

