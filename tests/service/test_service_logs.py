"""The service's logs: one JSON object a line, each with its request id, and no key or PII in any line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from service_env import start_service

from dayshift.cli.demo import corpus_dir
from dayshift.service.auth import KeyRing
from dayshift.service.logs import configure_logging

ADMIN = "admin-secret-for-log-test-42"
EMAIL, PHONE, CARD = "jane.roe@example.org", "+1 415 555 0134", "4111 1111 1111 1111"


def test_logs_are_json_with_request_ids_and_hold_no_keys_or_pii(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    ring = KeyRing(tmp_path / "keys.sqlite")
    key = ring.create("default")[0]
    ring.close()
    buffer = io.StringIO()
    handler = configure_logging(level="DEBUG", stream=buffer)
    try:
        for env in start_service(tmp_path, models, admin_key=ADMIN):
            with env.service.pool.use("default") as runtime:
                runtime.ingestor.sync(corpus_dir())
            auth = env.headers(key)
            question = f"My email is {EMAIL}, phone {PHONE}, card {CARD}: which formats can dayshift ingest?"
            asked = env.client.post("/v1/ask", json={"question": question}, headers=auth)
            assert asked.status_code == 200
            env.client.post("/v1/search", json={"query": f"contact {EMAIL}"}, headers=env.headers("dsk_" + "x" * 32))
            env.client.post("/v1/search", json={"query": "x", "where": [f"email={EMAIL}"]}, headers=auth)
            env.client.get("/v1/traces", headers={"Authorization": f"Bearer {ADMIN}"})
            env.client.post("/v1/documents", headers=auth,
                            files=[("files", ("broken.pdf", b"%PDF-1.4 not really", "application/pdf"))])
    finally:
        for name in ("dayshift", "uvicorn", "uvicorn.access"):
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).propagate = True
    text = buffer.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "dayshift.access"]
    assert len(access) >= 5
    assert all(len(line["request_id"]) == 32 for line in access)
    assert asked.headers["x-request-id"] in {line["request_id"] for line in access}
    for secret in (key, ADMIN, EMAIL, PHONE, CARD, "dsk_" + "x" * 32):
        assert secret not in text, secret
