"""Local generation: what dayshift's call path costs over raw llama-cpp-python.

    python benchmarks/local_llm.py [--rounds 5] [--max-tokens 128] [--natural] [--json]

Claim: local generation adds at most 10% overhead over raw llama-cpp-python tokens/s.

One process, one prompt: the shipped answer template rendered with three numbered
sources (~250 prompt tokens). Two paths over the same GGUF file (the bundled
SmolLM2-135M), each with its own llama.cpp instance loaded once, with the same
settings (n_ctx 2048, one thread, temperature 0, and the backend's repeat_penalty
when it sets one):

    raw       Llama.create_chat_completion(stream=True)
    dayshift  open_llm(settings).stream(request): LLMClient (retries, breaker, meter
              with its SQLite ledger in a temporary data dir) -> LlamaCppBackend

Each run generates exactly --max-tokens tokens: the end-of-sequence token gets a
logit bias of -inf in both paths (dayshift's ChatRequest has no such field, so
the benchmark binds it onto the backend's llama.cpp call; nothing else of the
path changes). --natural drops the bias and compares whatever each run produced.
Each run starts from an empty KV cache, as a new question does, so time to
first token includes evaluating the whole prompt. After one warm-up run each,
the paths alternate (raw first in even rounds) and the table shows medians:
tok/s (tokens / whole call), decode tok/s (after the first token) and time to
first token. Overhead = 1 - dayshift tok/s / raw tok/s.

Left out: other models, more threads, GPU offload, and concurrent calls.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dayshift.answer.prompts import load_prompt
from dayshift.answer.sources import Source
from dayshift.assemble import open_llm
from dayshift.llm.accounting import LEDGER_FILE
from dayshift.llm.base import ChatRequest, Message
from dayshift.llm.local import LlamaCppBackend, bundled_model_path
from dayshift.settings import load_settings
from dayshift.types import Chunk

CLAIM_OVERHEAD_PCT = 10.0
N_CTX, THREADS = 2048, 1
QUESTION = "What should the team do first when ransomware is found on a file server?"
SOURCES = [  # (source file, title, page, excerpt) -- what select_excerpts hands the prompt
    ("pdfs/nist_sp800-61r2.pdf", "Computer Security Incident Handling Guide", 35,
     ("Containment is important before an incident overwhelms resources or increases damage. Most incidents "
      "require containment, so that is an important consideration early in the course of handling each "
      "incident. An essential part of containment is decision-making, such as shutting down a system, "
      "disconnecting it from a network, or disabling certain functions.")),
    ("runbooks/ransomware.md", "Ransomware runbook", None,
     ("Isolate the affected file server from the network at once, but do not power it off: memory may hold "
      "the encryption keys. Then notify the incident commander and open a ticket with the time the first "
      "encrypted file was seen, the share names, and the user accounts that touched them.")),
    ("policies/backup.md", "Backup and restore policy", None,
     ("Nightly snapshots of every file server are kept for thirty days on an immutable volume. Restores "
      "are run by the storage team after the security team confirms the server is clean; a restore "
      "request must name the snapshot date and the paths to bring back.")),
]  # fmt: skip


@dataclass(frozen=True)
class Run:
    tokens: int
    ttft_ms: float
    total_s: float
    text: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.total_s

    @property
    def decode_tokens_per_s(self) -> float:
        return (self.tokens - 1) / max(self.total_s - self.ttft_ms / 1000.0, 1e-9)


@dataclass(frozen=True)
class PathResult:
    path: str
    runs: int
    tokens: int  # median
    prompt_tokens: int
    tokens_per_s: float
    decode_tokens_per_s: float
    ttft_ms: float


def messages() -> tuple[Message, ...]:
    sources = [
        Source(n=i, chunk=Chunk(
            chunk_id=f"{path}:0", doc_id=path, doc_version="v1", source=path, title=title, text=excerpt,
            section=(), page=page, char_start=0, char_end=len(excerpt), ordinal=0, ingested_at=0.0,
        ), score=1.0 / i, excerpt=excerpt)
        for i, (path, title, page, excerpt) in enumerate(SOURCES, start=1)
    ]  # fmt: skip
    return load_prompt("answer").render(question=QUESTION, sources=sources)


def timed(pieces: Iterator[str], *, started: float) -> tuple[list[str], float, float]:
    """(pieces, time to first piece in s, whole call in s) for a stream started at `started`."""
    out: list[str] = []
    first = 0.0
    for piece in pieces:
        if not out:
            first = time.perf_counter() - started
        out.append(piece)
    return out, first, time.perf_counter() - started


def raw_runner(llama: Any, chat: list[dict[str, str]], options: dict[str, Any]) -> Callable[[], Run]:
    def run() -> Run:
        llama.reset()  # empty KV cache: the prompt is evaluated in full, as for a new question
        started = time.perf_counter()
        stream = llama.create_chat_completion(chat, stream=True, **options)
        texts = (chunk["choices"][0]["delta"].get("content") for chunk in stream)
        pieces, first, total = timed((t for t in texts if t), started=started)
        return Run(tokens=len(pieces), ttft_ms=first * 1000.0, total_s=total, text="".join(pieces))

    return run


def dayshift_runner(client: Any, backend: LlamaCppBackend, request: ChatRequest) -> Callable[[], Run]:
    def run() -> Run:
        backend._llama.reset()  # the same cold start as the raw path
        started = time.perf_counter()
        call = client.stream(request)
        pieces, first, total = timed(iter(call), started=started)
        assert call.result is not None
        return Run(tokens=call.result.usage.output_tokens, ttft_ms=first * 1000.0, total_s=total, text="".join(pieces))

    return run


def summarise(name: str, runs: list[Run], prompt_tokens: int) -> PathResult:
    return PathResult(
        path=name, runs=len(runs), tokens=int(statistics.median(r.tokens for r in runs)), prompt_tokens=prompt_tokens,
        tokens_per_s=statistics.median(r.tokens_per_s for r in runs),
        decode_tokens_per_s=statistics.median(r.decode_tokens_per_s for r in runs),
        ttft_ms=statistics.median(r.ttft_ms for r in runs),
    )  # fmt: skip


def run(*, rounds: int, max_tokens: int, natural: bool, data_dir: Path) -> dict[str, Any]:
    from llama_cpp import Llama

    settings = load_settings(data_dir=data_dir, llm={"threads": THREADS, "n_ctx": N_CTX})
    client = open_llm(settings)
    backend = client.chain[0]
    assert isinstance(backend, LlamaCppBackend), "this benchmark measures the local backend"
    raw = Llama(model_path=str(bundled_model_path()), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=THREADS,
                verbose=False)  # fmt: skip
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0, "stop": None}
    if getattr(backend, "repeat_penalty", None) is not None:  # the backend's own sampling setting, if it has one
        options["repeat_penalty"] = backend.repeat_penalty
    if not natural:
        ban_eos = {raw.token_eos(): float("-inf")}
        options["logit_bias"] = ban_eos
        llama = backend._llama
        llama.create_chat_completion = functools.partial(llama.create_chat_completion, logit_bias=ban_eos)
    request = ChatRequest(messages=messages(), max_tokens=max_tokens, temperature=0.0)
    chat = [{"role": m.role, "content": m.content} for m in request.messages]
    paths = {"raw": raw_runner(raw, chat, options), "dayshift": dayshift_runner(client, backend, request)}

    for measure in paths.values():  # warm-up: page in weights, build kernels
        measure()
    runs: dict[str, list[Run]] = {name: [] for name in paths}
    for i in range(rounds):
        for name in ["raw", "dayshift"] if i % 2 == 0 else ["dayshift", "raw"]:
            runs[name].append(paths[name]())

    prompt_tokens = len(raw.tokenize(raw_prompt_text(raw, chat).encode("utf-8"), add_bos=False, special=True))
    results = {name: summarise(name, measured, prompt_tokens) for name, measured in runs.items()}
    overhead_pct = 100.0 * (1.0 - results["dayshift"].tokens_per_s / results["raw"].tokens_per_s)
    with sqlite3.connect(data_dir / LEDGER_FILE) as ledger:
        (booked,) = ledger.execute("SELECT COUNT(*) FROM calls").fetchone()
    texts = {r.text for measured in runs.values() for r in measured}
    return {
        "claim": f"local generation adds at most {CLAIM_OVERHEAD_PCT:g}% overhead over raw llama-cpp-python tokens/s",
        "model": backend.model,
        "n_ctx": N_CTX,
        "threads": THREADS,
        "max_tokens": max_tokens,
        "repeat_penalty": options.get("repeat_penalty"),
        "fixed_length": not natural,
        "rounds": rounds,
        "paths": [asdict(r) for r in results.values()],
        "overhead_pct": round(overhead_pct, 2),
        "decode_overhead_pct": round(
            100.0 * (1.0 - results["dayshift"].decode_tokens_per_s / results["raw"].decode_tokens_per_s), 2
        ),
        "ttft_overhead_ms": round(results["dayshift"].ttft_ms - results["raw"].ttft_ms, 2),
        "claim_holds": overhead_pct <= CLAIM_OVERHEAD_PCT,
        "same_text_every_run": len(texts) == 1,
        "ledger_rows": booked,  # every dayshift call, warm-up included, was booked by the meter
    }


def raw_prompt_text(llama: Any, chat: list[dict[str, str]]) -> str:
    """The prompt as the chat template lays it out (for counting its tokens)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata["tokenizer.chat_template"]
    eos = llama.detokenize([llama.token_eos()]).decode("utf-8", "ignore")
    bos = llama.detokenize([llama.token_bos()]).decode("utf-8", "ignore")
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=chat).prompt


