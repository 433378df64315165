"""Exact and near-duplicate detection of documents, for one sync run.

Exact: `text_fingerprint` hashes the text lower-cased with whitespace collapsed.

Near: MinHash over word 5-gram shingles, with LSH banding to find candidates:

    text -> words ("\\w+", lower-cased)                  # ["the", "cell", ...]
         -> shingle hashes (n - 4,) uint64               # blake2b-8 per word, combined
         -> signature (num_perm,) uint32                 # min over shingles of
                                                         # (a_i * x + b_i) mod 2^64, high 32 bits
    signature -> `bands` keys of `rows` values each      # a shared key makes a candidate
    candidate -> share of equal signature slots >= threshold  # the Jaccard estimate

Every constant comes from blake2b with a fixed personalisation, never from
Python's salted `hash()` or a random generator, so signatures are equal across
processes, runs and numpy versions; `signature_to_bytes` persists them.
Changing `_SCHEME` (or the shingling) invalidates stored signatures.

Banding (`choose_bands`): as many rows per band as possible while the chance
that a pair at exactly the threshold shares no band stays <= 0.1%. For the
default 128 slots and threshold 0.9 that is 16 bands x 8 rows: a pair with
Jaccard 0.9 misses the candidate stage with probability (1 - 0.9^8)^16 = 1.2e-4,
one at 0.8 with 5%, while a pair at 0.5 becomes a candidate 6% of the time (and
is then rejected by the check on the full signature). The estimate itself has a
standard deviation of sqrt(J(1 - J) / 128): 0.027 at J = 0.9, so a pair exactly
at the threshold is reported about half the time, and one at J = 0.95 about 99%.

What 0.9 means for edits: each changed word removes up to 5 shingles, so a
text of n words stays at J >= 0.9 through about n / 95 scattered word changes.
On SciFact abstracts (median 213 words), a copy with 1 changed word is found
for 90% of them, with 2 for 47%, with 3 for 19%; lower the threshold (0.8: 100%,
95%, 77%) or the shingle (3 words: 99%, 86%, 57%) to catch more.

Left out: texts without any word never match as near duplicates (only exactly);
texts shorter than 5 words form one shingle, so they match only when their
words are the same; the index lives in memory for one run (about 3 KB per
document); no containment (a document inside a longer one) detection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal, NamedTuple, TypeVar

import numpy as np

from dayshift.types import content_hash

_SCHEME = b"dayshift-mh-v1"  # blake2b personalisation: at most 16 bytes
_WORD = re.compile(r"\w+")
_SIGNATURE_DTYPE = np.dtype("<u4")
_EMPTY = np.iinfo(np.uint32).max  # every slot of a signature with no shingles
_SHINGLE_PRIME = np.uint64(0x100000001B3)  # polynomial combination of word hashes
_COLUMNS_PER_STEP = 4096  # bounds the (num_perm, shingles) matrix at 4 MB for 128 slots
_MAX_BAND_MISS = 1e-3
_Key = TypeVar("_Key", int, str)


def text_fingerprint(text: str) -> str:
    """Identity of a text modulo case and whitespace: "A  b\\n" and "a B" share one."""
    return content_hash(" ".join(text.lower().split()))


@cache
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    # -> (a, b), each (num_perm,) uint64; a odd, so x -> a*x + b is a bijection mod 2^64
    raw = b"".join(
        hashlib.blake2b(i.to_bytes(4, "little"), digest_size=16, person=_SCHEME).digest()
        for i in range(num_perm)
    )
    pairs = np.frombuffer(raw, dtype="<u8").reshape(num_perm, 2).astype(np.uint64)
    return pairs[:, 0] | np.uint64(1), pairs[:, 1].copy()


def _fmix64(x: np.ndarray) -> np.ndarray:
    # MurmurHash3's finaliser: spreads the polynomial combination over all 64 bits
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def _blake2b_8(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8, person=_SCHEME).digest()


_WORD_HASHES: dict[str, bytes] = {}  # word -> _blake2b_8(word): words repeat across documents
_WORD_HASHES_MAX = 500_000  # ~60 MB at most; cleared when full


def _word_hash(word: str) -> bytes:
    found = _WORD_HASHES.get(word)
    if found is None:
        if len(_WORD_HASHES) >= _WORD_HASHES_MAX:
            _WORD_HASHES.clear()
        found = _WORD_HASHES[word] = _blake2b_8(word.encode())
    return found


def shingle_hashes(text: str, *, shingle: int = 5) -> np.ndarray:
    """64-bit hashes of the text's word `shingle`-grams, (n_words - shingle + 1,) uint64;
    a text of fewer words is one shingle of all of them, a text of none gives (0,)."""
    if shingle < 1:
        raise ValueError(f"shingle is a number of words, at least 1; got {shingle}")
    words = _WORD.findall(text.lower())
    if not words:
        return np.empty(0, dtype=np.uint64)
    vocabulary: dict[str, int] = {}  # word -> index; each distinct word is hashed once
    codes = [vocabulary.setdefault(w, len(vocabulary)) for w in words]
    raw = b"".join(map(_word_hash, vocabulary))
    word_hashes = np.frombuffer(raw, dtype="<u8").astype(np.uint64)[codes]  # (n_words,)
    k = min(shingle, len(words))
    n = len(words) - k + 1
    acc = word_hashes[:n].copy()
    with np.errstate(over="ignore"):
        for i in range(1, k):
            acc = acc * _SHINGLE_PRIME + word_hashes[i : i + n]
        return _fmix64(acc)


def minhash_signature(text: str, *, num_perm: int = 128, shingle: int = 5) -> np.ndarray:
    """MinHash signature of the text's word shingles, (num_perm,) uint32.

    The share of equal slots between two signatures estimates the Jaccard
    similarity of the two shingle sets. A text with no words gets all slots at
    the uint32 maximum (`is_empty_signature`)."""
    return minhash(shingle_hashes(text, shingle=shingle), num_perm=num_perm)


def minhash(x: np.ndarray, *, num_perm: int = 128) -> np.ndarray:
    """MinHash signature of a set of 64-bit hashes, (n,) uint64 -> (num_perm,) uint32.

    The hashes must be well mixed (as `shingle_hashes` makes them): x -> a*x + b
    is a poor permutation of structured input such as consecutive integers."""
    a, b = _permutations(num_perm)
    lowest = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(x), _COLUMNS_PER_STEP):
            step = x[start : start + _COLUMNS_PER_STEP]
            # (num_perm, 1) * (1, step) -> (num_perm, step); >> 32 is monotone, so min first
            np.minimum(lowest, (a[:, None] * step[None, :] + b[:, None]).min(axis=1), out=lowest)
    return (lowest >> np.uint64(32)).astype(_SIGNATURE_DTYPE)


def is_empty_signature(signature: np.ndarray) -> bool:
    return bool((signature == _EMPTY).all())


def signature_similarity(left: np.ndarray, right: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal slots."""
    return float(np.count_nonzero(left == right)) / len(left)


