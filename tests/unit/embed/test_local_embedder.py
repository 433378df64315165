"""LocalEmbedder on the bundled all-MiniLM-L6-v2: shapes, semantics, the two runtimes, truncation, tokenizer.

The torch model loads once per module (the `embedder` fixture); `onnx_embedder` is the ONNX-only
configuration, and the torch-only one is built once in its own test.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from dayshift.embed.local import DIM, MAX_TOKENS, SPACE, LocalEmbedder, MiniLMTokenizer, OnnxMiniLM, TorchMiniLM
from dayshift.errors import ConfigError

SENTENCES = [
    "A cat sits on the mat.",
    "How do I reset my password?",
    "Rust's ownership rules: each value has one owner, and the value is dropped when the owner goes out of scope.",
    "Incident response teams should document every step they take while containing an attack.",
    "The Federal Register publishes rules and notices from federal agencies every business day.",
    "What is a borrow checker?",
]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def long_text(n_words: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    vocab = "apple river stone cloud engine garden silver market window candle forest ocean bridge letter".split()
    return " ".join(rng.choice(vocab) for _ in range(n_words))


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="module")
def onnx_embedder() -> LocalEmbedder:
    return LocalEmbedder(runtime="onnx", batch_size=2)


@pytest.fixture(scope="module")
def document_vectors(embedder: LocalEmbedder) -> np.ndarray:
    return embedder.embed(SENTENCES)


def test_identity() -> None:
    assert (LocalEmbedder.space, LocalEmbedder.dim, DIM, MAX_TOKENS) == (
        "sentence-transformers/all-MiniLM-L6-v2", 384, 384, 256,
    )  # fmt: skip
    assert SPACE == LocalEmbedder.space


def test_vectors_are_float32_unit_rows(document_vectors: np.ndarray) -> None:
    assert document_vectors.shape == (len(SENTENCES), 384)
    assert document_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(document_vectors, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(document_vectors).all()
    # six different sentences give six different directions
    sims = document_vectors @ document_vectors.T
    assert (sims[~np.eye(len(SENTENCES), dtype=bool)] < 0.9).all()


def test_paraphrases_are_closer_than_unrelated_texts(embedder: LocalEmbedder) -> None:
    v = embedder.embed(
        [
            "A cat sits on the mat.",
            "The feline rests on the rug.",
            "Quarterly earnings beat analyst expectations.",
            "How can I change a forgotten password?",
            "To reset your password, click 'Forgot password' on the sign-in page.",
            "The river floods every spring.",
        ]
    )
    cat, feline, earnings, question, answer, river = v
    assert cat @ feline > 0.45 and cat @ feline > cat @ earnings + 0.3
    assert question @ answer > question @ river + 0.3
    assert question @ answer > question @ cat


def test_document_and_query_runtimes_agree(embedder: LocalEmbedder, document_vectors: np.ndarray) -> None:
    assert isinstance(embedder.encoder("document"), TorchMiniLM)
    assert isinstance(embedder.encoder("query"), OnnxMiniLM)
    assert embedder.encoder("query").precision == "int8"
    queries = np.stack([embedder.embed([t], kind="query")[0] for t in SENTENCES])
    assert queries.shape == (len(SENTENCES), 384) and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    assert cosine_rows(document_vectors, queries).min() >= 0.999
    # ... closely enough that each query finds its own document first
    assert ((queries @ document_vectors.T).argmax(axis=1) == np.arange(len(SENTENCES))).all()


def test_runtimes_agree_less_closely_on_bare_words_as_documented(embedder: LocalEmbedder) -> None:
    short = ["OK", "Hi", "x"]
    documents = embedder.embed(short)
    queries = np.stack([embedder.embed([t], kind="query")[0] for t in short])
    agreement = cosine_rows(documents, queries)
    assert agreement.min() >= 0.995  # the LocalEmbedder docstring's figure for a bare word
    assert agreement.min() < 0.999


def test_order_is_preserved_across_length_sorted_batches(onnx_embedder: LocalEmbedder) -> None:
    # embed_by_length (shared by both runtimes) sorts by length and batches; rows must come back in
    # input order. The ONNX runtime runs it here: torch under bf16 pays ~0.8 s per new input shape.
    texts = ["x", long_text(300), SENTENCES[0], long_text(40, seed=2), SENTENCES[2], "Rust", long_text(120, seed=3)]
    assert onnx_embedder.batch_size == 2  # batches of two: the order really changes
    batched = onnx_embedder.embed(texts)
    singles = np.stack([onnx_embedder.embed([t])[0] for t in texts])
    assert cosine_rows(batched, singles).min() > 0.99999
    assert ((batched @ singles.T).argmax(axis=1) == np.arange(len(texts))).all()


def test_many_texts_on_torch_workers_come_back_in_order(embedder: LocalEmbedder) -> None:
    # More texts than a batch: tokenised once (in one part per worker), batched by token count,
    # batches on one-core workers.
    import threading

    import torch

    texts = ["x", long_text(300), SENTENCES[0], long_text(40, seed=2), SENTENCES[2], "Rust", long_text(120, seed=3)]
    texts = texts * 40  # 280 texts: two tokeniser parts, nine batches
    threads_before = torch.get_num_threads()
    batched = embedder.embed(texts)
    singles = np.stack([embedder.encoder("document")([t])[0] for t in texts[:7]] * 40)
    assert cosine_rows(batched, singles).min() > 0.9999  # bf16: padding changes the last bits
    assert ((batched[:7] @ singles[:7].T).argmax(axis=1) == np.arange(7)).all()
    # the workers run on one core each, and leave this thread and new threads as they were
    encoder = embedder.encoder("document")
    assert isinstance(encoder, TorchMiniLM) and encoder.workers == threads_before
    assert torch.get_num_threads() == threads_before
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [threads_before]
    if threads_before > 1:
        assert encoder._workers().submit(torch.get_num_threads).result() == 1


def test_long_texts_are_truncated_to_256_tokens(embedder: LocalEmbedder) -> None:
    text = long_text(600)
    spans = embedder.tokenizer.token_spans(text)
    assert len(spans) == 600  # each vocabulary word is one token
    kept = text[: spans[MAX_TOKENS - 3][1]]  # 254 tokens + [CLS] + [SEP] = 256
    shorter = text[: spans[199][1]]
    for kind in ("document", "query"):
        full, first_254, first_200 = embedder.embed([text, kept, shorter], kind=kind)  # type: ignore[arg-type]
        assert full @ first_254 > 0.99999  # everything after token 254 is ignored
        assert full @ first_200 < 0.99  # ... and nothing before it


def test_empty_input(embedder: LocalEmbedder) -> None:
    for kind in ("document", "query"):
        out = embedder.embed([], kind=kind)  # type: ignore[arg-type]
        assert out.shape == (0, 384) and out.dtype == np.float32


def test_torch_runtime_serves_both_kinds(document_vectors: np.ndarray) -> None:
    torch_only = LocalEmbedder(runtime="torch")
    assert isinstance(torch_only.encoder("query"), TorchMiniLM)
    assert torch_only.encoder("query") is torch_only.encoder("document")  # one model, loaded once
    queries = torch_only.embed(SENTENCES, kind="query")
    np.testing.assert_allclose(queries, document_vectors, atol=2e-3)
    assert cosine_rows(queries, document_vectors).min() > 0.99999


def test_onnx_runtime_serves_both_kinds(
    embedder: LocalEmbedder, onnx_embedder: LocalEmbedder, document_vectors: np.ndarray
) -> None:
    assert isinstance(onnx_embedder.encoder("document"), OnnxMiniLM)
    assert isinstance(onnx_embedder.encoder("query"), OnnxMiniLM)
    documents = onnx_embedder.embed(SENTENCES)
    queries = np.stack([embedder.embed([t], kind="query")[0] for t in SENTENCES])
    assert cosine_rows(documents, queries).min() > 0.99999  # same int8 model, batched or not
    assert cosine_rows(documents, document_vectors).min() >= 0.999


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_onnx_with_a_precision_is_a_config_error(precision: str) -> None:
    with pytest.raises(ConfigError, match="int8 only") as info:
        LocalEmbedder(runtime="onnx", precision=precision)  # type: ignore[arg-type]
    assert "DAYSHIFT_EMBED__PRECISION" in str(info.value)


# -- tokenizer ----------------------------------------------------------------------------------------


def test_tokenizer_spans_index_into_the_text() -> None:
    tok = MiniLMTokenizer()
    text = "Hello, world! Tokenization works."
    spans = tok.token_spans(text)
    assert [text[s:e] for s, e in spans] == ["Hello", ",", "world", "!", "Token", "ization", "works", "."]
    assert tok.count(text) == len(spans) == 8  # no [CLS]/[SEP]


def test_tokenizer_spans_on_accented_and_multiline_text() -> None:
    tok = MiniLMTokenizer()
    text = "Café  naïve\n\n| a | b |\nfn main() {}"
    spans = tok.token_spans(text)
    assert tok.count(text) == len(spans)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
    assert all(text[s:e].strip() == text[s:e] for s, e in spans)  # whitespace is never a token
    assert text[spans[0][0] : spans[0][1]] == "Café"  # offsets are into the original, accents and all


def test_counts_are_not_capped() -> None:
    tok = MiniLMTokenizer()
    text = " ".join(["word"] * 600)
    assert tok.count(text) == 600 > 256
    assert len(tok.token_spans(text)) == 600
    assert tok.count_many([text, "Hello, world!", ""]) == [600, 4, 0]


# -- texts given as token ids (the chunker's tokenisation) ---------------------------------------


def test_token_ids_give_the_vectors_of_the_texts(embedder: LocalEmbedder) -> None:
    texts = [*SENTENCES, long_text(400), long_text(253, seed=2), long_text(30, seed=3), "OK"]
    ids = [embedder.tokenizer.tokenise(t)[0] for t in texts]
    assert max(map(len, ids)) > MAX_TOKENS  # one text is truncated either way
    given = [None if i % 3 == 0 else token_ids for i, token_ids in enumerate(ids)]  # a mix: some tokenised here
    from_ids = embedder.embed_token_ids(texts, given)
    assert from_ids.shape == (len(texts), DIM)
    np.testing.assert_allclose(from_ids, embedder.embed(texts), atol=1e-6)


def test_onnx_tokenises_the_texts_whatever_ids_are_given(onnx_embedder: LocalEmbedder) -> None:
    wrong = [[1997] * 5 for _ in SENTENCES]  # not these texts' ids: ONNX must not read them
    np.testing.assert_allclose(onnx_embedder.embed_token_ids(SENTENCES, wrong), onnx_embedder.embed(SENTENCES), atol=1e-6)


def test_word_pieces_are_known_to_continue_a_word() -> None:
    tok = MiniLMTokenizer()
    ids, spans = tok.tokenise("tokenization works")
    assert spans == [(0, 5), (5, 12), (13, 18)]  # token, ##ization, works
    assert [tok.continues_word(i) for i in ids] == [False, True, False]
