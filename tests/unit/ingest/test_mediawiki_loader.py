"""MediaWikiLoader on the real English Wikipedia export excerpts, plus crafted
exports for the error paths and the wikitext conversion rules."""

from __future__ import annotations

import bz2
import re
import time
from pathlib import Path

import pytest

from dayshift.errors import EmptyFileError, MalformedFileError, UnsupportedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.mediawiki import MediaWikiLoader, wikitext_to_blocks
from dayshift.types import Document, make_doc_id

OPTIONS = LoadOptions()
EXCERPT = "enwiki-2016-pages-articles-excerpt-206pages.xml.bz2"
TABLES = "enwiki-table-markup-5pages.xml.bz2"
WIKI_MARKUP = ("{{", "}}", "[[", "]]", "<ref", "'''", "''", "{|", "|}", "thumb|", "__TOC__", "<!--")


def load(path: Path, source: str | None = None) -> list[Document]:
    return list(MediaWikiLoader().load(path, source=source or path.name, options=OPTIONS))


@pytest.fixture(scope="module")
def excerpt(wiki_dir: Path) -> dict[str, Document]:
    started = time.perf_counter()
    docs = load(wiki_dir / EXCERPT, f"wiki/{EXCERPT}")
    elapsed = time.perf_counter() - started
    print(f"\n{EXCERPT}: {len(docs)} documents in {elapsed:.2f} s")
    return {doc.title: doc for doc in docs}


@pytest.fixture(scope="module")
def tables(wiki_dir: Path) -> dict[str, Document]:
    return {doc.title: doc for doc in load(wiki_dir / TABLES)}


def export(pages: str, *, root: str = "mediawiki") -> str:
    return (
        f'<{root} xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">\n'
        "<siteinfo><base>https://wiki.example.org/wiki/Main_Page</base></siteinfo>\n"
        f"{pages}</{root}>\n"
    )


def page(title: str, text: str, *, ns: int = 0, page_id: int = 1, redirect: str = "") -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f"<page><title>{title}</title><ns>{ns}</ns><id>{page_id}</id>{redirect}"
        f"<revision><id>{page_id * 10}</id><timestamp>2020-01-02T03:04:05Z</timestamp>"
        f'<text xml:space="preserve">{text}</text></revision></page>\n'
    )


# -- the 206-page excerpt -------------------------------------------------------------


def test_one_document_per_article(excerpt: dict[str, Document], wiki_dir: Path) -> None:
    # Count independently from the raw XML: namespace-0 pages that are not redirects.
    raw = bz2.decompress((wiki_dir / EXCERPT).read_bytes()).decode("utf-8")
    pages = raw.split("<page>")[1:]
    articles = [p for p in pages if "<ns>0</ns>" in p and "<redirect" not in p]
    assert (len(pages), len(articles)) == (206, 106)
    # The data README says "105 articles, 100 redirects, 1 project page", but its
    # project page is itself one of the 100 redirects: 205 - 99 = 106 articles.
    assert len(excerpt) == 106
    assert "AccessibleComputing" not in excerpt  # a redirect
    assert not [title for title in excerpt if title.startswith("Wikipedia:")]  # namespace 4


def test_ids_titles_and_metadata(excerpt: dict[str, Document]) -> None:
    anarchism = excerpt["Anarchism"]
    assert anarchism.doc_id == make_doc_id(f"wiki/{EXCERPT}", "Anarchism") == f"wiki/{EXCERPT}#Anarchism"
    assert anarchism.source == f"wiki/{EXCERPT}"
    assert anarchism.metadata == {
        "page_id": 12,
        "revision_id": 716551092,
        "revision_timestamp": "2016-04-22T10:19:33Z",
        "url": "https://en.wikipedia.org/wiki/Anarchism",
    }
    assert len({doc.doc_id for doc in excerpt.values()}) == 106


def test_no_wiki_markup_remains(excerpt: dict[str, Document]) -> None:
    dirty = {(title, mark) for title, doc in excerpt.items() for mark in WIKI_MARKUP if mark in doc.text}
    assert dirty == set()
    assert all(doc.blocks for doc in excerpt.values())


