"""MarkdownLoader on the real Rust book sources and on small crafted files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dayshift.errors import EmptyFileError, EncodingError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.markdown import MarkdownLoader
from dayshift.types import Document

OPTIONS = LoadOptions()


def load(path: Path, source: str | None = None) -> Document:
    docs = list(MarkdownLoader().load(path, source=source or path.name, options=OPTIONS))
    assert len(docs) == 1
    return docs[0]


@pytest.fixture(scope="module")
def book(rust_book_dir: Path) -> dict[str, Document]:
    return {p.name: load(p, f"src/{p.name}") for p in sorted(rust_book_dir.glob("*.md"))}


def block_with(doc: Document, needle: str, kind: str | None = None):
    return next(b for b in doc.blocks if needle in b.text and (kind is None or b.kind == kind))


# -- the real book -----------------------------------------------------------------


def test_every_book_file_loads_as_one_document(book: dict[str, Document]) -> None:
    assert len(book) == 112
    for name, doc in book.items():
        assert doc.doc_id == doc.source == f"src/{name}"
        assert doc.title and doc.blocks


def test_headings_are_counted_as_markdown_parses_them(book: dict[str, Document]) -> None:
    # The data README's 536 is `grep -c '^#'`: it counts `#` lines inside code
    # fences and misses the 8 sidebar headings written inside blockquotes
    # (`> ### The Stack and the Heap`). CommonMark sees 543 headings.
    headings = [b for doc in book.values() for b in doc.blocks if b.kind == "heading"]
    assert len(headings) == 543
    assert all(b.section[-1] == b.text for b in headings)


def test_titles_come_from_the_top_heading(book: dict[str, Document]) -> None:
    assert book["SUMMARY.md"].title == "The Rust Programming Language"
    assert book["ch04-01-what-is-ownership.md"].title == "What Is Ownership?"
    assert book["ch03-02-data-types.md"].title == "Data Types"  # starts at "##": no H1 in the file


def test_headings_give_section_paths(book: dict[str, Document]) -> None:
    types = book["ch03-02-data-types.md"]
    table = block_with(types, "| 8-bit | i8 | u8 |", "table")
    assert table.section == ("Data Types", "Scalar Types", "Integer Types")
    assert table.text.splitlines()[:2] == ["| Length | Signed | Unsigned |", "| --- | --- | --- |"]
    assert "| Architecture-dependent | isize | usize |" in table.text
    floats = block_with(types, "Rust also has two primitive types for floating-point numbers")
    assert floats.section == ("Data Types", "Scalar Types", "Floating-Point Types")
    methods = book["ch05-03-method-syntax.md"]
    arrow = next(b for b in methods.blocks if b.kind == "heading" and "Operator" in b.text)
    assert arrow.section == ("Methods", "Where’s the -> Operator?")  # inline code reduced to its text


def test_blockquote_sidebar_headings_do_not_leak(book: dict[str, Document]) -> None:
    ownership = book["ch04-01-what-is-ownership.md"]
    inside = block_with(ownership, "Many programming languages don’t require you to think about the stack")
    assert inside.section == ("What Is Ownership?", "The Stack and the Heap")
    after_sidebar = ownership.blocks[ownership.blocks.index(inside) + 1 :]
    first_outside = next(b for b in after_sidebar if b.section != inside.section)
    assert first_outside.section in {("What Is Ownership?",), ("What Is Ownership?", "Ownership Rules")}


def test_no_mdbook_directive_survives(book: dict[str, Document], rust_book_dir: Path) -> None:
    with_directives = [p.name for p in rust_book_dir.glob("*.md") if "{{#" in p.read_text(encoding="utf-8")]
    assert len(with_directives) == 72
    assert not [name for name, doc in book.items() if "{{#" in doc.text]
    # A fence that held only an include (listings are not in the data) leaves no empty block.
    assert all(b.text.strip("`\n").strip() for doc in book.values() for b in doc.blocks if b.kind == "code")


def test_code_fences_are_kept_intact(book: dict[str, Document], rust_book_dir: Path) -> None:
    fence = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)
    checked = 0
    for name, doc in book.items():
        source = (rust_book_dir / name).read_text(encoding="utf-8")
        code = {b.text for b in doc.blocks if b.kind == "code"}
        for info, body in fence.findall(source):
            if "{{#" in body:
                continue
            assert f"```{info.strip()}\n{body.rstrip()}\n```" in code, (name, body[:60])
            checked += 1
    assert checked > 100
    types = book["ch03-02-data-types.md"]
    assert '```rust\nlet guess: u32 = "42".parse().expect("Not a number!");\n```' in {b.text for b in types.blocks}


def test_links_become_their_text_and_inline_code_keeps_its_text(book: dict[str, Document]) -> None:
    types = book["ch03-02-data-types.md"]
    para = block_with(types, "Comparing the Guess")
    assert "in the “Comparing the Guess to the Secret Number” section in Chapter 2" in para.text
    assert "such as 57u8, to designate the type" in block_with(types, "57u8").text
    prose = [b.text for doc in book.values() for b in doc.blocks if b.kind in ("paragraph", "list")]
    assert not [t for t in prose if re.search(r"\]\(|\]\[|<!--", t)]
    summary = book["SUMMARY.md"]
    toc = next(b for b in summary.blocks if b.kind == "list")
    assert toc.text.startswith("- Getting Started\n  - Installation\n  - Hello, World!")


# -- crafted files ---------------------------------------------------------------------


def test_front_matter_becomes_metadata(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text(
        "---\ntitle: Deploying dayshift\nauthor: Ada\ntags: [ops, deploy]\nversion: 3\ndraft: false\n"
        "date: 2024-05-01\nnested: {a: 1}\n---\n# Ignored for the title\n\nBody text.\n",
        encoding="utf-8",
    )
    doc = load(page)
    assert doc.title == "Deploying dayshift"
    assert doc.metadata == {"author": "Ada", "tags": "ops, deploy", "version": 3, "draft": False, "date": "2024-05-01"}
    assert [(b.kind, b.section, b.text) for b in doc.blocks] == [
        ("heading", ("Ignored for the title",), "Ignored for the title"),
        ("paragraph", ("Ignored for the title",), "Body text."),
    ]


def test_structure_of_a_crafted_file(tmp_path: Path) -> None:
    page = tmp_path / "notes.md"
    page.write_text(
        "Intro with [a link](http://x.org) and ![logo](l.png).\n\n"
        "# Top\n\n## Sub\n\n1. one\n2. two\n   - nested `code`\n\n"
        "| a | b |\n|---|---|\n| 1 | x \\| y |\n\n"
        "```python\nprint('hi')\n\n# kept\n```\n\n### Deeper\n\ntext\n\n## Next\n\nend\n",
        encoding="utf-8",
    )
    doc = load(page)
    assert doc.title == "Top"
    assert [(b.kind, b.section) for b in doc.blocks] == [
        ("paragraph", ()),
        ("heading", ("Top",)),
        ("heading", ("Top", "Sub")),
        ("list", ("Top", "Sub")),
        ("table", ("Top", "Sub")),
        ("code", ("Top", "Sub")),
        ("heading", ("Top", "Sub", "Deeper")),
        ("paragraph", ("Top", "Sub", "Deeper")),
        ("heading", ("Top", "Next")),
        ("paragraph", ("Top", "Next")),
    ]
    assert doc.blocks[0].text == "Intro with a link and logo."
    assert doc.blocks[3].text == "1. one\n2. two\n  - nested code"
    assert doc.blocks[4].text == "| a | b |\n| --- | --- |\n| 1 | x \\| y |"
    assert doc.blocks[5].text == "```python\nprint('hi')\n\n# kept\n```"


def test_legacy_encodings_use_the_shared_decoder(tmp_path: Path) -> None:
    page = tmp_path / "legacy.md"
    page.write_bytes(
        "# Caf\u00e9\r\n\r\nCr\u00e8me br\u00fbl\u00e9e, na\u00efve d\u00e9j\u00e0 vu.\r\n".encode("cp1252")
    )
    doc = load(page)
    assert (doc.title, doc.blocks[1].text) == ("Café", "Crème brûlée, naïve déjà vu.")


def test_title_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    page = tmp_path / "plain-notes.md"
    page.write_text("Just a paragraph.\n", encoding="utf-8")
    assert load(page).title == "plain-notes"


def test_includes_resolve_inside_the_root_and_drop_otherwise(tmp_path: Path) -> None:
    root = tmp_path / "book"
    (root / "src").mkdir(parents=True)
    (root / "listings").mkdir()
    (root / "listings" / "main.rs").write_text(
        'use std::io;\n// ANCHOR: body\nfn main() {\n    println!("hi");\n}\n// ANCHOR_END: body\n', encoding="utf-8"
    )
    (tmp_path / "secret.txt").write_text("outside the ingest root", encoding="utf-8")
    chapter = root / "src" / "ch.md"
    chapter.write_text(
        "# Ch\n\n```rust\n{{#rustdoc_include ../listings/main.rs:body}}\n```\n\n"
        "```rust\n{{#include ../listings/main.rs:1:1}}\n```\n\n"
        "```rust\n{{#include ../listings/missing.rs}}\n```\n\n"
        "Text {{#include ../../secret.txt}} here.\n",
        encoding="utf-8",
    )
    doc = load(chapter, "src/ch.md")
    code = [b.text for b in doc.blocks if b.kind == "code"]
    assert code == ['```rust\nfn main() {\n    println!("hi");\n}\n```', "```rust\nuse std::io;\n```"]
    assert "outside the ingest root" not in doc.text
    assert doc.blocks[-1].text == "Text here."


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", EmptyFileError),
        (b"  \n\n", EmptyFileError),
        (b"---\ntitle: only front matter\n---\n", EmptyFileError),
        (b"---\ntitle: [unclosed\n---\nbody\n", MalformedFileError),
        (b"\x00\x01binary\x00\x02data", EncodingError),
    ],
)
def test_bad_files_raise_load_errors(tmp_path: Path, content: bytes, error: type[Exception]) -> None:
    page = tmp_path / "bad.md"
    page.write_bytes(content)
    with pytest.raises(error) as info:
        load(page)
    assert "fix:" in str(info.value)
