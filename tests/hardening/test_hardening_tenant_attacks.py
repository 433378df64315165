"""Tenant attacks, each attempt counted, and none may succeed.

    filter injection     `where` payloads in SQL, Qdrant and pgvector syntax, at every store backend here
                         (embedded SQLite, Qdrant local, Postgres + pgvector when a server starts) and
                         through /v1/search in every mode
    document-id guessing another tenant's document, trace and job ids, and variants of them
    path traversal       upload names that climb out of the uploads folder; a zip with ../ entries
    oversized / nested   bodies past the size limit, JSON nested 10 to 100,000 deep
    Unicode tricks       look-alike, zero-width, case and normalisation variants of tenant names and keys
    key timing           the key store sees only SHA-256 digests, so comparison time cannot reveal a
                         prefix; the lookup times are printed for prefix-sharing and random wrong keys

A success is: another tenant's data in a response, a change to another tenant's data, a file written
outside the tenant's folder, a 5xx, or a server that stops answering. Each test prints its counts.
Left out: attacks on the network layer (TLS, slowloris); run dayshift behind a proxy that handles them.
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
from service_env import ServiceEnv, start_service

from dayshift.errors import DayshiftError
from dayshift.retrieve.filters import parse_filter
from dayshift.service.auth import KeyRing
from dayshift.store.base import Store
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.filter_semantics import COLUMNS, holds
from dayshift.testing.store_contract import SPACE, put, unit
from dayshift.types import Chunk, Condition

ADMIN = "dsk_admin_" + "k" * 40
NOTES = {
    "acme": ("acme.md", "# Acme\n\nThe Acme vault code is kept in the Quillon ledger, room 4.\n"),
    "globex": ("globex.md", "# Globex\n\nThe Globex reactor is cooled by the Vantrel loop every night.\n"),
}
SECRET_WORDS = ("Vantrel", "Globex", "globex")

# Values that try to close a quote, comment out the rest, or speak another store's filter language.
INJECTED_VALUES = [
    "x' OR '1'='1", "x' OR 1=1 --", "x'; DROP TABLE chunks; --", "x\" OR \"1\"=\"1", "') OR ('a'='a",
    "1 OR 1=1", "x' UNION SELECT chunk_id, text FROM chunks --", "%", "*", "_", "teamB*", "[!a]*",
    "$.team", "x') OR json_extract(metadata, '$.team')='b' --", "{\"must\": []}", "{\"should\": [{\"key\": \"team\"}]}",
    "{'$ne': 'a'}", "metadata->>'team'", "x'::text OR true --", "x' OR metadata @> '{\"team\":\"b\"}' --",
    "b' OR source LIKE '%", "\\' OR 1=1 --", "x\x00' OR 1=1", "ＯＲ 1=1", "x/**/OR/**/1=1", "0x27",
]
INJECTED_FIELDS = [
    "team", "source", "doc_id", "title", "page", "section", "metadata", "team.x", "a-b", "team'--", "source) OR (1",
    "$.team", "team\") OR 1=1 --", "payload->>'team'", "text", "tenant",
]


# -- filter injection at the stores ------------------------------------------------------------------


def _stores(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    yield "embedded", EmbeddedStore(data_dir=tmp_path / "embedded", space=SPACE, dim=8)
    try:
        from dayshift.store.qdrant import QdrantStore
    except ImportError:
        pass
    else:
        yield "qdrant", QdrantStore(data_dir=tmp_path / "qdrant", space=SPACE, dim=8)
    try:
        from dayshift.store.postgres import PostgresStore
        from dayshift.testing.pgvector_server import fresh_database, pgvector_server
    except ImportError:
        return
    try:
        with pgvector_server() as server, fresh_database(server) as url:
            yield "postgres", PostgresStore(url=url, space=SPACE, dim=8, namespace="attack", pool_size=2)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: the other stores still run
        print(f"postgres store skipped: {type(exc).__name__}: {exc}")


def _value(chunk: Chunk, field: str) -> object:
    return getattr(chunk, field) if field in COLUMNS else chunk.metadata.get(field)


def _expected(chunks: Sequence[Chunk], where: Sequence[Condition]) -> set[str]:
    return {c.chunk_id for c in chunks if all(holds(w, _value(c, w.field), c.section) for w in where)}  # type: ignore[arg-type]


def test_filter_injection_reaches_nothing_the_filter_excludes(tmp_path: Path) -> None:
    """Every payload is ANDed with `source=teamA/notes.md`: a teamB chunk in the result is an injection that
    broke out of its condition. The same payload alone is also compared with the filter's meaning in Python
    (store.filter_semantics); where a store's answer differs, it is printed as a disagreement."""
    attempts = successes = refused = 0
    disagreements: dict[str, list[str]] = {}
    for name, store in _stores(tmp_path):
        try:
            mine = put(store, "teamA/notes.md", ["quarterly numbers for team a"], np.stack([unit(1)]),
                       source="teamA/notes.md", metadata={"team": "a"})
            theirs = put(store, "teamB/secret.md", ["quarterly numbers for team b, Vantrel"], np.stack([unit(1, 0.1)]),
                         source="teamB/secret.md", metadata={"team": "b"})
            store.flush()
            everything = [*mine, *theirs]
            guard = Condition("source", "=", "teamA/notes.md")
            payloads = [Condition(f, op, v) for f in INJECTED_FIELDS for op in ("=", "!=", ">=") for v in INJECTED_VALUES]
            payloads += [parse_filter(f"team={v}") for v in INJECTED_VALUES if v.strip() and v[0] not in "=<>!"]
            for payload in payloads:
                for where in ([guard, payload], [payload]):
                    attempts += 1
                    try:
                        got = {h.chunk.chunk_id for h in store.keyword_search(["quarterly"], k=10, where=where)}
                        got |= {h.chunk.chunk_id for h in store.dense_search(unit(1), k=10, where=where)}
                    except DayshiftError:
                        refused += 1
                        continue
                    if len(where) == 2 and any(c.startswith("teamB") for c in got):
                        successes += 1
                        print(f"injection success at {name}: {where} returned {sorted(got)}")
                    elif len(where) == 1 and got - _expected(everything, where):
                        disagreements.setdefault(name, []).append(f"{payload.field} {payload.op} {payload.value!r}")
        finally:
            store.close()
    print(f"filter injection at the stores: {attempts} attempts, {refused} refused with a dayshift error, "
          f"{successes} successes")
    for name, found in disagreements.items():
        print(f"{name}: {len(found)} filters whose results differ from filter_semantics: {found}")
    assert attempts > 1000 and successes == 0