def test_lead_and_sections(excerpt: dict[str, Document]) -> None:
    anarchism = excerpt["Anarchism"]
    lead = anarchism.blocks[0]
    assert lead.section == ()
    assert lead.text.startswith(
        "Anarchism is a political philosophy that advocates self-governed societies based on voluntary institutions."
    )
    headings = [b.section for b in anarchism.blocks if b.kind == "heading"]
    assert ("History", "Origins") in headings
    assert ("Anarchist schools of thought", "Classical anarchist schools of thought", "Mutualism") in headings
    origins = next(b for b in anarchism.blocks if b.text.startswith("The earliest anarchist themes"))
    assert origins.section == ("History", "Origins")
    # Sections that only list sources are skipped.
    skipped = {"References", "External links", "Notes", "Further reading"}
    assert not [b for doc in excerpt.values() for b in doc.blocks if skipped & set(b.section)]


def test_links_become_text_and_references_go(excerpt: dict[str, Document]) -> None:
    ascii_doc = excerpt["ASCII"]
    assert "since Apple replaced these operating systems with the Unix-based OS X operating system" in ascii_doc.text
    ambiguity = excerpt["Ambiguity"]
    assert "Structural analysis of an ambiguous" not in ambiguity.text  # an image caption
    assert (
        'For instance, the word "bank" has several distinct lexical definitions, including "financial institution"'
        in ambiguity.text
    )


def test_lists_become_lines(excerpt: dict[str, Document]) -> None:
    austin = excerpt["Austin (disambiguation)"]
    canada = next(b for b in austin.blocks if b.kind == "list" and b.section == ("Geographical locations", "Canada"))
    assert canada.text == "- Austin, Manitoba\n- Austin, Ontario\n- Austin, Quebec\n- Austin Island, Nunavut"
    usa = next(b for b in austin.blocks if b.kind == "list" and "Austin, Arkansas" in b.text)
    assert "- Austin, Illinois:\n  - Austin Township, Macon County, Illinois\n" in usa.text


def test_math_keeps_tex_without_wiki_braces(excerpt: dict[str, Document]) -> None:
    mean = excerpt["Arithmetic mean"]
    assert "A=\\frac{1}{n}\\sum_{i=1}^n a_i." in [b.text for b in mean.blocks]
    assert "{ {" in excerpt["Acid"].text  # TeX "{{[H^+]^2}" spaced: same TeX, no wiki markup


# -- the table-markup export --------------------------------------------------------------


def table_blocks(doc: Document) -> list[str]:
    return [b.text for b in doc.blocks if b.kind == "table"]


def test_tables_become_markdown_rows(tables: dict[str, Document]) -> None:
    assert len(tables) == 5
    vote = tables["Constructive vote of no confidence"]
    table = next(b for b in vote.blocks if b.kind == "table")
    assert table.section == ("Germany", "History of use")
    assert table.text.splitlines() == [
        "| Date | Opposition candidate (party) | Chancellor (party) | Yes | No | Abstention | absent/invalid "
        "| Vote successful? |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| 27 April 1972 | Rainer Barzel (CDU) | Willy Brandt (SPD) | 247 | 10 | 3 | 236 | no |",
        "| 1 October 1982 | Helmut Kohl (CDU) | Helmut Schmidt (SPD) | 256 | 235 | 4 | 2 | yes |",
    ]
    estonia = table_blocks(tables["Economy of Estonia"])
    assert any("| Company | Revenue (EUR millions) |" in t and "| Ericsson Eesti | 1,213.4 |" in t for t in estonia)
    assert any("| Finland | 16% | 14% |" in t for t in estonia)  # {{flag|Finland}} keeps its text


def test_table_spans_are_filled(tables: dict[str, Document]) -> None:
    awards = table_blocks(tables["Academy Award for Best Production Design"])
    # rowspan: the year cell is repeated on every row it spans
    assert any("| 1928/29 (2nd) | Cedric Gibbons | The Bridge of San Luis Rey |" in t for t in awards)
    brahui = table_blocks(tables["Brahui language"])[0].splitlines()
    # colspan=2 headers are padded so the consonant cells stay in their columns
    assert brahui[0].startswith("|  | Labial |  | Dental |  | Alveolar |")
    assert "| Stop | p | b | t | d |  |  | ʈ | ɖ | t͡ʃ | d͡ʒ | k | ɡ | ʔ |  |" in brahui
    cast = table_blocks(tables["List of Prison Break characters"])[0].splitlines()
    assert cast[2] == "| Actor | Character | S1 | S2 | S3 | S4 | S5 |"
    assert cast[5] == "| Robin Tunney | Veronica Donovan |  |  | N/A |  |  |"


