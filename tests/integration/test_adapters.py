"""The LangChain and LlamaIndex retrievers with their real packages, over the shared Markdown book.

Each adapter, embedded and over HTTP (a real `dayshift serve`), must return the same top 10 as
`dayshift search`; filters and tenants hold; an LCEL chain and a RetrieverQueryEngine answer with the
bundled local model reading what the retriever found.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core", reason='needs langchain-core: pip install "dayshift[langchain]"')
pytest.importorskip("llama_index.core", reason='needs llama-index-core: pip install "dayshift[llama-index]"')

from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnableLambda, RunnablePassthrough  # noqa: E402
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.schema import QueryBundle  # noqa: E402

from dayshift.integrations import langchain as lc  # noqa: E402
from dayshift.integrations import llama_index as li  # noqa: E402
from dayshift.integrations.search import SearchClient, SearchServiceError  # noqa: E402
from dayshift.testing.serve_process import ServeProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from cli_runner import run  # noqa: E402

QUERIES = (
    "How do I borrow a value without taking ownership?",
    "What is a trait object and when do I use dyn?",
    "How does the ? operator propagate errors?",
    "Which smart pointer gives shared ownership with reference counting?",
    "How do I write a test that expects a panic?",
)


@pytest.fixture(scope="module")
def book_index(tmp_path_factory: pytest.TempPathFactory, rust_book_dir: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("book")
    done = run(data_dir, "ingest", str(rust_book_dir), timeout=1200)
    assert done.returncode == 0, done.stderr
    acme = run(data_dir, "--tenant", "acme", "ingest", str(rust_book_dir / "ch01-01-installation.md"))
    assert acme.returncode == 0, acme.stderr
    return data_dir


@pytest.fixture(scope="module")
def cli_top10(book_index: Path) -> dict[str, list[str]]:
    """What `dayshift search --k 10 --json` returns for each query: the reference."""
    out = {}
    for query in QUERIES:
        done = run(book_index, "search", query, "--k", "10", "--json")
        assert done.returncode == 0, done.stderr
        out[query] = [h["chunk_id"] for h in json.loads(done.stdout)["hits"]]
        assert len(out[query]) == 10
    return out


@pytest.fixture(scope="module")
def server(book_index: Path) -> Iterator[tuple[ServeProcess, str, str]]:
    """A real server with a default-tenant key and an acme key."""
    keys = []
    for tenant in ("default", "acme"):
        done = run(book_index, "keys", "create", "--tenant", tenant)
        assert done.returncode == 0, done.stderr
        keys.append(next(w for w in done.stdout.split() if w.startswith("dsk_")))
    with ServeProcess(book_index) as process:
        yield process, keys[0], keys[1]


@pytest.fixture(scope="module")
def embedded(book_index: Path) -> Iterator[SearchClient]:
    client = SearchClient.embedded(data_dir=book_index)
    yield client
    client.close()


def test_embedded_adapters_return_the_cli_top_10(embedded: SearchClient, cli_top10: dict[str, list[str]]) -> None:
    langchain = lc.DayshiftRetriever(client=embedded, k=10)
    llama = li.DayshiftRetriever(client=embedded, k=10)
    for query, expected in cli_top10.items():
        docs = langchain.invoke(query)
        assert [d.id for d in docs] == expected, query
        assert [d.metadata["rank"] for d in docs] == list(range(1, 11))
        nodes = llama.retrieve(query)
        assert [n.node.node_id for n in nodes] == expected, query
        assert all(n.score is not None for n in nodes)
        assert nodes[0].node.get_content().strip()


def test_http_adapters_return_the_cli_top_10(server: tuple[ServeProcess, str, str],
                                             cli_top10: dict[str, list[str]]) -> None:
    process, key, _ = server
    langchain = lc.DayshiftRetriever(url=process.url, api_key=key, k=10)
    llama = li.DayshiftRetriever(url=process.url, api_key=key, k=10)
    for query, expected in cli_top10.items():
        assert [d.id for d in langchain.invoke(query)] == expected, query
        assert [n.node.node_id for n in llama.retrieve(query)] == expected, query


async def _both_async(langchain: lc.DayshiftRetriever, llama: li.DayshiftRetriever, query: str) -> tuple[Any, Any]:
    return await langchain.ainvoke(query), await llama.aretrieve(QueryBundle(query))


def test_async_retrieval_over_http_matches(server: tuple[ServeProcess, str, str],
                                           cli_top10: dict[str, list[str]]) -> None:
    import asyncio

    process, key, _ = server
    query = QUERIES[0]
    docs, nodes = asyncio.run(_both_async(lc.DayshiftRetriever(url=process.url, api_key=key, k=10),
                                          li.DayshiftRetriever(url=process.url, api_key=key, k=10), query))
    assert [d.id for d in docs] == cli_top10[query]
    assert [n.node.node_id for n in nodes] == cli_top10[query]


def test_filters_apply_in_both_modes(server: tuple[ServeProcess, str, str], embedded: SearchClient) -> None:
    process, key, _ = server
    where = ["source=ch15"]
    for retriever in (lc.DayshiftRetriever(client=embedded, k=10, where=where),
                      lc.DayshiftRetriever(url=process.url, api_key=key, k=10, where=where)):
        docs = retriever.invoke(QUERIES[3])
        assert docs and all(Path(d.metadata["source"]).name.startswith("ch15") for d in docs)
    nodes = li.DayshiftRetriever(url=process.url, api_key=key, k=5, where=where).retrieve(QUERIES[3])
    assert nodes and all(Path(n.node.metadata["source"]).name.startswith("ch15") for n in nodes)


def test_tenants_see_only_their_own_index(server: tuple[ServeProcess, str, str], book_index: Path) -> None:
    process, default_key, acme_key = server
    only = "ch01-01-installation.md"
    embedded_acme = lc.DayshiftRetriever(data_dir=str(book_index), tenant="acme", k=10)
    try:
        assert {Path(d.metadata["source"]).name for d in embedded_acme.invoke(QUERIES[1])} == {only}
    finally:
        embedded_acme.close()
    over_http = li.DayshiftRetriever(url=process.url, api_key=acme_key, k=10).retrieve(QUERIES[1])
    assert {Path(n.node.metadata["source"]).name for n in over_http} == {only}
    default = lc.DayshiftRetriever(url=process.url, api_key=default_key, k=10).invoke(QUERIES[1])
    assert {Path(d.metadata["source"]).name for d in default} != {only}
    with pytest.raises(SearchServiceError, match="401"):
        lc.DayshiftRetriever(url=process.url, api_key="dsk_not_a_key", k=3).invoke(QUERIES[1])


# -- the frameworks' own pipelines, with the bundled local model reading ------------------------------


@pytest.fixture(scope="module")
def reader(book_index: Path) -> Any:
    from dayshift.assemble import open_llm
    from dayshift.settings import load_settings

    return open_llm(load_settings(data_dir=book_index))


def _complete(reader: Any, prompt: str) -> str:
    from dayshift.llm.base import ChatRequest, Message

    return str(reader.complete(ChatRequest(messages=(Message("user", prompt),), max_tokens=64)).text)


def test_an_lcel_chain_answers_from_the_retrieved_chunks(embedded: SearchClient, reader: Any) -> None:
    retriever = lc.DayshiftRetriever(client=embedded, k=3)
    seen: list[str] = []

    def format_docs(docs: list[Any]) -> str:
        seen.extend(d.id for d in docs)
        return "\n\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_template("Answer from the context.\n\n{context}\n\nQuestion: {question}")
    chain = ({"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt
             | RunnableLambda(lambda value: _complete(reader, value.to_string())) | StrOutputParser())
    answer = chain.invoke(QUERIES[3])
    assert isinstance(answer, str) and answer.strip()
    assert seen == [d.id for d in retriever.invoke(QUERIES[3])]
    assert any("ch15" in chunk_id for chunk_id in seen)


class _LocalReader(CustomLLM):
    """LlamaIndex's LLM interface over dayshift's bundled local model (the real one)."""

    client: Any = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=2048, num_output=64, model_name="smollm2-135m-instruct")

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=_complete(self.client, prompt))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self.complete(prompt)


def test_a_retriever_query_engine_answers_with_the_retrieved_nodes(embedded: SearchClient, reader: Any) -> None:
    engine = RetrieverQueryEngine.from_args(li.DayshiftRetriever(client=embedded, k=3),
                                            llm=_LocalReader(client=reader))
    response = engine.query(QUERIES[4])
    assert str(response).strip()
    ids = [n.node.node_id for n in response.source_nodes]
    assert ids == [n.node.node_id for n in li.DayshiftRetriever(client=embedded, k=3).retrieve(QUERIES[4])]
    assert any("ch11" in i for i in ids)
