"""The log of eval gate runs: one JSON line per `dayshift eval gate`, passed or blocked (data_dir/evals/gates.jsonl).

    {"at": "...", "candidate": "qa@v3", "baseline": "qa@v2", "dataset": "evals/qa.jsonl", "passed": false,
     "broken": 2, "fixed": 5, "flaky": 1, "promoted": false, "runs": ["<baseline run>", "<candidate run>"],
     "actor": "ana", "commit": "1a2b3c4..."}

The gate report (gate-report.md) says what happened to each case; this log is what the standup digest
reads to say which gates ran, which passed and which blocked, and who ran them. Appended whole lines
only; a line that is not JSON (a bad merge) is skipped on reading.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["GATE_LOG", "append_gate", "read_gates"]

GATE_LOG = Path("evals") / "gates.jsonl"  # under data_dir


def append_gate(data_dir: Path, result: Any, *, dataset: str, actor: str = "", commit: str = "") -> None:
    """Record one finished gate (an evals.gate.GateResult)."""
    path = Path(data_dir) / GATE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"at": datetime.now(UTC).isoformat(), "candidate": result.candidate.config.prompt,
             "baseline": result.baseline.config.prompt, "dataset": dataset, "passed": bool(result.passed),
             "broken": len(result.broken), "fixed": len(result.fixed), "flaky": len(result.flaky),
             "promoted": bool(result.promoted), "runs": [result.baseline.run_id, result.candidate.run_id],
             "actor": actor, "commit": commit}
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def read_gates(data_dir: Path) -> list[dict[str, Any]]:
    path = Path(data_dir) / GATE_LOG
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "at" in entry:
            out.append(entry)
    return out
