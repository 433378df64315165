"""Harvesting production traces into candidate cases: which traces, what the cases hold, and re-runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dayshift.cli.eval_data import harvest_cmd
from dayshift.errors import ConfigError
from dayshift.evals.cases import load_dataset, update_case
from dayshift.evals.harvest import harvest, window_start
from dayshift.settings import Settings
from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord
from dayshift.trace.redact import TextRedactor, prepare_for_storage
from dayshift.trace.store import TraceStore, default_trace_url

NOW = datetime.now(UTC).replace(microsecond=0)


def _trace(n: int, query: str | None, **changes: object) -> TraceRecord:
    record = TraceRecord(
        trace_id=f"{n:032x}", tenant="default", route="/v1/ask", started_at=NOW - timedelta(hours=n),
        query=query, answer=f"Answer {n} [1].", prompt_name="answer", prompt_version="1", abstained=False,
        confidence=0.8, retrieved=[RetrievedChunk(rank=r, chunk_id=f"d{r}.md:0", doc_id=f"docs/d{r}.md",
                                                  doc_version="v", score=1 / r) for r in (2, 1, 3)],
    )
    return replace(record, **changes)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    with TraceStore(default_trace_url(tmp_path)) as opened:
        opened.write([
            _trace(1, "How do I rotate the VPN token?"),                                    # down, with a comment
            _trace(2, "What is the boiling point of tungsten?", abstained=True,             # abstained
                   abstain_reason="no source is close enough", answer="I don't know."),
            _trace(3, "Which formats can be ingested?", abstained=True),                    # abstained, rated up
            _trace(4, "How are incidents prioritised?"),                                    # rated up
            _trace(5, "Who approves a refund?"),                                            # down, then up
            _trace(6, None),                                                                # down, no stored text
            _trace(7, "Why did the export fail?", status="error", http_status=502),         # down, but failed
            _trace(8, "how do I rotate the VPN token",                                      # down, asked again later
                   started_at=NOW - timedelta(minutes=30)),
            _trace(9, "Where is the acme handbook?", tenant="acme", abstained=True),        # another tenant
            _trace(24 * 9, "What changed last week?", abstained=True),                      # before the window
        ])
        for trace_id, rating, comment in [(1, "down", "it told me to reinstall"), (3, "up", ""), (4, "up", ""),
                                          (5, "down", ""), (5, "up", "it was right after all"), (6, "down", ""),
                                          (7, "down", ""), (8, "down", "")]:
            given = Feedback(f"{trace_id:032x}", "default", rating, comment,  # type: ignore[arg-type]
                             created_at=NOW + timedelta(seconds=trace_id * 10 + (rating == "up")))
            assert opened.add_feedback(given)
        yield opened


def test_negative_feedback_and_abstentions_become_candidates(store: TraceStore, tmp_path: Path) -> None:
    path = tmp_path / "evals" / "harvested.jsonl"
    report = harvest(store, path, since=NOW - timedelta(days=7), until=NOW + timedelta(minutes=1))
    # trace 8 asks trace 1's question again: one case, counted as repeated, not as "already there" (a new file)
    assert (report.scanned, report.candidates, report.added, report.without_text, report.known, report.repeated) \
        == (9, 6, 4, 1, 0, 1)
    cases = {c.id: c for c in load_dataset(path).cases}
    assert set(cases) == {f"trace-{n:032x}" for n in (1, 2, 3, 9)}

    down = cases[f"trace-{1:032x}"]
    assert (down.question, down.status, down.answerable) == ("How do I rotate the VPN token?", "candidate", True)
    assert down.expected_answers == [] and down.expected_sources == []
    assert down.tags == ["harvested", "negative-feedback"] and "guessed true" in down.note
    assert down.origin == {
        "trace_id": f"{1:032x}", "reason": "negative-feedback", "tenant": "default", "route": "/v1/ask",
        "started_at": (NOW - timedelta(hours=1)).isoformat(), "answer": "Answer 1 [1].", "abstain_reason": None,
        "comment": "it told me to reinstall", "retrieved": ["docs/d1.md", "docs/d2.md", "docs/d3.md"],
    }
    abstained = cases[f"trace-{2:032x}"]
    assert not abstained.answerable and abstained.tags == ["harvested", "abstention"]
    assert abstained.origin["abstain_reason"] == "no source is close enough" and "guessed false" in abstained.note
    assert cases[f"trace-{9:032x}"].origin["tenant"] == "acme"


def test_two_tenants_asking_alike_are_two_cases(tmp_path: Path) -> None:
    question = "How do I rotate the VPN token?"
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write([_trace(1, question, abstained=True), _trace(2, question, tenant="acme", abstained=True),
                     _trace(3, question.lower(), tenant="acme", abstained=True)])
        report = harvest(store, tmp_path / "h.jsonl", since=NOW - timedelta(days=1))
        assert (report.added, report.known, report.repeated) == (2, 0, 1)
        cases = load_dataset(tmp_path / "h.jsonl").cases
        assert sorted(c.origin["tenant"] for c in cases) == ["acme", "default"]
        again = harvest(store, tmp_path / "h.jsonl", since=NOW - timedelta(days=1))
        assert (again.added, again.known, again.repeated) == (0, 3, 0)


def test_a_tenant_harvests_only_its_traces(store: TraceStore, tmp_path: Path) -> None:
    report = harvest(store, tmp_path / "acme.jsonl", since=NOW - timedelta(days=7), tenant="acme")
    assert (report.scanned, report.added) == (1, 1)
    assert load_dataset(tmp_path / "acme.jsonl").cases[0].question == "Where is the acme handbook?"


def test_harvesting_again_adds_only_new_traces_and_keeps_reviews(store: TraceStore, tmp_path: Path) -> None:
    path = tmp_path / "harvested.jsonl"
    harvest(store, path, since=NOW - timedelta(days=7))
    update_case(path, f"trace-{1:032x}", status="accepted", expected_answers=["Open Settings, then Security"])
    store.write([_trace(10, "Can I reuse an old VPN token?", started_at=NOW - timedelta(minutes=5))])
    assert store.add_feedback(Feedback(f"{10:032x}", "default", "down", "no"))
    again = harvest(store, path, since=NOW - timedelta(days=7))
    assert again.added == 1 and again.known == 5
    cases = {c.id: c for c in load_dataset(path).cases}
    assert len(cases) == 5 and cases[f"trace-{1:032x}"].status == "accepted"
    assert cases[f"trace-{10:032x}"].origin["comment"] == "no"


def test_the_stored_question_is_the_redacted_one(tmp_path: Path) -> None:
    asked = _trace(1, "Why was John Smith's claim denied?", abstained=True, answer="I don't know.")
    stored = prepare_for_storage(asked, store_text="redacted", redactor=TextRedactor())
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write([stored])
        harvest(store, tmp_path / "h.jsonl", since=NOW - timedelta(days=1))
    (case,) = load_dataset(tmp_path / "h.jsonl").cases
    assert "John Smith" not in case.question and "<PERSON" in case.question and "claim denied" in case.question


def test_window_start() -> None:
    assert window_start("7d", now=NOW) == NOW - timedelta(days=7)
    assert window_start("90m", now=NOW) == NOW - timedelta(minutes=90)
    assert window_start("2025-03-01", now=NOW) == datetime(2025, 3, 1, tzinfo=UTC)
    assert window_start("2025-03-01T06:00+02:00", now=NOW) == datetime(2025, 3, 1, 4, tzinfo=UTC)
    for bad in ("a week", "7w", "99999999d"):
        with pytest.raises(ConfigError, match="is not a start: use 7d, 24h, 90m"):
            window_start(bad, now=NOW)


def test_the_harvest_command(store: TraceStore, tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=tmp_path)

    app.command("harvest")(harvest_cmd)
    done = CliRunner().invoke(app, ["harvest", "--since", "7d"])
    assert done.exit_code == 0, done.output
    assert "9 traces since 7d: 6 with negative feedback or an abstention; added 4 candidates" in done.output
    assert "1 had no stored question" in done.output and "Review page" in done.output
    assert "already there" not in done.output and "1 asked again in the window, kept as one case" in done.output
    assert len(load_dataset(tmp_path / "evals" / "harvested.jsonl").cases) == 4
    only = CliRunner().invoke(app, ["harvest", "--tenant", "acme", "--out", str(tmp_path / "acme.jsonl")])
    assert only.exit_code == 0 and "1 traces since 7d" in only.output
    bad = CliRunner().invoke(app, ["harvest", "--tenant", "Not A Tenant"])
    assert bad.exit_code != 0 and "invalid tenant name" in str(bad.exception)


def test_the_harvest_command_needs_a_trace_database(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=tmp_path / "empty")

    app.command("harvest")(harvest_cmd)
    done = CliRunner().invoke(app, ["harvest"])
    assert isinstance(done.exception, ConfigError) and "no trace database" in str(done.exception)
