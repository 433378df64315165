"""Fuzzing: every loader, the chunker, the filter parser and the prompt front-matter parser.

Inputs are real files from ../shared/data (tests/hardening/fuzz_seeds.py) mutated by hypothesis: bytes
flipped, inserted, deleted, duplicated and spliced between seeds, files cut short, and tokens each format
is sensitive to (tags, quotes, fences, `{{`, NUL, lone surrogates, huge numbers) dropped in. Anything a
target raises other than a `dayshift.errors.DayshiftError` is a bug.

    DAYSHIFT_FUZZ_EXAMPLES   inputs per target (default 25: about a minute for the whole module in CI;
                             8400 per target, 100,800 in all over the 12 targets, is the full run)

A crashing input is saved to tests/hardening/crashers/<target>/ (one per kind of crash) before the test
fails; every file there is replayed by test_saved_crashers_stay_fixed, so a fixed crash stays fixed.
Left out: coverage-guided fuzzing (atheris has no wheel for this Python here); hypothesis searches
structurally instead, from the seeds.
"""

from __future__ import annotations

import bz2
import hashlib
import os
import traceback
from pathlib import Path

import fuzz_seeds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dayshift.embed.local import MiniLMTokenizer
from dayshift.errors import DayshiftError
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document
from dayshift.ingest.clean import clean_document
from dayshift.ingest.loaders import LoadOptions, loader_for
from dayshift.prompts.registry import load_file
from dayshift.retrieve.filters import parse_filter
from dayshift.types import Block, Document

