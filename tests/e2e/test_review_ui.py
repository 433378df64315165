"""The Review page in a real browser, against `dayshift serve`: harvest real traces into candidate cases, read
where one came from, label it, and find the label in the dataset file; follow a case to its trace on the Ask page.

The traces are made the way users make them: questions asked over HTTP (the index is empty, so the bundled
pipeline abstains on both), one of them rated down with a comment. A real SQuAD 2.0 sample is the other
dataset, for the filters. Every request must go to the server, and the page may log no error. With
DAYSHIFT_UPDATE_SCREENSHOTS=1 the screenshot also goes to docs/review-ui.png.

Chromium's launch arguments and the skips (no Chromium, no Playwright, no bundled model) are test_web_ui's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_web_ui import CHROMIUM, CHROMIUM_ARGS, _png_size

from dayshift.evals.cases import EvalCase, load_dataset, save_dataset
from dayshift.evals.importers import import_squad
from dayshift.testing.serve_process import ServeProcess

sync_api = pytest.importorskip("playwright.sync_api", reason='needs Playwright: pip install -e ".[dev]"')
pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "review-ui.png"
VIEWPORT = {"width": 1280, "height": 800}
OFF_TOPIC = "What is the boiling point of tungsten?"
DOWNVOTED = "How long is the northern coastline?"  # no name in it: stored traces are redacted
COMMENT = "it should know the coastline"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("review-ui")
    squad = shared_data / "squad2" / "dev-v2.0-part-a.json.gz"
    if not squad.exists():
        pytest.skip(f"needs {squad} (set DAYSHIFT_SHARED_DATA to the folder holding squad2/)")
    cases: list[EvalCase] = import_squad(squad, corpus_dir=path / "squad2-corpus", articles=1, limit=12, seed=2).cases
    for case in cases:
        case.status = "candidate"
    save_dataset(path / "evals" / "squad2.jsonl", cases)
    return path


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[str]:
    with ServeProcess(data_dir) as served:
        asked = [httpx.post(f"{served.url}/v1/ask", json={"question": q}, timeout=120).json()
                 for q in (OFF_TOPIC, DOWNVOTED)]
        assert all(a["abstained"] for a in asked), asked
        rated = httpx.post(f"{served.url}/v1/feedback", json={"trace_id": asked[1]["trace_id"], "rating": "down",
                                                               "comment": COMMENT}, timeout=30)
        assert rated.status_code == 201, rated.text
        yield served.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _case_items(page: Any) -> list[str]:
    return page.locator("[data-testid=case-item]").evaluate_all("items => items.map(i => i.dataset.caseId)")


def test_harvest_label_and_follow_a_case_to_its_trace(server: str, browser: Any, data_dir: Path,
                                                      tmp_path: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith((server, "data:")) else problems.append(f"request to {r.url}"))

    # From the Ask page's navigation to the Review page, which opens on the SQuAD sample's candidates.
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("review-link").click()
    page.wait_for_selector("body[data-ready=true]")
    assert page.url.endswith("/review.html")
    squad = load_dataset(data_dir / "evals" / "squad2.jsonl").cases
    assert page.get_by_test_id("review-dataset").input_value() == "squad2"
    assert _case_items(page) == [c.id for c in squad]
    page.get_by_test_id("review-tag").fill("unanswerable")
    page.get_by_test_id("review-tag").press("Enter")  # a change event; the form itself never submits
    page.wait_for_function("n => document.querySelectorAll('[data-testid=case-item]').length === n",
                           arg=sum(not c.answerable for c in squad))
    assert _case_items(page) == [c.id for c in squad if not c.answerable]
    page.get_by_test_id("review-tag").fill("")
    page.get_by_test_id("review-tag").press("Enter")

    # Harvest: both traces become candidates in harvested.jsonl, which the page switches to.
    page.get_by_test_id("harvest-button").click()
    page.wait_for_selector("[data-testid=review-message][data-state=harvested]")
    assert "Harvested 2 new candidates" in page.get_by_test_id("review-message").inner_text()
    assert page.get_by_test_id("review-dataset").input_value() == "harvested"
    harvested = {c.question: c for c in load_dataset(data_dir / "evals" / "harvested.jsonl").cases}
    assert set(harvested) == {OFF_TOPIC, DOWNVOTED}
    assert sorted(_case_items(page)) == sorted(c.id for c in harvested.values())

    # The downvoted case shows where it came from, with a link to its trace.
    downvoted = harvested[DOWNVOTED]
    page.locator(f"[data-testid=case-item][data-case-id='{downvoted.id}']").click()
    assert page.get_by_test_id("case-question").inner_text() == DOWNVOTED
    assert COMMENT in page.get_by_test_id("origin-facts").inner_text()
    assert page.get_by_test_id("origin-answer").inner_text().strip()
    link = page.get_by_test_id("origin-trace-link")
    assert link.get_attribute("href") == f"./#trace={downvoted.origin['trace_id']}"
    assert page.get_by_test_id("case-answerable").is_checked()  # guessed from the negative feedback

    # Label it: an expected answer and a tag, then accept; the dataset file holds the label.
    page.get_by_test_id("case-answers").fill("about 600 km\n  about 600 km  ")
    page.get_by_test_id("case-tags").fill("harvested, negative-feedback, geography")
    page.get_by_test_id("case-accept").click()
    page.wait_for_selector(f"[data-testid=case-save-status][data-state=saved][data-case-id='{downvoted.id}']")
    stored = {c.id: c for c in load_dataset(data_dir / "evals" / "harvested.jsonl").cases}
    accepted = stored[downvoted.id]
    assert (accepted.status, accepted.expected_answers, accepted.answerable) == ("accepted", ["about 600 km"], True)
    assert accepted.tags == ["harvested", "negative-feedback", "geography"]
    badge = page.locator(f"[data-testid=case-item][data-case-id='{downvoted.id}'] [data-testid=case-status]")
    assert badge.inner_text() == "accepted"

    # The abstention: nothing in the documents answers it, so it is rejected as a case as it stands.
    off_topic = harvested[OFF_TOPIC]
    page.locator(f"[data-testid=case-item][data-case-id='{off_topic.id}']").click()
    assert not page.get_by_test_id("case-answerable").is_checked()
    assert page.get_by_test_id("case-answers").is_disabled()
    page.get_by_test_id("case-note").fill("off topic for this corpus")
    page.get_by_test_id("case-reject").click()
    page.wait_for_selector(f"[data-testid=case-save-status][data-state=saved][data-case-id='{off_topic.id}']")
    rejected = {c.id: c for c in load_dataset(data_dir / "evals" / "harvested.jsonl").cases}[off_topic.id]
    assert (rejected.status, rejected.note, rejected.expected_answers) == ("rejected", "off topic for this corpus", [])
    page.locator(f"[data-testid=case-item][data-case-id='{downvoted.id}']").click()

    keep = [SCREENSHOT] if os.environ.get("DAYSHIFT_UPDATE_SCREENSHOTS") else []  # docs/ only when asked
    for shot in (tmp_path / "review-ui.png", *keep):
        page.screenshot(path=str(shot))
        assert _png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
        assert shot.stat().st_size > 20_000, "the screenshot is nearly blank"

    # The trace link opens the Ask page's trace view on that trace, with its feedback.
    page.goto(f"{server}/{link.get_attribute('href').removeprefix('./')}")
    page.wait_for_selector("[data-testid=trace-view-id]")
    assert page.get_by_test_id("trace-view-id").inner_text() == downvoted.origin["trace_id"]
    assert COMMENT in page.get_by_test_id("trace-feedback").inner_text()
    assert not problems, "\n".join(problems)
    page.close()
