"""Public QA and retrieval sets -> a corpus folder to ingest, and the eval cases that test it.

    SQuAD 2.0 JSON (.json, .json.gz)
        corpus: <DIR>/<title>.txt per article: the title, a blank line, then its paragraphs
        cases:  one per question; expected_sources ["<DIR name>/<title>.txt"]; answerable = not is_impossible
    BEIR folder (corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv)
        corpus: <DIR>/corpus.jsonl, the rows as given (all, or the judged ones and N distractors)
        cases:  one per query with a positive judgement; expected_sources ["<DIR name>/corpus.jsonl#<_id>"];
                no expected answers (retrieval-only)

The document ids are those `dayshift ingest DIR` gives the files (ingest.sync:
"<folder name>/<relative path>"; a JSONL row adds "#<id column>"), so ingest
the folder under its own name, without `--name`. Samples (`limit`,
`articles`) are drawn with `random.Random(seed)` and keep the file's order.

Left out: other QA formats (Natural Questions, HotpotQA), SQuAD's answer
offsets and plausible answers, and graded BEIR relevance (any score > 0 counts).
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from dayshift.errors import ConfigError
from dayshift.evals.cases import EvalCase
from dayshift.ingest.loaders.tabular import named_id_column

__all__ = ["Format", "ImportResult", "corpus_name", "detect_format", "import_beir", "import_squad"]

Format = Literal["squad", "beir"]
T = TypeVar("T")
_UNSAFE = re.compile(r"[^\w.()-]+")


@dataclass(frozen=True, slots=True)
class ImportResult:
    cases: list[EvalCase]
    corpus_dir: Path
    documents: int  # articles (SQuAD) or rows (BEIR) written to the corpus


def corpus_name(corpus_dir: Path) -> str:
    """The source prefix `dayshift ingest corpus_dir` gives its files: the folder's own name."""
    return Path(corpus_dir).resolve().name


def detect_format(path: Path) -> Format:
    path = Path(path)
    if path.is_file() and path.name.endswith((".json", ".json.gz")):
        return "squad"
    if path.is_dir() and _first(path, "queries.jsonl") and (path / "qrels").is_dir():
        return "beir"
    raise ConfigError(f"{path} is neither a SQuAD 2.0 file (.json or .json.gz) nor a BEIR folder (corpus.jsonl, "
                      "queries.jsonl and qrels/); pass one of those")


