"""Numbered sources: packing whole chunks into a token budget, what a source shows and where it is,
and excerpts (the sentences that answer the question) picked with the real bundled embedder."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest

from dayshift.answer.excerpts import select_excerpts
from dayshift.answer.sources import Source, pack_sources
from dayshift.embed.local import LocalEmbedder
from dayshift.types import Chunk, Hit


def chunk(
    chunk_id: str, text: str, *, title: str = "", section: tuple[str, ...] = (), page: int | None = None
) -> Chunk:
    doc = chunk_id.split(":")[0]
    return Chunk(
        chunk_id=chunk_id, doc_id=doc, doc_version="v1", source=doc, title=title, text=text, section=section,
        page=page, char_start=0, char_end=len(text), ordinal=int(chunk_id.split(":")[1]), ingested_at=1.0,
    )  # fmt: skip


def words(n: int, chunk_id: str) -> Hit:
    """A hit whose chunk is n words long (n tokens under `count_words`)."""
    return Hit(chunk(chunk_id, " ".join(["word"] * n)), score=1.0 / n, source="hybrid")


def count_words(text: str) -> int:
    return len(text.split())


def chunk_ids(sources: Sequence[Source]) -> list[str]:
    return [s.chunk.chunk_id for s in sources]


# -- pack_sources ------------------------------------------------------------------


def test_everything_fits_numbered_in_rank_order() -> None:
    hits = [words(10, "a:0"), words(20, "b:0"), words(5, "c:0")]
    sources = pack_sources(hits, budget_tokens=1000, count_tokens=count_words, max_sources=5)
    assert [s.n for s in sources] == [1, 2, 3]
    assert chunk_ids(sources) == ["a:0", "b:0", "c:0"]
    assert [s.score for s in sources] == [h.score for h in hits]
    assert all(s.excerpt is None for s in sources)


def test_each_source_costs_its_tokens_plus_four_and_the_budget_is_inclusive() -> None:
    hits = [words(10, "a:0"), words(20, "b:0")]  # costs 14 and 24
    assert chunk_ids(pack_sources(hits, budget_tokens=38, count_tokens=count_words, max_sources=5)) == ["a:0", "b:0"]
    assert chunk_ids(pack_sources(hits, budget_tokens=37, count_tokens=count_words, max_sources=5)) == ["a:0"]
    assert pack_sources(hits, budget_tokens=13, count_tokens=count_words, max_sources=5) == []


def test_a_chunk_that_does_not_fit_is_skipped_and_a_smaller_later_one_still_fits() -> None:
    hits = [words(10, "a:0"), words(100, "big:0"), words(10, "c:0"), words(100, "big:1"), words(5, "d:0")]
    sources = pack_sources(hits, budget_tokens=40, count_tokens=count_words, max_sources=5)
    assert chunk_ids(sources) == ["a:0", "c:0", "d:0"]  # 14 + 14 + 9 = 37
    assert [s.n for s in sources] == [1, 2, 3]  # renumbered without gaps


def test_max_sources_stops_packing() -> None:
    hits = [words(1, f"d{i}:0") for i in range(10)]
    sources = pack_sources(hits, budget_tokens=10_000, count_tokens=count_words, max_sources=3)
    assert chunk_ids(sources) == ["d0:0", "d1:0", "d2:0"]


def test_tokens_are_counted_on_the_indexed_text_with_its_header() -> None:
    titled = Hit(chunk("a:0", "one two three", title="Big Title Here"), score=1.0, source="dense")
    seen: list[str] = []

    def counting(text: str) -> int:
        seen.append(text)
        return count_words(text)

    # header (3 words) + text (3 words) + 4 = 10
    assert len(pack_sources([titled], budget_tokens=10, count_tokens=counting, max_sources=1)) == 1
    assert seen == ["Big Title Here\none two three"]
    assert pack_sources([titled], budget_tokens=9, count_tokens=count_words, max_sources=1) == []


# -- Source.text and Source.location --------------------------------------------------


def test_text_is_the_indexed_text_or_the_excerpt_alone() -> None:
    c = chunk("a:0", "First. Second.", title="Doc", section=("Doc", "Part 2"))
    assert Source(n=1, chunk=c, score=1.0).text == "Doc > Part 2\nFirst. Second."
    assert Source(n=1, chunk=c, score=1.0, excerpt="Second.").text == "Second."


@pytest.mark.parametrize(
    ("title", "page", "section", "location"),
    [
        ("NIST CSF", None, (), "NIST CSF"),
        ("", None, (), "docs/a.md"),
        ("NIST CSF", 7, (), "NIST CSF, p. 7"),
        ("NIST CSF", 7, ("Detect", "DE.CM"), "NIST CSF, p. 7, Detect > DE.CM"),
        ("", None, ("Intro",), "docs/a.md, Intro"),
        ("Guide", 0, (), "Guide, p. 0"),  # page 0 is a page, not "no page"
    ],
)
def test_location(title: str, page: int | None, section: tuple[str, ...], location: str) -> None:
    c = Chunk(
        chunk_id="docs/a.md:0", doc_id="docs/a.md", doc_version="v1", source="docs/a.md", title=title, text="x",
        section=section, page=page, char_start=0, char_end=1, ordinal=0, ingested_at=1.0,
    )  # fmt: skip
    assert Source(n=1, chunk=c, score=1.0).location == location


@pytest.mark.parametrize(
    ("section", "page", "location"),
    [
        (("Volcanoes", "Modern"), None, "Volcanoes, Modern"),
        (("Volcanoes",), None, "Volcanoes"),  # the H1 alone: nothing left to add
        (("Volcanoes",), 3, "Volcanoes, p. 3"),
        (("Modern", "Volcanoes"), None, "Volcanoes, Modern > Volcanoes"),  # only a leading repeat is dropped
        (("Volcanoes", "Volcanoes"), None, "Volcanoes, Volcanoes"),  # a subsection named like the title stays
    ],
)
def test_location_does_not_repeat_the_title_as_a_section(
    section: tuple[str, ...], page: int | None, location: str
) -> None:
    # Markdown chunks carry the H1 as both the title and the first section.
    c = chunk("v.md:0", "x", title="Volcanoes", section=section, page=page)
    assert Source(n=1, chunk=c, score=1.0).location == location


# -- select_excerpts (real embedder) -------------------------------------------------

VOLCANO = chunk(
    "volcano.md:0",
    "Iceland has many volcanoes and glaciers. Hekla erupted in the year 1104 and buried farms in the valley. "
    "Tourists hike to the summit in summer.",
    title="Volcanoes",
)
BREAD = chunk(
    "bread.md:0",
    "A sourdough starter is flour and water with wild yeast. Feed the starter every twelve hours. "
    "Bake the loaf at 250 degrees Celsius for twenty minutes.",
    title="Sourdough",
)
CHESS = chunk(
    "chess.md:0",
    "Chess began in India as chaturanga. The queen became the strongest piece in Spain in the fifteenth century.",
    title="Chess",
)
HITS = [Hit(VOLCANO, 0.9, "hybrid"), Hit(BREAD, 0.5, "hybrid"), Hit(CHESS, 0.3, "hybrid")]


@pytest.fixture(scope="module")
def embed() -> object:
    embedder = LocalEmbedder(runtime="onnx")
    return lambda texts: embedder.embed(list(texts), kind="query")


@pytest.mark.parametrize(
    ("question", "chunk_id", "answer_sentence"),
    [
        ("In which year did Hekla erupt?", "volcano.md:0", "Hekla erupted in the year 1104 and buried farms in the valley."),
        ("How often should the sourdough starter be fed?", "bread.md:0", "Feed the starter every twelve hours."),
        ("At what temperature is the loaf baked?", "bread.md:0", "Bake the loaf at 250 degrees Celsius for twenty minutes."),
        ("When did the queen become the strongest chess piece?", "chess.md:0",
         "The queen became the strongest piece in Spain in the fifteenth century."),
    ],
)  # fmt: skip
def test_the_answering_sentence_comes_first_with_its_chunk_and_the_sentence_before(
    embed: object, question: str, chunk_id: str, answer_sentence: str
) -> None:
    sources = select_excerpts(question, HITS, embed=embed, max_excerpts=3)  # type: ignore[arg-type]
    best = sources[0]
    assert (best.n, best.chunk.chunk_id) == (1, chunk_id)
    assert best.excerpt is not None and best.excerpt.endswith(answer_sentence)
    text = best.chunk.text
    before = text[: text.index(answer_sentence)].rstrip()
    # The sentence before the answer (if any) is kept for context; the excerpt is a span of the chunk.
    assert best.excerpt in text
    assert len(best.excerpt) > len(answer_sentence) if before else best.excerpt == answer_sentence
    assert best.text == best.excerpt
    assert best.score == max(s.score for s in sources)


def test_excerpts_are_numbered_ranked_and_never_repeat_a_sentence(embed: object) -> None:
    sources = select_excerpts("In which year did Hekla erupt?", HITS, embed=embed, max_excerpts=5)  # type: ignore[arg-type]
    assert [s.n for s in sources] == list(range(1, len(sources) + 1))
    assert len(sources) == 5
    scores = [s.score for s in sources]
    assert scores == sorted(scores, reverse=True)
    spans: dict[str, list[tuple[int, int]]] = {}
    for s in sources:
        assert s.excerpt is not None and s.excerpt in s.chunk.text
        start = s.chunk.text.index(s.excerpt)
        spans.setdefault(s.chunk.chunk_id, []).append((start, start + len(s.excerpt)))
    for taken in spans.values():  # excerpts of one chunk never overlap
        taken.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(taken))


def test_max_excerpts_and_chunks_limit_what_is_considered(embed: object) -> None:
    one = select_excerpts("In which year did Hekla erupt?", HITS, embed=embed, max_excerpts=1)  # type: ignore[arg-type]
    assert len(one) == 1
    only_first_chunk = select_excerpts(
        "When did the queen become the strongest chess piece?",
        HITS,
        embed=embed,
        max_excerpts=3,
        chunks=1,  # type: ignore[arg-type]
    )
    assert {s.chunk.chunk_id for s in only_first_chunk} == {"volcano.md:0"}


def test_score_is_cosine_plus_half_the_question_term_overlap(embed: object) -> None:
    question = "Feed the starter?"
    sources = select_excerpts(question, [Hit(BREAD, 1.0, "dense")], embed=embed, max_excerpts=1)  # type: ignore[arg-type]
    sentence = "Feed the starter every twelve hours."
    vectors = embed([question, sentence])  # type: ignore[operator]
    expected = float(np.dot(vectors[0], vectors[1])) + 0.5 * 1.0  # both question terms are in the sentence
    assert sources[0].excerpt is not None and sources[0].excerpt.endswith(sentence)
    assert sources[0].score == pytest.approx(expected, abs=1e-5)


def test_a_chunk_without_sentence_ends_is_one_excerpt(embed: object) -> None:
    table = chunk("t.csv:0", "| year | event |\n| 1104 | Hekla erupts |")
    sources = select_excerpts("Hekla", [Hit(table, 1.0, "keyword")], embed=embed)  # type: ignore[arg-type]
    assert [s.excerpt for s in sources] == [table.text]


def test_no_hits_no_excerpts(embed: object) -> None:
    assert select_excerpts("anything", [], embed=embed) == []  # type: ignore[arg-type]