# -- through the service ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory: pytest.TempPathFactory, hardening_models) -> Iterator[tuple[ServiceEnv, dict[str, str]]]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("attacked")
    ring = KeyRing(data_dir / "keys.sqlite")
    keys = {tenant: ring.create(tenant)[0] for tenant in NOTES}
    ring.close()
    for env in start_service(data_dir, hardening_models, admin_key=ADMIN, rate_limit_burst=100_000,
                             rate_limit_per_minute=100_000, max_request_kb=256, max_upload_mb=1):
        for tenant, (name, text) in NOTES.items():
            r = env.client.post("/v1/documents", headers=env.headers(keys[tenant]),
                                files=[("files", (name, text.encode(), "text/markdown"))])
            assert r.status_code == 202, r.text
            _wait(env, r.json()["status_url"], keys[tenant])
        yield env, keys


def _wait(env: ServiceEnv, url: str, key: str) -> dict[str, object]:
    for _ in range(1200):
        status = env.client.get(url, headers=env.headers(key)).json()
        if status["state"] in ("done", "failed"):
            return status  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {status}")


def _leaks(text: str) -> bool:
    return any(word in text for word in SECRET_WORDS)


def _globex_intact(env: ServiceEnv, keys: dict[str, str]) -> bool:
    docs = env.client.get("/v1/documents", headers=env.headers(keys["globex"])).json()["documents"]
    return any(d["doc_id"].endswith("globex.md") for d in docs)


