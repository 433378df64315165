"""The eval cache: the bundled model answers once; the same request again is read back, a changed one is not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dayshift.assemble import open_llm
from dayshift.evals.cache import CachedLLM, CompletionCache
from dayshift.llm.base import ChatRequest, Completion, Message, TokenLogprobs, ToolCall, Usage
from dayshift.settings import load_settings

REQUEST = ChatRequest(messages=(Message(role="user", content="Name one colour of the rainbow."),), max_tokens=8)


def _ask(llm: CachedLLM, request: ChatRequest) -> tuple[str, str]:
    call = llm.stream(request)
    text = "".join(call)
    assert call.result is not None
    return text, call.result.text


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return open_llm(load_settings(None, data_dir=Path("/nonexistent-unused")))


def test_a_repeated_request_is_read_from_the_cache_and_survives_a_reopen(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = CompletionCache(tmp_path / "cache.sqlite")
    llm = CachedLLM(client, cache)
    streamed, first = _ask(llm, REQUEST)
    assert first and streamed == first and not llm.last_cached and cache.misses == 1
    again, second = _ask(llm, REQUEST)
    assert llm.last_cached and again == second == first and cache.hits == 1
    cache.close()

    reopened = CachedLLM(client, CompletionCache(tmp_path / "cache.sqlite"))
    _, third = _ask(reopened, REQUEST)
    assert reopened.last_cached and third == first
    _ask(reopened, replace(REQUEST, max_tokens=9))  # any change to the request is a new key
    assert not reopened.last_cached


def test_a_cached_completion_comes_back_whole_with_its_logprobs_and_tool_calls(tmp_path: Path) -> None:
    """The answer's evidence (reader_sure, reader_prob, the self-check) is computed from the log-probabilities: a
    replayed answer must carry them as the same typed values, or the second eval run scores differently."""
    done = Completion(text="Mara Quinn", model="m", usage=Usage(10, 3), finish_reason="stop", cost_usd=0.25,
                      logprobs=TokenLogprobs(chosen=(-0.1, -0.2), first=(("Mara", -0.1), ("The", -2.5)),
                                             suppressed_p=0.03),
                      tool_calls=(ToolCall(id="c1", name="search", arguments='{"q": "bridge"}'),))
    cache = CompletionCache(tmp_path / "cache.sqlite")
    cache.put("k", done)
    back = cache.get("k")
    assert back == done
    assert back is not None and back.logprobs is not None and back.logprobs.first_prob(("mara",)) > 0.9


def test_greedy_repeats_share_an_entry_and_sampled_repeats_do_not() -> None:
    models = ["m"]
    greedy = [CompletionCache.key(models, replace(REQUEST, seed=s)) for s in (0, 1)]
    assert greedy[0] == greedy[1]
    sampled = [CompletionCache.key(models, replace(REQUEST, temperature=0.8, seed=s)) for s in (0, 1)]
    assert sampled[0] != sampled[1]
    assert CompletionCache.key(["other"], REQUEST) != CompletionCache.key(models, REQUEST)


class _Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.space, self.dim, self.texts = inner, inner.space, inner.dim, 0

    def embed(self, texts, *, kind="document"):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.embed(texts, kind=kind)


def test_query_vectors_are_computed_once_and_match_the_embedder(tmp_path: Path) -> None:
    import numpy as np

    from dayshift.assemble import open_embedder
    from dayshift.evals.cache import CachedQueryEmbedder

    embedder = _Counting(open_embedder(load_settings(None, data_dir=tmp_path)))
    texts = ["The bridge opened in 1887.", "Its keeper was Ewan Stroud.", "The bridge opened in 1887."]
    cached = CachedQueryEmbedder(embedder, CompletionCache(tmp_path / "cache.sqlite"))  # type: ignore[arg-type]
    first = cached(texts)
    assert embedder.texts == 2  # the repeated sentence is embedded once
    direct = embedder.inner.embed(texts, kind="query")
    assert first.shape == direct.shape and np.allclose(first, direct, atol=1e-5)
    reopened = CachedQueryEmbedder(embedder, CompletionCache(tmp_path / "cache.sqlite"))  # type: ignore[arg-type]
    embedder.texts = 0
    again = reopened([*texts, "A new sentence."])
    assert embedder.texts == 1 and np.array_equal(again[:3], first)
