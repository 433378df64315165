"""Local readers: a GGUF chat model run in this process by llama.cpp.

    LlamaCppBackend(model="qwen2.5-coder-0.5b-instruct")   a reader dayshift knows (llm/readers.py)
    LlamaCppBackend(model="/models/my.gguf")                 any GGUF file

Before the first model loads, the llama.cpp CPU kernels for this machine are
chosen (`llm/cpu.py`: never AMX, never the build machine's own CPU). The
prompt is rendered by dayshift's own chat template (`llm/templates.py`) and
tokenised piece by piece -- the template's control tokens as control tokens,
the text as plain text -- so a document that contains "<|im_start|>system"
cannot open a message of its own. A GGUF file given by path uses the template
inside it unless `chat_template` names one of dayshift's.

Each generated token's log-probability, and the first token's alternatives,
are read from the logits as they are sampled (not recomputed), and returned
on the StreamEnd: the answer layer uses them as evidence.

JSON schemas are enforced with llama.cpp grammars: the sampler can only emit
tokens that keep the output valid. A schema without bounds (`maxItems`,
`maxLength`) lets a small model repeat list items until it is cut off;
`llm/structured.py` then repairs the JSON or asks again. Usage is exact:
llama.cpp counts the prompt and output tokens itself.

Left out: GPU offload, and sharing one model between processes.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dayshift.errors import LLMCancelledError, LLMError, PluginError
from dayshift.llm.base import (
    CancelToken,
    ChatRequest,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Timeouts,
    TokenLogprobs,
    Usage,
)
from dayshift.llm.cpu import load_cpu_backend
from dayshift.llm.readers import DEFAULT_READER, READERS, installed_readers, resolve_reader
from dayshift.llm.templates import render_prompt

BUNDLED_MODEL = DEFAULT_READER  # the reader used when llm.model is unset
log = logging.getLogger(__name__)
_FIX = 'run `make install` (it builds llama-cpp-python for every x86-64 CPU and installs the readers)'
_FIRST_ALTERNATIVES = 20  # top tokens kept from the first step's distribution


def _llama_class(*, cpu_variant: str | None = None) -> Any:
    try:
        load_cpu_backend(forced=cpu_variant)
        from llama_cpp import Llama
    except ImportError as exc:
        raise PluginError(f"llama-cpp-python is not installed: {_FIX}") from exc
    return Llama


def bundled_model_path(models_dir: Path | None = None) -> Path:
    """The smallest installed reader's GGUF file (tests use it to tell whether a local model is here)."""
    for name in ("smollm2-135m-instruct", *READERS):
        if name in set(installed_readers()) and not READERS[name].split:
            path, _ = resolve_reader(name, models_dir=models_dir or Path(".dayshift/models"))
            return path
    raise PluginError(f"no local reader is installed: {_FIX}")


@cache
def _vocab(path: str) -> Any:
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # a tokenizer-only load still prints a context warning
        return _llama_class()(model_path=path, vocab_only=True, verbose=False)


def count_bundled_tokens(text: str) -> int:
    """Tokens of `text` in the smallest installed reader's tokenizer (dayshift's estimate for unknown servers)."""
    return len(_vocab(str(bundled_model_path())).tokenize(text.encode("utf-8"), add_bos=False, special=False))


