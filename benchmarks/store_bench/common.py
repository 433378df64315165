"""Constants, stop lists, timing and printing helpers shared by every section.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

K = 10
DIM = 384


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Lucene's classic English stop set (also bm25s "en").
STOP_LUCENE = _words(
    "a an and are as at be but by for if in into is it no not of on or such that the "
    "their then there these they this to was will with"
)
# NLTK English stop list (179 words; bm25s "en_plus").
STOP_NLTK = _words(
    """a about above after again against ain all am an and any are aren aren't as at be
    because been before being below between both but by can couldn couldn't d did didn
    didn't do does doesn doesn't doing don don't down during each few for from further had
    hadn hadn't has hasn hasn't have haven haven't having he her here hers herself him
    himself his how i if in into is isn isn't it it's its itself just ll m ma me mightn
    mightn't more most mustn mustn't my myself needn needn't no nor not now o of off on
    once only or other our ours ourselves out over own re s same shan shan't she she's
    should should've shouldn shouldn't so some such t than that that'll the their theirs
    them themselves then there these they this those through to too under until up ve
    very was wasn wasn't we were weren weren't what when where which while who whom why
    will with won won't wouldn wouldn't y you you'd you'll you're you've your yours
    yourself yourselves"""
)
STOPLISTS = {"none": frozenset(), "lucene33": STOP_LUCENE, "nltk179": STOP_NLTK}
# Unicode letters/digits (\w without "_", i.e. the same token characters as FTS5 unicode61 and tantivy's
# simple tokenizer). w2 additionally drops 1-character tokens, as bm25s/scikit-learn do by default.
PATTERNS = {"w1": r"[^\W_]+", "w2": r"[^\W_]{2,}"}

WORD_RE = re.compile(PATTERNS["w1"])


def now() -> float:
    return time.perf_counter()


def peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM; unlike ru_maxrss it is not inherited from the forking parent)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def du(path: str | Path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def pct(lat: list[float]) -> tuple[float, float]:
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    sys.stdout.flush()


def note(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)
