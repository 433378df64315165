"""MiniLMEncoder: the plain-torch forward pass against transformers' BertModel, in each precision.

The reference is transformers' BertModel in fp32 on the same bundled weights; vectors are
mean-pooled and normalised the way dayshift and sentence-transformers do it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dayshift.embed import minilm
from dayshift.embed.local import TorchMiniLM, _calibration_batches, _encode_batch, _mean_pool, _model_dir
from dayshift.embed.minilm import MiniLMEncoder
from dayshift.errors import ConfigError

needs_int8 = pytest.mark.skipif(
    not minilm.int8_ops_available(), reason="bf16-int8 needs torch's oneDNN quantised linear (any x86-64 CPU runs it)"
)
fast_int8_here = pytest.mark.skipif(
    not (minilm.cpu_has_bf16() and minilm.int8_kernels_available()),
    reason="auto picks bf16-int8 only on a CPU with AVX512-BF16 and VNNI (or AMX)",
)


@pytest.fixture(scope="module")
def abstracts(scifact_dir: Path) -> list[str]:
    """128 SciFact abstracts with their titles (most longer than the 256-token window)."""
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for _, line in zip(range(128), f)]
    return [f"{d['title']}. {d['text']}" for d in docs]


@pytest.fixture(scope="module")
def reference(abstracts: list[str]) -> np.ndarray:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(_model_dir())).eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(abstracts), 32):
            ids, mask = _encode_batch(abstracts[start : start + 32])
            hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
            rows.append(_normalised(_mean_pool(hidden.numpy(), mask)))
    return np.concatenate(rows)


def _normalised(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _vectors(encoder: TorchMiniLM, texts: list[str]) -> np.ndarray:
    return encoder.embed_many(texts, batch_size=32)


def test_fp32_equals_transformers_bert(abstracts: list[str], reference: np.ndarray) -> None:
    cosine = (_vectors(TorchMiniLM(precision="fp32", threads=1), abstracts) * reference).sum(axis=1)
    assert cosine.min() > 0.999999


def test_bf16_stays_within_1e_4_of_fp32(abstracts: list[str], reference: np.ndarray) -> None:
    cosine = (_vectors(TorchMiniLM(precision="bf16", threads=2), abstracts) * reference).sum(axis=1)
    assert cosine.min() >= 0.9999


@needs_int8
def test_bf16_int8_stays_interchangeable_with_fp32(abstracts: list[str], reference: np.ndarray) -> None:
    encoder = TorchMiniLM(precision="bf16-int8", threads=2)
    cosine = (_vectors(encoder, abstracts) * reference).sum(axis=1)
    assert cosine.min() >= 0.999  # measured 0.99943 on these abstracts
    assert encoder._model.int8_layers == 6


@fast_int8_here
def test_auto_picks_bf16_int8_where_the_cpu_has_it() -> None:
    assert TorchMiniLM(precision="auto", threads=1).precision == "bf16-int8"


@needs_int8
def test_a_vector_does_not_depend_on_its_batch(abstracts: list[str]) -> None:
    # Padding is cut off per text and the int8 input range is fixed by calibration, so a text
    # embedded alone and beside longer texts gets the same vector.
    encoder = TorchMiniLM(precision="bf16-int8", threads=1)
    short = "Aspirin lowers the risk of a second heart attack."
    alone = encoder([short])
    in_batch = encoder([abstracts[0], short, abstracts[1]])[1:2]
    assert float((alone * in_batch).sum()) > 0.99999


def test_padding_does_not_change_fp32_or_bf16_vectors(abstracts: list[str]) -> None:
    for precision in ("fp32", "bf16"):
        encoder = TorchMiniLM(precision=precision, threads=1)  # type: ignore[arg-type]
        short = "Aspirin lowers the risk of a second heart attack."
        assert float((encoder([short]) * encoder([abstracts[0], short])[1:2]).sum()) > 0.99999


def test_bf16_int8_without_the_kernels_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "int8_ops_available", lambda: False)
    with pytest.raises(ConfigError, match="bf16-int8.*DAYSHIFT_EMBED__PRECISION"):
        TorchMiniLM(precision="bf16-int8", threads=1)


def test_calibration_needs_text() -> None:
    encoder = MiniLMEncoder.from_file(_model_dir() / "model.safetensors", precision="bf16")
    with pytest.raises(ValueError, match="calibration needs at least one batch"):
        encoder.quantise_up_projections([])


def test_calibration_text_is_bundled_and_varied() -> None:
    batches = _calibration_batches()
    lines = sum(len(ids) for ids, _ in batches)
    assert lines >= 30
    assert max(int(mask.sum(axis=1).max()) for _, mask in batches) > 40  # paragraphs, not words


@needs_int8
def test_a_word_or_two_skip_the_int8_projection(abstracts: list[str]) -> None:
    # One per-tensor int8 range resolves a handful of tokens poorly (cosine 0.997 for "OK"), so
    # texts of <= 8 tokens take the bf16 projection -- also inside a batch of long texts.
    fp32, mixed = TorchMiniLM(precision="fp32", threads=1), TorchMiniLM(precision="bf16-int8", threads=1)
    words = ["OK", "Hi", "x", "aspirin dose", "heart attack risk"]
    assert (mixed(words) * fp32(words)).sum(axis=1).min() >= 0.9998
    in_batch = mixed([abstracts[0], "OK", abstracts[1]])[1:2]
    assert float((in_batch * fp32(["OK"])).sum()) >= 0.9998


@pytest.mark.parametrize("precision", ["fp32", "bf16", pytest.param("bf16-int8", marks=needs_int8)])
def test_the_compiled_forward_gives_what_the_python_one_gives(
    abstracts: list[str], precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The compiled pass runs without Python's lock; the same function run by Python is what a
    # torch that cannot compile it falls back to. Both must give the same vectors.
    assert isinstance(minilm._compiled_encode(), torch.jit.ScriptFunction)
    encoder = TorchMiniLM(precision=precision, threads=1)  # type: ignore[arg-type]
    texts = [*abstracts[:40], "OK", "Aspirin lowers the risk of a second heart attack."]
    compiled = _vectors(encoder, texts)
    monkeypatch.setattr(minilm, "_compiled_encode", lambda: minilm._encode)
    np.testing.assert_allclose(_vectors(encoder, texts), compiled, atol=1e-6)