def signature_to_bytes(signature: np.ndarray) -> bytes:
    return signature.astype(_SIGNATURE_DTYPE, copy=False).tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    if len(data) % _SIGNATURE_DTYPE.itemsize:
        raise ValueError(
            f"a signature is whole uint32 values, got {len(data)} bytes: store it with signature_to_bytes"
        )
    return np.frombuffer(data, dtype=_SIGNATURE_DTYPE).copy()


def choose_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows): the most rows per band (fewest chance candidates) with which a
    pair at exactly `threshold` shares no band with probability <= 0.1%."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold is a Jaccard similarity in (0, 1], got {threshold}")
    best = (num_perm, 1)
    for rows in range(2, num_perm + 1):
        bands = num_perm // rows
        if (1.0 - threshold**rows) ** bands > _MAX_BAND_MISS:
            break
        best = (bands, rows)
    return best


def _discard(groups: dict[_Key, list[str]], key: _Key, doc_id: str) -> None:
    ids = groups.get(key)
    if ids is not None and doc_id in ids:
        ids.remove(doc_id)
        if not ids:
            del groups[key]


class NearDuplicateIndex:
    """MinHash LSH over signatures, with matches confirmed on the full signature."""

    def __init__(self, *, threshold: float = 0.9, num_perm: int = 128) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = choose_bands(threshold, num_perm)
        self._signatures: dict[str, np.ndarray] = {}  # doc_id -> (num_perm,) uint32
        self._buckets: list[dict[int, list[str]]] = [{} for _ in range(self.bands)]  # band key -> ids

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._signatures

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        # (bands, rows) slots -> (bands,) 64-bit keys; a key collision only adds a
        # candidate, which the full-signature check then rejects
        if signature.shape != (self.num_perm,):
            raise ValueError(
                f"signature has shape {signature.shape}, this index takes ({self.num_perm},): "
                "make it with minhash_signature(text, num_perm=...) using the same num_perm"
            )
        used = signature[: self.bands * self.rows].reshape(self.bands, self.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys: list[int] = (used * _permutations(self.rows)[0]).sum(axis=1, dtype=np.uint64).tolist()
        return keys

    def add(self, doc_id: str, signature: np.ndarray) -> None:
        """Index `doc_id`, replacing what was indexed under it before."""
        keys = self._band_keys(signature)
        self.remove(doc_id)
        self._signatures[doc_id] = signature
        if is_empty_signature(signature):
            return  # no words: never a near duplicate of anything
        for bucket, key in zip(self._buckets, keys):
            bucket.setdefault(key, []).append(doc_id)

    def remove(self, doc_id: str) -> None:
        """Forget `doc_id`; a no-op when it is not indexed."""
        signature = self._signatures.pop(doc_id, None)
        if signature is None or is_empty_signature(signature):
            return
        for bucket, key in zip(self._buckets, self._band_keys(signature)):
            _discard(bucket, key, doc_id)

    def best_match(
        self, signature: np.ndarray, *, exclude: str | None = None
    ) -> tuple[str, float] | None:
        """(doc_id, estimated Jaccard) of the most similar indexed document at or above
        the threshold, ties to the smallest doc_id; None when there is none."""
        keys = self._band_keys(signature)
        if is_empty_signature(signature):
            return None
        candidates: set[str] = set()
        for bucket, key in zip(self._buckets, keys):
            candidates.update(bucket.get(key, ()))
        if exclude is not None:
            candidates.discard(exclude)
        scored = [(signature_similarity(signature, self._signatures[c]), c) for c in candidates]
        passing = [(-similarity, doc_id) for similarity, doc_id in scored if similarity >= self.threshold]
        if not passing:
            return None
        negative, doc_id = min(passing)
        return doc_id, -negative

    def find(self, signature: np.ndarray, *, exclude: str | None = None) -> str | None:
        """The doc_id of a near duplicate of `signature` (see `best_match`), or None."""
        match = self.best_match(signature, exclude=exclude)
        return None if match is None else match[0]


class DedupRecord(NamedTuple):
    """What to store per kept document so the next run can rebuild a `Deduplicator`."""

    doc_id: str
    fingerprint: str
    signature: np.ndarray  # (num_perm,) uint32; persist with signature_to_bytes


@dataclass(frozen=True, slots=True)
class DuplicateVerdict:
    kind: Literal["exact", "near"]
    of_doc_id: str
    similarity: float  # 1.0 for "exact"; estimated Jaccard for "near"


class Deduplicator:
    """Duplicate checks for one sync run, over the stored documents and those kept so far.

    A document is never a duplicate of itself: checking a changed version of a
    stored doc_id compares it with every other document only. Pass cleaned text
    (`clean.clean_document`), so that encoding variants of one text match.
    """

    def __init__(
        self,
        existing: Iterable[tuple[str, str, np.ndarray | bytes]] = (),  # (doc_id, fingerprint, signature)
        *,
        threshold: float = 0.9,
        num_perm: int = 128,
        shingle: int = 5,
    ) -> None:
        self.shingle = shingle
        self._near = NearDuplicateIndex(threshold=threshold, num_perm=num_perm)
        self._by_fingerprint: dict[str, list[str]] = {}  # fingerprint -> ids, in order added
        self._fingerprint_of: dict[str, str] = {}  # doc_id -> fingerprint
        self._last: tuple[str, DedupRecord] | None = None  # (text, record) of the last check
        for doc_id, fingerprint, signature in existing:
            if isinstance(signature, bytes | bytearray | memoryview):
                signature = signature_from_bytes(bytes(signature))
            self._register(DedupRecord(doc_id, fingerprint, signature))

    def __len__(self) -> int:
        return len(self._fingerprint_of)

    def record(self, doc_id: str, text: str) -> DedupRecord:
        """Fingerprint and signature of `text` (cached for the following `add`)."""
        if self._last is not None and self._last[1].doc_id == doc_id and self._last[0] == text:
            return self._last[1]
        signature = minhash_signature(text, num_perm=self._near.num_perm, shingle=self.shingle)
        made = DedupRecord(doc_id, text_fingerprint(text), signature)
        self._last = (text, made)
        return made

    def check(self, doc_id: str, text: str) -> DuplicateVerdict | None:
        """How `text` duplicates another registered document, exact first; None if it does not."""
        made = self.record(doc_id, text)
        for other in self._by_fingerprint.get(made.fingerprint, ()):
            if other != doc_id:
                return DuplicateVerdict("exact", other, 1.0)
        match = self._near.best_match(made.signature, exclude=doc_id)
        return None if match is None else DuplicateVerdict("near", match[0], match[1])

    def add(self, doc_id: str, text: str) -> DedupRecord:
        """Register a kept document (replacing an earlier version of it); returns what to store."""
        made = self.record(doc_id, text)
        self._register(made)
        return made

    def remove(self, doc_id: str) -> None:
        fingerprint = self._fingerprint_of.pop(doc_id, None)
        if fingerprint is not None:
            _discard(self._by_fingerprint, fingerprint, doc_id)
        self._near.remove(doc_id)

    def _register(self, made: DedupRecord) -> None:
        self.remove(made.doc_id)
        self._fingerprint_of[made.doc_id] = made.fingerprint
        self._by_fingerprint.setdefault(made.fingerprint, []).append(made.doc_id)
        self._near.add(made.doc_id, made.signature)
