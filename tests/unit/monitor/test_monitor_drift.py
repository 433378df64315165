"""Query drift with the real embedder: SciFact claims as the usual questions, Rust book headings as a new topic."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from monitor_traffic import END, Change, hour, week, write

from dayshift.assemble import open_embedder
from dayshift.monitor.rules import Rules
from dayshift.monitor.run import run_detectors
from dayshift.settings import load_settings
from dayshift.trace.store import TraceStore, default_trace_url


@pytest.fixture(scope="module")
def embed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[str]], np.ndarray]:
    embedder = open_embedder(load_settings(data_dir=tmp_path_factory.mktemp("embed")))
    return lambda texts: embedder.embed(texts, kind="query")


@pytest.fixture(scope="module")
def questions(shared_data: Path) -> tuple[list[str], list[str]]:
    claims = [json.loads(line)["text"] for line in (shared_data / "beir/scifact/queries.jsonl").read_text().splitlines()]
    usual = [f"Is it true that {c[0].lower()}{c[1:].rstrip('.')}?" for c in claims[:400]]
    headings = sorted({m.group(1).replace("`", "") for path in (shared_data / "markdown_rust_book/src").glob("*.md")
                       for m in re.finditer(r"^#{2,3}\s+(.+)$", path.read_text(), re.MULTILINE)
                       if len(m.group(1).split()) >= 3})
    return usual, [f"How does {h[0].lower()}{h[1:]} work in Rust?" for h in headings[:60]]


def report(tmp_path: Path, rules: Rules, embed, current: Callable[[int], str], usual: Callable[[int], str]):  # type: ignore[no-untyped-def]
    with TraceStore(default_trace_url(tmp_path)) as store:
        write(store, week(per_hour=40, queries=usual))
        write(store, hour(change=Change(queries=current), per_hour=40))
        found = run_detectors(store, since=END - timedelta(hours=1), until=END, rules=rules, embed_queries=embed)
    return next(f for f in found.findings if f.check == "query_drift")


def test_a_new_topic_is_found_and_clustered(tmp_path: Path, rules: Rules, embed, questions) -> None:  # type: ignore[no-untyped-def]
    usual, rust = questions
    rng = np.random.default_rng(3)
    ask_usual = lambda i: usual[int(rng.integers(len(usual)))]
    ask_now = lambda i: rust[i % len(rust)] if i % 3 == 0 else ask_usual(i)  # a third about Rust
    drift = report(tmp_path, rules, embed, ask_now, ask_usual)
    assert drift.status == "alert", drift.summary
    assert drift.evidence["far_share"] > 0.25 and drift.evidence["baseline_far_share"] < 0.1
    topics = drift.evidence["topics"]
    assert topics and topics[0]["size"] >= 10
    assert all(example in rust for example in topics[0]["examples"])
    assert set(topics[0]["tenants"]) == {"acme", "globex"}
    assert drift.series and drift.started_at is not None


def test_the_usual_questions_do_not_drift(tmp_path: Path, rules: Rules, embed, questions) -> None:  # type: ignore[no-untyped-def]
    usual, _ = questions
    rng = np.random.default_rng(4)
    ask_usual = lambda i: usual[int(rng.integers(len(usual)))]
    drift = report(tmp_path, rules, embed, ask_usual, ask_usual)
    assert drift.status == "ok", drift.summary
    assert drift.evidence["far_share"] < 0.15
