"""ServiceMetrics: values after a few traces, a parseable exposition, and one registry per app."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dayshift.service.metrics import ServiceMetrics
from dayshift.trace.record import TraceRecord


def _trace(**values: object) -> TraceRecord:
    fields: dict = dict(trace_id="t" * 32, tenant="acme", route="/v1/ask", started_at=datetime.now(UTC),
                        request_id="r1")
    fields.update(values)
    return TraceRecord(**fields)


def _value(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.fixture
def metrics() -> ServiceMetrics:
    m = ServiceMetrics()
    m.observe_trace(_trace(latency_ms=1800.0, stages_ms={"keyword": 2.0, "embed": 4.0, "dense": 1.0, "fuse": 0.2,
                                                          "generate": 1700.0, "check": 3.0, "total": 1710.2},
                           model="gpt-4o-mini", input_tokens=900, output_tokens=120, cost_usd=0.0003, retries=1,
                           confidence=0.82, abstained=False))
    m.observe_trace(_trace(latency_ms=40.0, stages_ms={"keyword": 2.5, "embed": 3.5, "dense": 1.5, "fuse": 0.3},
                           confidence=0.12, abstained=True, abstain_reason="no source is close enough"))
    m.observe_trace(_trace(latency_ms=900.0, model="gpt-4o-mini", input_tokens=800, output_tokens=80, cost_usd=0.0002,
                           confidence=0.6, abstained=False))
    m.observe_trace(_trace(route="/v1/search", latency_ms=12.0, stages_ms={"keyword": 3.0, "fuse": 0.1}))
    m.observe_trace(_trace(route="/v1/search", latency_ms=30_000.0, status="error", http_status=504))
    return m


def test_requests_and_latency_by_route_and_status(metrics: ServiceMetrics) -> None:
    assert _value(metrics, "dayshift_requests_total", route="/v1/ask", status="200") == 3
    assert _value(metrics, "dayshift_requests_total", route="/v1/search", status="200") == 1
    assert _value(metrics, "dayshift_requests_total", route="/v1/search", status="504") == 1
    assert _value(metrics, "dayshift_request_duration_seconds_count", route="/v1/ask") == 3
    assert _value(metrics, "dayshift_request_duration_seconds_sum", route="/v1/ask") == pytest.approx(2.74)
    assert _value(metrics, "dayshift_request_duration_seconds_bucket", route="/v1/ask", le="0.05") == 1
    assert _value(metrics, "dayshift_request_duration_seconds_bucket", route="/v1/ask", le="1.0") == 2
    assert _value(metrics, "dayshift_request_duration_seconds_bucket", route="/v1/search", le="30.0") == 2


def test_stages_tokens_cost_and_retries(metrics: ServiceMetrics) -> None:
    assert _value(metrics, "dayshift_stage_duration_seconds_count", stage="keyword") == 3
    assert _value(metrics, "dayshift_stage_duration_seconds_sum", stage="keyword") == pytest.approx(0.0075)
    assert _value(metrics, "dayshift_stage_duration_seconds_count", stage="generate") == 1
    assert _value(metrics, "dayshift_stage_duration_seconds_count", stage="total") is None
    assert _value(metrics, "dayshift_llm_tokens_total", model="gpt-4o-mini", direction="input") == 1700
    assert _value(metrics, "dayshift_llm_tokens_total", model="gpt-4o-mini", direction="output") == 200
    assert _value(metrics, "dayshift_llm_cost_usd_total", model="gpt-4o-mini") == pytest.approx(0.0005)
    assert _value(metrics, "dayshift_llm_retries_total", model="gpt-4o-mini") == 1


def test_answers_and_confidence(metrics: ServiceMetrics) -> None:
    assert _value(metrics, "dayshift_answers_total", outcome="answered") == 2
    assert _value(metrics, "dayshift_answers_total", outcome="abstained") == 1
    assert _value(metrics, "dayshift_answer_confidence_count") == 3
    assert _value(metrics, "dayshift_answer_confidence_sum") == pytest.approx(1.54)
    assert _value(metrics, "dayshift_answer_confidence_bucket", le="0.2") == 1


def test_events_and_inflight() -> None:
    m = ServiceMetrics()
    m.observe_feedback("up")
    m.observe_feedback("up")
    m.observe_feedback("down")
    m.rate_limited()
    for state in ("queued", "running", "done", "queued", "running", "failed"):
        m.job(state)
    m.trace_spooled()
    m.observe_request("/v1/feedback", status=201, duration_s=0.004)
    assert _value(m, "dayshift_feedback_total", rating="up") == 2
    assert _value(m, "dayshift_feedback_total", rating="down") == 1
    assert _value(m, "dayshift_rate_limited_total") == 1
    assert _value(m, "dayshift_ingest_jobs_total", state="queued") == 2
    assert _value(m, "dayshift_ingest_jobs_total", state="failed") == 1
    assert _value(m, "dayshift_traces_spooled_total") == 1
    assert _value(m, "dayshift_requests_total", route="/v1/feedback", status="201") == 1

    with m.inflight("/v1/ask"):
        with m.inflight("/v1/ask"):
            assert _value(m, "dayshift_inflight_requests", route="/v1/ask") == 2
    with pytest.raises(RuntimeError):
        with m.inflight("/v1/ask"):
            raise RuntimeError("the request failed")
    assert _value(m, "dayshift_inflight_requests", route="/v1/ask") == 0


def test_the_exposition_parses_and_names_no_tenant_or_trace(metrics: ServiceMetrics) -> None:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    expected = {
        "dayshift_requests", "dayshift_request_duration_seconds", "dayshift_stage_duration_seconds",
        "dayshift_llm_tokens", "dayshift_llm_cost_usd", "dayshift_llm_retries", "dayshift_answers",
        "dayshift_answer_confidence", "dayshift_feedback", "dayshift_rate_limited", "dayshift_ingest_jobs",
        "dayshift_traces_spooled", "dayshift_inflight_requests",
    }
    assert expected <= set(families)
    assert families["dayshift_requests"].type == "counter"
    assert families["dayshift_request_duration_seconds"].type == "histogram"
    assert families["dayshift_inflight_requests"].type == "gauge"
    labels = {key for family in families.values() for sample in family.samples for key in sample.labels}
    assert labels <= {"route", "status", "stage", "model", "direction", "outcome", "rating", "state", "le"}
    text = body.decode()
    assert "acme" not in text and "t" * 32 not in text and "r1" not in text


def test_openmetrics_when_the_scraper_asks() -> None:
    body, content_type = ServiceMetrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_each_app_has_its_own_registry() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()  # a shared registry would refuse the second set of names
    first.rate_limited()
    assert _value(first, "dayshift_rate_limited_total") == 1
    assert _value(second, "dayshift_rate_limited_total") == 0
    assert REGISTRY.get_sample_value("dayshift_rate_limited_total") is None
