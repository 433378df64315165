"""GET /v1/monitor/report through the real app: the admin key (or an open server) gets the page or its JSON,
a tenant key is refused, and the page comes with a policy that lets no script run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_env import ServiceEnv, start_service

from dayshift.monitor.report_html import CSP
from dayshift.service.app import build_service, create_app
from dayshift.service.auth import KeyRing
from dayshift.settings import load_settings
from dayshift.testing.monitor_traffic import synthetic_traffic, write_traffic
from dayshift.trace.store import TraceStore, default_trace_url

ADMIN = "admin-key-for-monitor-tests-0123"


def _fill(data_dir: Path) -> None:
    records, feedback = synthetic_traffic(now=datetime.now(UTC), days=8, per_day=120)
    with TraceStore(default_trace_url(data_dir)) as store:
        write_traffic(store, records, feedback)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, models) -> Iterator[tuple[ServiceEnv, str]]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("monitor-keyed")
    _fill(data_dir)
    ring = KeyRing(data_dir / "keys.sqlite")
    tenant_key = ring.create("acme")[0]
    ring.close()
    for env in start_service(data_dir, models, admin_key=ADMIN):
        yield env, tenant_key


def test_admin_gets_the_report_page(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    r = env.client.get("/v1/monitor/report?since=24h", headers=env.headers(ADMIN))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == f"{CSP}; frame-ancestors 'self'"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    page = r.text
    for area in ("cost", "quality", "drift", "retrieval"):
        assert f'data-area="{area}"' in page
    assert 'data-check="abstention_rate" data-status="alert"' in page
    assert 'data-check="cost_spike"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(" in page  # a question of the drift, escaped


def test_admin_gets_json(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    r = env.client.get("/v1/monitor/report", params={"since": "24h", "format": "json"}, headers=env.headers(ADMIN))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["status"] == "alert" and set(data["areas"]) == {"cost", "quality", "drift", "retrieval", "latency"}
    assert data["traces"] == 120
    checks = {f["check"]: f["status"] for f in data["findings"]}
    assert checks["abstention_rate"] == "alert" and checks["cost_spike"] in ("warn", "alert")
    # the config is what served the window's traces, as they recorded it (the incident day's prompt, model and
    # index), not the settings of the process that serves the report
    config = data["config"]
    assert (config["prompt_version"], config["model"]) == ("answer@3", "gpt-4o-mini")
    assert config["index_version"].startswith("sync-42@") and set(config) == {"prompt_version", "model", "index_version"}


def test_a_tenant_key_is_refused_and_a_missing_key_is_unauthorized(keyed: tuple[ServiceEnv, str]) -> None:
    env, tenant_key = keyed
    forbidden = env.client.get("/v1/monitor/report", headers=env.headers(tenant_key))
    assert forbidden.status_code == 403 and "admin key" in forbidden.json()["detail"]
    assert env.client.get("/v1/monitor/report").status_code == 401


def test_a_bad_window_is_a_400_with_the_fix(keyed: tuple[ServiceEnv, str]) -> None:
    env, _ = keyed
    r = env.client.get("/v1/monitor/report?since=yesterday", headers=env.headers(ADMIN))
    assert r.status_code == 400 and "use 24h, 7d" in r.json()["detail"]


def test_an_open_server_serves_the_report_without_a_key(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path, trace={"enabled": False})  # no flusher to wait for
    embedder, llm = models
    with TestClient(create_app(settings, service=build_service(settings, embedder=embedder, llm=llm))) as client:
        r = client.get("/v1/monitor/report?since=1h&format=json")
        assert r.status_code == 200, r.text
        # no traces: no check could judge, which is its own state and never "ok"; nothing says what served them
        data = r.json()
        assert data["traces"] == 0 and data["status"] == "no_data" and data["config"] == {}
        assert set(data["areas"].values()) == {"no_data"}
        assert client.get("/monitor.html").status_code == 200  # the UI page that shows it
