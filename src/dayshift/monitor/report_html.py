"""The morning report as one self-contained HTML page: the checklist, a plot per finding, the live config.

    render_html(report, config={...}) -> "<!doctype html>..."   (inline CSS, inline SVG, nothing fetched)

`dayshift monitor report --html` writes it to a file, GET /v1/monitor/report
serves it, and the web UI's Monitor page shows it in a sandboxed frame.

Every value is escaped (query examples in the evidence are user text). The
page carries its own Content-Security-Policy: no script may run, nothing may
load, and the one <style> element is allowed by its hash, `STYLE_HASH`, which
the web UI's monitor.html names too. Plots use SVG presentation attributes,
never `style=`, so they pass that policy as well.

Left out: interactivity (zoom, hover values; a plot's <title> gives its
numbers) and matplotlib (a plot is a few lines of SVG; no optional dependency).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dayshift.monitor.findings import AREAS, Finding, MonitorReport, Point, Status
from dayshift.monitor.report import AREA_TITLES, checks_counted, evidence_items, format_time, format_value

__all__ = ["CSP", "STYLE_HASH", "render_html", "svg_plot"]

COLOURS: dict[Status, str] = {"no_data": "#0969da", "ok": "#1a7f37", "warn": "#9a6700", "alert": "#cf222e"}
BASELINE_COLOUR = "#6e7781"
_LIST_ITEMS = 10  # evidence lists (query examples) show this many items
_SAFE_LINK = re.compile(r"^(https?://|[A-Za-z0-9_./-]+$)")  # no javascript:, data: or the like

CSS = """
:root { --ok: #1a7f37; --warn: #9a6700; --alert: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --bg: #f6f8fa; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
body { margin: 0; background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 1.4rem; margin: 0 0 4px; }
h2 { font-size: 1.1rem; margin: 28px 0 10px; }
.window { color: var(--muted); margin: 0 0 16px; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 999px; color: #fff; font-weight: 600;
  font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; }
.badge.no_data { background: #0969da; } .area.no_data { border-top-color: #0969da; }
.finding.no_data { border-left-color: #0969da; } .nodata { color: #0969da; }
.badge.ok { background: var(--ok); } .badge.warn { background: var(--warn); } .badge.alert { background: var(--alert); }
.areas { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
.area { background: #fff; border: 1px solid var(--line); border-top: 4px solid var(--ok); border-radius: 8px;
  padding: 12px 14px; text-decoration: none; color: inherit; }
.area.warn { border-top-color: var(--warn); } .area.alert { border-top-color: var(--alert); }
.area h3 { margin: 0 0 6px; font-size: 1rem; display: flex; justify-content: space-between; align-items: center; }
.area p { margin: 4px 0 0; color: var(--muted); font-size: .85rem; }
.finding { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--ok); border-radius: 8px;
  padding: 12px 16px; margin: 0 0 12px; }
.finding.warn { border-left-color: var(--warn); } .finding.alert { border-left-color: var(--alert); }
.finding h4, .finding summary { margin: 0; font-size: .95rem; font-weight: 600; display: flex; gap: 10px;
  align-items: baseline; flex-wrap: wrap; }
details.finding { padding: 8px 16px; }
details.finding summary { cursor: pointer; list-style: none; font-weight: 400; }
details.finding summary::-webkit-details-marker { display: none; }
details.finding summary::after { content: "details ▸"; margin-left: auto; color: var(--muted); font-size: .8rem; }
details.finding[open] summary::after { content: "hide ▾"; }
.finding .check { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); font-weight: 400; }
.finding .body { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; margin-top: 10px;
  align-items: start; }
.finding svg { width: 100%; height: auto; background: #fff; }
.none { color: var(--muted); font-style: italic; margin: 0 0 8px; }
table.kv { border-collapse: collapse; width: 100%; font-size: .85rem; }
table.kv th { text-align: left; color: var(--muted); font-weight: 500; padding: 3px 10px 3px 0; vertical-align: top;
  white-space: nowrap; }
table.kv td { padding: 3px 0; overflow-wrap: anywhere; }
#config table { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; width: auto; }
table.kv ul { margin: 0; padding-left: 18px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; }
.legend { font-size: .8rem; color: var(--muted); margin: 2px 0 0; }
.legend .series { color: var(--ink); }
footer { color: var(--muted); font-size: .8rem; margin-top: 32px; }
@media (max-width: 800px) { .areas { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .finding .body { grid-template-columns: 1fr; } }
"""
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# The page's own policy; a server sending it as a header adds `frame-ancestors 'self'` (ignored in <meta>).
CSP = f"default-src 'none'; style-src '{STYLE_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_html(report: MonitorReport, *, config: Mapping[str, str] | None = None, runbook_base: str = "",
                title: str = "dayshift monitor", prelude: str = "") -> str:
    """The whole page. Runbook links are `runbook_base` + the finding's path (a relative link by default).

    `prelude` is HTML put above the checklist, already escaped: the standup digest (monitor/standup.py)."""
    status = report.status
    parts = [
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_e(CSP)}\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<meta name=\"referrer\" content=\"no-referrer\">\n",
        f"<title>{_e(title)}: {_e(status)}</title>\n<style>{CSS}</style>\n</head>\n",
        f"<body data-status=\"{_e(status)}\">\n<main>\n",
        f"<h1>{_e(title)} <span class=\"badge {_e(status)}\" data-testid=\"overall-status\">{_e(status)}</span></h1>\n",
        (f"<p class=\"window\">{_e(format_time(report.since))} → {_e(format_time(report.until))} · "
         f"{report.traces:,} traces</p>\n"),
        prelude,
        ("<p class=\"nodata\" data-testid=\"no-data\">No check had enough traces to judge: this is not a clean "
         "bill of health. Serve or ask through dayshift (traces are on by default), or widen the window.</p>\n"
         if status == "no_data" else ""),
        _checklist(report),
    ]
    for area in AREAS:
        parts.append(_area_section(report, area, runbook_base=runbook_base))
    parts.append(_config_section(report, config))
    parts.append(f"<footer>Generated {_e(format_time(report.until))}. Statuses: ok, warn, alert; "
                 "each finding links its runbook.</footer>\n</main>\n</body>\n</html>\n")
    return "".join(parts)


def _checklist(report: MonitorReport) -> str:
    cards = []
    for area in AREAS:
        status = report.area_status(area)
        counted = checks_counted([f for f in report.findings if f.area == area])
        title, watches = AREA_TITLES[area]
        cards.append(
            f"<a class=\"area {_e(status)}\" href=\"#area-{area}\" data-area=\"{area}\" data-status=\"{_e(status)}\">"
            f"<h3>{_e(title)} <span class=\"badge {_e(status)}\">{_e(status)}</span></h3>"
            f"<p>{_e(counted)}</p><p>{_e(watches)}</p></a>\n"
        )
    return f"<section class=\"areas\" aria-label=\"Checklist\">\n{''.join(cards)}</section>\n"


def _area_section(report: MonitorReport, area: str, *, runbook_base: str) -> str:
    title, _ = AREA_TITLES[area]  # type: ignore[index]
    order = ("alert", "warn", "ok", "no_data")
    findings = sorted((f for f in report.findings if f.area == area), key=lambda f: order.index(f.status))
    body = "".join(_finding(f, runbook_base=runbook_base) for f in findings) or "<p class=\"none\">No checks ran.</p>\n"
    return f"<section id=\"area-{area}\">\n<h2>{_e(title)}</h2>\n{body}</section>\n"


def _finding(f: Finding, *, runbook_base: str) -> str:
    rows = [("scope", _e(format_value(f.scope)) or "everything")]
    rows += [(str(k), _evidence(v)) for k, v in f.evidence.items()]
    if f.config:
        rows.append(("live config", _e(format_value(f.config))))
    when = [f"since {format_time(f.started_at)}" if f.started_at else "",
            f"detected {format_time(f.detected_at)}" if f.detected_at else "", f"{f.samples:,} traces read"]
    rows.append(("when", _e(" · ".join(w for w in when if w))))
    rows.append(("runbook", _runbook_link(f.runbook, base=runbook_base)))
    table = "".join(f"<tr><th scope=\"row\">{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    plot = svg_plot(f.series, f.baseline, status=f.status, label=f.check) if f.series else \
        "<p class=\"none\">No series for this check.</p>"
    legend = ("<p class=\"legend\"><span class=\"series\">━ series</span>"
              + (" · ┅ baseline" if f.baseline else "") + "</p>") if f.series else ""
    # A finding that needs a look is open; an "ok" one is a line that opens on a click (no script needed).
    tag, head = ("article", "h4") if f.status in ("warn", "alert") else ("details", "summary")
    return (
        f"<{tag} class=\"finding {_e(f.status)}\" data-check=\"{_e(f.check)}\" data-status=\"{_e(f.status)}\">"
        f"<{head}><span class=\"badge {_e(f.status)}\">{_e(f.status)}</span> <span class=\"summary\">{_e(f.summary)}"
        f"</span> <span class=\"check\">{_e(f.check)}</span></{head}>\n"
        f"<div class=\"body\"><div>{plot}{legend}</div><table class=\"kv\">{table}</table></div></{tag}>\n"
    )


def _evidence(value: Any) -> str:
    items = evidence_items(value)
    if items is None:
        return _e(format_value(value))
    shown = "".join(f"<li>{_e(item)}</li>" for item in items[:_LIST_ITEMS])
    more = f"<li>… and {len(items) - _LIST_ITEMS} more</li>" if len(items) > _LIST_ITEMS else ""
    return f"<ul>{shown}{more}</ul>"


def _runbook_link(path: str, *, base: str) -> str:
    href = base + path
    if not _SAFE_LINK.match(href):
        return f"<code>{_e(path)}</code>"
    return f"<a href=\"{_e(href)}\" target=\"_blank\" rel=\"noopener noreferrer\"><code>{_e(path)}</code></a>"


def _config_section(report: MonitorReport, config: Mapping[str, str] | None) -> str:
    seen: dict[str, set[str]] = {}  # what the findings saw live, merged
    for f in report.findings:
        for key, value in f.config.items():
            seen.setdefault(key, set()).add(value)
    rows = [(k, v) for k, v in (report.served if config is None else config).items()]
    rows += [(f"{k} (at detection)", ", ".join(sorted(v))) for k, v in sorted(seen.items())]
    if not rows:
        return ("<section id=\"config\">\n<h2>Served by</h2>\n<p data-testid=\"live-config\">No traces in the "
                "window, so nothing to say what served them.</p>\n</section>\n")
    table = "".join(f"<tr><th scope=\"row\">{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return (f"<section id=\"config\">\n<h2>Served by (as the traces recorded it)</h2>\n"
            f"<table class=\"kv\" data-testid=\"live-config\">{table}</table>\n</section>\n")


# -- plots ---------------------------------------------------------------------

W, H = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 26


def svg_plot(series: Sequence[Point], baseline: Sequence[Point] = (), *, status: Status = "ok", label: str = "") -> str:
    """A line plot of `series` (status colour) over `baseline` (dashed grey), with a y scale from 0 when
    every value is positive, the first and last times under the x axis. Presentation attributes only."""
    points = [p for p in (*series, *baseline) if math.isfinite(p.value)]
    if not points:
        return "<p class=\"none\">No values in this series.</p>"
    t0, t1 = min(p.at for p in points), max(p.at for p in points)
    low, high = min(p.value for p in points), max(p.value for p in points)
    low = min(low, 0.0)
    high = high + (high - low) * 0.1 if high > low else low + 1.0
    span_s = (t1 - t0).total_seconds() or 1.0

    def xy(p: Point) -> tuple[float, float]:
        x = LEFT + (p.at - t0).total_seconds() / span_s * (W - LEFT - RIGHT) if t1 > t0 else (LEFT + W - RIGHT) / 2
        y = TOP + (high - p.value) / (high - low) * (H - TOP - BOTTOM)
        return round(x, 1), round(y, 1)

    out = [(f"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" "
            f"aria-label=\"{_e(label)} over time\" font-family=\"system-ui, sans-serif\" font-size=\"11\">"),
           f"<title>{_e(_describe(series, baseline, label))}</title>"]
    for value in (low, (low + high) / 2, high):
        y = xy(Point(t0, value))[1]
        out.append(f"<line x1=\"{LEFT}\" x2=\"{W - RIGHT}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#d1d9e0\" stroke-width=\"1\"/>")
        out.append(f"<text x=\"{LEFT - 6}\" y=\"{y + 4}\" text-anchor=\"end\" fill=\"#59636e\">{value:.3g}</text>")
    base_y = H - BOTTOM + 16
    out.append(f"<text x=\"{LEFT}\" y=\"{base_y}\" fill=\"#59636e\">{_e(format_time(t0))}</text>")
    if t1 > t0:
        out.append(f"<text x=\"{W - RIGHT}\" y=\"{base_y}\" text-anchor=\"end\" fill=\"#59636e\">{_e(format_time(t1))}</text>")
    out.append(_line(baseline, xy, colour=BASELINE_COLOUR, dashed=True))
    out.append(_line(series, xy, colour=COLOURS[status], dashed=False))
    out.append("</svg>")
    return "".join(out)


def _line(points: Sequence[Point], xy: Any, *, colour: str, dashed: bool) -> str:
    finite = [xy(p) for p in points if math.isfinite(p.value)]
    if not finite:
        return ""
    if len(finite) == 1:
        (x, y), = finite
        return f"<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{colour}\"/>"
    dash = " stroke-dasharray=\"5 4\"" if dashed else ""
    coords = " ".join(f"{x},{y}" for x, y in finite)
    return (f"<polyline points=\"{coords}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{1.5 if dashed else 2}\""
            f" stroke-linejoin=\"round\"{dash}/>")


def _describe(series: Sequence[Point], baseline: Sequence[Point], label: str) -> str:
    last = format_value(series[-1].value) if series else "n/a"
    text = f"{label}: {len(series)} points, last {last}"
    if baseline:
        text += f"; baseline last {format_value(baseline[-1].value)}"
    return text
