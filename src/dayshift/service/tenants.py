"""The open indexes of the tenants the service is serving, built on one shared model of each kind.

The embedding model and the LLM are loaded once for the process; each tenant
gets its own store (its own folder, dayshift.tenancy), retriever, answerer
and ingestor over them. Tenants not used lately are closed once more than
`capacity` are open, never while a request is using them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dayshift.answer.answerer import Answerer
from dayshift.assemble import open_answerer, open_ingestor, open_retriever, open_store
from dayshift.embed.base import Embedder
from dayshift.ingest.sync import Ingestor
from dayshift.llm.client import LLMClient
from dayshift.retrieve.retriever import Retriever
from dayshift.settings import Settings
from dayshift.store.base import Store
from dayshift.tenancy import tenant_settings
from dayshift.trace.detail import record_retrieval


@dataclass(slots=True)
class TenantRuntime:
    tenant: str
    settings: Settings
    store: Store
    retriever: Retriever
    answerer: Answerer
    ingestor: Ingestor
    users: int = 0
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # one ingest or delete at a time

    def close(self) -> None:
        self.ingestor.catalog.close()
        if self.ingestor.cache is not None:
            self.ingestor.cache.close()
        self.store.close()


class TenantPool:
    def __init__(self, settings: Settings, *, embedder: Embedder, llm: LLMClient, capacity: int) -> None:
        self.settings, self.embedder, self.llm, self.capacity = settings, embedder, llm, capacity
        self._open: OrderedDict[str, TenantRuntime] = OrderedDict()
        self._lock = threading.Lock()

    def settings_for(self, tenant: str) -> Settings:
        return tenant_settings(self.settings, tenant)

    @contextmanager
    def use(self, tenant: str) -> Iterator[TenantRuntime]:
        runtime = self._acquire(tenant)
        try:
            yield runtime
        finally:
            with self._lock:
                runtime.users -= 1
                self._evict()

    def _acquire(self, tenant: str) -> TenantRuntime:
        with self._lock:
            runtime = self._open.get(tenant)
            if runtime is None:
                runtime = self._build(tenant)
                self._open[tenant] = runtime
            self._open.move_to_end(tenant)
            runtime.users += 1
            return runtime

    def _build(self, tenant: str) -> TenantRuntime:
        settings = tenant_settings(self.settings, tenant)
        store = open_store(settings, self.embedder)
        return TenantRuntime(
            tenant=tenant, settings=settings, store=store,
            retriever=open_retriever(settings, embedder=self.embedder, store=store),
            answerer=record_retrieval(open_answerer(settings, embedder=self.embedder, store=store, llm=self.llm)),
            ingestor=open_ingestor(settings, embedder=self.embedder, store=store),
        )

    def _evict(self) -> None:
        for tenant in list(self._open):
            if len(self._open) <= self.capacity:
                return
            runtime = self._open[tenant]
            if runtime.users == 0:
                del self._open[tenant]
                runtime.close()

    def close(self) -> None:
        with self._lock:
            for runtime in self._open.values():
                runtime.close()
            self._open.clear()
