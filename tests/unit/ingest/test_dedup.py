"""Fingerprints, MinHash signatures, the LSH index and the per-run Deduplicator."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dayshift.ingest.dedup import (
    Deduplicator,
    DedupRecord,
    DuplicateVerdict,
    NearDuplicateIndex,
    choose_bands,
    is_empty_signature,
    minhash,
    minhash_signature,
    shingle_hashes,
    signature_from_bytes,
    signature_similarity,
    signature_to_bytes,
    text_fingerprint,
)

FOX = "The quick brown fox jumps over the lazy dog"
SRC = Path(__file__).resolve().parents[3] / "src"


def _scifact(scifact_dir: Path) -> list[dict[str, str]]:
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _edit_words(text: str, positions: list[int]) -> str:
    words = text.split(" ")
    for p in positions:
        words[p] = f"edited{p}"
    return " ".join(words)


def _jaccard(left: str, right: str) -> float:
    a, b = set(shingle_hashes(left).tolist()), set(shingle_hashes(right).tolist())
    return len(a & b) / len(a | b)


def test_fingerprint_ignores_case_and_whitespace_only() -> None:
    assert text_fingerprint("Hello  World\n\tagain ") == text_fingerprint("hello world again")
    assert text_fingerprint("hello world again") != text_fingerprint("hello world, again")


def test_shingles_are_word_5_grams_with_a_short_text_fallback() -> None:
    assert shingle_hashes(FOX).shape == (5,)  # 9 words
    assert shingle_hashes("two words").shape == (1,)
    assert shingle_hashes(" -- !! ").shape == (0,)
    assert shingle_hashes("Two, WORDS!").tolist() == shingle_hashes("two words").tolist()
    assert shingle_hashes("a b c d e").tolist() != shingle_hashes("e d c b a").tolist()  # order counts


def test_signature_shape_dtype_and_pinned_values() -> None:
    signature = minhash_signature(FOX)
    assert signature.dtype == np.uint32 and signature.shape == (128,)
    # pinned: stored signatures are only comparable while the scheme is unchanged
    assert signature[:4].tolist() == [993816216, 1126817108, 1974346208, 1743877676]
    assert minhash_signature(FOX, num_perm=64).shape == (64,)
    assert is_empty_signature(minhash_signature("...")) and not is_empty_signature(signature)


def test_signatures_are_equal_across_processes_with_different_hash_seeds() -> None:
    script = (
        "from dayshift.ingest.dedup import minhash_signature, signature_to_bytes\n"
        f"print(signature_to_bytes(minhash_signature({FOX!r})).hex())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SRC)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout.strip())
    assert outputs == {signature_to_bytes(minhash_signature(FOX)).hex()}


def test_signature_bytes_round_trip() -> None:
    signature = minhash_signature(FOX)
    data = signature_to_bytes(signature)
    assert len(data) == 512
    assert np.array_equal(signature_from_bytes(data), signature)
    with pytest.raises(ValueError, match="signature_to_bytes"):
        signature_from_bytes(data[:-1])


def test_similarity_estimates_jaccard_without_bias() -> None:
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(200):
        pool = rng.integers(0, 2**63, size=600, dtype=np.uint64)
        left, right = pool[:300], np.concatenate([pool[:284], pool[300:316]])  # J = 284/316
        errors.append(signature_similarity(minhash(left), minhash(right)) - 284 / 316)
    assert abs(np.mean(errors)) < 0.01
    assert 0.02 < np.std(errors) < 0.035  # binomial: sqrt(0.9 * 0.1 / 128) = 0.027


def test_band_choice_for_the_default_threshold() -> None:
    assert choose_bands(0.9, 128) == (16, 8)
    assert (1 - 0.9**8) ** 16 < 2e-4  # a pair at J = 0.9 misses every band
    assert choose_bands(0.5, 128) == (64, 2)
    with pytest.raises(ValueError, match="threshold"):
        choose_bands(0.0, 128)


def test_index_add_find_remove_and_replace() -> None:
    index = NearDuplicateIndex()
    base = minhash_signature(FOX + " near the river bank today")
    index.add("a", base)
    assert len(index) == 1 and "a" in index
    assert index.find(base) == "a"
    assert index.best_match(base) == ("a", 1.0)
    assert index.find(base, exclude="a") is None
    assert index.find(minhash_signature("an unrelated sentence about cell biology and mice")) is None
    index.add("a", minhash_signature("completely different words in this replacement text"))
    assert len(index) == 1 and index.find(base) is None
    index.remove("a")
    index.remove("never-added")
    assert len(index) == 0 and index.find(base) is None


def test_index_confirms_band_collisions_on_the_full_signature() -> None:
    index = NearDuplicateIndex()
    stored = minhash_signature(FOX)
    index.add("a", stored)
    probe = minhash_signature("other text entirely, nothing shared with the fox")
    probe[:8] = stored[:8]  # same first band: a candidate, but 8/128 equal slots
    assert index.find(probe) is None
    probe[: int(0.9 * 128) + 1] = stored[: int(0.9 * 128) + 1]
    assert index.find(probe) == "a"


def test_index_rejects_wrong_length_and_never_matches_empty_text() -> None:
    index = NearDuplicateIndex()
    with pytest.raises(ValueError, match="num_perm"):
        index.add("a", minhash_signature(FOX, num_perm=64))
    empty = minhash_signature("")
    index.add("e", empty)
    assert len(index) == 1 and index.find(empty) is None


def test_deduplicator_verdicts_on_scifact(scifact_dir: Path) -> None:
    rows = [row for row in _scifact(scifact_dir) if len(row["text"].split(" ")) >= 300][:2]
    original, other = rows[0], rows[1]
    dedup = Deduplicator()
    dedup.add(original["_id"], original["text"])
    dedup.add(other["_id"], other["text"])

    shouted = "  " + original["text"].upper().replace(" ", "\n ")
    assert dedup.check("copy", shouted) == DuplicateVerdict("exact", original["_id"], 1.0)

    edited = _edit_words(original["text"], [60, 200])  # two words changed
    assert _jaccard(original["text"], edited) > 0.93
    verdict = dedup.check("edited", edited)
    assert verdict is not None and (verdict.kind, verdict.of_doc_id) == ("near", original["_id"])
    assert 0.9 <= verdict.similarity < 1.0

    rewritten = _edit_words(original["text"], list(range(5, 300, 10)))  # every 10th word
    assert dedup.check("rewritten", rewritten) is None
    assert dedup.check("new", "An abstract about something else entirely, in a few words.") is None


def test_a_document_is_never_its_own_duplicate(scifact_dir: Path) -> None:
    row = _scifact(scifact_dir)[0]
    dedup = Deduplicator()
    dedup.add(row["_id"], row["text"])
    assert dedup.check(row["_id"], row["text"]) is None
    assert dedup.check(row["_id"], _edit_words(row["text"], [10])) is None  # changed version
    dedup.add(row["_id"], row["text"] + " Erratum.")  # replaces the earlier version
    assert len(dedup) == 1
    assert dedup.check("other", row["text"] + " erratum.").kind == "exact"  # type: ignore[union-attr]
    dedup.remove(row["_id"])
    assert len(dedup) == 0 and dedup.check("other", row["text"]) is None


def test_deduplicator_rebuilds_from_stored_records(scifact_dir: Path) -> None:
    rows = _scifact(scifact_dir)[:50]
    first = Deduplicator()
    records = [first.add(row["_id"], row["text"]) for row in rows]
    assert isinstance(records[0], DedupRecord) and records[0].doc_id == rows[0]["_id"]
    stored = [(r.doc_id, r.fingerprint, signature_to_bytes(r.signature)) for r in records]
    second = Deduplicator(stored)
    assert len(second) == 50
    edited = _edit_words(rows[3]["text"], [20])
    assert second.check("new", edited) == first.check("new", edited)
    assert second.check("new", rows[7]["text"]) == DuplicateVerdict("exact", rows[7]["_id"], 1.0)


def test_scifact_has_no_near_duplicates_at_0_9(scifact_dir: Path) -> None:
    dedup = Deduplicator()
    found = []
    for row in _scifact(scifact_dir):
        text = f"{row['title']}\n\n{row['text']}"
        verdict = dedup.check(row["_id"], text)
        if verdict is None:
            dedup.add(row["_id"], text)
        else:
            found.append((row["_id"], verdict))
    assert found == []
    assert len(dedup) == 5183
