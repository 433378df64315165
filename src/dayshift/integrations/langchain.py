"""dayshift as a LangChain retriever: `DayshiftRetriever`, a langchain-core BaseRetriever.

    from dayshift.integrations.langchain import DayshiftRetriever
    retriever = DayshiftRetriever(data_dir=".dayshift", k=5, where=["source=nist"])          # embedded
    retriever = DayshiftRetriever(url="http://127.0.0.1:8000", api_key="dsk_...", k=5)       # a dayshift service
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm

Each Document is one chunk: `page_content` is its indexed text (title > section, then the chunk), `id`
its chunk id, and `metadata` everything else (chunk_id, doc_id, doc_version, title, source, page,
section, score, rank, and the chunk's own metadata). Filters are dayshift's expressions
(`source=nist`, `page>=3`); `tenant=` picks a tenant's index (embedded) or acts for one with the admin
key (HTTP). Install with `pip install "dayshift[langchain]"`.

Left out: LangChain's structured-query filters (pass `where` expressions instead).
"""

from __future__ import annotations

from typing import Any

from dayshift.errors import PluginError
from dayshift.integrations.search import FoundChunk, Mode, SearchClient

try:
    from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field, PrivateAttr, SecretStr
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('the LangChain adapter needs langchain-core: pip install "dayshift[langchain]"') from exc

__all__ = ["DayshiftRetriever"]


class DayshiftRetriever(BaseRetriever):
    """dayshift's hybrid search (with its filters, tenants and re-ranking) as a LangChain retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(10, ge=1, le=100)
    where: list[str] = Field(default_factory=list)  # dayshift filter expressions, ANDed
    mode: Mode | None = None  # hybrid | keyword | dense; None: the index's setting
    tenant: str | None = None
    url: str | None = None  # a dayshift service; None: open the index in this process
    api_key: SecretStr | None = None
    data_dir: str | None = None  # embedded: the data folder (default: dayshift.toml or DAYSHIFT_DATA_DIR)
    settings: Any = None  # embedded: a dayshift Settings, instead of data_dir
    client: SearchClient | None = None  # one already made (shared by several retrievers)
    _client: SearchClient = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        if self.client is not None:
            self._client = self.client
        elif self.url is not None:
            key = self.api_key.get_secret_value() if self.api_key else None
            self._client = SearchClient.http(self.url, api_key=key, tenant=self.tenant)
        else:
            self._client = SearchClient.embedded(data_dir=self.data_dir, tenant=self.tenant, settings=self.settings)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [_document(f) for f in self._client.search(query, k=self.k, where=self.where, mode=self.mode)]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        found = await self._client.asearch(query, k=self.k, where=self.where, mode=self.mode)
        return [_document(f) for f in found]

    def close(self) -> None:
        self._client.close()


def _document(found: FoundChunk) -> Document:
    return Document(page_content=found.text, metadata=found.flat_metadata(), id=found.chunk_id)
