"""Time to first token: the OpenAI-compatible endpoint against /v1/ask, on one real `dayshift serve`.

    python benchmarks/openai_ttft.py [--rounds 15] [--json] [--data-dir DIR]

Both routes stream the same answers from the same pipeline; the endpoint adds the OpenAI framing
(a role chunk first, chat.completion.chunk JSON per piece). Time to first token is measured from
sending the request to the first piece of answer text: the first `token` event of /v1/ask, the first
chunk with non-empty `delta.content` of /v1/chat/completions (read through httpx for both, and once
more through the official openai SDK). Each round asks every question through both routes, in
alternating order (ABBA), after a warm-up round; the figures are medians over all requests.
Target: the endpoint's median at most 10% over /v1/ask's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from dayshift.cli.demo import corpus_dir
from dayshift.testing.serve_process import ServeProcess

QUESTIONS = ("Which file formats can be ingested?", "How does hybrid search combine keyword and dense results?",
             "What does the calibration fit?", "What happens to personal data before a model call?")
MODEL = "dayshift-answer@production"


def ttft_ask(client: httpx.Client, url: str, question: str) -> float:
    started = time.perf_counter()
    with client.stream("POST", f"{url}/v1/ask", json={"question": question, "stream": True}) as response:
        event, lines = "", response.iter_lines()
        for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif event == "token" and line.startswith("data: ") and json.loads(line[6:])["text"]:
                first = time.perf_counter() - started
                for _ in lines:  # read the rest: the answer is generated either way
                    pass
                return first * 1000
    raise RuntimeError(f"/v1/ask streamed no token for {question!r} (it abstained before generating)")


def ttft_chat(client: httpx.Client, url: str, question: str) -> float:
    started = time.perf_counter()
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": question}]}
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    first = time.perf_counter() - started
                    for _ in lines:
                        pass
                    return first * 1000
    raise RuntimeError(f"/v1/chat/completions streamed no content for {question!r}")


def ttft_sdk(sdk: openai.OpenAI, question: str) -> float:
    started = time.perf_counter()
    first = None
    for chunk in sdk.chat.completions.create(model=MODEL, stream=True,
                                             messages=[{"role": "user", "content": question}]):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None
    return first * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="an index to serve (default: the demo corpus, ingested now)")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dayshift-ttft-"))
    if args.data_dir is None:
        dayshift = str(Path(sys.executable).with_name("dayshift"))
        subprocess.run([dayshift, "--data-dir", str(data_dir), "ingest", str(corpus_dir())], check=True,
                       capture_output=True)
    ask, chat, sdk_ms = [], [], []
    with ServeProcess(data_dir) as server, httpx.Client(timeout=600) as client, \
            Progress(console=Console(stderr=True)) as progress:
        sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=600)
        for question in QUESTIONS:  # warm-up: every question once through each route
            ttft_ask(client, server.url, question)
            ttft_chat(client, server.url, question)
        task = progress.add_task("rounds", total=args.rounds)
        for r in range(args.rounds):
            for i, question in enumerate(QUESTIONS):
                pair = ((ask, ttft_ask), (chat, ttft_chat))
                for sink, measure in (pair if (r + i) % 2 == 0 else pair[::-1]):
                    sink.append(measure(client, server.url, question))
            sdk_ms.append(ttft_sdk(sdk, QUESTIONS[r % len(QUESTIONS)]))
            progress.advance(task)
    if args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    ask_ms, chat_ms = statistics.median(ask), statistics.median(chat)
    ratios = [c / a for a, c in zip(ask, chat)]
    result = {"requests_per_route": len(ask), "ttft_ask_ms": round(ask_ms, 1), "ttft_chat_ms": round(chat_ms, 1),
              "ttft_sdk_ms": round(statistics.median(sdk_ms), 1),
              "overhead_pct": round(100 * (chat_ms / ask_ms - 1), 1),
              "paired_median_ratio": round(statistics.median(ratios), 3), "target_overhead_pct": 10.0}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table("route", "requests", "median TTFT ms", title="Time to first token")
        table.add_row("/v1/ask (baseline)", str(len(ask)), f"{ask_ms:.1f}")
        table.add_row("/v1/chat/completions", str(len(chat)), f"{chat_ms:.1f}")
        table.add_row("/v1/chat/completions, openai SDK", str(len(sdk_ms)), f"{result['ttft_sdk_ms']:.1f}")
        Console().print(table)
        Console().print(f"overhead {result['overhead_pct']:+.1f}% (paired median ratio "
                        f"{result['paired_median_ratio']}); target at most +10%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
