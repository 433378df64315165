"""normalize_* and clean_document: mojibake, NFKC, invisibles, spaces, layout by block kind."""

from __future__ import annotations

import gzip
import json
import sys
import unicodedata
from pathlib import Path

import pytest

from dayshift.ingest.clean import (
    _INVISIBLE,
    _UNICODE_SPACE,
    clean_document,
    normalize_block,
    normalize_list,
    normalize_text,
    normalize_title,
    normalize_unicode,
    normalize_verbatim,
)
from dayshift.types import Block, Document


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cafÃ©", "café"),  # UTF-8 read as Latin-1
        ("the worldâ€™s largest", "the world’s largest"),  # via Windows-1252; curly quote kept
        ("voilÃ le travail", "voilà le travail"),  # NBSP byte lost to a space
        ("patients (ref. 1\x964)", "patients (ref. 1–4)"),  # C1 control from cp1252 (SciFact)
        ("ﬁnal ﬂow ﬀ", "final flow ff"),  # ligatures
        ("ＡＢＣ１２３ ｈｉ", "ABC123 hi"),  # full width
        ("zero\u200bwidth \ufeffbom hy\u00adphen", "zerowidth bom hyphen"),
        ("a\u200c\u200db \u202eevil\u202c", "ab evil"),  # joiners, bidi override
        ("e\u200b\u0301", "é"),  # invisible removed before NFKC, so the accent composes
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("a\u00a0b\u2009c\u3000d\u202fe\u1680f", "a b c d e f"),  # Unicode spaces
        ("\x1b[31mred\x1b[0m text", "red text"),  # ANSI colours
        ("don’t say “never”", "don’t say “never”"),  # quotes are not uncurled
        ("&amp; &lt;b&gt;", "&amp; &lt;b&gt;"),  # entities are not unescaped
        ("SÃO PAULO, IRMÃ E MÃE", "SÃO PAULO, IRMÃ E MÃE"),  # looks like mojibake, is not
        ("Ça coûte déjà 5 °C, Über München", "Ça coûte déjà 5 °C, Über München"),
        ("Привет, 中文", "Привет, 中文"),
    ],
)
def test_normalize_text_repairs_characters(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_line_breaks_become_newlines_and_paragraph_separator_a_blank_line() -> None:
    assert normalize_unicode("x\r\ny\rz\u2028w\u2029v\x0cu\x0bt") == "x\ny\nz\nw\n\nv\nu\nt"


def test_ascii_fast_path_maps_line_breaks_and_drops_controls() -> None:
    assert normalize_unicode("a\x0bb\x0cc\r\nd\re\x00\x08f\x7f\tg\x1f") == "a\nb\nc\nd\nef\tg"


def test_c1_controls_are_read_as_windows_1252() -> None:
    assert normalize_unicode("wait\x85 \x93quoted\x94 \x81") == "wait... “quoted” "


def test_prose_layout_is_collapsed() -> None:
    raw = "  A  title \t here  \n\n\n\n   second\tline \n\n \n\n third\n   "
    assert normalize_text(raw) == "A title here\n\nsecond line\n\nthird"


def test_clean_ascii_text_is_unchanged() -> None:
    text = "Plain ASCII abstract.\n\nSecond paragraph, with (parentheses) and 3.5% numbers."
    assert normalize_text(text) == text


def test_title_is_one_line() -> None:
    assert normalize_title("  Release\nnotes \u00a0 ﬁnal ") == "Release notes final"


def test_verbatim_keeps_indentation_tabs_and_alignment() -> None:
    code = "\n\ndef f(x):  \n\tif x:\n        return  x   \n\n\n\n\nprint( f(1) )\u00a0\n\n"
    assert normalize_verbatim(code) == "def f(x):\n\tif x:\n        return  x\n\nprint( f(1) )"
    table = "| name   | ﬁle  |\n| ------ | ---- |\n| ａ      | b    |   "
    assert normalize_verbatim(table) == "| name   | file  |\n| ------ | ---- |\n| a      | b    |"


def test_list_keeps_leading_indentation_but_collapses_inner_runs() -> None:
    assert normalize_list("- one   two  \n    - nested\t\titem\n\n\n\n- three") == (
        "- one two\n    - nested item\n\n- three"
    )


def test_block_normalises_its_section_path_and_keeps_identity_when_clean() -> None:
    block = Block("ﬁne  text", kind="paragraph", section=("Chap\u00a0ter 1",), page=3)
    assert normalize_block(block) == Block("fine text", kind="paragraph", section=("Chap ter 1",), page=3)
    clean = Block("already clean", section=("A",))
    assert normalize_block(clean) is clean


def test_clean_document_by_kind_drops_empty_blocks_and_leaves_input_alone() -> None:
    blocks = [
        Block("Intro", kind="heading", section=("Intro",)),
        Block("  Some   prose\u00a0here. ", section=("Intro",)),
        Block("\u200b \u00ad\n\n", section=("Intro",)),  # only invisibles: dropped
        Block("if ok:\n    run()   \n", kind="code", section=("Intro",)),
        Block("- a\n  - b   c", kind="list", section=("Intro",)),
    ]
    doc = Document("d1", "d1.md", "  My\u00a0 ﬁle ", list(blocks), metadata={"lang": "en"})
    cleaned = clean_document(doc)
    assert cleaned is not None
    assert cleaned.title == "My file"
    assert [(b.kind, b.text) for b in cleaned.blocks] == [
        ("heading", "Intro"),
        ("paragraph", "Some prose here."),
        ("code", "if ok:\n    run()"),
        ("list", "- a\n  - b c"),
    ]
    assert (cleaned.doc_id, cleaned.source, cleaned.metadata) == ("d1", "d1.md", {"lang": "en"})
    assert doc.blocks == blocks and doc.title == "  My\u00a0 ﬁle "


def test_clean_document_with_nothing_left_is_none() -> None:
    doc = Document("d", "d.txt", "Title", [Block("\u200b\ufeff"), Block("  \n\t\n ", kind="code")])
    assert clean_document(doc) is None


def test_hard_coded_character_classes_match_unicodedata() -> None:
    line_breaks = {"\r", "\x0b", "\x0c", "\u2028", "\u2029"}
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        category = unicodedata.category(char)
        invisible = category in ("Cc", "Cf", "Cs") and char not in line_breaks | {"\t", "\n"}
        assert bool(_INVISIBLE.fullmatch(char)) == invisible, hex(code_point)
        assert bool(_UNICODE_SPACE.fullmatch(char)) == (category == "Zs" and char != " "), hex(code_point)


def _scifact(scifact_dir: Path) -> list[dict[str, str]]:
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_scifact_repairs_and_invariants(scifact_dir: Path) -> None:
    rows = {row["_id"]: row for row in _scifact(scifact_dir)}
    docs = [Document(i, "scifact", r["title"], [Block(r["text"])]) for i, r in rows.items()]
    cleaned = {doc.doc_id: clean_document(doc) for doc in docs}
    assert all(doc is not None for doc in cleaned.values())
    text = {i: doc.text for i, doc in cleaned.items() if doc is not None}
    assert "India’s" in text["17415081"] and "Indiaâ€™s" in rows["17415081"]["text"]
    assert "identified" in text["1871499"] and "identiﬁed" in rows["1871499"]["text"]
    assert "\u200b" in rows["1383826"]["text"] and "\u200b" not in text["1383826"]
    for body in text.values():
        assert unicodedata.is_normalized("NFKC", body)
        assert not _INVISIBLE.search(body) and not _UNICODE_SPACE.search(body)
        assert "  " not in body and "\n\n\n" not in body and body == body.strip()
