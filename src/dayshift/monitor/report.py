"""The morning report: a MonitorReport as a terminal checklist, or as JSON. The HTML page is report_html.

    MonitorReport --print_report-->  one line per area (cost, quality, drift, retrieval): ok | warn | alert,
                                     under it each finding: summary, a sparkline of its series against its
                                     baseline, scope, evidence, the config that was live, the runbook
                  --report_json-->   the same as JSON-ready dicts (`--json`, GET /v1/monitor/report?format=json)

Findings carry user text (query examples in `evidence`), so every value is
printed as plain text (rich `Text`, never markup) with control characters
escaped: a query holding "[red]" or a terminal escape prints as itself.

Left out: paging and colour themes (rich follows NO_COLOR and the terminal),
and any judgement: the statuses are the detectors', shown as given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dayshift.monitor.findings import AREAS, Area, Finding, MonitorReport, Point, Status
from dayshift.settings import Settings

__all__ = [
    "AREA_TITLES",
    "EXIT_CODES",
    "STATUS_COLOURS",
    "checks_counted",
    "clean_text",
    "evidence_items",
    "format_time",
    "format_value",
    "live_config",
    "print_report",
    "report_json",
    "sparkline",
    "window_start",
]

AREA_TITLES: dict[Area, tuple[str, str]] = {  # area -> (title, what its checks watch)
    "cost": ("Cost", "model spend by tenant, route and model"),
    "quality": ("Quality", "abstentions, negative feedback, errors"),
    "drift": ("Drift", "questions unlike the baseline, stale documents"),
    "retrieval": ("Retrieval", "evidence scores, the reranker"),
    "latency": ("Latency", "p50 and p99 per route against the SLOs"),
}
STATUS_COLOURS: dict[Status, str] = {"no_data": "blue", "ok": "green", "warn": "yellow", "alert": "red"}
STATUS_MARKS: dict[Status, str] = {"no_data": "?", "ok": "✓", "warn": "!", "alert": "✗"}
# For cron: the worst status decides. Not 1 or 2, which say the report did not run (1: a crash, 2: a bad option or
# configuration, as for every dayshift command), so a broken report is never read as "warn" or "alert".
# no_data (5): no check had the traces to judge by, which is not "all is well".
EXIT_CODES: dict[Status, int] = {"ok": 0, "warn": 3, "alert": 4, "no_data": 5}
_SEVERITY: dict[Status, int] = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
BLOCKS = "▁▂▃▄▅▆▇█"
MAX_WINDOW = timedelta(days=31)
_SPAN = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_LIST_ITEMS = 5  # evidence lists (query examples) show this many items in the terminal
_ITEM_CHARS = 120


def window_start(text: str, *, now: datetime, clamp: bool = False) -> datetime:
    """The start of a report's window: '24h', '7d', '90m' before `now`, or an ISO date or time (UTC if no zone).

    A start in the future, or more than MAX_WINDOW back, is an error; with `clamp` (the HTTP route, whose
    schema cannot state a range that moves with the clock) it becomes the last minute or the oldest start
    allowed.
    """
    text = text.strip().lower()
    span = _SPAN.match(text)
    try:
        if span:
            at = now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
        elif "t" in text or ":" in text:
            at = datetime.fromisoformat(text.upper())
        else:
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        too_old = now - at > MAX_WINDOW
    except (ValueError, OverflowError):
        if span and clamp:  # a span too long for the calendar is only too old
            return now - MAX_WINDOW
        raise ValueError(f'"{text}" is not a window: use 24h, 7d, 90m, or a UTC date or time such as 2025-03-01 '
                         "or 2025-03-01T06:00") from None
    if at >= now:
        if clamp:
            return now - timedelta(minutes=1)
        raise ValueError(f'"{text}" leaves an empty window; give a start before {now.isoformat(timespec="minutes")}')
    if too_old:
        if clamp:
            return now - MAX_WINDOW
        raise ValueError(f'"{text}" reaches back more than {MAX_WINDOW.days} days; the checks compare a window with '
                         "the same window on past days, so ask for a shorter one")
    return at


# -- values -------------------------------------------------------------------

def clean_text(text: str, *, limit: int | None = None) -> str:
    """`text` with control characters escaped (\\x1b, \\n), cut to `limit` characters with an ellipsis."""
    cleaned = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if limit is not None and len(cleaned) > limit:
        return cleaned[: limit - 1] + "…"
    return cleaned


def format_value(value: Any) -> str:
    """One evidence value as short text: floats to 4 significant digits, datetimes in UTC, nested values
    in brackets: {"tenant": {"group": "acme", "share": 0.5}} -> "tenant=(group=acme, share=0.5)"."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_nested(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_nested(v) for v in value)
    text = clean_text(str(value))
    if len(text) > 19 and text[4:5] == "-" and text[10:11] == "T":  # an ISO time, as detectors store them
        try:
            return format_time(datetime.fromisoformat(text))
        except ValueError:
            pass
    return text