def test_every_table_is_well_formed_markdown(tables: dict[str, Document], excerpt: dict[str, Document]) -> None:
    all_tables = [t for doc in [*tables.values(), *excerpt.values()] for t in table_blocks(doc)]
    assert len(all_tables) >= 90
    for text in all_tables:
        rows = [line for line in text.splitlines() if line.startswith("|")]
        assert rows[1].replace(" ", "").strip("|").split("|") == ["---"] * (len(rows[1].split("|")) - 2)
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, text[:200]
    for doc in tables.values():
        assert not [mark for mark in WIKI_MARKUP if mark in doc.text]


# -- crafted exports ---------------------------------------------------------------------


def test_wikitext_conversion_rules() -> None:
    blocks = wikitext_to_blocks(
        "{{Infobox thing|name=X|born={{birth date|1900|1|1}}}}\n"
        "'''Widget''' is a [[gadget]] of [[Tool (device)|tools]]<ref name=a>{{cite web|url=x}}</ref>.\n"
        "It weighs {{convert|5|kg}} and is {{lang|fr|très}} {{citation needed}} good.<!-- hidden -->\n"
        "[[File:W.jpg|thumb|A [[widget]] caption]]\n"
        "== Uses ==\n* First\n** Nested [[link]]\n# One\n# Two\n"
        "=== Detail ===\n{| class=wikitable\n|+ Sizes\n! Size !! Price\n|-\n| Small || 1\n|-\n| colspan=2 | none\n|}\n"
        "== References ==\n{{reflist}}\n* Some book\n[[Category:Widgets]]\n"
    )
    assert [(b.kind, b.section, b.text) for b in blocks] == [
        ("paragraph", (), "Widget is a gadget of tools. It weighs 5 kg and is très good."),
        ("heading", ("Uses",), "Uses"),
        ("list", ("Uses",), "- First\n  - Nested link\n1. One\n2. Two"),
        ("heading", ("Uses", "Detail"), "Detail"),
        ("table", ("Uses", "Detail"), "Sizes\n\n| Size | Price |\n| --- | --- |\n| Small | 1 |\n| none |  |"),
    ]


def test_plain_xml_export_streams_articles(tmp_path: Path) -> None:
    path = tmp_path / "wiki.xml"
    path.write_text(
        export(
            page("Alpha", "Alpha text.", page_id=1)
            + page("Beta", "#REDIRECT [[Alpha]]", page_id=2, redirect='<redirect title="Alpha" />')
            + page("Talk:Alpha", "Talk text.", ns=1, page_id=3)
            + page("Gamma ray", "Gamma text.", page_id=4)
        ),
        encoding="utf-8",
    )
    docs = load(path, "wiki.xml")
    assert [(d.doc_id, d.title, d.text) for d in docs] == [
        ("wiki.xml#Alpha", "Alpha", "Alpha text."),
        ("wiki.xml#Gamma ray", "Gamma ray", "Gamma text."),
    ]
    assert docs[1].metadata == {
        "page_id": 4,
        "revision_id": 40,
        "revision_timestamp": "2020-01-02T03:04:05Z",
        "url": "https://wiki.example.org/wiki/Gamma_ray",
    }


def test_truncated_export_yields_what_it_read_then_fails(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml.bz2"
    xml = export(page("Alpha", "Alpha text.") + page("Beta", "Beta text.", page_id=2))
    path.write_bytes(bz2.compress(xml[: xml.index("<page><title>Beta")].encode()))
    loaded: list[Document] = []
    with pytest.raises(MalformedFileError):
        for doc in MediaWikiLoader().load(path, source="cut.xml.bz2", options=OPTIONS):
            loaded.append(doc)
    assert [d.title for d in loaded] == ["Alpha"]


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("empty.xml", b"", EmptyFileError),
        ("empty.xml.bz2", b"", EmptyFileError),
        ("broken.xml", b"<mediawiki><page><title>A</title></pa", MalformedFileError),
        ("other.xml", b"<?xml version='1.0'?><rss><channel/></rss>", MalformedFileError),
        ("corrupt.xml.bz2", b"BZh91AY&SY this is not bzip2 data", MalformedFileError),
        ("archive.tar.bz2", bz2.compress(b"<mediawiki/>"), UnsupportedFileError),
        ("redirects.xml", export(page("A", "#REDIRECT [[B]]", redirect="<redirect />")).encode(), EmptyFileError),
    ],
)
def test_bad_exports_raise_load_errors(tmp_path: Path, name: str, content: bytes, error: type[Exception]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as info:
        load(path)
    assert "fix:" in str(info.value)
