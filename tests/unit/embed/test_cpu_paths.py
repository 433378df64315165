"""The embedder's CPU-dependent paths, whatever this CPU is: what `auto` picks for each kind of CPU, and
every precision run with its fast kernels taken away (oneDNN and ATen capped at AVX2 in a fresh process),
which must still give vectors interchangeable with fp32's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dayshift.embed import minilm
from dayshift.embed.minilm import best_precision

AVX512 = frozenset({"avx2", "avx512f", "avx512bw", "avx512vl"})
CPUS = {  # flags -> what auto must run
    "no AVX-512 (Haswell, Zen 2)": (frozenset({"avx2", "fma"}), True, "fp32"),
    "AVX-512 without bf16 (Skylake-SP, Ice Lake)": (AVX512 | {"avx512_vnni"}, True, "fp32"),
    "bf16 without int8 dot products": (AVX512 | {"avx512_bf16"}, True, "bf16"),
    "bf16 and VNNI (Zen 4, Cooper Lake)": (AVX512 | {"avx512_bf16", "avx512_vnni"}, True, "bf16-int8"),
    "AMX (Sapphire Rapids)": (AVX512 | {"amx_bf16", "amx_int8", "amx_tile", "avx512_vnni"}, True, "bf16-int8"),
    "bf16 and VNNI, torch without oneDNN int8": (AVX512 | {"avx512_bf16", "avx512_vnni"}, False, "bf16"),
}


@pytest.mark.parametrize("cpu", list(CPUS))
def test_auto_runs_each_step_only_where_the_hardware_makes_it_faster(cpu: str) -> None:
    flags, ops, expected = CPUS[cpu]
    assert best_precision(flags, int8_ops=ops) == expected


def test_the_flags_are_read_as_words_not_substrings() -> None:
    # "avx512_bf16" must not be found inside another flag's name, nor a flag inside the model name line
    assert minilm.cpu_has_bf16(frozenset({"avx512_bf16x"})) is False
    assert minilm.cpu_has_int8_dot(frozenset({"avx512_vnni"})) and not minilm.cpu_has_int8_dot(frozenset({"avx_vnni"}))


_CHILD = r"""
import json, sys
import numpy as np
from dayshift.embed.local import TorchMiniLM
texts = json.loads(sys.stdin.read())
out = {p: TorchMiniLM(precision=p, threads=1).embed_many(texts, batch_size=8).tolist() for p in ("fp32", "bf16", "bf16-int8")}
print(json.dumps(out))
"""


@pytest.mark.skipif(not minilm.int8_ops_available(), reason="bf16-int8 needs torch's oneDNN quantised linear")
def test_every_precision_without_the_fast_kernels_still_matches_fp32(scifact_dir: Path) -> None:
    import gzip

    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        docs = [json.loads(line) for _, line in zip(range(6), handle)]
    # short texts keep the run quick with the kernels capped (bf16 is emulated there)
    texts = [f"{d['title']}. {' '.join(d['text'].split()[:60])}" for d in docs]
    texts += ["Aspirin", "heart attack risk"]  # short texts take the bf16 projection in the int8 path
    capped = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "HF_HUB_OFFLINE": "1"}
    import os

    result = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(texts), capture_output=True, text=True,
                            env={**os.environ, **capped}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    vectors = {p: np.asarray(v) for p, v in json.loads(result.stdout).items()}
    from dayshift.embed.local import TorchMiniLM

    reference = TorchMiniLM(precision="fp32", threads=1).embed_many(texts, batch_size=8)  # this CPU's own kernels
    assert float((vectors["fp32"] * reference).sum(axis=1).min()) > 0.99999
    assert float((vectors["bf16"] * reference).sum(axis=1).min()) >= 0.9999
    assert float((vectors["bf16-int8"] * reference).sum(axis=1).min()) >= 0.999
