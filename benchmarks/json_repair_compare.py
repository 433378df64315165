"""dayshift's JSON finder and repairer against the json-repair library, on near-JSON that models write.

    python benchmarks/json_repair_compare.py [--json] [--keys 2000]

Cases: the 32 near-JSON outputs that tests/unit/llm/test_structured.py pins (fences, prose, trailing
commas, quotes of every kind, comments, Python literals, truncation, several values), and the texts
with no JSON at all, which must raise rather than come back as a value. Each side gets the same text:
dayshift.llm.json_repair.extract_json, and json_repair.loads (the library's own entry point) and
the library behind dayshift's own search (code fences and candidate starts found by dayshift, strict
decoding first, json_repair.loads on the candidate). Columns: cases with the expected value; cases
with a wrong value (worse than an error: a caller cannot tell); texts without JSON that raised; and
milliseconds to repair one object of --keys single-quoted keys with trailing commas (median of 5).

The result and the decision are in docs/decisions/0013-json-repair.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json_repair

from dayshift.llm import json_repair as own

TESTS = Path(__file__).resolve().parents[1] / "tests" / "unit" / "llm" / "test_structured.py"
NO_JSON = ["I cannot answer that.", "", "__import__('os').system('echo hacked')", "{see the docs}", "[hello world]"]


def load_cases() -> list[tuple[str, str, Any]]:
    spec = importlib.util.spec_from_file_location("structured_cases", TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CASES)


def library_behind_own_search(text: str) -> Any:
    """dayshift's fence and candidate search and strict decoding; json-repair for the repair."""
    fenced = own._FENCE.search(text)
    for source in [fenced.group(1), text] if fenced else [text]:
        for start in [i for i, ch in enumerate(source) if ch in "{["][: own._MAX_CANDIDATES]:
            try:
                return json.JSONDecoder().raw_decode(source, start)[0]
            except ValueError:
                pass
            value = json_repair.loads(source[start:])
            if value not in ("", None):
                return value
    value = json_repair.loads(text)
    if value in ("", None):
        raise ValueError("no JSON")
    return value


def library_alone(text: str) -> Any:
    value = json_repair.loads(text)
    if value in ("", None):
        raise ValueError("no JSON")
    return value


def score(fn: Callable[[str], Any], cases: list[tuple[str, str, Any]], *, keys: int) -> dict[str, Any]:
    right, wrong = 0, []
    for name, text, expected in cases:
        try:
            got = fn(text)
        except (ValueError, RecursionError):
            continue
        if got == expected:
            right += 1
        else:
            wrong.append(name)
    raised = 0
    for text in NO_JSON:
        try:
            fn(text)
        except (ValueError, RecursionError):
            raised += 1
    big = "Sure! ```json\n{" + ",".join(f"'k{i}': [1, 2, 'v{i}',]" for i in range(keys)) + "}\n```"
    times_ms = []
    for _ in range(5):
        started = time.perf_counter()
        fn(big)
        times_ms.append((time.perf_counter() - started) * 1000.0)
    return {"expected": right, "wrong_value": len(wrong), "wrong_cases": wrong, "no_json_raised": raised,
            "repair_ms": round(statistics.median(times_ms), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keys", type=int, default=2000, help="keys in the object timed for repair")
    args = parser.parse_args()
    cases = load_cases()
    rows = {
        "dayshift extract_json": score(own.extract_json, cases, keys=args.keys),
        "json_repair.loads": score(library_alone, cases, keys=args.keys),
        "json-repair behind dayshift's search": score(library_behind_own_search, cases, keys=args.keys),
    }
    if args.json:
        print(json.dumps({"cases": len(cases), "no_json_texts": len(NO_JSON), "rows": rows}, indent=2))
        return
    print(f"{len(cases)} near-JSON cases, {len(NO_JSON)} texts without JSON, repair timed on {args.keys} keys")
    print(f"{'':38s} {'expected':>8s} {'wrong':>6s} {'no-JSON raised':>15s} {'repair ms':>10s}")
    for name, row in rows.items():
        print(f"{name:38s} {row['expected']:>8d} {row['wrong_value']:>6d} "
              f"{row['no_json_raised']:>10d}/{len(NO_JSON):<4d} {row['repair_ms']:>10.1f}")
    for name, row in rows.items():
        if row["wrong_cases"]:
            print(f"  {name} wrong on: {', '.join(row['wrong_cases'])}")


if __name__ == "__main__":
    main()
