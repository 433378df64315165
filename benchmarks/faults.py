"""Fault benchmark: what a caller of LLMClient sees when the model's server misbehaves.

    python benchmarks/faults.py [--json] [--read-s 0.5] [--retries 2]

Each row is one fresh client over two real HTTP servers (dayshift.testing.fault_server):
the primary, which answers every request with the fault, and a fallback in ok mode.
Columns: the fault; what the caller sees (the answer, the answer from the fallback,
or an exception class); milliseconds until the answer or the exception; attempts made;
and whether nothing was lost -- the request was answered, or the exception carries
every piece of text the caller had already been shown (the streaming rule: no retry
after text was shown, so nothing is spliced either).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass

from dayshift.http import RetryPolicy
from dayshift.llm.base import ChatRequest, Message, Timeouts
from dayshift.llm.client import LLMClient
from dayshift.llm.openai import OpenAIBackend
from dayshift.testing.fault_server import Behaviour, FaultServer

REQUEST = ChatRequest(messages=(Message("user", "What is the answer?"),), max_tokens=64)
FAULTS: list[tuple[str, Behaviour]] = [
    ("none (ok)", Behaviour("ok")),
    ("slow tokens (0.1 s each)", Behaviour("slow", delay_s=0.1)),
    ("hang", Behaviour("hang")),
    ("drop before any text", Behaviour("drop", pieces=0)),
    ("drop mid-answer", Behaviour("drop", pieces=2)),
    ("HTTP 500", Behaviour("500")),
    ("HTTP 429, Retry-After: 1", Behaviour("429", retry_after="1")),
    ("truncated stream", Behaviour("truncated", pieces=3)),
    ("malformed JSON line", Behaviour("malformed")),
    ("HTTP 401", Behaviour("401")),
]


@dataclass(frozen=True)
class Row:
    fault: str
    caller_sees: str
    time_ms: float
    attempts: int
    nothing_lost: bool
    detail: str  # the failures booked on the way, or the partial text kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--read-s", type=float, default=0.5, help="read timeout: longest silence allowed")
    parser.add_argument("--retries", type=int, default=2, help="retries per model after the first attempt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the client's retry warnings would drown the table
    rows = [run_fault(name, behaviour, read_s=args.read_s, retries=args.retries) for name, behaviour in FAULTS]
    print(json.dumps([asdict(row) for row in rows], indent=2) if args.json else table(rows))


def run_fault(name: str, behaviour: Behaviour, *, read_s: float, retries: int) -> Row:
    with FaultServer(model="primary") as primary, FaultServer(model="fallback") as fallback:
        primary.script([], then=behaviour)
        chain = [
            OpenAIBackend(model="primary", base_url=primary.base_url, is_local=True),
            OpenAIBackend(model="fallback", base_url=fallback.base_url, is_local=True),
        ]
        client = LLMClient(
            chain,
            timeouts=Timeouts(connect_s=1.0, read_s=read_s, total_s=30.0),
            retry=RetryPolicy(max_retries=retries, backoff_base_s=0.05, backoff_max_s=2.0),
            breaker_failures=5,
            breaker_reset_s=30.0,
        )
        call = client.stream(REQUEST)
        shown: list[str] = []
        started = time.perf_counter()
        try:
            shown.extend(call)
            error: Exception | None = None
        except Exception as exc:  # noqa: BLE001 - reporting what the caller would catch
            error = exc
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        for backend in chain:
            backend.close()
    booked = Counter(f"{model}: {type(err).__name__}" for model, err in call.failures)
    failures = ", ".join(f"{what} x{count}" if count > 1 else what for what, count in booked.items())
    if error is None and call.result is not None:
        sees = "answer" if call.result.model == "primary" else "answer from fallback"
        return Row(name, sees, round(elapsed_ms, 1), call.attempts, True, failures or "-")
    kept = getattr(error, "partial_text", "")
    lost_nothing = bool(kept) and kept == "".join(shown) == call.partial_text
    return Row(name, type(error).__name__, round(elapsed_ms, 1), call.attempts, lost_nothing, f"partial text {kept!r}")


def table(rows: list[Row]) -> str:
    header = ("fault", "caller sees", "time ms", "attempts", "nothing lost", "detail")
    cells = [header] + [
        (r.fault, r.caller_sees, f"{r.time_ms:.0f}", str(r.attempts), "yes" if r.nothing_lost else "NO", r.detail)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
