"""What the detectors find, and the morning report made of it: the contract between detection and display.

    detectors (monitor/detectors/*) --> Finding per check --> MonitorReport (four areas)
        --> alerts (monitor/alerts: rules, dedup, cooldown, webhook)
        --> report (terminal, HTML with plots; the web UI's dashboard)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# no_data: the check had too few traces (or no reference) to judge; it is neither healthy nor not.
Status = Literal["no_data", "ok", "warn", "alert"]
Area = Literal["cost", "quality", "drift", "retrieval", "latency"]
AREAS: tuple[Area, ...] = ("cost", "quality", "drift", "retrieval", "latency")
_RANK = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}


@dataclass(slots=True)
class Point:
    at: datetime  # start of the bucket (UTC)
    value: float


@dataclass(slots=True)
class Finding:
    area: Area
    check: str  # "cost_spike", "abstention_rate", "query_drift", "stale_answers", ...
    status: Status
    summary: str  # one line an on-call person reads first
    runbook: str  # path under docs/runbooks/, e.g. "docs/runbooks/cost-spike.md"
    # What it is about: tenant, route, prompt_version, model (only the keys that apply).
    scope: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)  # the numbers behind the status
    # What was live when it fired: prompt version, model, index version.
    config: dict[str, str] = field(default_factory=dict)
    started_at: datetime | None = None  # when the condition began (the first bad bucket)
    detected_at: datetime | None = None  # the end of the window in which it was detected
    series: list[Point] = field(default_factory=list)  # the signal, for a plot
    baseline: list[Point] = field(default_factory=list)  # what it is compared against, if a series
    samples: int = 0  # how many traces the check read (minimum-sample guards report "no_data" below theirs)


@dataclass(slots=True)
class MonitorReport:
    since: datetime
    until: datetime
    findings: list[Finding]
    traces: int = 0  # traces in the window
    # What served the window's traces, as they recorded it: prompt_version, model, index_version (the latest
    # seen); empty when the window has none. Not the settings of the process that writes the report.
    served: dict[str, str] = field(default_factory=dict)

    def area_status(self, area: Area) -> Status:
        """The worst status of the area's checks; no_data only when none of them had data."""
        statuses = [f.status for f in self.findings if f.area == area]
        return max(statuses, key=_RANK.__getitem__, default="no_data")

    @property
    def status(self) -> Status:
        return max((self.area_status(a) for a in AREAS), key=_RANK.__getitem__)