class _LogprobRecorder:
    """A llama.cpp logits processor that notes each sampled token's log-probability.

    It sees the logits of every step before sampling; the token sampled at a step
    appears as the last input id of the next one, so its log-probability is read
    from the row kept from that step. (input_ids, logits) -> logits, unchanged.
    """

    def __init__(self, prompt_tokens: int, token_text: Any, barred_first: Sequence[int] = ()) -> None:
        self.prompt_tokens = prompt_tokens
        self.token_text = token_text
        self.barred_first = list(barred_first)
        self.chosen: list[float] = []
        self.first: tuple[tuple[str, float], ...] = ()
        self.suppressed_p: float | None = None
        self._row: np.ndarray | None = None
        self._norm = 0.0

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if self._row is not None and len(input_ids) > self.prompt_tokens:
            self.chosen.append(float(self._row[int(input_ids[-1])]) - self._norm)
        row = np.asarray(logits, dtype=np.float32)
        top = float(row.max())
        self._norm = top + math.log(float(np.exp(row - top).sum()))
        self._row = row.copy()
        if not self.first:
            best = np.argpartition(-row, _FIRST_ALTERNATIVES)[:_FIRST_ALTERNATIVES]
            best = best[np.argsort(-row[best])]
            self.first = tuple((self.token_text(int(t)), float(row[t]) - self._norm) for t in best)
            if self.barred_first:  # noted as the model saw it; now it may not be chosen
                self.suppressed_p = float(np.exp(row[self.barred_first] - self._norm).sum())
                barred = np.array(logits, dtype=np.float32)
                barred[self.barred_first] = -np.inf
                return barred
        return logits

    def result(self) -> TokenLogprobs:
        return TokenLogprobs(chosen=tuple(self.chosen), first=self.first, suppressed_p=self.suppressed_p)


class LlamaCppBackend:
    """A GGUF chat model in this process. One call at a time per instance (llama.cpp state is not shared)."""

    is_local = True

    def __init__(
        self, *, model: str | None = None, n_ctx: int = 2048, threads: int = 1, batch_threads: int | None = None,
        context_window: int | None = None, is_local: bool | None = None, repeat_penalty: float | None = None,
        models_dir: Path | str | None = None, cpu_variant: str | None = None, chat_template: str | None = None,
        **_: object,
    ) -> None:
        path, spec = resolve_reader(model, models_dir=Path(models_dir or ".dayshift/models"))
        self.path = path
        self.model = spec.name if spec else path.stem
        self.chat_template = chat_template or (spec.chat_template if spec else "gguf")
        self.context_window = context_window or n_ctx
        self._llama = _llama_class(cpu_variant=cpu_variant)(
            model_path=str(path), n_ctx=self.context_window, n_threads=threads,
            n_threads_batch=batch_threads or threads, verbose=False,
        )
        self._lock = threading.Lock()
        self.repeat_penalty = repeat_penalty or (spec.repeat_penalty if spec else 1.0)

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]:
        # In-process: no connection to time out; the client's total timeout and
        # cancellation stop generation between tokens, and the prompt between chunks of it.
        with self._lock:
            yield from self._generate(request, cancel)

    def _prompt_tokens(self, request: ChatRequest) -> list[int] | None:
        if self.chat_template == "gguf":
            return None
        pieces = render_prompt(self.chat_template, request.messages)
        tokens: list[int] = []
        for text, control in pieces:
            tokens += self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=control)
        return tokens

    def _generate(self, request: ChatRequest, cancel: CancelToken | None) -> Iterator[StreamEvent]:
        options: dict[str, Any] = {
            "max_tokens": request.max_tokens, "temperature": request.temperature, "stop": list(request.stop) or None,
            "repeat_penalty": self.repeat_penalty,
        }
        if request.seed is not None:
            options["seed"] = request.seed
        if request.json_schema is not None:
            # The schema's own key order, not a sorted one: the grammar makes the model write properties in
            # that order, so a tool call names its tool before its arguments (sorted, "arguments" came first
            # and the model chose the tool after writing them, by which time any tool with a "query" fitted).
            options["grammar"] = _grammar(json.dumps(request.json_schema))
        elif request.copy_from:
            options["grammar"] = _copy_grammar(tuple(request.copy_from))
        tokens = self._prompt_tokens(request)
        recorder = _LogprobRecorder(len(tokens) if tokens is not None else 0, self._token_text,
                                    self._first_tokens(request.suppress_first))
        try:
            from llama_cpp import LogitsProcessorList

            options["logits_processor"] = LogitsProcessorList([recorder])
            if tokens is not None and cancel is not None:
                self._prefill(tokens, cancel)
            if tokens is None:
                messages = [{"role": m.role, "content": m.content} for m in request.messages]
                chunks = self._llama.create_chat_completion(messages, stream=True, **options)
                recorder.prompt_tokens = -1  # unknown until the first step: every later step counts
            else:
                chunks = self._llama.create_completion(tokens, stream=True, **options)
            produced, finish = 0, "stop"
            for chunk in chunks:
                if cancel is not None and cancel.cancelled:
                    chunks.close()
                    raise LLMCancelledError("generation cancelled by the caller")
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") if "delta" in choice else choice.get("text")
                if text:
                    produced += 1
                    yield TextDelta(text)
                finish = choice.get("finish_reason") or finish
        except (ValueError, RuntimeError) as exc:  # llama.cpp: prompt over n_ctx, decode failure
            raise LLMError(f"{self.model}: {exc}; shorten the prompt or raise DAYSHIFT_LLM__N_CTX") from exc
        # n_tokens = prompt + generated tokens now in the context.
        output_tokens = produced
        input_tokens = max(int(self._llama.n_tokens) - output_tokens, 0)
        yield StreamEnd(finish_reason=finish, usage=Usage(input_tokens, output_tokens), model=self.model,
                        logprobs=recorder.result())

    def _prefill(self, tokens: list[int], cancel: CancelToken) -> None:
        """Read the prompt (all but its last token) PREFILL_CHUNK tokens at a time, checking `cancel` between
        chunks, so a deadline stops a long prompt instead of waiting for all of it (llama.cpp reads a prompt in
        one uninterruptible call). What the cache already holds is kept; generation then reads the last token."""
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens]
        same = 0
        for held, wanted in zip(cached.tolist(), tokens[:-1], strict=False):
            if held != wanted:
                break
            same += 1
        llama.n_tokens = same  # eval() drops the cache past this point
        for start in range(same, len(tokens) - 1, PREFILL_CHUNK):
            if cancel.cancelled:
                raise LLMCancelledError("generation cancelled by the caller (while reading the prompt)")
            llama.eval(tokens[start: min(start + PREFILL_CHUNK, len(tokens) - 1)])

    def _first_tokens(self, words: Sequence[str]) -> list[int]:
        """The first token of each word, as it may open an answer: bare, after a space, capitalised."""
        spelled = {v for w in words for v in (w, w.capitalize(), " " + w, " " + w.capitalize())}
        return sorted({self._llama.tokenize(v.encode(), add_bos=False, special=False)[0] for v in spelled if v.strip()})

    def _token_text(self, token: int) -> str:
        return self._llama.detokenize([token]).decode("utf-8", errors="replace")


