"""`dayshift models`: the fine-tuned model registry -- list, show, compare, promote, rollback.

    dayshift models list
    dayshift models show reranker@3
    dayshift models compare reranker@production reranker@4 --evals evals/qa.jsonl [--promote]
    dayshift models promote reranker@4 [--force]
    dayshift models rollback reranker

`compare` runs both sides on the same eval set in one process: retrieval nDCG, recall and MRR at k,
latency and memory, then the per-case gate (dayshift.evals.gate): a candidate that loses a case
production found is not promoted, even when its mean is better. `NAME@production` with nothing
promoted means retrieval as configured, without this model. Left out: answer F1 and abstention in
`compare` (they need the reader on every case: `dayshift eval gate` measures them), embedders and
readers in `compare` (their promotion re-embeds the index or swaps the reader; not built yet).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dayshift.errors import ConfigError
from dayshift.settings import Settings

models_app = typer.Typer(help="Fine-tuned models: versions, cards, compare, promote, rollback.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _registry(ctx: typer.Context) -> Any:
    from dayshift.finetune.registry import ModelRegistry, registry_root

    return ModelRegistry(registry_root(ctx.obj.data_dir))


@models_app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every model name with its versions and aliases."""
    registry = _registry(ctx)
    rows = [{"name": n, "versions": registry.versions(n), **registry.aliases(n)} for n in registry.names()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no fine-tuned models yet: `dayshift finetune reranker --pairs PAIRS.jsonl` trains one")
    for r in rows:
        typer.echo(f"{r['name']:<12} versions {', '.join(map(str, r['versions']))}  production {r['production']}  "
                   f"candidate {r['candidate']}")  # fmt: skip


@models_app.command("show")
def show(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="NAME, NAME@V or NAME@production.")],
         as_json: JsonOption = False) -> None:  # fmt: skip
    """A version's model card: base model, data hash, metrics, parent, tracker run id."""
    card = _registry(ctx).resolve(ref)
    data = card.to_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        typer.echo(f"{key:<15}{json.dumps(value) if isinstance(value, dict | list) else value}")
    if card.run_dir and (Path(card.run_dir) / "loss.png").is_file():
        typer.echo(f"{'loss curves':<15}{Path(card.run_dir) / 'loss.png'}")


@models_app.command("promote")
def promote(ctx: typer.Context, ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
            force: Annotated[bool, typer.Option("--force", help="Promote without a passed gate.")] = False) -> None:
    """Make a version production: ask, search and serve use it from their next query."""
    registry = _registry(ctx)
    card = registry.resolve(ref)
    if not force and not card.metrics.get("gate_passed"):
        raise ConfigError(f"{card.name}@{card.version} has not passed the gate: run `dayshift models compare "
                          f"{card.name}@production {card.name}@{card.version} --evals EVALS.jsonl --promote`, "
                          "or pass --force")  # fmt: skip
    registry.promote(f"{card.name}@{card.version}")
    typer.echo(f"{card.name}@{card.version} is production")


