"""dayshift as a LlamaIndex retriever: `DayshiftRetriever`, a llama-index-core BaseRetriever of NodeWithScore.

    from dayshift.integrations.llama_index import DayshiftRetriever
    retriever = DayshiftRetriever(data_dir=".dayshift", k=5, where=["source=nist"])          # embedded
    retriever = DayshiftRetriever(url="http://127.0.0.1:8000", api_key="dsk_...", k=5)       # a dayshift service
    engine = RetrieverQueryEngine.from_args(retriever, llm=llm)

Each node is a TextNode with the chunk id as `id_`, its indexed text (title > section, then the chunk)
as text, and the chunk's fields as metadata; the score is dayshift's (fused, or re-ranked).
Filters are dayshift's expressions (`source=nist`, `page>=3`); `tenant=` picks a tenant's index
(embedded) or acts for one with the admin key (HTTP). Install with `pip install "dayshift[llama-index]"`.

Left out: LlamaIndex's MetadataFilters (pass `where` expressions instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dayshift.errors import PluginError
from dayshift.integrations.search import FoundChunk, Mode, SearchClient

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('the LlamaIndex adapter needs llama-index-core: pip install "dayshift[llama-index]"') from exc

__all__ = ["DayshiftRetriever"]


class DayshiftRetriever(BaseRetriever):
    """dayshift's hybrid search (with its filters, tenants and re-ranking) as a LlamaIndex retriever."""

    def __init__(self, *, k: int = 10, where: Sequence[str] = (), mode: Mode | None = None, tenant: str | None = None,
                 url: str | None = None, api_key: str | None = None, data_dir: str | None = None,
                 settings: Any = None, client: SearchClient | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k, self.where, self.mode = k, list(where), mode
        if client is not None:
            self.client = client
        elif url is not None:
            self.client = SearchClient.http(url, api_key=api_key, tenant=tenant)
        else:
            self.client = SearchClient.embedded(data_dir=data_dir, tenant=tenant, settings=settings)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [_node(f) for f in self.client.search(query_bundle.query_str, k=self.k, where=self.where,
                                                      mode=self.mode)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = await self.client.asearch(query_bundle.query_str, k=self.k, where=self.where, mode=self.mode)
        return [_node(f) for f in found]

    def close(self) -> None:
        self.client.close()


def _node(found: FoundChunk) -> NodeWithScore:
    node = TextNode(id_=found.chunk_id, text=found.text, metadata=found.flat_metadata(),
                    excluded_llm_metadata_keys=["chunk_id", "doc_version", "score", "rank"],
                    excluded_embed_metadata_keys=["chunk_id", "doc_version", "score", "rank"])
    return NodeWithScore(node=node, score=found.score)