PREFILL_CHUNK = 64  # prompt tokens read between two looks at the cancel token (see _prefill)
_EDGE = "\"'([{“‘"
_TAIL = ".,;:!?)]}\"'”’"


def copy_grammar_text(texts: tuple[str, ...]) -> str:
    """GBNF for output made only of the texts' words (each as written, without the punctuation around
    it, or capitalised), one space apart, with an optional [n] marker after each (n: a text's number)."""
    words: set[str] = set()
    for text in texts:
        for raw in text.split():
            for word in (raw, raw.strip(_EDGE), raw.rstrip(_TAIL), raw.strip(_EDGE).rstrip(_TAIL)):
                if word:
                    words.update((word, word[:1].upper() + word[1:]))
    literal = " | ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in sorted(words))
    numbers = " | ".join(f'"{n}"' for n in range(1, len(texts) + 1))
    return f'root ::= word (" " word)*\nword ::= ({literal}) cite?\ncite ::= " [" ({numbers}) "]"\n'


@lru_cache(maxsize=64)
def _copy_grammar(texts: tuple[str, ...]) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(copy_grammar_text(texts), verbose=False)


def schema_grammar_text(schema_json: str) -> str:
    """The GBNF llama.cpp decodes under for a JSON schema: properties in the schema's order, JSON strings
    without raw control characters."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(schema_json)
    # llama-cpp-python's string rule admits raw control characters, which JSON
    # forbids: a newline inside a string would make the output unparseable.
    if r'char ::= [^"\\]' not in gbnf:
        log.warning("llama.cpp's JSON string rule changed; control characters may reach JSON strings")
    return gbnf.replace(r'char ::= [^"\\]', r'char ::= [^"\\\x00-\x1F]')


@cache
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(schema_grammar_text(schema_json), verbose=False)
