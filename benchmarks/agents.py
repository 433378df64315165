"""The agent task suite, scored: success rate, steps, tokens, cost and seconds per task, per backend.

    python benchmarks/agents.py --json                       # both suites, the shipped local reader
    python benchmarks/agents.py --backend server --json      # llama-cpp-python's OpenAI-compatible server on
                                                             # loopback, the OpenAI tools protocol
    python benchmarks/agents.py --backend local --limit 10 --rows rows.jsonl

Suites (written, and committed, before the agent was tuned): benchmarks/agent_tasks/tasks.yaml
(47 tasks over ../shared/data/tabular/chinook.sqlite, the beer.stackexchange posts and three NIST
PDFs) and benchmarks/agent_tasks/injected.yaml (24 tasks whose documents or database cells tell the
agent to do something else). Each suite's corpus is ingested into a fresh data folder under --work
(kept between runs: ingest is skipped when it is there). Backends:

    local    the shipped reader in this process (grammar-constrained JSON calls)
    server   the same GGUF, or --server-model, behind `python -m llama_cpp.server` with
             --chat_format (default chatml-function-calling): `tools` and `tool_calls`

Prints `tasks`, `success_rate` (per backend and the best), `budget_overruns`, `injections_followed`,
`injected_tasks_completed`, `mean_steps`, and per backend the failures by class. --rows writes one
JSON line per task (the score and the whole AgentResult) for the closing analysis.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _llama_server import llama_server
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dayshift.agents.build import open_agent
from dayshift.agents.loop import budget_from
from dayshift.agents.suite import Suite, load_suite, score, summarise
from dayshift.agents.tools import close_tools
from dayshift.assemble import open_ingestor, open_llm, open_retriever
from dayshift.settings import Settings

HERE = Path(__file__).parent / "agent_tasks"
SUITES = [HERE / "tasks.yaml", HERE / "injected.yaml"]


def settings_for(work: Path, suite: Suite, backend: str, base_url: str | None, args: argparse.Namespace) -> Settings:
    env: dict[str, Any] = {"data_dir": work / suite.name}
    settings = Settings(**env)
    agent = settings.agent.model_copy(update={"max_steps": args.max_steps, "max_seconds": args.max_seconds})
    llm = settings.llm
    if backend == "server":
        llm = llm.model_copy(update={"backend": "openai", "base_url": base_url, "model": "local-server",
                                     "is_local": True, "api_key": "none", "read_timeout_s": args.max_seconds,
                                     "total_timeout_s": args.max_seconds})
    else:
        llm = llm.model_copy(update={"n_ctx": max(settings.agent.n_ctx, llm.n_ctx or 0), "threads": args.threads,
                                     "batch_threads": args.threads, "models_dir": args.models_dir})
    return settings.model_copy(update={"agent": agent, "llm": llm})


def ingest(settings: Settings, suite: Suite, console: Console) -> None:
    marker = settings.data_dir / "agents-ingested.json"
    if marker.exists() and json.loads(marker.read_text()) == suite.corpus:
        return
    ingestor = open_ingestor(settings)
    for path in suite.corpus:
        console.print(f"ingesting {path}")
        ingestor.sync(Path(path))
    marker.write_text(json.dumps(suite.corpus))


def run_backend(backend: str, suites: list[Suite], args: argparse.Namespace, console: Console,
                rows: Any, base_url: str | None = None) -> dict[str, Any]:
    scores = []
    llm = None
    total = sum(len(s.tasks) for s in suites)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task(backend, total=total)
        for suite in suites:
            settings = settings_for(args.work, suite, backend, base_url, args)
            ingest(settings, suite, console)
            retriever = open_retriever(settings) if suite.corpus else None
            llm = llm or open_llm(settings)
            for task in suite.tasks:
                task_settings = settings.model_copy(update={"agent": settings.agent.model_copy(
                    update={"fetch_allow_hosts": task.fetch_allow_hosts})})
                agent, tools = open_agent(task_settings, tools=task.tools, databases=task.databases, llm=llm,
                                          searcher=retriever)
                try:
                    result = agent.run(task.task, budget=budget_from(task_settings.agent, **task.budget))
                finally:
                    close_tools(tools)
                s = score(task, result)
                scores.append(s)
                rows.write(json.dumps({"backend": backend, "suite": suite.name, **s.to_json(),
                                       "result": result.to_json()}) + "\n")
                rows.flush()
                verdict = "ok" if s.success else s.failure
                console.print(f"{backend} {task.id}: {verdict} ({s.steps} calls, {s.tokens} tokens, {s.seconds:.1f} s)"
                              + (" [injection followed]" if s.injection_followed else ""))
                bar.advance(job)
    out = summarise(scores)
    out["model"] = getattr(llm.chain[0], "model", "") if llm else ""
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", action="append", choices=["local", "server"],
                        help="repeatable (default: local)")
    parser.add_argument("--suite", action="append", type=Path, help="a task file (default: both shipped suites)")
    parser.add_argument("--tasks", help="comma-separated task ids to run (default: all)")
    parser.add_argument("--limit", type=int, help="the first N tasks of each suite")
    parser.add_argument("--every", type=int, default=1, help="every Nth task of each suite (a spread subset)")
    parser.add_argument("--offset", type=int, default=0, help="with --every: start at this task (0: the first)")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--server-model", type=Path, help="the GGUF the server runs (default: the shipped reader)")
    parser.add_argument("--chat-format", default="chatml-function-calling")
    parser.add_argument("--work", type=Path, default=Path(".dayshift/agents-bench"))
    parser.add_argument("--models-dir", type=Path, default=Path(".dayshift/models"), help="where readers are joined")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=Path, help="one JSON line per task")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True, highlight=False)
    suites = [load_suite(p) for p in (args.suite or SUITES)]
    wanted = set(args.tasks.split(",")) if args.tasks else None
    for suite in suites:
        suite.tasks = [t for t in suite.tasks if wanted is None or t.id in wanted][args.offset::args.every][:args.limit]
    suites = [s for s in suites if s.tasks]
    args.work.mkdir(parents=True, exist_ok=True)
    rows = open(args.rows, "a", encoding="utf-8") if args.rows else open(os.devnull, "w")  # noqa: SIM115
    results: dict[str, Any] = {}
    for backend in args.backend or ["local"]:
        if backend == "server":

            gguf = args.server_model or _shipped_gguf(args.models_dir)
            with llama_server(gguf, "--n_threads", "2", "--n_ctx", str(Settings().agent.n_ctx), "--chat_format", args.chat_format) as base_url:
                results[backend] = run_backend(backend, suites, args, console, rows, base_url)
        else:
            results[backend] = run_backend(backend, suites, args, console, rows)
    rows.close()
    best = max(results, key=lambda b: results[b]["success_rate"])
    summary = {
        "tasks": results[best]["tasks"],
        "success_rate": {**{b: r["success_rate"] for b, r in results.items()}, "best": results[best]["success_rate"]},
        "budget_overruns": sum(r["budget_overruns"] for r in results.values()),
        "injections_followed": sum(r["injections_followed"] for r in results.values()),
        "injected_tasks_completed": {b: f"{r['injected_tasks_completed']}/{r['injected_tasks']}"
                                     for b, r in results.items()},
        "mean_steps": {b: r["mean_steps"] for b, r in results.items()},
        "backends": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for b, r in results.items():
            print(f"{b:<8} {r['model']:<32} tasks {r['tasks']:>3}  success {r['success_rate']:.1%}  "
                  f"steps {r['mean_steps']:.2f}  tokens {r['mean_tokens']:.0f}  ${r['mean_cost_usd']:.5f}  "
                  f"{r['mean_seconds']:.1f} s/task  overruns {r['budget_overruns']}  injections followed "
                  f"{r['injections_followed']}  injected completed {r['injected_tasks_completed']}/"
                  f"{r['injected_tasks']}  failures {r['failures']}")


def _shipped_gguf(models_dir: Path) -> Path:
    from dayshift.llm.readers import resolve_reader

    path, _ = resolve_reader(Settings().llm.model, models_dir=models_dir)
    return path


if __name__ == "__main__":
    main()
