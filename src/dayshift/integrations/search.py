"""One search client for the adapters: the index opened in this process, or a dayshift service over HTTP.

    SearchClient.embedded(data_dir=".dayshift", tenant="acme")      # loads the embedder, opens the tenant's index
    SearchClient.http("http://127.0.0.1:8000", api_key="dsk_...")   # POST /v1/search; the key decides the tenant
    client.search("how are incidents prioritised", k=10, where=["source=nist"])   -> [FoundChunk, ...]

Both return what `dayshift search` returns for the same index, query, k, mode and filters, in the same
order (tests/integration/test_adapters.py holds them to it). A chunk's `text` is its indexed text (the
title and section path, then the chunk), as /v1/search returns it. The admin key may act for a tenant
over HTTP (`tenant=` sends X-Dayshift-Tenant); a tenant key only ever reaches its own tenant.

Left out: retries (the service answers or says why; 429s carry Retry-After for the caller to honour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from dayshift.errors import ConfigError, DayshiftError

Mode = Literal["hybrid", "keyword", "dense"]


class SearchServiceError(DayshiftError):
    """The service refused or failed a search; the message holds its `detail` (with the fix)."""


@dataclass(frozen=True, slots=True)
class FoundChunk:
    rank: int  # 1-based
    score: float
    chunk_id: str
    doc_id: str
    doc_version: str
    title: str
    source: str
    page: int | None
    section: tuple[str, ...]
    text: str  # the indexed text: title > section header, then the chunk
    metadata: dict[str, Any] = field(default_factory=dict)

    def flat_metadata(self) -> dict[str, Any]:
        """What a framework document carries: every field but the text, section joined, chunk metadata merged in."""
        return {**self.metadata, "chunk_id": self.chunk_id, "doc_id": self.doc_id, "doc_version": self.doc_version,
                "title": self.title, "source": self.source, "page": self.page, "section": " > ".join(self.section),
                "score": self.score, "rank": self.rank}


class SearchClient:
    """Search through a Retriever in this process, or through a service's /v1/search."""

    def __init__(self, *, retriever: Any = None, url: str | None = None, api_key: str | None = None,
                 tenant: str | None = None, timeout_s: float = 30.0, http_client: httpx.Client | None = None) -> None:
        if (retriever is None) == (url is None):
            raise ConfigError("a SearchClient needs either an index (SearchClient.embedded) or a service url")
        self._retriever, self.url = retriever, url.rstrip("/") if url else None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if tenant and url:
            headers["X-Dayshift-Tenant"] = tenant
        self._headers, self._timeout_s = headers, timeout_s
        self._http = http_client
        self._owns_http = http_client is None and url is not None
        if self._owns_http:
            self._http = httpx.Client(timeout=timeout_s)

    @classmethod
    def embedded(cls, *, data_dir: str | Path | None = None, tenant: str | None = None, settings: Any = None,
                 config: str | Path | None = None) -> SearchClient:
        """Open the index of `settings` (or of dayshift.toml / DAYSHIFT_* with `data_dir`) for `tenant`."""
        from dayshift.assemble import open_retriever
        from dayshift.settings import load_settings
        from dayshift.tenancy import tenant_settings

        if settings is None:
            overrides = {"data_dir": Path(data_dir)} if data_dir is not None else {}
            settings = load_settings(Path(config) if config else None, **overrides)
        if tenant:
            settings = tenant_settings(settings, tenant)
        return cls(retriever=open_retriever(settings))

    @classmethod
    def http(cls, url: str, *, api_key: str | None = None, tenant: str | None = None, timeout_s: float = 30.0,
             http_client: httpx.Client | None = None) -> SearchClient:
        return cls(url=url, api_key=api_key, tenant=tenant, timeout_s=timeout_s, http_client=http_client)

    def search(self, query: str, *, k: int = 10, where: Sequence[str] = (),
               mode: Mode | None = None) -> list[FoundChunk]:
        if self._retriever is not None:
            from dayshift.retrieve.filters import parse_filters

            result = self._retriever.search(query, k=k, mode=mode, where=parse_filters(list(where)))
            return [_from_hit(i, h) for i, h in enumerate(result.hits, 1)]
        assert self._http is not None
        response = self._http.post(f"{self.url}/v1/search", json=self._body(query, k, where, mode),
                                   headers=self._headers, timeout=self._timeout_s)
        return _from_response(response)

    async def asearch(self, query: str, *, k: int = 10, where: Sequence[str] = (),
                      mode: Mode | None = None) -> list[FoundChunk]:
        """The same, without blocking an event loop: HTTP through httpx.AsyncClient, embedded on a thread."""
        if self._retriever is not None:
            import asyncio

            return await asyncio.to_thread(self.search, query, k=k, where=where, mode=mode)
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            response = await client.post(f"{self.url}/v1/search", json=self._body(query, k, where, mode),
                                         headers=self._headers)
        return _from_response(response)

    @staticmethod
    def _body(query: str, k: int, where: Sequence[str], mode: Mode | None) -> dict[str, Any]:
        return {"query": query, "k": k, "where": list(where), "mode": mode}

    def close(self) -> None:
        if self._retriever is not None:
            self._retriever.store.close()
        if self._owns_http and self._http is not None:
            self._http.close()


def _from_hit(rank: int, hit: Any) -> FoundChunk:
    c = hit.chunk
    return FoundChunk(rank=rank, score=float(hit.score), chunk_id=c.chunk_id, doc_id=c.doc_id,
                      doc_version=c.doc_version, title=c.title, source=c.source, page=c.page,
                      section=tuple(c.section), text=c.indexed_text, metadata=dict(c.metadata))


def _from_response(response: httpx.Response) -> list[FoundChunk]:
    if response.status_code != 200:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        raise SearchServiceError(f"{response.request.url} answered {response.status_code}: {detail}")
    found = []
    for hit in response.json()["hits"]:
        c = hit["chunk"]
        found.append(FoundChunk(rank=hit["rank"], score=float(hit["score"]), chunk_id=c["chunk_id"],
                                doc_id=c["doc_id"], doc_version=c["doc_version"], title=c["title"],
                                source=c["source"], page=c["page"], section=tuple(c["section"]), text=c["text"],
                                metadata=dict(c["metadata"])))
    return found