EXAMPLES = int(os.environ.get("DAYSHIFT_FUZZ_EXAMPLES", "25"))
CRASHERS = Path(__file__).parent / "crashers"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))
TOKENS = [b"<", b">", b"</", b"<!--", b"-->", b"<![CDATA[", b"&amp;", b"&#0;", b"&#x110000;", b'"', b"'", b",",
          b"\t", b"\n", b"\r", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xed\xa0\x80", b"```", b"---\n", b"|", b"#",
          b"{{", b"}}", b"{%", b"{|", b"|}", b"[[", b"]]", b"obj", b"endobj", b"stream", b"/Length 99999999",
          b"trailer", b"xref", b"9" * 400, b"-1", b"1e309", b"NaN", b"null", b"{", b"}", b"[", b"]", b"\\u0000",
          b"\\ud800", b"<page>", b"</page>", b"<text>", b"'''", b"==", b"SQLite format 3\x00"]
SAVED_KINDS: set[str] = set()


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with up to 8 mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "token", "duplicate", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 256))]
        elif op == "truncate":
            del data[at:]
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 512))] * draw(st.integers(2, 8))
        else:
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:] = other[start:]
    return bytes(data)


# -- the loaders: one file in, documents out, then cleaned and chunked as ingest does ---------------------


@pytest.fixture(scope="module")
def tok() -> MiniLMTokenizer:
    return MiniLMTokenizer()


@pytest.fixture(scope="module")
def seeds(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    folder = tmp_path_factory.mktemp("seeds")
    wiki = fuzz_seeds.mediawiki_seeds(shared_data / "wiki_mediawiki")
    return {
        ".pdf": fuzz_seeds.pdf_seeds(shared_data / "pdfs"),
        ".html": fuzz_seeds.html_seeds(shared_data / "tabular"),
        ".md": fuzz_seeds.markdown_seeds(shared_data / "markdown_rust_book" / "src"),
        ".xml": wiki,
        ".bz2": [bz2.compress(w) for w in wiki],
        ".csv": fuzz_seeds.csv_seeds(shared_data / "tabular")[:1],
        ".tsv": fuzz_seeds.csv_seeds(shared_data / "tabular")[1:],
        ".jsonl": fuzz_seeds.jsonl_seeds(shared_data / "beir" / "scifact"),
        ".sqlite": fuzz_seeds.sqlite_seeds(shared_data / "tabular", folder),
    }


def ingest_bytes(data: bytes, suffix: str, folder: Path, tok: MiniLMTokenizer) -> None:
    """What ingest does with one file, minus embedding: load, clean, chunk. Only DayshiftError may escape."""
    path = folder / ("input.xml.bz2" if suffix == ".bz2" else f"input{suffix}")  # a dump is name.xml.bz2
    path.write_bytes(data)
    loader = loader_for(path)
    assert loader is not None, suffix
    for doc in loader.load(path, source=path.name, options=LoadOptions()):
        cleaned = clean_document(doc)
        if cleaned is not None:
            check_chunks(cleaned, chunk_document(cleaned, tokenizer=tok, policy=ChunkingPolicy(64, 16), ingested_at=0.0))


def check_chunks(doc: Document, chunks: list) -> None:  # type: ignore[type-arg]
    text = doc.text
    for chunk in chunks:
        assert 0 <= chunk.char_start <= chunk.char_end <= len(text), (chunk.char_start, chunk.char_end, len(text))
        assert chunk.text.endswith(text[chunk.char_start:chunk.char_end]) or text[chunk.char_start:chunk.char_end] \
            in chunk.text, "a chunk's text is its slice of the document (after a repeated table header)"


def save_crasher(target: str, suffix: str, data: bytes, exc: BaseException) -> None:
    last = traceback.extract_tb(exc.__traceback__)[-1]
    kind = f"{target}:{type(exc).__name__}:{Path(last.filename).name}:{last.lineno}"
    if kind in SAVED_KINDS:
        return
    SAVED_KINDS.add(kind)
    folder = CRASHERS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{hashlib.sha1(data).hexdigest()[:16]}{suffix}").write_bytes(data)


LOADER_SUFFIXES = [".pdf", ".html", ".md", ".xml", ".bz2", ".csv", ".tsv", ".jsonl", ".sqlite"]


@pytest.mark.parametrize("suffix", LOADER_SUFFIXES)
def test_loaders_survive_mutated_real_files(suffix: str, seeds: dict[str, list[bytes]], tok: MiniLMTokenizer,
                                            tmp_path: Path) -> None:
    # Each seed as it is loads into at least one chunked document: the fuzzer starts from working files.
    for seed in seeds[suffix]:
        ingest_bytes(seed, suffix, tmp_path, tok)
    counts = {"inputs": 0, "errors": 0}

    @FUZZ
    @given(data=mutated(seeds[suffix]))
    def run(data: bytes) -> None:
        counts["inputs"] += 1
        try:
            ingest_bytes(data, suffix, tmp_path, tok)
        except DayshiftError as exc:
            counts["errors"] += 1
            assert str(exc).strip(), "a dayshift error says what went wrong"
        except Exception as exc:
            save_crasher(f"loader{suffix.replace('.', '-')}", suffix, data, exc)
            raise

    run()
    print(f"fuzz {suffix}: {counts['inputs']} inputs, {counts['errors']} clear dayshift errors")
    assert counts["inputs"] >= min(EXAMPLES, 10)


# -- the chunker on documents no loader would make ------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400) | st.sampled_from(
    ["| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |", "x" * 3000, "word " * 700, "A. B! C? " * 100, "```\ncode\n```",
     "\u200b" * 50, "\ufeff", "a\u0301" * 200, "한국어 " * 200, "🙂" * 300, ""])
_BLOCKS = st.lists(st.builds(Block, text=_TEXT, kind=st.sampled_from(["paragraph", "heading", "list", "table", "code"]),
                             section=st.lists(st.text(max_size=40), max_size=4).map(tuple),
                             page=st.none() | st.integers(1, 10_000)), max_size=12)


def test_the_chunker_survives_any_blocks(tok: MiniLMTokenizer) -> None:
    seen = {"documents": 0, "chunks": 0}

    @FUZZ
    @given(blocks=_BLOCKS, title=st.text(max_size=300), chunk_tokens=st.integers(1, 512), overlap=st.integers(0, 256))
    def run(blocks: list[Block], title: str, chunk_tokens: int, overlap: int) -> None:
        doc = Document(doc_id="d", source="d.md", title=title, blocks=blocks)
        policy = ChunkingPolicy(chunk_tokens, min(overlap, chunk_tokens // 2))
        chunks = chunk_document(doc, tokenizer=tok, policy=policy, ingested_at=0.0)
        check_chunks(doc, chunks)
        if doc.text.strip():
            assert chunks, "a document with text has at least one chunk"
        seen["documents"] += 1
        seen["chunks"] += len(chunks)

    run()
    print(f"fuzz chunker: {seen['documents']} documents, {seen['chunks']} chunks")


# -- the filter parser (CLI --where, API where) ----------------------------------------------------------

_OPS = ["=", "!=", ">", ">=", "<", "<=", "==", "=<", "=>", "!", "<>", " LIKE ", " IN "]
_FILTER = st.one_of(
    st.text(max_size=80),
    st.builds(lambda f, o, v: f"{f}{o}{v}", st.text(max_size=20) | st.sampled_from(["source", "page", "tenant", "a.b"]),
              st.sampled_from(_OPS), st.text(max_size=60) | st.sampled_from(
                  ["' OR 1=1 --", "x'; DROP TABLE chunks; --", "1 OR tenant!='a'", "\"'\"", "''", "\x00", "nan",
                   "-inf", "1e999", "9" * 500, "{\"$ne\": null}", "tenant", "'"])),
    st.sampled_from(fuzz_seeds.filter_seeds()),
)


def test_the_filter_parser_reads_or_refuses_clearly() -> None:
    seen = {"parsed": 0, "refused": 0}

    @FUZZ
    @given(expr=_FILTER)
    def run(expr: str) -> None:
        try:
            condition = parse_filter(expr)
        except DayshiftError as exc:
            assert "filter" in str(exc) or "operator" in str(exc)
            seen["refused"] += 1
            return
        except Exception as exc:
            save_crasher("filter", ".txt", expr.encode("utf-8", "surrogatepass"), exc)
            raise
        assert condition.op in ("=", "!=", ">", ">=", "<", "<=")
        assert condition.field and all(c.isalnum() or c in "_.-" for c in condition.field)
        if isinstance(condition.value, float):
            assert condition.value == condition.value, "nan is never a number in a filter"
        seen["parsed"] += 1

    run()
    print(f"fuzz filter: {seen['parsed']} parsed, {seen['refused']} refused")


# -- prompt files (front matter, YAML, Jinja) -------------------------------------------------------------

_FRONT = st.builds(
    lambda meta, body: f"---\n{meta}\n---\n{body}".encode("utf-8", "surrogatepass"),
    st.text(max_size=200) | st.sampled_from(["name: qa\nversion: 1", "name: qa\nversion: -1", "name: [1, 2]\nversion: 1",
                                            "name: qa\nversion: 1\nparams: {max_tokens: 'x'}", "&a [*a]",
                                            "name: qa\nversion: 99999999999999999999999", "!!python/object:os.system",
                                            "name: qa\nversion: 1\nparams: 5", "version: 1.5\nname: q"]),
    st.text(max_size=200) | st.sampled_from(["{{ question }}", "{% for x in y %}", "{{", "{# #}", "{% raw %}"]),
)


def test_prompt_files_load_or_fail_with_a_config_error(tmp_path: Path) -> None:
    seeds = fuzz_seeds.prompt_seeds()
    seen = {"loaded": 0, "refused": 0}

    @FUZZ
    @given(data=mutated(seeds) | _FRONT, suffix=st.sampled_from([".j2", ".md", ".yaml"]))
    def run(data: bytes, suffix: str) -> None:
        path = tmp_path / f"prompt{suffix}"
        path.write_bytes(data)
        try:
            template = load_file(path)
        except DayshiftError as exc:
            assert str(path) in str(exc), "the error names the file"
            seen["refused"] += 1
            return
        except Exception as exc:
            save_crasher("prompt", suffix, data, exc)
            raise
        if template is not None:
            assert isinstance(template.version, int) and template.version >= 1
            seen["loaded"] += 1

    run()
    print(f"fuzz prompt files: {seen['loaded']} loaded, {seen['refused']} refused")


# -- every input that ever crashed, replayed ------------------------------------------------------------

SAVED = sorted(p for p in CRASHERS.rglob("*") if p.is_file() and p.name != "README.md")


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.name}" for p in SAVED])
def test_saved_crashers_stay_fixed(path: Path, tok: MiniLMTokenizer, tmp_path: Path) -> None:
    data, target = path.read_bytes(), path.parent.name
    try:
        if target.startswith("loader-"):
            ingest_bytes(data, path.suffix, tmp_path, tok)
        elif target == "filter":
            parse_filter(data.decode("utf-8", "surrogatepass"))
        elif target == "prompt":
            copy = tmp_path / f"prompt{path.suffix}"
            copy.write_bytes(data)
            load_file(copy)
        else:
            pytest.fail(f"unknown crasher folder {target}")
    except DayshiftError:
        pass
