"""What the log scrubber costs per line: a typical line, and lines carrying secrets and PII.

    python benchmarks/log_scrub.py [--lines 20000]

Every service log line goes through dayshift.service.logs.scrub (keys, tokens, JWTs, credentials in
URLs, e-mail addresses). The figure is the median over 5 rounds of microseconds per line.
"""

from __future__ import annotations

import argparse
import statistics
import time

from dayshift.service.logs import new_api_key, scrub

LINES = {
    "typical": "llm answered by gpt-4o-mini after 1 attempt(s) with 900 input tokens in 1234.5 ms",
    "api key": f"auth failed for key {new_api_key()} from 10.0.0.7",
    "bearer + url": "POST https://user:hunter2@llm.internal/v1 Authorization: Bearer sk-abcdefghijklmnopqrstuvwx",
    "e-mail": "feedback from ada.lovelace@example.com on trace 4f1c",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{'line':14s} {'us per line':>12s}")
    for name, line in LINES.items():
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(args.lines):
                scrub(line)
            rounds.append((time.perf_counter() - started) / args.lines * 1e6)
        print(f"{name:14s} {statistics.median(rounds):>12.1f}")


if __name__ == "__main__":
    main()
