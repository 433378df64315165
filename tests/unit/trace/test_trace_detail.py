"""The debugger's detail in a trace: built from an Answer, stored under trace.store_text, migrated in."""

from __future__ import annotations

import copy
from pathlib import Path

import sqlalchemy as sa
from test_trace_redact import redactor_for
from trace_factory import make_record

from dayshift.answer.abstain import Evidence
from dayshift.answer.answerer import Answer
from dayshift.answer.prompts import parse_template
from dayshift.answer.sources import Source
from dayshift.answer.support import Support
from dayshift.retrieve.retriever import SearchResult
from dayshift.trace.detail import RecordingSearcher, answer_detail, recording, text_slots
from dayshift.trace.redact import prepare_for_storage
from dayshift.trace.store import TraceStore, create_trace_engine, default_trace_url
from dayshift.types import Chunk, Hit

PROMPT = parse_template("---\nname: qa\nversion: 3\n---\n[system]\nCite [n].\n[user]\n"
                        "{% for s in sources %}[{{ s.n }}] {{ s.text }}\n{% endfor %}Q: {{ question }}\n", path="qa.md")


def chunk(i: int) -> Chunk:
    return Chunk(chunk_id=f"guide.md:{i}", doc_id="guide.md", doc_version="v1", source="guide.md", title="Guide",
                 text=f"Ada Lovelace wrote note {i}.", section=("Guide",), page=None, char_start=0, char_end=10,
                 ordinal=i, ingested_at=0.0)


def an_answer(*, abstained: bool, drafted: bool) -> tuple[Answer, SearchResult]:
    hits = [Hit(chunk(i), 1.0 - i / 10, "hybrid") for i in range(3)]
    found = SearchResult(hits=hits, raw_scores={"keyword": {"guide.md:0": 4.0, "guide.md:2": 7.5, "other:1": 1.5},
                                                "dense": {"guide.md:0": 0.8, "guide.md:1": 0.6}})
    source = Source(n=1, chunk=hits[0].chunk, score=1.0, excerpt="Ada Lovelace wrote note 0.")
    support = Support(score=0.5, focus=1.0, verbatim=False, best=source, unsupported_terms=("babbag",),
                      checked_against="cited")
    answer = Answer(question="Who wrote note 0?", text="Ada Lovelace [1].", abstained=abstained, confidence=0.7,
                    evidence=Evidence(dense_top=0.8, coverage=1.0), reason="weak" if abstained else "",
                    sources=(source,), retrieved=tuple(hits), draft="Ada Lovelace [1]." if drafted else "",
                    support=support if drafted else None)
    return answer, found


def test_the_detail_holds_each_chunks_scores_and_ranks_the_prompt_and_the_verdict() -> None:
    answer, found = an_answer(abstained=False, drafted=True)
    detail = answer_detail(answer, search=found, template=PROMPT, threshold=0.6, retrieve={"mode": "hybrid"})
    first, second, third = detail["retrieval"]["chunks"]
    assert (first["keyword"], first["keyword_rank"], first["dense"], first["dense_rank"]) == (4.0, 2, 0.8, 1)
    assert (second["keyword"], second["dense_rank"]) == (None, 2)
    assert third["keyword_rank"] == 1 and third["dense"] is None
    assert detail["retrieval"]["keyword_cutoff"] == 1.5 and detail["retrieval"]["fused_cutoff"] == 0.8
    assert detail["messages"][1]["content"] == "[1] Ada Lovelace wrote note 0.\nQ: Who wrote note 0?"
    assert detail["support"]["best"] == {"n": 1, "chunk_id": "guide.md:0"}
    assert {k: detail["verdict"][k] for k in ("abstained", "stage", "reason")} == {
        "abstained": False, "stage": "answered", "reason": ""}
    assert detail["threshold"] == 0.6 and detail["evidence"]["dense_top"] == 0.8


def test_an_abstention_before_generating_has_no_prompt() -> None:
    answer, found = an_answer(abstained=True, drafted=False)
    detail = answer_detail(answer, search=found, template=PROMPT, threshold=0.6)
    assert detail["messages"] == [] and detail["verdict"]["stage"] == "retrieval" and detail["support"] is None


def test_store_text_none_drops_every_text_and_keeps_the_numbers() -> None:
    answer, found = an_answer(abstained=False, drafted=True)
    detail = answer_detail(answer, search=found, template=PROMPT, threshold=0.6)
    stored = prepare_for_storage(make_record(1, detail=detail), store_text="none", redactor=None)
    assert stored.detail["draft"] is None and stored.detail["sources"][0]["text"] is None
    assert all(m["content"] is None for m in stored.detail["messages"])
    assert stored.detail["support"]["unsupported_terms"] is None
    assert stored.detail["retrieval"] == detail["retrieval"] and detail["draft"] == "Ada Lovelace [1]."


def test_redaction_reaches_the_prompt_the_excerpts_and_the_draft() -> None:
    answer, found = an_answer(abstained=False, drafted=True)
    detail = answer_detail(answer, search=found, template=PROMPT, threshold=0.6)
    before = copy.deepcopy(detail)
    stored = prepare_for_storage(make_record(1, detail=detail), store_text="redacted",
                                 redactor=redactor_for("Ada Lovelace"))
    texts = [container[key] for container, key in text_slots(stored.detail)]
    assert texts and not any("Ada Lovelace" in str(t) for t in texts)
    assert stored.detail["draft"] == "<PERSON_1> [1]." and detail == before  # the record's own detail is untouched
    failed = prepare_for_storage(make_record(1, detail=detail), store_text="redacted",
                                 redactor=redactor_for("x", broken=True))
    assert failed.detail["draft"] is None and failed.query is None


def test_the_detail_round_trips_through_the_store(tmp_path: Path) -> None:
    answer, found = an_answer(abstained=False, drafted=True)
    detail = answer_detail(answer, search=found, template=PROMPT, threshold=0.6)
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write([make_record(1, detail=detail), make_record(2)])
        assert store.get(f"{1:032x}", tenant=None).record.detail == detail
        assert store.get(f"{2:032x}", tenant=None).record.detail == {}


def test_a_database_at_revision_0001_gains_the_column(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = default_trace_url(tmp_path)
    engine = create_trace_engine(url)
    config = Config()
    config.set_main_option("script_location", "dayshift.trace:migrations")
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO traces (trace_id, tenant, route, started_at, request_id, status, http_status, latency_ms, "
            "stages_ms, retrieved, input_tokens, output_tokens, cost_usd, retries, errors, params) VALUES "
            "('old', 'acme', '/v1/ask', '2025-01-01 00:00:00', 'r', 'ok', 200, 1.0, '{}', '[]', 0, 0, 0, 0, "
            "'[]', '{}')"))
    engine.dispose()
    with TraceStore(url) as store:  # migrates to the head
        assert store.get("old", tenant=None).record.detail == {}


def test_the_recording_searcher_keeps_the_result_only_inside_a_block() -> None:
    class Inner:
        settings = "retrieval settings"

        def search(self, query: str, *, k: int = 10, where=()):  # type: ignore[no-untyped-def]
            return SearchResult(hits=[], timings_ms={"q": len(query)})

    searcher = RecordingSearcher(Inner())
    searcher.search("outside")
    with recording() as seen:
        result = searcher.search("inside", k=3)
    assert seen.result is result and searcher.settings == "retrieval settings"
