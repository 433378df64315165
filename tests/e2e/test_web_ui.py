"""The web UI in a real browser, against `dayshift serve` on the demo corpus with the bundled models.

One walk through the page, as a user takes it: ask a question the corpus answers and watch the
draft grow token by token, get the final answer with a citation, open the cited passage, rate the
answer (and find the rating in the trace over HTTP), read the trace's stage timings, then ask
something the corpus cannot answer and see the "I don't know". Every request the page makes must
go to the server itself, and the page must log no error.

Needs Debian's Chromium (`apt-get install -y chromium`), driven through Playwright's Python API;
Playwright's own browser downloads are not used. Left out: keyboard-only and screen-reader checks.
"""

from __future__ import annotations

import json
import os
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run

from dayshift.errors import PluginError
from dayshift.llm.local import bundled_model_path
from dayshift.testing.serve_process import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: without these flags Chromium keeps retrying refused connections.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT / "src" / "dayshift" / "demo" / "corpus"
SCREENSHOT = REPO_ROOT / "docs" / "web-ui.png"
VIEWPORT = {"width": 1280, "height": 800}
ANSWERED = "Which file formats can dayshift ingest?"  # the FAQ answers it word for word
OFF_TOPIC = "What is the boiling point of tungsten?"

if not CHROMIUM.exists():
    pytest.skip(f"the web UI test drives Debian's Chromium at {CHROMIUM}: apt-get install -y chromium "
                "(or `make system-deps`)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason='needs Playwright: pip install -e ".[dev]"')
try:
    bundled_model_path()
except PluginError as exc:  # pragma: no cover - the Makefile installs it
    pytest.skip(f"the bundled language model is not installed: {exc}", allow_module_level=True)

pytestmark = pytest.mark.slow


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("web-ui")
    ingested = run(data_dir, "ingest", str(CORPUS))
    assert ingested.returncode == 0, ingested.stderr
    with ServeProcess(data_dir) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# Records the answer card after every change, so the test can see the draft grow while streaming.
WATCH_ANSWER = """() => {
  window.answerLog = [];
  const card = document.querySelector('[data-testid=answer-card]');
  const text = document.querySelector('[data-testid=answer-text]');
  new MutationObserver(() => window.answerLog.push({state: card.dataset.state, length: text.textContent.length}))
    .observe(card, {subtree: true, childList: true, characterData: true, attributes: true,
                    attributeFilter: ['data-state']});
}"""


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def test_ask_stream_cite_rate_trace_and_abstain(base_url: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)  # the bundled model answers in seconds; leave room for a slow runner
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)

    def outside(request: Any) -> None:  # the page must load nothing from the network
        if not request.url.startswith((base_url, "data:")):
            problems.append(f"request outside the server: {request.url}")

    page.on("request", outside)

    page.goto(base_url)
    page.wait_for_selector("body[data-ready=true]")
    card = page.get_by_test_id("answer-card")

    # Ask, and see the draft grow before the final answer replaces it.
    page.evaluate(WATCH_ANSWER)
    page.get_by_test_id("question").fill(ANSWERED)
    page.get_by_test_id("ask-button").click()
    page.wait_for_selector("[data-testid=answer-card][data-state=answered]")
    log = page.evaluate("window.answerLog")
    streamed = [e["length"] for e in log if e["state"] == "streaming" and e["length"] > 0]
    assert len(set(streamed)) >= 2, f"the draft did not grow while streaming: {log}"
    assert streamed == sorted(streamed)
    first_final = next(i for i, e in enumerate(log) if e["state"] == "answered")
    assert all(e["state"] == "streaming" for e in log[:first_final])
    assert page.get_by_test_id("final-answer").inner_text().strip()
    assert page.get_by_test_id("source-item").count() >= 1
    assert 0.0 <= float(page.get_by_test_id("confidence").inner_text()) <= 1.0

    # A citation opens its passage, with the excerpt the model was shown marked inside the chunk.
    marker = page.get_by_test_id("cite-marker").first
    marker.click()
    passage = page.get_by_test_id("passage-text")
    passage.wait_for()
    chunk_text = passage.inner_text()
    excerpt = page.get_by_test_id("passage-excerpt").inner_text()
    assert excerpt.strip() and excerpt in chunk_text
    corpus = " ".join(" ".join(p.read_text() for p in CORPUS.glob("*.md")).split())
    assert " ".join(excerpt.split()) in corpus, "the passage shown is not from the corpus"
    assert page.get_by_test_id("passage-location").inner_text().strip()

    # Thumbs up is recorded on the answer's trace.
    page.get_by_test_id("thumbs-up").click()
    page.wait_for_selector("[data-testid=feedback-status][data-state=recorded]")
    trace_id = card.get_attribute("data-trace-id")
    assert trace_id and page.get_by_test_id("trace-id").inner_text() == trace_id
    trace = _get_json(f"{base_url}/v1/traces/{trace_id}")
    assert [f["rating"] for f in trace["feedback"]] == ["up"]
    assert trace["abstained"] is False and trace["retrieved"]

    keep = [SCREENSHOT] if os.environ.get("DAYSHIFT_UPDATE_SCREENSHOTS") else []  # docs/ only when asked
    for shot in (tmp_path / "web-ui.png", *keep):
        page.screenshot(path=str(shot))
        assert _png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
        assert shot.stat().st_size > 20_000, "the screenshot is nearly blank"

    # The trace view: stage timings as bars, the retrieved chunks, the feedback.
    page.get_by_test_id("open-trace").click()
    page.wait_for_selector("[data-testid=stage-bar]")
    assert page.get_by_test_id("trace-view-id").inner_text() == trace_id
    stages = page.locator("[data-testid=stage-bar]").evaluate_all("bars => bars.map(b => b.dataset.stage)")
    assert {"embed", "keyword", "dense", "fuse", "generate"} <= set(stages)
    assert page.locator("[data-testid=trace-retrieved] tbody tr").count() == len(trace["retrieved"])
    assert "up" in page.get_by_test_id("trace-feedback").inner_text()
    # The debugger's views: the verdict against the threshold, each chunk's keyword and dense scores and
    # ranks, the excerpts sent, the prompt as rendered, the draft and the support.
    detail = trace["detail"]
    assert f"threshold {detail['threshold']:.3f}" in page.get_by_test_id("trace-verdict").inner_text()
    assert "keyword (rank)" in page.get_by_test_id("trace-retrieved").inner_text()
    assert page.locator("[data-testid=trace-excerpts] li").count() == len(detail["sources"])
    page.get_by_test_id("trace-prompt").locator("summary").click()
    assert detail["messages"][-1]["content"][:40] in page.get_by_test_id("trace-prompt").inner_text()
    assert page.get_by_test_id("trace-draft").inner_text() == detail["draft"]
    assert page.get_by_test_id("trace-support").is_visible()

    # A question the corpus does not answer: a clear "I don't know" with its reason.
    page.get_by_test_id("question").fill(OFF_TOPIC)
    page.get_by_test_id("ask-button").click()
    page.wait_for_selector("[data-testid=answer-card][data-state=abstained]")
    assert page.get_by_test_id("answer-status").inner_text() == "I don't know"
    reason = page.get_by_test_id("abstain-reason").inner_text()
    # before drafting (retrieval alone is too weak), or after it (the draft's evidence is): either is said plainly
    assert any(why in reason for why in ("no source is close enough", "the evidence for this answer is too weak",
                                         "the reader found no answer")), reason
    assert page.get_by_test_id("source-item").count() == 0

    # Recent traces list both questions, newest first.
    page.get_by_test_id("tab-recent").click()
    page.wait_for_selector("[data-testid=recent-trace]")
    listed = page.locator("[data-testid=recent-trace]").evaluate_all("items => items.map(i => i.dataset.traceId)")
    assert trace_id in listed[1:]

    assert not problems, "\n".join(problems)
    page.close()
