"""feedback_slide: a slow rise in thumbs-down, caught by the CUSUM where the window's rate test is not.

Eight days of rated answers from two tenants with different usual rates (12% and 22% down), 600 ratings
a day spread over the day: seven reference days, then the day under test. In the slide, the chance of
a thumbs-down climbs steadily from the day's start, 2.5x after 48 h (the benchmark's slide), so by the
end of the day it is 1.75x. The noise days have the same sizes and no slide.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from dayshift.monitor.detectors import Context
from dayshift.monitor.findings import Finding
from dayshift.monitor.frame import Frame, VersionHistory, build_frame
from dayshift.monitor.rules import Rules
from dayshift.monitor.run import evaluate
from dayshift.trace.record import Feedback, TraceRecord
from dayshift.trace.store import StoredTrace

DAY_START = datetime(2025, 3, 17, tzinfo=UTC)  # the day under test
USUAL = {"acme": 0.12, "globex": 0.22}
SHARE = {"acme": 0.55, "globex": 0.45}
PER_DAY = 600
INDEX = "sync-12@2025-03-16T23:10:00Z"


def traffic(seed: int, *, slide: Callable[[str, float], float] = lambda tenant, hours: 1.0,
            index: dict[str, str] | None = None) -> Frame:
    """Eight days of rated answers ending at the end of DAY_START's day; slide(tenant, hours into the day) -> x.

    index: each tenant's index version (default: INDEX for both)."""
    rng = np.random.default_rng(seed)
    start = DAY_START - timedelta(days=7)
    n = rng.poisson(8 * PER_DAY)
    times = np.sort(rng.uniform(0, 8 * 86400, n))
    traces = []
    for i, offset in enumerate(times):
        at = start + timedelta(seconds=float(offset))
        tenant = "acme" if rng.random() < SHARE["acme"] else "globex"
        hours = (at - DAY_START) / timedelta(hours=1)
        p = USUAL[tenant] * (slide(tenant, hours) if hours >= 0 else 1.0)
        record = TraceRecord(trace_id=f"{i:032x}", tenant=tenant, route="/v1/ask", started_at=at,
                             answer="It rotates every 90 minutes [1].", prompt_name="answer", prompt_version="3",
                             model="gpt-4o-mini", confidence=0.8, abstained=False,
                             params={"index_version": (index or {}).get(tenant, INDEX)})
        rating = "down" if rng.random() < p else "up"
        traces.append(StoredTrace(record, [Feedback(record.trace_id, tenant, rating, created_at=at + timedelta(minutes=1))]))
    return build_frame(traces, now=None, history=VersionHistory())


class _Source:
    def __init__(self, frame: Frame) -> None:
        self.all = frame

    def frame(self, since: datetime, until: datetime) -> Frame:
        return self.all.between(since.timestamp(), until.timestamp())


def day_report(frame: Frame, rules: Rules, *, window_h: float = 24) -> dict[str, Finding]:
    until = DAY_START + timedelta(hours=24)
    report = evaluate(_Source(frame), since=until - timedelta(hours=window_h), until=until, rules=rules)
    return {f.check: f for f in report.findings}


def ramp() -> Callable[[str, float], float]:
    return lambda tenant, hours: 1 + 1.5 * hours / 48  # every tenant: 2.5x after 48 h


def test_a_slow_slide_alerts_within_the_day_while_the_window_rate_test_stays_quiet(rules: Rules) -> None:
    found = day_report(traffic(3, slide=ramp()), rules)
    slide = found["feedback_slide"]
    assert slide.status == "alert", slide.summary
    assert found["negative_feedback"].status != "alert", found["negative_feedback"].summary
    assert slide.runbook == "docs/runbooks/feedback-slide.md"
    assert slide.config == {"prompt_version": "answer@3", "model": "gpt-4o-mini", "index_version": INDEX}
    ev = slide.evidence
    assert ev["statistic"] >= ev["threshold"] == 5.0 and ev["alarms"] >= 1
    assert ev["rate_since_start"] > 1.2 * ev["expected_rate_since_start"]
    # The usual rate is each tenant's own, weighted by its share: between the two tenants' rates.
    assert USUAL["acme"] < ev["expected_rate_since_start"] < USUAL["globex"]
    assert slide.started_at is not None and DAY_START <= slide.started_at < datetime.fromisoformat(ev["first_alarm_at"])
    assert slide.series and max(p.value for p in slide.series) >= 5.0 and {p.value for p in slide.baseline} == {5.0}


SEEDS = range(10)


def test_over_ten_days_the_slide_is_caught_and_the_same_sized_noise_rarely_is(rules: Rules) -> None:
    slides = [day_report(traffic(seed, slide=ramp()), rules) for seed in SEEDS]
    noise = [day_report(traffic(seed), rules) for seed in SEEDS]
    assert sum(f["feedback_slide"].status == "alert" for f in slides) >= 9
    assert sum(f["negative_feedback"].status == "alert" for f in slides) <= 2  # the window test mostly misses it
    # Chance alarms: about one per 16,000 ratings per test (rules.toml), here ~1,200 tested ratings a day.
    assert sum(f["feedback_slide"].status == "alert" for f in noise) <= 1
    assert all(f["negative_feedback"].samples > 500 and f["feedback_slide"].evidence["reference_outcomes"] > 3500
               for f in noise)  # the same sizes as the slides'


def test_a_slide_in_one_tenant_is_scoped_to_it(rules: Rules) -> None:
    steep = lambda tenant, hours: 1 + 2.0 * hours / 24 if tenant == "globex" else 1.0
    slide = day_report(traffic(5, slide=steep), rules)["feedback_slide"]
    assert slide.status == "alert" and slide.scope == {"tenant": "globex"}, slide.summary
    assert "(tenant globex)" in slide.summary


def test_too_few_ratings_is_no_data_and_says_so(rules: Rules) -> None:
    slide = day_report(traffic(3, slide=ramp()), rules, window_h=1)["feedback_slide"]  # ~25 ratings in the hour
    assert slide.status == "no_data" and "200 needed" in slide.summary and slide.started_at is None


def test_the_live_config_names_each_tenants_index_when_they_differ(rules: Rules) -> None:
    frame = traffic(3, index={"acme": INDEX, "globex": "sync-9@2025-03-14T02:00:00Z"})
    until = DAY_START + timedelta(hours=24)
    ctx = Context(since=DAY_START, until=until, current=frame.between(DAY_START.timestamp(), until.timestamp()),
                  reference=frame.take(np.zeros(0, dtype=np.int64)), period=np.zeros(0, dtype=np.int64),
                  step_s=86400.0, rules=rules)
    both = f"acme {INDEX}, globex sync-9@2025-03-14T02:00:00Z"
    assert ctx.config({}) == {"prompt_version": "answer@3", "model": "gpt-4o-mini", "index_version": both}
    assert ctx.config({"tenant": "globex"})["index_version"] == "sync-9@2025-03-14T02:00:00Z"
