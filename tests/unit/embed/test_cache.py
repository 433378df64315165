"""EmbeddingCache and embed_cached, in front of the real embedder (ONNX runtime, no torch import).

A thin counting wrapper records which texts reach the model, so "only what is missing is computed"
is checked on the calls themselves, not on the returned counter alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from dayshift.embed.base import TextKind
from dayshift.embed.cache import EmbeddingCache, embed_cached
from dayshift.embed.local import LocalEmbedder
from dayshift.types import content_hash

TEXTS = [
    "Incident handling has four phases: preparation, detection, containment and recovery.",
    "Rust references must always be valid.",
    "The WARN report lists layoffs by company and county.",
    "A cat sits on the mat.",
]


class CountingEmbedder:
    """Delegates to a real embedder and records every batch it is asked to embed."""

    def __init__(self, inner: LocalEmbedder, space: str | None = None) -> None:
        self.inner = inner
        self.space = space or inner.space
        self.dim = inner.dim
        self.tokenizer = inner.tokenizer
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, kind: TextKind = "document") -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts, kind=kind)


@pytest.fixture(scope="module")
def model() -> LocalEmbedder:
    return LocalEmbedder(runtime="onnx")


@pytest.fixture(scope="module")
def reference(model: LocalEmbedder) -> dict[str, np.ndarray]:
    """Each text embedded alone: what any cached or batched path has to reproduce."""
    return {t: model.embed([t])[0] for t in TEXTS}


@pytest.fixture
def counting(model: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(model)


@pytest.fixture
def cache(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = EmbeddingCache(tmp_path / "data" / "embed_cache.sqlite")
    yield c
    c.close()


def hashes(texts: Sequence[str]) -> list[str]:
    return [content_hash(t) for t in texts]


def assert_rows_match(vectors: np.ndarray, texts: Sequence[str], reference: dict[str, np.ndarray]) -> None:
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    for row, text in zip(vectors, texts):
        np.testing.assert_allclose(row, reference[text], atol=1e-5)


def test_cold_cache_embeds_everything_once(counting, cache, reference) -> None:
    vectors, computed = embed_cached(counting, cache, TEXTS, hashes(TEXTS))
    assert computed == 4
    assert counting.calls == [TEXTS]
    assert_rows_match(vectors, TEXTS, reference)
    assert cache.count() == 4


def test_only_missing_hashes_are_computed(counting, cache, reference) -> None:
    first, _ = embed_cached(counting, cache, TEXTS[:2], hashes(TEXTS[:2]))
    batch = [TEXTS[3], TEXTS[0], TEXTS[2], TEXTS[1]]
    vectors, computed = embed_cached(counting, cache, batch, hashes(batch))
    assert computed == 2
    assert counting.calls == [TEXTS[:2], [TEXTS[3], TEXTS[2]]]  # the second call: only the new texts
    assert_rows_match(vectors, batch, reference)
    assert np.array_equal(vectors[1], first[0]) and np.array_equal(vectors[3], first[1])  # read back exactly
    vectors_again, computed_again = embed_cached(counting, cache, batch, hashes(batch))
    assert computed_again == 0 and len(counting.calls) == 2  # nothing reaches the model
    assert np.array_equal(vectors_again, vectors)


@pytest.mark.parametrize("with_cache", [True, False])
def test_identical_texts_in_one_call_are_embedded_once(counting, cache, reference, with_cache: bool) -> None:
    batch = [TEXTS[1], TEXTS[0], TEXTS[1], TEXTS[1], TEXTS[0]]
    vectors, computed = embed_cached(counting, cache if with_cache else None, batch, hashes(batch))
    assert computed == 2
    assert counting.calls == [[TEXTS[1], TEXTS[0]]]
    assert_rows_match(vectors, batch, reference)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[0], vectors[3])
    assert cache.count() == (2 if with_cache else 0)


def test_the_hash_is_the_key_not_the_text(counting, cache) -> None:
    # Callers pass Chunk.content_hash; a text under a hash already stored is not re-embedded.
    embed_cached(counting, cache, [TEXTS[0]], ["h-1"])
    vectors, computed = embed_cached(counting, cache, [TEXTS[3]], ["h-1"])
    assert computed == 0 and counting.calls == [[TEXTS[0]]]
    assert np.array_equal(vectors[0], cache.get_many(counting.space, ["h-1"])["h-1"])


def test_vectors_round_trip_exactly(cache) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((5, 384)).astype(np.float32)
    vectors[0, :3] = [np.float32(1e-45), -0.0, np.finfo(np.float32).max]  # denormal, signed zero, extreme
    keys = [f"h{i}" for i in range(5)]
    cache.put_many("space-a", keys, vectors)
    found = cache.get_many("space-a", keys + ["absent"])
    assert sorted(found) == keys
    for key, vector in zip(keys, vectors):
        assert found[key].dtype == np.float32 and found[key].shape == (384,)
        assert found[key].tobytes() == vector.tobytes()  # bit for bit


def test_float64_input_is_stored_as_float32(cache) -> None:
    vector = np.array([[0.1, -2.5, 3.0]], dtype=np.float64)
    cache.put_many("s", ["h"], vector)
    assert cache.get_many("s", ["h"])["h"].tolist() == vector.astype(np.float32)[0].tolist()


def test_a_new_cache_on_the_same_file_sees_earlier_vectors(tmp_path: Path, counting, reference) -> None:
    path = tmp_path / "embed_cache.sqlite"
    first = EmbeddingCache(path)
    stored, _ = embed_cached(counting, first, TEXTS, hashes(TEXTS))
    first.close()
    reopened = EmbeddingCache(path)
    try:
        assert reopened.count() == 4
        vectors, computed = embed_cached(counting, reopened, TEXTS, hashes(TEXTS))
        assert computed == 0 and len(counting.calls) == 1
        assert np.array_equal(vectors, stored)
    finally:
        reopened.close()


def test_spaces_are_separate(cache, model: LocalEmbedder) -> None:
    cache.put_many("space-a", ["same"], np.full((1, 4), 1.0, dtype=np.float32))
    cache.put_many("space-b", ["same"], np.full((1, 4), 2.0, dtype=np.float32))
    assert cache.count() == 2
    assert cache.get_many("space-a", ["same"])["same"].tolist() == [1.0] * 4
    assert cache.get_many("space-b", ["same"])["same"].tolist() == [2.0] * 4
    assert cache.get_many("space-c", ["same"]) == {}
    # The same text under another embedder's space is embedded again, not read from the first.
    minilm, other = CountingEmbedder(model), CountingEmbedder(model, space="other/model")
    embed_cached(minilm, cache, TEXTS[:1], hashes(TEXTS[:1]))
    _, computed = embed_cached(other, cache, TEXTS[:1], hashes(TEXTS[:1]))
    assert computed == 1 and other.calls == [TEXTS[:1]]
    assert cache.count() == 4


def test_put_replaces_and_clear_empties(cache) -> None:
    cache.put_many("s", ["h"], np.zeros((1, 3), dtype=np.float32))
    cache.put_many("s", ["h"], np.ones((1, 3), dtype=np.float32))
    assert cache.count() == 1 and cache.get_many("s", ["h"])["h"].tolist() == [1.0, 1.0, 1.0]
    cache.clear()
    assert cache.count() == 0 and cache.get_many("s", ["h"]) == {}


def test_lookups_beyond_one_sql_batch(cache) -> None:
    keys = [f"k{i:04d}" for i in range(1234)]  # more than the 500 host parameters per query
    vectors = np.arange(1234 * 2, dtype=np.float32).reshape(1234, 2)
    cache.put_many("s", keys, vectors)
    found = cache.get_many("s", list(reversed(keys)) + keys[:10])  # order and repeats do not matter
    assert len(found) == 1234
    assert all(found[k].tolist() == vectors[i].tolist() for i, k in enumerate(keys))


def test_empty_request(counting, cache) -> None:
    vectors, computed = embed_cached(counting, cache, [], [])
    assert vectors.shape == (0, 384) and computed == 0 and counting.calls == []
