"""dayshift's PDF loader against pdfplumber on the seven shared PDFs: text fidelity, tables, speed.

    python benchmarks/pdf_vs_pdfplumber.py [--data ../shared/data/pdfs] [--json]   (--json: one line per file)

Both read the same files in one process, one after the other. The reference for text is PDFium's own
character stream (pypdfium2's text page, hyphenated line ends joined), which holds every character
on the page but says nothing of layout; against it:

    word recall    share of the reference's words (multiset, lower-cased) found in the output;
                   dayshift drops running headers, footers and page numbers on purpose, so its recall
                   is a little lower on long documents
    order          share of the reference's in-line word pairs (two words next to each other on one
                   printed line) that are next to each other in the output: a two-column page read
                   across the gutter breaks them
    tables         tables found (dayshift: table blocks; pdfplumber: extract_tables with its default
                   ruled-lines strategy), and cell agreement: the share of pdfplumber's non-empty
                   cell lines whose text appears in dayshift's tables
    NICS header    whether the FBI NICS table's column names come out as the header of the table
    seconds        wall time of the whole file: dayshift's PdfLoader.load; pdfplumber's extract_text
                   plus extract_tables per page

The results and the decision are in docs/decisions/0014-pdf-layout.md. pdfplumber is an extra of the
benchmark only (`pip install "dayshift[bench]"`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pdfplumber
import pypdfium2 as pdfium

from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.pdf import PdfLoader

DEFAULT_DATA = Path(os.environ.get("DAYSHIFT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
_WORD = re.compile(r"[A-Za-z0-9]+(?:[''][A-Za-z]+)?")
NICS = "fbi_nics_background_checks_2015-11.pdf"
NICS_HEADER = ("State", "Permit", "Handgun", "Long Gun")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def reference(path: Path) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """PDFium's characters: word counts, and word pairs adjacent on one printed line."""
    pdf = pdfium.PdfDocument(str(path))
    all_words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    try:
        for index in range(len(pdf)):
            text = pdf[index].get_textpage().get_text_range()
            text = re.sub(r"(\w)-\r?\n(\w)", r"\1\2", text)
            for line in text.splitlines():
                line_words = words(line)
                all_words.update(line_words)
                pairs.update(zip(line_words, line_words[1:], strict=False))
    finally:
        pdf.close()
    return all_words, pairs


def fidelity(output: str, ref_words: Counter[str], ref_pairs: Counter[tuple[str, str]]) -> tuple[float, float]:
    out_words = words(output)
    found = Counter(out_words)
    recall = sum(min(n, found[w]) for w, n in ref_words.items()) / max(1, sum(ref_words.values()))
    out_pairs = Counter(zip(out_words, out_words[1:], strict=False))
    order = sum(min(n, out_pairs[p]) for p, n in ref_pairs.items()) / max(1, sum(ref_pairs.values()))
    return recall, order


def run_dayshift(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    documents = list(PdfLoader().load(path, source=path.name, options=LoadOptions()))
    seconds = time.perf_counter() - started
    blocks = [block for document in documents for block in document.blocks]
    tables = [block.text for block in blocks if block.kind == "table"]
    return {"text": "\n\n".join(block.text for block in blocks), "tables": tables, "seconds": seconds}


def run_pdfplumber(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    texts, tables = [], []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            texts.append(page.extract_text() or "")
            tables.extend(page.extract_tables())
    seconds = time.perf_counter() - started
    return {"text": "\n\n".join(texts), "tables": tables, "seconds": seconds}


def cell_agreement(plumber_tables: list[list[list[str | None]]], dayshift_tables: list[str]) -> float | None:
    ours = " ".join(" ".join(t.split()) for t in dayshift_tables)
    # a pdfplumber cell may hold a band of several records, one per line: each line is a cell here
    cells = [" ".join(line.split()) for t in plumber_tables for row in t for c in row if c
             for line in c.splitlines() if line.strip()]
    if not cells:
        return None
    return sum(1 for c in cells if c in ours) / len(cells)


def nics_header(ours: list[str], theirs: list[list[list[str | None]]]) -> tuple[bool, bool]:
    """Does the first table's first row name the NICS columns, in each output?"""
    def names_all(text: str) -> bool:
        return all(name.lower() in " ".join(text.split()).lower() for name in NICS_HEADER)

    ours_head = ours[0].split("\n", 1)[0] if ours else ""
    theirs_head = " ".join(cell or "" for cell in theirs[0][0]) if theirs and theirs[0] else ""
    return names_all(ours_head), names_all(theirs_head)


def measure(path: Path) -> dict[str, Any]:
    ref_words, ref_pairs = reference(path)
    ours, theirs = run_dayshift(path), run_pdfplumber(path)
    row: dict[str, Any] = {"file": path.name, "reference_words": sum(ref_words.values())}
    for name, result in (("dayshift", ours), ("pdfplumber", theirs)):
        recall, order = fidelity(result["text"], ref_words, ref_pairs)
        row[name] = {"word_recall": round(recall, 4), "order": round(order, 4), "tables": len(result["tables"]),
                     "seconds": round(result["seconds"], 2)}
    agreement = cell_agreement(theirs["tables"], ours["tables"])
    row["cell_agreement"] = None if agreement is None else round(agreement, 4)
    if path.name == NICS:
        row["nics_header"] = dict(zip(("dayshift", "pdfplumber"), nics_header(ours["tables"], theirs["tables"]),
                                      strict=True))
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'file':58s} {'words':>7s} | {'recall':>13s} | {'order':>13s} | {'tables':>9s} | {'cells':>6s} | "
             f"{'seconds':>13s}", f"{'':58s} {'':>7s} | {'ds':>6s} {'plb':>6s} | {'ds':>6s} {'plb':>6s} | "
             f"{'ds':>4s} {'plb':>4s} | {'agree':>6s} | {'ds':>6s} {'plb':>6s}"]
    for r in rows:
        d, p = r["dayshift"], r["pdfplumber"]
        agree = "-" if r["cell_agreement"] is None else f"{r['cell_agreement']:.2f}"
        lines.append(f"{r['file'][:58]:58s} {r['reference_words']:>7d} | {d['word_recall']:>6.3f} "
                     f"{p['word_recall']:>6.3f} | {d['order']:>6.3f} {p['order']:>6.3f} | {d['tables']:>4d} "
                     f"{p['tables']:>4d} | {agree:>6s} | {d['seconds']:>6.2f} {p['seconds']:>6.2f}")
    total = {name: sum(r[name]["seconds"] for r in rows) for name in ("dayshift", "pdfplumber")}
    lines.append(f"total seconds: dayshift {total['dayshift']:.1f}, pdfplumber {total['pdfplumber']:.1f}")
    for r in rows:
        if "nics_header" in r:
            lines.append(f"NICS header as the table's header: {r['nics_header']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA / "pdfs", help="folder of the shared PDFs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    paths = sorted(args.data.glob("*.pdf"), key=lambda p: p.stat().st_size)  # smallest first
    if not paths:
        raise SystemExit(f"no PDFs in {args.data}: pass --data, or set DAYSHIFT_SHARED_DATA to the shared data folder")
    rows = []
    for path in paths:
        rows.append(measure(path))
        if args.json:
            print(json.dumps(rows[-1]), flush=True)  # one JSON line per file, as each finishes
    if not args.json:
        print(table(rows))


if __name__ == "__main__":
    main()
