"""Structured answers: how often the JSON comes back valid, on each kind of backend, through the whole pipeline.

    python benchmarks/structured.py [--dataset ../shared/data/squad2] [--questions 50] [--json]

Fifty answerable SQuAD 2.0 dev part A questions, over their articles, asked with
`Answerer.ask_json` (retrieval, excerpts, the support veto, citations) against a
schema an application would use. One row per backend, the same reader behind each:

    local               the reader in this process; a llama.cpp grammar built from the schema
    server json_schema  the same GGUF behind llama-cpp-python's OpenAI-compatible server on loopback,
                        sent `response_format: json_schema`
    server json_object  the same server, sent only `response_format: json_object` (any JSON):
                        the schema is enforced by dayshift's repair and bounded re-ask

Valid = the JSON dayshift hands back parses and satisfies the schema; `first_try` =
it did so without repair or a re-ask. Questions abstained on before any model call
are counted apart (the model was never asked). The baseline row is the server
asked once, with no dayshift repair or re-ask: what a plain client would get.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

import squad2
from _llama_server import llama_server
from jsonschema import Draft202012Validator
from rich.progress import track

from dayshift.assemble import open_answerer, open_embedder, open_ingestor
from dayshift.errors import LLMError
from dayshift.http import RetryPolicy
from dayshift.llm.base import ChatRequest, Timeouts
from dayshift.llm.client import LLMClient
from dayshift.llm.openai import OpenAIBackend
from dayshift.llm.readers import resolve_reader
from dayshift.settings import load_settings

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "maxLength": 120, "description": "the shortest phrase of the text that answers"},
        "kind": {"enum": ["person", "place", "date", "number", "thing", "other"]},
        "year": {"type": ["integer", "null"], "description": "a year the answer names, else null"},
    },
    "required": ["answer", "kind", "year"],
    "additionalProperties": False,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/squad2"))
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    articles = squad2.load_articles(args.dataset)
    questions = [q for a in articles for q in squad2.questions_of(a, 0) if not q["is_impossible"]]
    questions = squad2.sample([dict(q, answerable=True) for q in questions], args.questions * 2)[: args.questions]
    work = Path(tempfile.mkdtemp(prefix="dayshift-structured-"))
    squad2.write_corpus(articles, work / "corpus")
    settings = load_settings(data_dir=work / "index")
    embedder = open_embedder(settings)
    open_ingestor(settings, embedder=embedder).sync(work / "corpus")
    gguf, _ = resolve_reader(settings.llm.model, models_dir=settings.llm.models_dir)
    results = {"local": run(open_answerer(settings, embedder=embedder), questions, "local", log=not args.json)}
    with llama_server(gguf, "--n_threads", "1", "--n_threads_batch", "2", "--n_ctx", "2048", ready_s=120) as base_url:
        for mode in ("json_schema", "json_object"):
            answerer = open_answerer(settings, embedder=embedder, llm=server_client(base_url, mode))
            try:
                results[f"server {mode}"] = run(answerer, questions, f"server {mode}", log=not args.json)
            except LLMError as exc:  # a server that refuses the mode outright: a row saying so, not a crash
                results[f"server {mode}"] = {"questions": len(questions), "error": str(exc)[:300]}
        results["baseline: server json_object, asked once"] = baseline(base_url, open_answerer(
            settings, embedder=embedder, llm=server_client(base_url, "json_object")), questions)
    print(json.dumps(results, indent=2) if args.json else table(results))


def server_client(base_url: str, mode: str) -> LLMClient:
    backend = OpenAIBackend(base_url=base_url, model="reader", is_local=True, json_format=mode)  # type: ignore[arg-type]
    return LLMClient([backend], timeouts=Timeouts(read_s=120, total_s=300), retry=RetryPolicy(max_retries=1),
                     breaker_failures=5, breaker_reset_s=30)


def run(answerer: Any, questions: list[dict[str, Any]], label: str, *, log: bool) -> dict[str, Any]:
    validator = Draft202012Validator(SCHEMA)
    asked, valid, first_try, abstained_before, withdrawn, seconds, f1 = 0, 0, 0, 0, 0, [], []
    for q in track(questions, description=label, disable=not log):
        started = time.perf_counter()
        answer = answerer.ask_json(q["question"], schema=SCHEMA)
        seconds.append(time.perf_counter() - started)
        if answer.completion is None and not answer.draft:
            abstained_before += 1
            continue
        asked += 1
        value = _parsed(answer.draft)
        if value is not None and not list(validator.iter_errors(value)):
            valid += 1
            meta = answer.completion.metadata if answer.completion else {}
            first_try += int(meta.get("reasks", 0) == 0 and not meta.get("repaired", False))
            f1.append(squad2.f1_em(str(value.get("answer", "")), [a["text"] for a in q["answers"]])[0])
        withdrawn += int(answer.abstained)
    return {"questions": len(questions), "model_asked": asked, "valid": valid,
            "valid_rate": valid / asked if asked else 0.0, "valid_first_try": first_try / asked if asked else 0.0,
            "abstained_before_model": abstained_before, "withdrawn_after": withdrawn,
            "answer_f1_of_valid": statistics.mean(f1) if f1 else 0.0,
            "seconds_per_question": statistics.mean(seconds)}


def baseline(base_url: str, answerer: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """The same prompts sent once to the server in json_object mode: valid JSON for the schema, or not."""
    validator = Draft202012Validator(SCHEMA)
    client = answerer.llm
    valid = 0
    for q in questions:
        _, sources = answerer._prepare(q["question"], ())
        messages = answerer.json_prompt.render(question=q["question"], sources=sources, schema=json.dumps(SCHEMA))
        text = client.complete(ChatRequest(messages=messages, max_tokens=256, json_schema=None)).text
        value = _parsed(text)
        valid += int(value is not None and not list(validator.iter_errors(value)))
    return {"questions": len(questions), "model_asked": len(questions), "valid": valid,
            "valid_rate": valid / len(questions), "valid_first_try": valid / len(questions)}


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'backend':<42}{'asked':>7}{'valid':>8}{'first try':>11}{'withdrawn':>11}{'F1':>7}{'s/q':>7}"]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name:<42}refused: {r['error']}")
            continue
        lines.append(f"{name:<42}{r['model_asked']:>7}{r['valid_rate']:>8.1%}{r['valid_first_try']:>11.1%}"
                     f"{r.get('withdrawn_after', 0):>11}{r.get('answer_f1_of_valid', 0.0):>7.3f}"
                     f"{r.get('seconds_per_question', 0.0):>7.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