def _sample(items: Sequence[T], n: int | None, rng: random.Random) -> list[T]:
    """Up to n of `items`, in their own order."""
    if n is None or n >= len(items):
        return list(items)
    if n < 1:
        raise ConfigError(f"a sample size must be at least 1, got {n}")
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _first(folder: Path, name: str) -> Path | None:
    """folder/name, or folder/name.gz, whichever exists."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


# -- SQuAD 2.0 -------------------------------------------------------------------------


def import_squad(path: Path, *, corpus_dir: Path, limit: int | None = None, articles: int | None = None,
                 seed: int = 0) -> ImportResult:
    """Write the chosen articles to `corpus_dir`; a case for each (sampled) question of them."""
    rng = random.Random(seed)
    chosen = _sample(_squad_articles(path), articles, rng)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    prefix, names = corpus_name(corpus_dir), _file_names([a["title"] for a in chosen])
    cases: list[EvalCase] = []
    for article, name in zip(chosen, names, strict=True):
        title, paragraphs = article["title"], [p["context"] for p in article["paragraphs"]]
        body = "\n\n".join(re.sub(r"\n\s*\n", "\n", p.strip()) for p in paragraphs if p.strip())
        (corpus_dir / name).write_text(f"{title.replace('_', ' ')}\n\n{body}\n", encoding="utf-8")
        for paragraph in article["paragraphs"]:
            cases.extend(_squad_case(q, title=title, doc_id=f"{prefix}/{name}") for q in paragraph["qas"]
                         if str(q.get("question", "")).strip())
    return ImportResult(cases=_sample(cases, limit, rng), corpus_dir=corpus_dir, documents=len(chosen))


def _squad_articles(path: Path) -> list[dict[str, Any]]:
    try:
        with _open_text(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"no SQuAD file at {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not SQuAD 2.0 JSON ({exc}); pass the dev or train file as published") from exc
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not all(isinstance(a, dict) and "title" in a and "paragraphs" in a
                                                 for a in articles):
        raise ConfigError(f'{path} is not SQuAD 2.0 JSON: expected {{"data": [{{"title", "paragraphs"}}, ...]}}')
    return articles


def _file_names(titles: Sequence[str]) -> list[str]:
    """A safe, distinct .txt file name per article title."""
    names: list[str] = []
    for i, title in enumerate(titles, 1):
        stem = _UNSAFE.sub("_", title).strip("._") or f"article-{i}"
        name, n = f"{stem}.txt", 2
        while name in names:
            name, n = f"{stem}-{n}.txt", n + 1
        names.append(name)
    return names


def _squad_case(question: dict[str, Any], *, title: str, doc_id: str) -> EvalCase:
    answerable = not question.get("is_impossible", False)
    answers = [a["text"].strip() for a in question.get("answers", []) if a.get("text", "").strip()]
    return EvalCase(
        id=f"squad2-{question['id']}", question=question["question"].strip(),
        expected_answers=list(dict.fromkeys(answers)) if answerable else [], expected_sources=[doc_id],
        answerable=answerable, tags=["squad2", title, *([] if answerable else ["unanswerable"])],
        origin={"source": "squad2", "squad_id": question["id"], "article": title},
    )


# -- BEIR -------------------------------------------------------------------------------


def import_beir(folder: Path, *, corpus_dir: Path, split: str = "test", limit: int | None = None, seed: int = 0,
                distractors: int | None = None) -> ImportResult:
    """corpus.jsonl into `corpus_dir` (every row, or the judged rows plus `distractors` others); a case for each
    (sampled) query of `split` with a positive judgement."""
    folder = Path(folder)
    qrels = _positive_qrels(folder / "qrels" / f"{split}.tsv")
    queries = _queries(folder)
    rows = list(_jsonl(_required(folder, "corpus.jsonl")))
    id_column = named_id_column(list(dict.fromkeys(k for row in rows[:1000] for k in row)))
    if id_column is None:
        raise ConfigError(f"{folder}/corpus.jsonl has no id column (_id, id or pk); BEIR corpora carry _id")
    present = {str(row[id_column]) for row in rows if id_column in row}
    judged = [(qid, [d for d in docs if d in present]) for qid, docs in qrels.items() if qid in queries]
    chosen = _sample([(q, docs) for q, docs in judged if docs], limit, random.Random(seed))
    wanted = {d for _, docs in chosen for d in docs}
    if distractors is not None:
        others = [r for r in rows if str(r.get(id_column)) not in wanted][:distractors]
        rows = [r for r in rows if str(r.get(id_column)) in wanted] + others
    corpus_dir.mkdir(parents=True, exist_ok=True)
    with (corpus_dir / "corpus.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    source, dataset = f"{corpus_name(corpus_dir)}/corpus.jsonl", folder.resolve().name
    cases = [
        EvalCase(id=f"{dataset}-{qid}", question=queries[qid], expected_answers=[],
                 expected_sources=[f"{source}#{d}" for d in docs], answerable=True, tags=["beir", dataset, split],
                 origin={"source": "beir", "dataset": dataset, "split": split, "query_id": qid})
        for qid, docs in chosen
    ]
    return ImportResult(cases=cases, corpus_dir=corpus_dir, documents=len(rows))


def _required(folder: Path, name: str) -> Path:
    found = _first(folder, name)
    if found is None:
        raise ConfigError(f"{folder} has no {name} (or {name}.gz); a BEIR folder holds corpus.jsonl, queries.jsonl "
                          "and qrels/<split>.tsv")
    return found


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc}); fix or remove the line") from exc
            if isinstance(row, dict):
                yield row


def _queries(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in _jsonl(_required(folder, "queries.jsonl")):
        text = str(row.get("text", "")).strip()
        if "_id" in row and text:
            out[str(row["_id"])] = text
    return out


def _positive_qrels(path: Path) -> dict[str, list[str]]:
    """query id -> judged document ids with a score above 0, in file order; the header line is optional."""
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv"))
        raise ConfigError(f"no qrels file {path}; choose a split that exists: {', '.join(splits) or 'none'}")
    out: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) < 3 or not parts[2].strip().lstrip("-").isdigit():
            if number == 1 or not line.strip():
                continue  # the header ("query-id corpus-id score"), or a blank line
            raise ConfigError(f"{path}:{number}: expected query-id, corpus-id and an integer score, tab-separated")
        if int(parts[2]) > 0:
            docs = out.setdefault(parts[0].strip(), [])
            if parts[1].strip() not in docs:
                docs.append(parts[1].strip())
    return out