def test_where_injection_through_the_api(two_tenants: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = two_tenants
    acme = env.headers(keys["acme"])
    attempts = successes = 0
    codes: dict[int, int] = {}
    wheres = [f"{f}={v}" for f in ("source", "team", "doc_id", "tenant") for v in INJECTED_VALUES]
    wheres += [f"{f}!={v}" for f in ("source", "tenant") for v in INJECTED_VALUES[:8]]
    for where in wheres:
        for mode in ("keyword", "dense", "hybrid"):
            attempts += 1
            r = env.client.post("/v1/search", headers=acme,
                                json={"query": "Globex Vantrel reactor cooled", "k": 10, "mode": mode, "where": [where]})
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if r.status_code >= 500 or (r.status_code == 200 and _leaks(json.dumps(r.json()["hits"]))):
                successes += 1
                print("success:", where, mode, r.status_code, r.text[:300])
    print(f"where injection through /v1/search: {attempts} attempts, status codes {codes}, {successes} successes")
    assert successes == 0


def test_guessing_another_tenants_ids(two_tenants: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = two_tenants
    acme, globex = env.headers(keys["acme"]), env.headers(keys["globex"])
    (doc,) = [d["doc_id"] for d in env.client.get("/v1/documents", headers=globex).json()["documents"]]
    trace = env.client.post("/v1/search", headers=globex, json={"query": "reactor"}).json()["trace_id"]
    for _ in range(1200):  # guessed once it is stored and its owner can read it
        if env.client.get(f"/v1/traces/{trace}", headers=globex).status_code == 200:
            break
        time.sleep(0.1)
    job = env.client.post("/v1/documents", headers=globex,
                          files=[("files", ("loop.md", b"# Loop\n\nVantrel loop checks.\n", "text/markdown"))]).json()
    _wait(env, job["status_url"], keys["globex"])
    doc_guesses = {doc, doc.upper(), f"./{doc}", f"../globex/{doc}", f"globex/{doc}", f"{doc}#0", f"{doc}:0",
                   f"uploads/{doc}", doc.replace(".", "%2E"), f"%2e%2e/{doc}", f"{doc}%00", f"{doc}/", "globex.md",
                   "loop.md", "*", "%", "..", "../../keys.sqlite", "/etc/passwd"}
    trace_guesses = {trace, trace.upper(), trace[:-1], trace + "0", trace[:8], "*", "%", "' OR '1'='1"}
    trace_guesses |= {trace[:-1] + c for c in "0123456789abcdef"}
    attempts = successes = 0
    for guess in sorted(doc_guesses):
        attempts += 1
        r = env.client.delete(f"/v1/documents/{guess}", headers=acme)
        if r.status_code < 400 or r.status_code >= 500:
            successes += 1
    for guess in sorted(trace_guesses):
        for r in (env.client.get(f"/v1/traces/{guess}", headers=acme),
                  env.client.post("/v1/feedback", headers=acme, json={"trace_id": guess, "rating": "down"})):
            attempts += 1
            if r.status_code < 400 or r.status_code >= 500:
                successes += 1
    for guess in (job["job_id"], job["job_id"].upper(), job["job_id"][:-1] + "0"):
        attempts += 1
        r = env.client.get(f"/v1/documents/jobs/{guess}", headers=acme)
        if r.status_code < 400 or r.status_code >= 500:
            successes += 1
    attempts += 1
    listed = env.client.get("/v1/traces", headers=acme, params={"limit": 500}).json()["traces"]
    successes += any(t["trace_id"] == trace or t["tenant"] != "acme" for t in listed)
    intact = _globex_intact(env, keys)
    fb = env.client.get(f"/v1/traces/{trace}", headers=globex).json()["feedback"]
    print(f"id guessing: {attempts} attempts, {successes} successes; globex's document intact: {intact}; "
          f"feedback on globex's trace: {fb}")
    assert successes == 0 and intact and not fb


UPLOAD_NAMES = [
    "../../evil-1.md", "..\\..\\evil-2.md", "/tmp/evil-3.md", "a/../../evil-4.md", "....//....//evil-5.md",
    "%2e%2e%2fevil-6.md", "..%2fevil-7.md", "evil-8.md\x00.pdf", ".evil-9.md", "..", ".", "", "uploads/../../evil-10.md",
    "C:\\Windows\\evil-11.md", "\u2025/evil-12.md", "..\u2215evil-13.md", "evil-14.md/", " ../evil-15.md",
    "x" * 300 + ".md", "../keys.sqlite", "../index.sqlite", "../../globex/uploads/evil-16.md",
]


def test_upload_names_never_leave_the_uploads_folder(two_tenants: tuple[ServiceEnv, dict[str, str]],
                                                     tmp_path: Path) -> None:
    env, keys = two_tenants
    acme = env.headers(keys["acme"])
    root = env.settings.data_dir
    before = {p for p in root.rglob("*")}
    keys_before = (root / "keys.sqlite").read_bytes()
    attempts = successes = 0
    for name in UPLOAD_NAMES:
        attempts += 1
        r = env.client.post("/v1/documents", headers=acme,
                            files=[("files", (name, b"# Evil\n\nWritten by a traversal attempt.\n", "text/markdown"))])
        if r.status_code >= 500:
            successes += 1
            continue
        if r.status_code == 202:
            _wait(env, r.json()["status_url"], keys["acme"])
    # A zip whose entries climb out (zip-slip): no loader reads zips, so nothing is extracted anywhere.
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        for i, entry in enumerate(["../../evil-zip-1.md", "/tmp/evil-zip-2.md", "..\\evil-zip-3.md", "ok.md"]):
            z.writestr(entry, f"# Zip {i}\n\nFrom a zip-slip attempt.\n")
    for name in ("slip.zip", "slip.md", "slip.bz2"):
        attempts += 1
        r = env.client.post("/v1/documents", headers=acme, files=[("files", (name, packed.getvalue(), "application/zip"))])
        if r.status_code >= 500:
            successes += 1
        elif r.status_code == 202:
            _wait(env, r.json()["status_url"], keys["acme"])
    uploads = (env.service.jobs.uploads_dir("acme")).resolve()
    tenant_dir = uploads.parent
    created = {p for p in root.rglob("*")} - before
    outside = [p for p in created if "evil" in p.name and not p.resolve().is_relative_to(uploads)]
    outside += [p for p in created if p.is_file() and not p.resolve().is_relative_to(tenant_dir)
                and p.suffix in (".md", ".zip")]
    for folder in (tmp_path.parent, Path("/tmp")):
        outside += [p for p in folder.glob("evil*")]
    successes += len(outside) + ((root / "keys.sqlite").read_bytes() != keys_before)
    print(f"path traversal and zip-slip: {attempts} uploads, {successes} successes; files outside: {outside}")
    assert successes == 0 and _globex_intact(env, keys)


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


def test_oversized_and_deeply_nested_json(two_tenants: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = two_tenants
    acme = env.headers(keys["acme"])
    attempts = successes = 0
    codes: dict[int, int] = {}
    bodies: list[tuple[str, str | bytes]] = []
    for depth in (10, 100, 1000, 10_000, 100_000):
        for kind in ("array", "object"):
            deep = _nested(depth, kind)
            bodies += [("/v1/search", deep), ("/v1/search", f'{{"query": "vault", "where": {deep}}}'),
                       ("/v1/ask", (f'{{"question": "vault", "response_format": {{"type": "json_schema", '
                                   f'"json_schema": {{"name": "x", "schema": {deep}}}}}}}')),
                       ("/v1/feedback", f'{{"trace_id": {deep}, "rating": "up"}}'),
                       ("/v1/chat/completions", f'{{"model": "x", "messages": {deep}}}')]
    bodies += [("/v1/search", json.dumps({"query": "x" * 300_000})), ("/v1/search", b"{" * 400_000),
               ("/v1/search", json.dumps({"query": "vault", "k": 10**30})), ("/v1/search", '{"query": "\\ud800"}'),
               ("/v1/search", json.dumps({"query": "vault", "where": ["a=b"] * 100_00})),
               ("/v1/ask", json.dumps({"question": "vault", "k": 1, "extra": "x" * 200_000})),
               ("/v1/search", b'{"query": "vault"' + b" " * 300_000 + b"}"), ("/v1/search", b"\xff\xfe\x00\x00")]
    for route, body in bodies:
        attempts += 1
        data = body.encode() if isinstance(body, str) else body
        r = env.client.post(route, headers={**acme, "Content-Type": "application/json"}, content=data)
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
        if r.status_code >= 500:
            successes += 1
            print("success:", route, len(data), r.status_code, r.text[:300])
    alive = env.client.post("/v1/search", headers=acme, json={"query": "vault"}).status_code == 200
    print(f"oversized and nested JSON: {attempts} requests, status codes {codes}, {successes} successes, "
          f"server answering afterwards: {alive}")
    assert successes == 0 and alive


def _lookalikes(word: str) -> list[str]:
    """Strings a person might read as `word` (never `word` itself)."""
    return [v for v in _variants(word) if v != word]


def _variants(word: str) -> list[str]:
    return [word.upper(), word.capitalize(), word + "\u200b", "\u200b" + word, word + "\x00", word + " ", " " + word,
            "".join(chr(ord(c) + 0xFEE0) for c in word),  # full-width
            word.replace("o", "\u043e"), word.replace("e", "\u0435"), word.replace("a", "\u0430"),  # Cyrillic
            word + "\u0301", word[:-1] + "\u0338" + word[-1], f"{word}/../acme", f"../{word}", f"{word}\n",
            f"{word}%00", word + "\ufeff", word.replace("l", "\u217c"), word + "\u2028", word.encode().hex()]


def test_unicode_tricks_in_tenant_names_and_keys(two_tenants: tuple[ServiceEnv, dict[str, str]]) -> None:
    env, keys = two_tenants
    attempts = successes = unsendable = 0
    codes: dict[int, int] = {}

    def send(method: str, url: str, headers: dict[str, bytes], **kwargs: object) -> httpx.Response | None:
        """Header values go as raw UTF-8 bytes, as a hand-written client could send them."""
        nonlocal unsendable
        try:
            return env.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
        except (httpx.HTTPError, ValueError) as exc:  # the client library refuses to send it at all
            print("unsendable:", repr(headers), type(exc).__name__)
            unsendable += 1
            return None

    admin = f"Bearer {ADMIN}".encode()
    for fake in _lookalikes("globex") + _lookalikes("acme"):
        r = send("POST", "/v1/search", {"Authorization": admin, "X-Dayshift-Tenant": fake.encode()},
                 json={"query": "Globex Vantrel reactor", "k": 5})
        if r is None:
            continue
        attempts += 1
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
        if r.status_code >= 500 or (r.status_code == 200 and r.json()["hits"]):
            successes += 1  # a look-alike of a tenant's name must not open any tenant
            print("tenant success:", repr(fake), r.status_code, r.text[:200])
    # A tenant key with the header is still that tenant: only the admin key may act for another.
    attempts += 1
    r = send("POST", "/v1/search", {"Authorization": f"Bearer {keys['acme']}".encode(), "X-Dayshift-Tenant": b"globex"},
             json={"query": "Globex Vantrel reactor", "k": 5})
    successes += r is not None and (r.status_code >= 500 or (r.status_code == 200 and _leaks(json.dumps(r.json()["hits"]))))
    for tenant, key in keys.items():
        variants = _lookalikes(key) + [key[:-1], key + "x", key[:20], key.swapcase(), key.replace("_", "-")]
        for fake in variants:
            r = send("GET", "/v1/documents", {"Authorization": f"Bearer {fake}".encode()})
            if r is None:
                continue
            attempts += 1
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if r.status_code != 401 and fake.strip() != key:  # HTTP drops whitespace around a header value
                successes += 1
                print("key success:", tenant, repr(fake), r.status_code)
    print(f"Unicode tenant names and keys: {attempts} attempts, status codes {codes}, {successes} successes "
          f"({unsendable} more the HTTP client would not send)")
    assert successes == 0


def test_key_comparison_sees_only_digests(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.sqlite")
    key, _ = ring.create("acme")
    seen: list[str] = []
    find = ring.store.find

    def recording(digest: str) -> tuple[str, str] | None:
        seen.append(digest)
        return find(digest)

    ring.store.find = recording  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789")
    near = [key[:-1] + c for c in alphabet if key[:-1] + c != key]  # all but the last character right
    far = ["dsk_" + "".join(rng.choice(alphabet, size=len(key) - 4)) for _ in range(len(near))]
    timings: dict[str, list[float]] = {"near": [], "far": []}
    attempts = successes = 0
    for _ in range(20):
        ring._cache.clear()  # every lookup reaches the store
        for group, candidates in (("near", near), ("far", far)):
            for candidate in candidates:
                attempts += 1
                started = time.perf_counter_ns()
                found = ring.lookup(candidate)
                timings[group].append((time.perf_counter_ns() - started) / 1000)
                successes += found is not None
    assert all(len(d) == 64 and all(c in "0123456789abcdef" for c in d) for d in seen)
    assert not any(key in d or d in key for d in seen)
    assert hashlib.sha256(key.encode()).hexdigest() not in seen  # no wrong key hashes to the real one
    assert ring.lookup(key) is not None
    ring.close()
    near_us, far_us = statistics.median(timings["near"]), statistics.median(timings["far"])
    print(f"key timing: {attempts} wrong keys, {successes} accepted; median lookup {near_us:.1f} us with all but "
          f"the last character right, {far_us:.1f} us for random keys (the store compares SHA-256 digests only)")
    assert successes == 0
