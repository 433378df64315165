"""The contract every embedding cache passes: one suite that each engine's tests inherit.

    class TestMyCache(EmbeddingCacheContract):
        def open_cache(self, place: str) -> VectorCache:
            return MyCache(...)        # the same `place` reopens the same, at first empty, cache

Runs only through `dayshift.embed.cache.VectorCache`: vectors come back bit for bit as
float32, spaces are separate, a write replaces what a hash held (the last of a batch wins),
batches of any size work, and what one handle wrote another reads at once.

Left out: `embed_cached` (tests/unit/embed/test_cache.py runs it in front of the real model).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from dayshift.embed.cache import VectorCache


class EmbeddingCacheContract:
    def open_cache(self, place: str) -> VectorCache:
        raise NotImplementedError

    @pytest.fixture
    def cache(self) -> Iterator[VectorCache]:
        opened = self.open_cache("main")
        yield opened
        opened.close()

    def test_vectors_round_trip_bit_for_bit(self, cache: VectorCache) -> None:
        vectors = np.random.default_rng(7).standard_normal((5, 384)).astype(np.float32)
        vectors[0, :3] = [np.float32(1e-45), -0.0, np.finfo(np.float32).max]  # denormal, signed zero, extreme
        keys = [f"h{i}" for i in range(5)]
        cache.put_many("space-a", keys, vectors)
        found = cache.get_many("space-a", [*keys, "absent"])
        assert sorted(found) == keys
        for key, vector in zip(keys, vectors):
            assert found[key].dtype == np.float32 and found[key].shape == (384,)
            assert found[key].tobytes() == vector.tobytes()

    def test_float64_input_is_stored_as_float32(self, cache: VectorCache) -> None:
        vector = np.array([[0.1, -2.5, 3.0]], dtype=np.float64)
        cache.put_many("s", ["h"], vector)
        assert cache.get_many("s", ["h"])["h"].tolist() == vector.astype(np.float32)[0].tolist()

    def test_spaces_are_separate(self, cache: VectorCache) -> None:
        cache.put_many("space-a", ["same"], np.full((1, 4), 1.0, dtype=np.float32))
        cache.put_many("space-b", ["same"], np.full((1, 4), 2.0, dtype=np.float32))
        assert cache.count() == 2
        assert cache.get_many("space-a", ["same"])["same"].tolist() == [1.0] * 4
        assert cache.get_many("space-b", ["same"])["same"].tolist() == [2.0] * 4
        assert cache.get_many("space-c", ["same"]) == {}

    def test_a_write_replaces_the_last_of_a_batch_wins_and_clear_empties(self, cache: VectorCache) -> None:
        cache.put_many("s", ["h"], np.zeros((1, 3), dtype=np.float32))
        cache.put_many("s", ["h"], np.ones((1, 3), dtype=np.float32))
        assert cache.count() == 1 and cache.get_many("s", ["h"])["h"].tolist() == [1.0, 1.0, 1.0]
        cache.put_many("s", ["k", "k"], np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], dtype=np.float32))
        assert cache.count() == 2 and cache.get_many("s", ["k"])["k"].tolist() == [2.0, 2.0, 2.0]
        cache.clear()
        assert cache.count() == 0 and cache.get_many("s", ["h", "k"]) == {}

    def test_batches_of_any_size(self, cache: VectorCache) -> None:
        keys = [f"k{i:04d}" for i in range(1234)]  # more than SQLite's 500 host parameters per query
        vectors = np.arange(1234 * 2, dtype=np.float32).reshape(1234, 2)
        cache.put_many("s", keys, vectors)
        found = cache.get_many("s", [*reversed(keys), *keys[:10]])  # order and repeats do not matter
        assert len(found) == 1234
        assert all(found[k].tolist() == vectors[i].tolist() for i, k in enumerate(keys))
        cache.put_many("s", [], np.empty((0, 2), dtype=np.float32))
        assert cache.get_many("s", []) == {} and cache.count() == 1234

    def test_a_reopened_cache_has_every_vector_and_another_place_none(self, cache: VectorCache) -> None:
        vectors = np.eye(3, dtype=np.float32)
        cache.put_many("s", ["a", "b", "c"], vectors)
        reader = self.open_cache("main")  # open while the first is: what it wrote is there
        try:
            assert reader.get_many("s", ["b"])["b"].tolist() == [0.0, 1.0, 0.0]
        finally:
            reader.close()
        cache.close()
        again, other = self.open_cache("main"), self.open_cache("other")
        try:
            assert again.count() == 3 and again.get_many("s", ["c"])["c"].tolist() == [0.0, 0.0, 1.0]
            assert other.count() == 0 and other.get_many("s", ["a", "b", "c"]) == {}
        finally:
            again.close()
            other.close()
