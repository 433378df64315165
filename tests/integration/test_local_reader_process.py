"""The local reader in a fresh process, on a prompt of several hundred tokens, with each llama.cpp CPU
variant this CPU runs: the one dayshift picks, and the older ones (AVX2, baseline x86-64).

A build that crashes on long prompts (llama.cpp's AMX kernels did, in llama_decode) shows here as the
child dying by a signal, not as a wrong answer; and every kernel variant must read the same answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dayshift.llm.cpu import choose_variant, cpu_flags, llama_build, variant_score
from dayshift.llm.readers import DEFAULT_READER, installed_readers

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: run `make install`")
if DEFAULT_READER not in set(installed_readers()):
    pytest.skip(f"the default reader {DEFAULT_READER} is not installed: run `make install`", allow_module_level=True)

PASSAGE = " ".join(
    f"In {1850 + i} the committee of the harbour town recorded {i + 3} new ships and repaired the north pier."
    for i in range(24)
) + " The lighthouse keeper, Ada Pennick, lit the new lamp for the first time in 1889."
QUESTION = "Who lit the new lamp of the lighthouse?"

_CHILD = r"""
import json, os, sys
from dayshift.llm.base import ChatRequest, Message, Timeouts, TextDelta, StreamEnd
from dayshift.llm.local import LlamaCppBackend
from dayshift.llm.cpu import load_cpu_backend
args = json.loads(sys.stdin.read())
backend = LlamaCppBackend(models_dir=os.environ["DAYSHIFT_LLM__MODELS_DIR"], cpu_variant=args["variant"])
request = ChatRequest(messages=(Message("system", "Answer with a short phrase from the text."),
                                Message("user", "Text: " + args["passage"] + "\nQuestion: " + args["question"])),
                      max_tokens=16)
text, end = "", None
for event in backend.stream(request, timeouts=Timeouts()):
    if isinstance(event, TextDelta):
        text += event.text
    else:
        end = event
print(json.dumps({"text": text, "prompt_tokens": end.usage.input_tokens, "variant": load_cpu_backend().variant}))
"""


def _variants() -> list[str]:
    build = llama_build()
    if not build.variants:
        return ["built-in"]
    chosen = choose_variant(build.variants, cpu_flags())
    older = [v for v in ("haswell", "x64") if v in build.variants and variant_score(v, cpu_flags()) > 0]
    return list(dict.fromkeys([chosen, *older]))


@pytest.mark.parametrize("variant", _variants())
def test_a_long_prompt_reads_the_same_answer_in_a_fresh_process_on_each_cpu_variant(variant: str) -> None:
    args = {"passage": PASSAGE, "question": QUESTION, "variant": None if variant == "built-in" else variant}
    result = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(args), capture_output=True, text=True,
                            env=os.environ.copy(), timeout=600)
    assert result.returncode == 0, f"the child died ({result.returncode}): {result.stderr[-2000:]}"
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["prompt_tokens"] >= 400  # several hundred tokens in one decode
    assert "Ada Pennick" in out["text"], out
    assert out["variant"] == variant