def _nested(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"({format_value(value)})"
    if isinstance(value, list | tuple | set | frozenset):
        return f"[{format_value(value)}]"
    return format_value(value)


def evidence_items(value: Any) -> list[str] | None:
    """A list (of questions, of topics) or a mapping of mappings (per dimension) as one line per item;
    None for a value that fits one line."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, str | Mapping) for v in value):
        return [clean_text(v) if isinstance(v, str) else format_value(v) for v in value]
    if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
        return [f"{clean_text(str(k))}: {format_value(v)}" for k, v in value.items()]
    return None


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def sparkline(values: Sequence[float], *, width: int = 24, low: float | None = None,
              high: float | None = None) -> str:
    """Unicode blocks, one per value (averaged down to `width`), scaled from `low` to `high` (default:
    the values' own range). A missing value (NaN) is a space."""
    if not values:
        return ""
    values = _squeeze(values, width)
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low = min(finite) if low is None else low
    high = max(finite) if high is None else high
    span = high - low
    top = len(BLOCKS) - 1
    marks = []
    for v in values:
        if not math.isfinite(v):
            marks.append(" ")
        else:
            level = top // 2 if span <= 0 else round((min(max(v, low), high) - low) / span * top)
            marks.append(BLOCKS[level])
    return "".join(marks)


def _squeeze(values: Sequence[float], width: int) -> list[float]:
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):  # bucket i averages values[start:end]
        start, end = i * len(values) // width, (i + 1) * len(values) // width
        chunk = [v for v in values[start:end] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def _values(points: Iterable[Point]) -> list[float]:
    return [float(p.value) for p in points]


def live_config(settings: Settings) -> dict[str, str]:
    """What serves answers now, from settings: models, store, retrieval, prompt. No URLs, no keys."""
    llm = settings.llm
    chain = [f"{m.backend}:{m.model or 'bundled'}" for m in (llm, *llm.fallbacks)]
    r = settings.retrieve
    threshold = settings.answer.abstain_threshold
    return {
        "llm": " → ".join(chain),
        "embedder": f"{settings.embed.backend}:{settings.embed.model or 'bundled'}",
        "store": settings.store.backend,
        "retrieval": f"{r.mode}, {r.fusion} fusion, rerank {r.rerank or 'off'}",
        "prompt": settings.answer.prompt,
        "abstain threshold": "calibrated" if threshold is None else f"{threshold:g}",
    }


# -- terminal -----------------------------------------------------------------

def print_report(report: MonitorReport, *, console: Console | None = None,
                 config: Mapping[str, str] | None = None) -> None:
    """The morning checklist: a header, then each area and its findings (details for those not ok)."""
    console = console or Console()
    overall = report.status
    head = Text.assemble(
        ("dayshift monitor  ", "bold"),
        f"{format_time(report.since)} → {format_time(report.until)}  ·  {report.traces:,} traces  ·  ",
        (overall.upper(), f"bold {STATUS_COLOURS[overall]}"),
    )
    console.print(head)
    for area in AREAS:
        console.print(_area_line(report, area))
        for finding in sorted(_of(report, area), key=_worst_first):
            console.print(_finding_block(finding))
    if overall == "no_data":
        console.print(Text("\nNo check had enough traces to judge: this is not a clean bill of health. Serve or "
                           "ask through dayshift (traces are on by default), or widen --since.", style="blue"))
    served = report.served if config is None else config
    console.print(Text.assemble("\n", ("served by  ", "bold"), clean_text(format_value(dict(served)))
                                if served else ("no traces in the window, so nothing to say what served them", "dim")))


def _of(report: MonitorReport, area: Area) -> list[Finding]:
    return [f for f in report.findings if f.area == area]


def _worst_first(finding: Finding) -> int:
    return -_SEVERITY[finding.status]


def _status_text(status: Status, *, label: bool = True) -> Text:
    shown = f"{STATUS_MARKS[status]} {status}" if label else STATUS_MARKS[status]
    return Text(shown, style=f"bold {STATUS_COLOURS[status]}")


def _area_line(report: MonitorReport, area: Area) -> Text:
    status = report.area_status(area)
    findings = _of(report, area)
    title, watches = AREA_TITLES[area]
    return Text.assemble(
        "\n", _status_text(status, label=False), " ", (f"{title:<10}", "bold"),
        (f"{status.replace('_', ' '):<7}", STATUS_COLOURS[status]),
        (f" {checks_counted(findings)}  ({watches})", "dim"),
    )


def checks_counted(findings: Sequence[Finding]) -> str:
    """'no checks ran', '3 checks ok', '3 checks without enough data', '1 of 3 checks needs a look',
    each followed by how many lacked data when some did."""
    if not findings:
        return "no checks ran"
    n, bad = len(findings), sum(f.status in ("warn", "alert") for f in findings)
    empty = sum(f.status == "no_data" for f in findings)
    if empty == n:
        return f"{n} check{'s' * (n > 1)} without enough data"
    lacking = f", {empty} without enough data" if empty else ""
    if not bad:
        return f"{n - empty} check{'s' * (n - empty > 1)} ok{lacking}"
    return f"{bad} of {n} check{'s' * (n > 1)} need{'s' * (bad == 1)} a look{lacking}"


def _finding_block(finding: Finding) -> Group | Text:
    line = Text.assemble("  ", _status_text(finding.status, label=False), " ", (finding.check, "bold"), "  ",
                         clean_text(finding.summary))
    if finding.status in ("ok", "no_data"):
        spark = sparkline(_values(finding.series), width=16)
        return Text.assemble(line, (f"  {spark}", "dim")) if spark else line
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for label, value in _details(finding):
        grid.add_row(label, value)
    return Group(line, Padding(grid, (0, 0, 0, 6), expand=False))


def _details(finding: Finding) -> list[tuple[str, Text]]:
    rows: list[tuple[str, Text]] = []
    series, baseline = _values(finding.series), _values(finding.baseline)
    if series:
        finite = [v for v in series + baseline if math.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (None, None)
        spark = Text(sparkline(series, low=low, high=high), style=STATUS_COLOURS[finding.status])
        spark.append(f"  last {format_value(series[-1])}", style="dim")
        rows.append(("series", spark))
        if baseline:
            rows.append(("baseline", Text(sparkline(baseline, low=low, high=high), style="dim")))
    for label, values in (("scope", finding.scope), ("config", finding.config)):
        if values:
            rows.append((label, Text(clean_text(format_value(values)))))
    for key, value in finding.evidence.items():
        rows.append((clean_text(str(key), limit=24), _evidence_text(value)))
    when = [f"since {format_time(finding.started_at)}" if finding.started_at else "",
            f"detected {format_time(finding.detected_at)}" if finding.detected_at else "",
            f"{finding.samples:,} traces read"]
    rows.append(("when", Text("  ·  ".join(w for w in when if w))))
    rows.append(("runbook", Text(clean_text(finding.runbook), style="underline")))
    return rows


def _evidence_text(value: Any) -> Text:
    items = evidence_items(value)
    if items is None:
        return Text(clean_text(format_value(value)))
    quote = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    shown = [f"“{i}”" if quote else i for i in (clean_text(i, limit=_ITEM_CHARS) for i in items[:_LIST_ITEMS])]
    more = f"\n(+{len(items) - _LIST_ITEMS} more)" if len(items) > _LIST_ITEMS else ""
    return Text("\n".join(shown) + more)


# -- JSON -----------------------------------------------------------------------

def report_json(report: MonitorReport, *, config: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data: window, overall and per-area status, every finding in full; `config` is
    what served the window's traces (report.served) unless given."""
    return {
        "since": report.since.isoformat(), "until": report.until.isoformat(), "traces": report.traces,
        "status": report.status, "areas": {area: report.area_status(area) for area in AREAS},
        "findings": [_finding_json(f) for f in report.findings],
        "config": dict(report.served if config is None else config),
    }


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "area": f.area, "check": f.check, "status": f.status, "summary": f.summary, "runbook": f.runbook,
        "scope": dict(f.scope), "evidence": _jsonable(f.evidence), "config": dict(f.config),
        "started_at": f.started_at.isoformat() if f.started_at else None,
        "detected_at": f.detected_at.isoformat() if f.detected_at else None,
        "series": [_point_json(p) for p in f.series], "baseline": [_point_json(p) for p in f.baseline],
        "samples": f.samples,
    }


def _point_json(p: Point) -> dict[str, Any]:
    return {"at": p.at.isoformat(), "value": _jsonable(float(p.value))}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or Infinity
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)
