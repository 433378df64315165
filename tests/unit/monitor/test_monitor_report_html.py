"""The HTML page: the checklist, a plot per finding, escaping, its content policy and the UI's matching hash."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from monitor_samples import HOSTILE_QUERY, T0, points, sample_report

from dayshift.monitor.findings import Finding, MonitorReport
from dayshift.monitor.report_html import CSP, STYLE_HASH, render_html, svg_plot

UI = Path(__file__).resolve().parents[3] / "src" / "dayshift" / "service" / "ui"


class _Page(HTMLParser):
    """Every start tag with its attributes, and the text of <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def test_page_has_the_checklist_and_every_finding() -> None:
    report = sample_report()
    page = render_html(report, config={"llm": "openai:gpt-4o-mini", "store": "embedded"})
    tags = _parse(page).tags
    areas = {a["data-area"]: a["data-status"] for t, a in tags if t == "a" and "data-area" in a}
    assert areas == {"cost": "alert", "quality": "ok", "drift": "warn", "retrieval": "no_data", "latency": "no_data"}
    findings = {a["data-check"]: (t, a["data-status"]) for t, a in tags if "data-check" in a}
    # An ok finding is folded (<details>); one that needs a look is open.
    assert findings == {"cost_spike": ("article", "alert"), "abstention_rate": ("details", "ok"),
                        "query_drift": ("article", "warn")}
    for finding in report.findings:
        assert finding.summary.replace("'", "&#x27;") in page
    assert "1,234 traces" in page and 'data-status="alert"' in page
    # One plot per finding with a series, the runbook linked, the live config listed.
    assert sum(t == "svg" for t, _ in tags) == 3
    links = [a["href"] for t, a in tags if t == "a" and a.get("href", "").endswith(".md")]
    assert links == ["docs/runbooks/cost-spike.md", "docs/runbooks/abstention-rate.md", "docs/runbooks/query-drift.md"]
    assert "openai:gpt-4o-mini" in page and "prompt_version (at detection)" in page


def test_runbook_links_take_the_rules_base_url_and_refuse_other_schemes() -> None:
    page = render_html(sample_report(), runbook_base="https://git.example.com/dayshift/blob/main/")
    assert 'href="https://git.example.com/dayshift/blob/main/docs/runbooks/cost-spike.md"' in page
    report = sample_report()
    report.findings[0].runbook = "javascript:alert(1)"
    hostile = render_html(report)
    assert "javascript:" not in "".join(a.get("href") or "" for _, a in _parse(hostile).tags)


def test_user_text_is_escaped_everywhere() -> None:
    report = sample_report()
    report.findings[2].scope["tenant"] = '"><img src=x onerror=alert(1)>'
    page = render_html(report, config={"prompt": "<b>answer</b>"}, title="<i>t</i>")
    tags = _parse(page).tags
    assert not any(t == "script" for t, _ in tags), "a <script> element got into the page"
    assert not any(t in ("img", "b", "i") for t, _ in tags)
    assert not any(k.startswith("on") for _, a in tags for k in a)
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
    assert "\\x1b[31mred" in page and "\x1b" not in page
    assert HOSTILE_QUERY not in page


def test_page_allows_only_its_own_style_and_loads_nothing() -> None:
    page = render_html(sample_report())
    parsed = _parse(page)
    (style,) = parsed.styles
    digest = "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert digest == STYLE_HASH and f"'{STYLE_HASH}'" in CSP and "default-src 'none'" in CSP
    metas = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert [m["content"] for m in metas] == [CSP]
    assert not any("style" in a for _, a in parsed.tags), "a style= attribute would be blocked by the policy"
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything"


def test_monitor_page_of_the_web_ui_allows_the_report_style() -> None:
    html = (UI / "monitor.html").read_text()
    assert f"'{STYLE_HASH}'" in html, "monitor.html's CSP must carry report_html.STYLE_HASH (the CSS changed?)"
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in html
    assert 'href="monitor.html"' in (UI / "index.html").read_text()


def test_plot_draws_series_and_baseline_to_scale() -> None:
    svg = svg_plot(points([0.0, 1.0, 2.0]), points([1.0, 1.0, 1.0]), status="alert", label="x")
    series, baseline = re.findall(r'<polyline points="([^"]+)"[^>]*stroke="([^"]+)"', svg)[::-1]
    assert series[1] == "#cf222e" and baseline[1] == "#6e7781"
    ys = [float(p.split(",")[1]) for p in series[0].split()]
    assert ys[0] > ys[1] > ys[2]  # rising values climb the picture
    assert "stroke-dasharray" in svg.split("<polyline")[1]  # the baseline is dashed (drawn first)
    assert "<title>x: 3 points, last 2" in svg


def test_plot_of_one_point_and_of_nothing() -> None:
    assert "<circle" in svg_plot(points([0.4]))
    assert "No values" in svg_plot(points([float("nan")]))
    finding = Finding(area="retrieval", check="reranker_silent", status="ok", summary="re-ranker runs",
                      runbook="docs/runbooks/reranker-silent.md")
    page = render_html(MonitorReport(since=T0, until=T0 + timedelta(hours=1), findings=[finding]))
    assert "No series for this check." in page and page.count("No checks ran.") == 4