def table(result: dict[str, Any]) -> str:
    header = ("path", "runs", "prompt tok", "tokens", "tok/s", "decode tok/s", "TTFT ms")
    rows = [header] + [
        (p["path"], str(p["runs"]), str(p["prompt_tokens"]), str(p["tokens"]), f"{p['tokens_per_s']:.1f}",
         f"{p['decode_tokens_per_s']:.1f}", f"{p['ttft_ms']:.0f}")
        for p in result["paths"]
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = "holds" if result["claim_holds"] else "DOES NOT HOLD"
    length = f"{'exactly' if result['fixed_length'] else 'up to'} {result['max_tokens']} tokens"
    setup = f"n_ctx {result['n_ctx']}, {result['threads']} thread, temperature 0"
    penalty = f"repeat penalty {result['repeat_penalty'] or 'off'}"
    overhead = f"{result['overhead_pct']:+.1f}% tok/s, {result['decode_overhead_pct']:+.1f}% decode tok/s"
    same = "yes" if result["same_text_every_run"] else "NO"
    lines += [
        "",
        f"{result['model']}, {setup}, {penalty}, {length}, medians of {result['rounds']} alternating rounds",
        f"overhead: {overhead}, {result['ttft_overhead_ms']:+.1f} ms TTFT",
        f"claim ({result['claim']}): {verdict}",
        f"same text in every run: {same}; calls booked in the ledger: {result['ledger_rows']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="measured runs per path, after one warm-up each")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens generated per run")
    parser.add_argument("--natural", action="store_true", help="let the model stop on its own (no EOS ban)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="dayshift-bench-") as tmp:
        result = run(rounds=args.rounds, max_tokens=args.max_tokens, natural=args.natural, data_dir=Path(tmp))
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