@models_app.command("rollback")
def rollback(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The model name.")]) -> None:
    """Production back to the version before it (none: back to retrieval without this model)."""
    card = _registry(ctx).rollback(name)
    typer.echo(f"{name}: production is now " + (f"version {card.version}" if card else "none (model off)"))


@models_app.command("compare")
def compare(
    ctx: typer.Context,
    baseline: Annotated[str, typer.Argument(help="NAME@production (or NAME@V).")],
    candidate: Annotated[str, typer.Argument(help="NAME@V or NAME@candidate.")],
    evals: Annotated[Path, typer.Option("--evals", help="An eval set whose cases name expected sources.")],
    k: Annotated[int, typer.Option("--k", help="Documents scored per case.")] = 10,
    promote_if_passed: Annotated[bool, typer.Option("--promote", help="Promote the candidate if the gate passes.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Production and the candidate on one eval set, in one process; the per-case gate decides."""
    from dayshift.evals.cases import load_dataset
    from dayshift.evals.gate import compare as gate_compare

    settings: Settings = ctx.obj
    registry = _registry(ctx)
    dataset = load_dataset(evals)
    cases = [c for c in dataset.accepted() if c.answerable and c.expected_sources]
    if not cases:
        raise ConfigError(f"{evals}: no accepted answerable case names expected_sources; retrieval cannot be scored")
    sides = {}
    for role, ref in (("baseline", baseline), ("candidate", candidate)):
        version = _version_or_none(registry, ref)
        sides[role] = _run_side(settings, dataset, cases, version=version, label=f"{ref} -> {version or 'off'}", k=k)
    result = gate_compare(sides["baseline"]["run"], sides["candidate"]["run"])
    summary = {role: {key: v for key, v in side.items() if key != "run"} for role, side in sides.items()}
    out = {"cases": len(cases), "k": k, **summary, "gate": result.to_json()}
    cand_version = _version_or_none(registry, candidate)
    if cand_version is not None:
        card = registry.card(_name(candidate), cand_version)
        card.metrics.update(gate_passed=result.passed, compared_with=baseline, evals=str(evals),
                            **{f"candidate_{m}": v for m, v in summary["candidate"].items()},
                            **{f"baseline_{m}": v for m, v in summary["baseline"].items()})  # fmt: skip
        registry.update_card(card)
        if promote_if_passed and result.passed:
            registry.promote(f"{card.name}@{card.version}")
            out["promoted"] = f"{card.name}@{card.version}"
    _print_compare(out, as_json=as_json)
    if promote_if_passed and not result.passed:
        raise typer.Exit(1)


def _name(ref: str) -> str:
    return ref.partition("@")[0]


def _version_or_none(registry: Any, ref: str) -> int | None:
    name, _, version = ref.partition("@")
    if version in ("", "production", "candidate"):
        number = registry.aliases(name).get(version or "production")
        if number is None and version == "candidate":
            raise ConfigError(f"model {name!r} has no candidate: train one with `dayshift finetune`")
        return None if number is None else int(number)
    return registry.resolve(ref).version


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        import os

        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def first_stage_retriever(settings: Settings, *, reranker: Any) -> Any:
    """Retrieval as configured (fitted fusion included), with `reranker` in place of retrieve.rerank's."""
    from dayshift.assemble import open_embedder, open_store
    from dayshift.retrieve.calibrate import fitted_settings
    from dayshift.retrieve.retriever import Retriever

    embedder = open_embedder(settings)
    return Retriever(open_store(settings, embedder), embedder,
                     settings=fitted_settings(settings.retrieve, settings.data_dir), reranker=reranker)  # fmt: skip


def _run_side(settings: Settings, dataset: Any, cases: list[Any], *, version: int | None, label: str,
              k: int) -> dict[str, Any]:  # fmt: skip
    from dayshift.evals.metrics import retrieval_scores
    from dayshift.evals.run import CaseResult, EvalRun, RunConfig

    before = _rss_mb()
    reranker = None
    if version is not None:
        from dayshift.finetune.registry.reranker import RegistryReranker

        reranker = RegistryReranker(data_dir=settings.data_dir, version=version)
    retriever = first_stage_retriever(settings, reranker=reranker)
    results, latencies = [], []
    for case in cases:
        started = time.perf_counter()
        hits = retriever.search(case.question, k=k, per_document=True).hits
        latency_ms = (time.perf_counter() - started) * 1000.0
        latencies.append(latency_ms)
        scores = retrieval_scores([h.chunk.doc_id for h in hits], case.expected_sources, k=k)
        results.append(CaseResult(case_id=case.id, repeat=0, passed=scores["recall_at_k"] > 0, kind="retrieval",
                                  answer="", abstained=False, confidence=0.0, retrieved=[h.chunk.doc_id for h in hits],
                                  cited=[], scores=dict(scores), latency_ms=latency_ms))  # fmt: skip
    config = RunConfig(prompt="retrieval", prompt_hash="", model="retrieval", index_version="", settings_hash="",
                       dataset=str(dataset.path), dataset_hash=dataset.content_hash,
                       repeats=1, min_f1=0.5, k=k)  # fmt: skip
    run = EvalRun(run_id=f"{label} {uuid.uuid4().hex[:6]}", started_at=datetime.now(UTC).isoformat(), config=config,
                  results=results, seconds=sum(latencies) / 1000.0, cases={c.id: c for c in cases})  # fmt: skip
    n = len(results)
    latencies.sort()
    return {"model": label, "ndcg_at_k": sum(r.scores["ndcg_at_k"] for r in results) / n,
            "recall_at_k": sum(r.scores["recall_at_k"] for r in results) / n,
            "mrr": sum(r.scores["mrr"] for r in results) / n, "latency_p50_ms": latencies[n // 2],
            "memory_mb": round(_rss_mb() - before, 1), "run": run}  # fmt: skip


def _print_compare(out: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    k = out["k"]
    typer.echo(f"{'':<36}{f'nDCG@{k}':>9}{f'R@{k}':>8}{'MRR':>8}{'p50 ms':>9}{'+MB':>8}")
    for role in ("baseline", "candidate"):
        s = out[role]
        typer.echo(f"{role + ' ' + s['model']:<36}{s['ndcg_at_k']:>9.4f}{s['recall_at_k']:>8.4f}{s['mrr']:>8.4f}"
                   f"{s['latency_p50_ms']:>9.1f}{s['memory_mb']:>8.1f}")  # fmt: skip
    gate = out["gate"]
    verdict = "passed" if gate["gate_passed"] else f"BLOCKED: {len(gate['broken_cases'])} case(s) broken"
    typer.echo(f"gate over {out['cases']} cases: {verdict}; fixed {len(gate['fixed_cases'])}")
    for case_id in gate["broken_cases"][:10]:
        typer.echo(f"  broken: {case_id}")
    if "promoted" in out:
        typer.echo(f"promoted {out['promoted']} to production")
