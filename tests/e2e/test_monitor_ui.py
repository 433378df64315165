"""The monitor's report in a real browser: the HTML file `dayshift monitor report --html` writes, and the web
UI's Monitor page, which shows GET /v1/monitor/report of a running `dayshift serve` in a sandboxed frame.

The traces are seven calm days and a bad one (dayshift.testing.monitor_traffic); one of the bad day's
questions is a <script> element, which must show as text and never run. Every request must go to the
server, no script may run in the report, and the page may log no error (a style blocked by the content
policy would be one). With DAYSHIFT_UPDATE_SCREENSHOTS=1 the screenshot also goes to docs/monitor-report.png.

Chromium's launch arguments, the server helpers and the skips (no Chromium, no Playwright, no bundled
model) are test_web_ui's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from test_web_ui import CHROMIUM, CHROMIUM_ARGS, _png_size
from typer.testing import CliRunner

from dayshift.cli.monitor import monitor_app
from dayshift.settings import Settings
from dayshift.testing.monitor_traffic import synthetic_traffic, write_traffic
from dayshift.testing.serve_process import ServeProcess
from dayshift.trace.store import TraceStore, default_trace_url

sync_api = pytest.importorskip("playwright.sync_api", reason='needs Playwright: pip install -e ".[dev]"')
pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "monitor-report.png"
VIEWPORT = {"width": 1280, "height": 800}
AREAS = ("cost", "quality", "drift", "retrieval", "latency")
HOSTILE = '<script>alert("drift")</script>'


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monitor-ui")
    records, feedback = synthetic_traffic(now=datetime.now(UTC), days=8, per_day=120)
    with TraceStore(default_trace_url(path)) as store:
        write_traffic(store, records, feedback)
    return path


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    with ServeProcess(data_dir) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _watched_page(browser: Any, *, allowed: tuple[str, ...]) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append(f"a script ran: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(allowed) else problems.append(f"request to {r.url}"))
    return page, problems


def _area_statuses(scope: Any) -> dict[str, str]:
    return dict(scope.locator("[data-area]").evaluate_all("cards => cards.map(c => [c.dataset.area, c.dataset.status])"))


def test_the_html_report_file(data_dir: Path, browser: Any, tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings(data_dir=data_dir)

    app.add_typer(monitor_app, name="monitor")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["monitor", "report", "--since", "24h", "--html", str(report)],
                                env={"NO_COLOR": "1", "HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 4, result.output  # 4: the worst status is alert

    page, problems = _watched_page(browser, allowed=("file://", "data:"))
    page.goto(report.as_uri())
    statuses = _area_statuses(page)
    assert set(statuses) == set(AREAS) and statuses["quality"] == "alert"
    assert page.get_by_test_id("overall-status").inner_text().lower() == "alert"
    assert page.locator("article.finding svg polyline").count() >= 2  # plots, series and baseline
    assert HOSTILE in page.locator("#area-drift").inner_text()  # shown as text
    # Styles apply under the page's own content policy: an alert card has a red top border.
    border = page.locator("[data-area=quality]").evaluate("c => getComputedStyle(c).borderTopColor")
    assert border == "rgb(207, 34, 46)"
    assert not problems, "\n".join(problems)
    page.close()


def test_the_monitor_page_of_the_web_ui(base_url: str, browser: Any, tmp_path: Path) -> None:
    page, problems = _watched_page(browser, allowed=(base_url, "data:", "about:srcdoc"))
    page.goto(base_url)
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_test_id("monitor-link").click()
    page.wait_for_selector("[data-testid=monitor-status][data-state=loaded]", state="attached")
    assert page.url.endswith("/monitor.html")

    frame = page.frame_locator("[data-testid=monitor-frame]")
    frame.locator("[data-area=cost]").wait_for()
    statuses = _area_statuses(frame)
    assert set(statuses) == set(AREAS) and statuses["quality"] == "alert" and statuses["drift"] == "alert"
    assert frame.locator("[data-check=abstention_rate][data-status=alert]").count() == 1
    assert HOSTILE in frame.locator("#area-drift").inner_text()
    border = frame.locator("[data-area=quality]").evaluate("c => getComputedStyle(c).borderTopColor")
    assert border == "rgb(207, 34, 46)", "the report's style was blocked"

    keep = [SCREENSHOT] if os.environ.get("DAYSHIFT_UPDATE_SCREENSHOTS") else []  # docs/ only when asked
    for shot in (tmp_path / "monitor-report.png", *keep):
        page.screenshot(path=str(shot))
        assert _png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
        assert shot.stat().st_size > 20_000, "the screenshot is nearly blank"

    # Another window reloads the report in place.
    page.get_by_test_id("monitor-since").select_option("7d")
    page.wait_for_selector("[data-testid=monitor-frame][data-since='7d']")
    frame.locator("[data-area=cost]").wait_for()
    assert not problems, "\n".join(problems)
    page.close()
