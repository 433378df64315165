"""API keys, tenants, the admin key, rate limits and size limits, through the real app.

Tenant isolation is shown from every side: search, answers, documents, jobs,
traces and feedback, and on disk (each tenant's chunks are in its own folder).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_env import ServiceEnv, start_service

from dayshift.service.auth import KeyRing
from dayshift.tenancy import check_tenant, tenant_settings

ADMIN = "admin-key-for-tests-0123456789"
NOTES = {
    "acme": ("acme.md", "# Acme\n\nThe Acme vault code is kept in the Quillon ledger, room 4.\n"),
    "globex": ("globex.md", "# Globex\n\nThe Globex reactor is cooled by the Vantrel loop every night.\n"),
}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, models) -> Iterator[tuple[ServiceEnv, dict[str, str]]]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("keyed")
    ring = KeyRing(data_dir / "keys.sqlite")
    keys = {tenant: ring.create(tenant)[0] for tenant in NOTES}
    ring.close()
    for env in start_service(data_dir, models, admin_key=ADMIN, rate_limit_burst=1000, max_request_kb=4,
                             max_upload_mb=0.01):
        for tenant, (name, text) in NOTES.items():
            r = env.client.post("/v1/documents", headers=env.headers(keys[tenant]),
                                files=[("files", (name, text.encode(), "text/markdown"))])
            assert r.status_code == 202, r.text
            _wait(env, r.json()["status_url"], keys[tenant])
        yield env, keys


def _wait(env: ServiceEnv, url: str, key: str) -> dict[str, object]:
    deadline = time.monotonic() + 300  # generous: a loaded CI machine ingests slowly; this is no speed test
    while True:
        status = env.client.get(url, headers=env.headers(key)).json()
        if status["state"] in ("done", "failed"):
            assert status["state"] == "done", status
            return status  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish: {status}")
        time.sleep(0.05)


def test_requests_without_a_valid_key_are_refused(keyed: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, _ = keyed
    missing = env.client.post("/v1/search", json={"query": "vault"})
    assert missing.status_code == 401 and "dayshift keys create" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = env.client.post("/v1/search", json={"query": "vault"}, headers=env.headers("dsk_not-a-key"))
    assert wrong.status_code == 401 and "revoked" in wrong.json()["detail"]
    assert env.client.get("/healthz").status_code == 200  # probes need no key


def test_no_request_reaches_another_tenants_data(keyed: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = keyed
    acme, globex = env.headers(keys["acme"]), env.headers(keys["globex"])
    own = env.client.post("/v1/search", json={"query": "Quillon ledger vault", "k": 10}, headers=acme).json()
    assert own["hits"] and all(h["chunk"]["source"].endswith("acme.md") for h in own["hits"])
    # Globex's words, searched by Acme, every mode: nothing of Globex comes back.
    for mode in ("keyword", "dense", "hybrid"):
        hits = env.client.post("/v1/search", json={"query": "Globex Vantrel reactor", "k": 10, "mode": mode},
                               headers=acme).json()["hits"]
        assert all("globex" not in h["chunk"]["source"] for h in hits), mode
    globex_docs = env.client.get("/v1/documents", headers=globex).json()["documents"]
    acme_docs = env.client.get("/v1/documents", headers=acme).json()["documents"]
    assert {d["doc_id"] for d in globex_docs}.isdisjoint({d["doc_id"] for d in acme_docs})
    # Acme cannot delete, read the trace of, or give feedback on Globex's things.
    assert env.client.delete(f"/v1/documents/{globex_docs[0]['doc_id']}", headers=acme).status_code == 404
    theirs = env.client.post("/v1/search", json={"query": "reactor"}, headers=globex).json()["trace_id"]
    assert env.client.get(f"/v1/traces/{theirs}", headers=acme).status_code == 404
    assert env.client.post("/v1/feedback", json={"trace_id": theirs, "rating": "up"}, headers=acme).status_code == 404
    listed = env.client.get("/v1/traces", headers=acme).json()["traces"]
    assert listed and {t["tenant"] for t in listed} == {"acme"}
    assert env.client.get("/v1/traces", params={"tenant": "globex"}, headers=acme).status_code == 403
    # Globex's job id is unknown to Acme.
    job = env.client.post("/v1/documents", headers=globex,
                          files=[("files", ("more.md", b"# More\n\nVantrel loop maintenance.\n", "text/markdown"))])
    assert env.client.get(job.json()["status_url"], headers=acme).status_code == 404
    _wait(env, job.json()["status_url"], keys["globex"])
    # On disk: each tenant's index is its own file.
    acme_dir = tenant_settings(env.settings, "acme").data_dir
    assert (acme_dir / "index.sqlite").exists() and b"Vantrel" not in (acme_dir / "index.sqlite").read_bytes()


def test_an_answer_for_one_tenant_cites_only_its_own_documents(keyed: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = keyed
    body = env.client.post("/v1/ask", json={"question": "How is the Globex reactor cooled?"},
                           headers=env.headers(keys["acme"])).json()
    assert all("globex" not in c["chunk"]["source"] for c in body["citations"])
    assert body["abstained"]


def test_the_admin_key_reads_every_tenant_and_acts_for_one(keyed: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = keyed
    env.client.post("/v1/search", json={"query": "vault"}, headers=env.headers(keys["acme"]))
    env.client.post("/v1/search", json={"query": "reactor"}, headers=env.headers(keys["globex"]))
    admin = env.headers(ADMIN)
    tenants = {t["tenant"] for t in env.client.get("/v1/traces", headers=admin).json()["traces"]}
    assert {"acme", "globex"} <= tenants
    only = env.client.get("/v1/traces", params={"tenant": "globex"}, headers=admin).json()["traces"]
    assert only and {t["tenant"] for t in only} == {"globex"}
    acting = env.client.post("/v1/search", json={"query": "Vantrel", "k": 1},
                             headers={**admin, "X-Dayshift-Tenant": "globex"}).json()
    assert acting["hits"][0]["chunk"]["source"].endswith(".md") and "Vantrel" in acting["hits"][0]["chunk"]["text"]
    bad = env.client.post("/v1/search", json={"query": "x"}, headers={**admin, "X-Dayshift-Tenant": "../etc"})
    assert bad.status_code == 400 and "tenant" in bad.json()["detail"]


def test_size_limits_give_413_with_the_setting_to_change(keyed: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = keyed
    big = env.client.post("/v1/search", json={"query": "x" * 5000}, headers=env.headers(keys["acme"]))
    assert big.status_code == 413 and "MAX_REQUEST_KB" in big.json()["detail"]
    upload = env.client.post("/v1/documents", headers=env.headers(keys["acme"]),
                             files=[("files", ("big.txt", b"word " * 5000, "text/plain"))])
    assert upload.status_code == 413 and "MAX_UPLOAD_MB" in upload.json()["detail"]


def test_rate_limit_per_key(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    ring = KeyRing(tmp_path / "keys.sqlite")
    key = ring.create("acme")[0]
    other = ring.create("acme")[0]
    ring.close()
    # one token a minute: however slow the machine, no token comes back between the five requests
    for env in start_service(tmp_path, models, rate_limit_burst=3, rate_limit_per_minute=1):
        codes = [env.client.get("/v1/documents", headers=env.headers(key)).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        limited = env.client.get("/v1/documents", headers=env.headers(key))
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["error"] == "rate_limited"
        assert env.client.get("/v1/documents", headers=env.headers(other)).status_code == 200  # per key
        assert "dayshift_rate_limited_total 3.0" in env.client.get("/metrics").text


def test_tenant_names_are_checked() -> None:
    assert check_tenant("acme-01") == "acme-01"
    for bad in ("", "Acme", "../x", "a/b", "-x", "x" * 64):
        with pytest.raises(Exception, match="invalid tenant name"):
            check_tenant(bad)
