"""Seed corpora for the fuzz suite, cut from the real files in ../shared/data.

Each seed is small (a page, a few rows, a few articles), so a mutated copy loads in milliseconds and the
fuzzer spends its inputs on the parser, not on the size of the file. The seeds are built once per test
session into a temporary folder; nothing here writes into the shared data.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import re
import sqlite3
from pathlib import Path

import pypdfium2 as pdfium

from dayshift.answer.prompts import SHIPPED_PROMPTS


def pdf_seeds(pdf_dir: Path) -> list[bytes]:
    """The first page of each shared PDF, saved on its own (one-page PDFs with real fonts, tables, columns)."""
    seeds = []
    for path in sorted(pdf_dir.glob("*.pdf")):
        source = pdfium.PdfDocument(path)
        single = pdfium.PdfDocument.new()
        single.import_pages(source, [0])
        out = io.BytesIO()
        single.save(out)
        seeds.append(out.getvalue())
        single.close()
        source.close()
    return seeds


def html_seeds(tabular_dir: Path, count: int = 12) -> list[bytes]:
    """beer.stackexchange post bodies (real user HTML), each wrapped as a page with a title."""
    rows = list(_posts(tabular_dir, count))
    pages = [f"<!doctype html><html><head><title>{r['Title'] or 'Answer'}</title></head><body><h1>{r['Title']}</h1>"
             f"{r['Body']}</body></html>" for r in rows]
    return [p.encode() for p in pages]


def markdown_seeds(rust_book_dir: Path, count: int = 12, max_bytes: int = 6000) -> list[bytes]:
    """The smallest files of the Rust book (headings, code fences, tables, mdBook directives), cut to max_bytes."""
    files = sorted(rust_book_dir.glob("*.md"), key=lambda p: (p.stat().st_size, p.name))
    return [p.read_bytes()[:max_bytes] for p in files[: count // 2] + files[-count // 2:]]


def mediawiki_seeds(wiki_dir: Path, pages: int = 2, max_chars: int = 12_000) -> list[bytes]:
    """Dumps of a few whole pages each (articles and a redirect), in the export-0.10 layout of the real
    excerpts (header, pages, footer); pages over max_chars are left out, to keep each input small."""
    seeds = []
    for path in sorted(wiki_dir.glob("*.xml.bz2")):
        text = bz2.decompress(path.read_bytes()).decode()
        head = text[: text.index("<page>")]
        every = sorted(re.findall(r"<page>.*?</page>", text, flags=re.DOTALL), key=len)
        found = [p for p in every if len(p) < max_chars] or every[:1]  # the table articles are all long
        articles = [p for p in found if "<redirect" not in p]
        redirects = [p for p in found if "<redirect" in p]
        for start in range(0, min(len(articles), 3 * pages), pages):
            body = "\n".join([*articles[start:start + pages], *redirects[start:start + 1]])
            seeds.append(f"{head}{body}\n</mediawiki>\n".encode())
    return seeds


def csv_seeds(tabular_dir: Path, rows: int = 20) -> list[bytes]:
    """The first rows of the beer posts export as CSV (quoted multi-line HTML fields), and the same as TSV."""
    picked = list(_posts(tabular_dir, rows))
    seeds = []
    for delimiter in (",", "\t"):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(picked[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(picked)
        seeds.append(out.getvalue().encode())
    return seeds


def jsonl_seeds(scifact_dir: Path, rows: int = 15) -> list[bytes]:
    """SciFact corpus records ({"_id", "title", "text"}), a few lines per seed."""
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt") as lines:
        records = [next(lines) for _ in range(rows * 3)]
    return ["".join(records[i:i + rows]).encode() for i in range(0, len(records), rows)]


def sqlite_seeds(tabular_dir: Path, folder: Path) -> list[bytes]:
    """Small SQLite files: a few rows of Chinook's tables (joins, numbers, NULLs) and of the beer posts."""
    seeds = []
    for name, source, tables in (("chinook", tabular_dir / "chinook.sqlite", ("Artist", "Album", "Track")),
                                 ("posts", tabular_dir / "beer_stackexchange" / "posts.sqlite", ("posts",))):
        target = folder / f"{name}-seed.sqlite"
        target.unlink(missing_ok=True)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            dst.execute("PRAGMA page_size=1024")
            for table in tables:
                (ddl,) = src.execute("SELECT sql FROM sqlite_master WHERE name=?", (table,)).fetchone()
                dst.execute(ddl)
                rows = src.execute(f'SELECT * FROM "{table}" LIMIT 12').fetchall()
                if rows:
                    dst.executemany(f'INSERT INTO "{table}" VALUES ({",".join("?" * len(rows[0]))})', rows)
        dst.close()
        seeds.append(target.read_bytes())
    return seeds


def prompt_seeds() -> list[bytes]:
    """The prompts dayshift ships (front matter, Jinja sections)."""
    return [p.read_bytes() for p in sorted(SHIPPED_PROMPTS.glob("*.j2"))]


def filter_seeds() -> list[str]:
    return ["source=nist", "page>=3", "zip='02134'", "lang!=de", "year<2020", "ok=true", "score<=0.5",
            "source=teamB", "title=\"a b\"", "x.y-z>1e3"]


def _posts(tabular_dir: Path, count: int) -> list[dict[str, str]]:
    with (tabular_dir / "beer_stackexchange" / "posts.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [row for row, _ in zip(reader, range(count), strict=False)]


def describe(seeds: dict[str, list[bytes]]) -> str:
    return json.dumps({name: [len(s) for s in values] for name, values in seeds.items()})
