"""Schemathesis with every check against a real `dayshift serve`: the OpenAPI document says what the server does.

`schemathesis run URL/openapi.json` with the defaults, which run every check
(server errors, status codes, content types, response schemas, headers, schema-valid
requests accepted, schema-violating ones rejected, methods and `Allow`, auth), over
the examples, coverage, fuzzing and stateful phases, 30 examples per operation.
tests/service/schemathesis.toml turns one check off for each of two operations, and
says why. The server is open (no key) on loopback over the demo corpus, so its
document declares no authentication; a keyed server's does, and applies it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dayshift.cli.demo import corpus_dir
from dayshift.testing.serve_process import ServeProcess

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).with_name("schemathesis.toml")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("openapi")
    subprocess.run([str(BIN / "dayshift"), "--data-dir", str(folder), "ingest", str(corpus_dir())], check=True,
                   capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    with ServeProcess(folder, env={"DAYSHIFT_SERVICE__RATE_LIMIT_BURST": "1000000"}) as running:
        yield running


def test_schemathesis_finds_nothing_with_every_check(server: ServeProcess, tmp_path: Path) -> None:
    run = subprocess.run(
        [str(BIN / "schemathesis"), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json",
         "--max-examples", "30", "--seed", "20261207", "--suppress-health-check", "filter_too_much",
         "--request-timeout", "120", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its .schemathesis/ folder goes there
    )
    tail = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert phase in run.stdout, tail
    assert "failure" not in run.stdout.split("SUMMARY")[-1].lower(), tail


def test_wrong_methods_get_405_with_allow(server: ServeProcess) -> None:
    for method, path, allow in [("PUT", "/v1/search", "POST"), ("DELETE", "/v1/documents", "GET, POST"),
                                ("POST", "/healthz", "GET"), ("PATCH", "/v1/traces", "GET")]:
        r = httpx.request(method, f"{server.url}{path}")
        assert r.status_code == 405 and r.headers["allow"] == allow, (method, path, r.text)
        assert r.json()["error"] == "method_not_allowed" and allow in r.json()["detail"]
    assert httpx.get(f"{server.url}/no-such-page").status_code == 404


def test_the_document_declares_auth_only_while_the_server_applies_it(server: ServeProcess) -> None:
    open_doc = httpx.get(f"{server.url}/openapi.json").json()
    assert "securitySchemes" not in open_doc.get("components", {})
    assert not any("security" in op for ops in open_doc["paths"].values() for op in ops.values())
    assert httpx.post(f"{server.url}/v1/search", json={"query": "chunks"}).status_code == 200  # no key needed
    keys = subprocess.run([str(BIN / "dayshift"), "--data-dir", str(server.data_dir), "keys", "create",
                           "--tenant", "acme"], check=True, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "dsk_" in keys.stdout
    keyed = httpx.get(f"{server.url}/openapi.json").json()
    assert keyed["components"]["securitySchemes"]
    assert keyed["paths"]["/v1/search"]["post"]["security"]
    assert httpx.post(f"{server.url}/v1/search", json={"query": "chunks"}).status_code == 401
    assert "security" not in keyed["paths"]["/healthz"]["get"]
