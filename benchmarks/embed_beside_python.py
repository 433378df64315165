"""Does embedding keep its speed while another thread runs Python?

    python benchmarks/embed_beside_python.py [--docs 320]

An ingest embeds on worker threads while its own thread loads, chunks,
de-duplicates and stores, which is Python. This embeds SciFact abstracts the
way `LocalEmbedder` does (one-core worker threads), alone and beside a thread
spinning in Python, with the forward pass compiled (what dayshift runs) and
as the same function run by Python (the fallback), alternating in one process.
A Python thread takes the interpreter's lock for up to its switch interval
(5 ms) whenever another thread asks for it, and an uncompiled pass asks at
every operator (~1,500 a batch).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from _beir import load_corpus  # noqa: E402

from dayshift.embed import minilm  # noqa: E402
from dayshift.embed.local import LocalEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/beir/scifact"))
    parser.add_argument("--docs", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    texts = [f"{d['title']}\n{d['text']}" for d in load_corpus(args.dataset, limit=args.docs)]
    embedder = LocalEmbedder()
    embedder.embed(texts[:64])
    forwards = {"compiled": minilm._compiled_encode(), "python": minilm._encode}  # noqa: SLF001
    rates: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for name, forward in forwards.items():
            minilm._compiled_encode = lambda forward=forward: forward  # type: ignore[assignment]  # noqa: SLF001
            for busy in (False, True):
                rates.setdefault((name, busy), []).append(_rate(embedder, texts, busy=busy))
    print(f"{'forward pass':<14}{'alone docs/s':>14}{'beside Python':>15}{'kept':>8}")
    for name in forwards:
        alone, beside = max(rates[(name, False)]), max(rates[(name, True)])
        print(f"{name:<14}{alone:>14.1f}{beside:>15.1f}{beside / alone:>8.0%}")
    print(f"(best of {args.rounds} rounds; two cores shared by three threads keep at most ~67%)")


def _rate(embedder: LocalEmbedder, texts: list[str], *, busy: bool) -> float:
    stop = threading.Event()
    spinner = threading.Thread(target=_spin, args=(stop,), daemon=True)
    if busy:
        spinner.start()
    started = time.perf_counter()
    embedder.embed(texts)
    rate = len(texts) / (time.perf_counter() - started)
    stop.set()
    if busy:
        spinner.join()
    return rate


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(1000):
            total += i * i


if __name__ == "__main__":
    main()
