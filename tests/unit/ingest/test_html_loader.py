"""HtmlLoader on a real Rust book chapter inside a realistic site template, and
html_to_text on the real beer.stackexchange post bodies."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import lxml.html
import pytest
from markdown_it import MarkdownIt

from dayshift.errors import EmptyFileError, EncodingError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.html import HtmlLoader, html_to_text
from dayshift.types import Document

OPTIONS = LoadOptions()
CHAPTER = "ch03-02-data-types.md"

# Every string here lives only in the site template, never in the chapter.
BOILERPLATE = [
    "SECRET_TRACKER_ID",  # inline <script>
    "font-family: Georgia",  # inline <style>
    "We use cookies to improve your reading experience",  # cookie banner
    "Accept all cookies",
    "Rust Docs Hub",  # site header / logo
    "Learn systems programming, fearlessly",  # header tagline
    "Chapter 17: Fearless Concurrency",  # nav menu
    "Search the book",  # search form
    "Sponsored: get the print edition",  # sidebar
    "Popular pages",
    "All rights reserved",  # footer
    "Privacy policy",
    "Edit this page on GitHub",  # page toolbar (class-named chrome inside <main>)
]


def site_page(body_html: str, *, title: str) -> str:
    nav = "".join(
        f'<li><a href="/ch{i:02d}.html">Chapter {i}: {name}</a></li>'
        for i, name in enumerate(
            ["Getting Started", "Guessing Game", "Common Concepts", "Ownership", "Structs", "Enums", "Packages",
             "Collections", "Error Handling", "Generics", "Tests", "An I/O Project", "Closures", "Cargo",
             "Smart Pointers", "Concurrency", "Fearless Concurrency", "Async", "OOP", "Patterns"],
            start=1,
        )
    )  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} - The Rust Programming Language | Rust Docs Hub</title>
  <meta name="description" content="Scalar and compound data types in Rust.">
  <meta name="author" content="Steve Klabnik and Carol Nichols">
  <meta name="keywords" content="rust, types, integers">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <style>body {{ font-family: Georgia, serif; }} .cookie-banner {{ position: fixed; }}</style>
  <script>window.analytics = {{ id: "SECRET_TRACKER_ID" }};</script>
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">
    <p>We use cookies to improve your reading experience. <a href="/privacy">Learn more</a></p>
    <button>Accept all cookies</button>
  </div>
  <header class="site-header">
    <a class="logo" href="/">Rust Docs Hub</a>
    <p class="tagline">Learn systems programming, fearlessly</p>
    <form role="search"><input type="text" placeholder="Search the book"><button>Search the book</button></form>
  </header>
  <nav class="sidebar" aria-label="Table of contents"><ol class="chapter">{nav}</ol></nav>
  <div class="page-wrapper">
    <main>
      <div class="page-toolbar"><a href="https://github.com/x/edit">Edit this page on GitHub</a></div>
      <article class="content">
{body_html}
      </article>
    </main>
    <aside class="related">
      <h3>Popular pages</h3>
      <ul><li><a href="/a">Ownership</a></li><li><a href="/b">Lifetimes</a></li></ul>
      <p>Sponsored: get the print edition</p>
    </aside>
  </div>
  <footer class="site-footer">
    <p>© 2024 Rust Docs Hub. All rights reserved.</p>
    <p><a href="/privacy">Privacy policy</a> · <a href="/terms">Terms</a></p>
  </footer>
  <script src="/app.js"></script>
  <script>document.querySelector(".cookie-banner").hidden = false;</script>
</body>
</html>"""


@pytest.fixture(scope="module")
def chapter_html(rust_book_dir: Path) -> str:
    markdown = (rust_book_dir / CHAPTER).read_text(encoding="utf-8")
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


@pytest.fixture(scope="module")
def chapter_doc(chapter_html: str, tmp_path_factory: pytest.TempPathFactory) -> Document:
    page = tmp_path_factory.mktemp("site") / "data-types.html"
    page.write_text(site_page(chapter_html, title="Data Types"), encoding="utf-8")
    docs = list(HtmlLoader().load(page, source="book/data-types.html", options=OPTIONS))
    assert len(docs) == 1
    return docs[0]


def squash(text: str) -> str:
    return " ".join(text.split())


def test_chapter_text_is_all_there_in_order(chapter_doc: Document, chapter_html: str) -> None:
    fragment = lxml.html.fragment_fromstring(chapter_html, create_parent="div")
    expected = [squash(el.text_content()) for el in fragment if el.tag in ("p", "h2", "h3", "h4", "h5", "pre")]
    expected += [squash(p.text_content()) for quote in fragment.iter("blockquote") for p in quote if p.tag != "ul"]
    expected = [e for e in expected if e]
    assert len(expected) > 60
    text = squash(chapter_doc.text)
    for sentence in expected:
        assert sentence in text, sentence[:80]
    top_level = [squash(el.text_content()) for el in fragment if el.tag in ("p", "h2", "h3", "h4")]
    position = 0
    for sentence in filter(None, top_level):  # each found after the one before it
        position = text.index(sentence, position) + len(sentence)


def test_no_boilerplate_survives(chapter_doc: Document) -> None:
    everything = chapter_doc.title + "\n" + chapter_doc.text
    assert [s for s in BOILERPLATE if s in everything] == []


def test_title_and_metadata(chapter_doc: Document) -> None:
    # "<title>Data Types - The Rust Programming Language | Rust Docs Hub": cut to the heading it names.
    assert chapter_doc.title == "Data Types"
    assert chapter_doc.doc_id == "book/data-types.html"
    assert chapter_doc.metadata == {
        "description": "Scalar and compound data types in Rust.",
        "author": "Steve Klabnik and Carol Nichols",
        "keywords": "rust, types, integers",
        "lang": "en",
    }


def test_headings_tables_and_code_become_blocks(chapter_doc: Document) -> None:
    blocks = chapter_doc.blocks
    assert blocks[0].kind == "heading" and blocks[0].text == "Data Types" and blocks[0].section == ("Data Types",)
    table = next(b for b in blocks if b.kind == "table" and "8-bit" in b.text)
    assert table.section == ("Data Types", "Scalar Types", "Integer Types")
    assert table.text.splitlines()[:3] == [
        "| Length | Signed | Unsigned |",
        "| --- | --- | --- |",
        "| 8-bit | i8 | u8 |",
    ]
    code = next(b for b in blocks if b.kind == "code" and "let guess" in b.text)
    assert code.text == '```rust\nlet guess: u32 = "42".parse().expect("Not a number!");\n```'
    assert code.section == ("Data Types",)
    listing = next(b for b in blocks if b.kind == "list" and "wrapping_add" in b.text)
    assert listing.text.startswith("- Wrap in all compilation modes with the wrapping_* methods, such as wrapping_add.")
    compound = next(b for b in blocks if "A tuple is a general way of grouping" in b.text)
    assert compound.section == ("Data Types", "Compound Types", "The Tuple Type")
    # Source line breaks inside a paragraph are whitespace, not line breaks.
    assert "\n" not in next(b for b in blocks if b.text.startswith("Every value in Rust")).text


def test_title_prefers_the_contents_h1_over_the_sites(tmp_path: Path) -> None:
    page = tmp_path / "intro.html"
    page.write_text(
        "<html><head><title>Introduction | Rust Docs Hub</title></head><body>"
        "<header><h1>Rust Docs Hub</h1></header><main><h1>Introduction</h1><p>Welcome.</p></main></body></html>",
        encoding="utf-8",
    )
    doc = next(HtmlLoader().load(page, source="intro.html", options=OPTIONS))
    assert doc.title == "Introduction"
    assert [(b.kind, b.text) for b in doc.blocks] == [("heading", "Introduction"), ("paragraph", "Welcome.")]


def test_div_soup_without_semantic_tags(tmp_path: Path) -> None:
    links = "".join(f'<a href="/p{i}">Page number {i}</a> | ' for i in range(12))
    page = tmp_path / "soup.htm"
    page.write_text(
        f"""<html><body>
        <div id="top-menu">{links}</div>
        <div class="wrapper"><div class="links">{links}</div>
          <div class="post-body"><h2>Brewing notes</h2>
            Loose text before a paragraph<br>on two lines.
            <p>Mash at 67&nbsp;&deg;C for <b>60</b> minutes &amp; sparge.</p>
            <table><tr><th>Hop</th><th>IBU</th></tr><tr><td>Citra</td><td>35</td></tr></table>
          </div>
          <div class="sidebar-widget">Subscribe to our newsletter</div>
        </div>
        <div>Copyright 2023 Brew Corp</div></body></html>""",
        encoding="utf-8",
    )
    doc = next(HtmlLoader().load(page, source="soup.htm", options=OPTIONS))
    assert doc.title == "Brewing notes"
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Brewing notes"),
        ("paragraph", "Loose text before a paragraph\non two lines."),
        ("paragraph", "Mash at 67 °C for 60 minutes & sparge."),  # &nbsp; is whitespace
        ("table", "| Hop | IBU |\n| --- | --- |\n| Citra | 35 |"),
    ]


def test_declared_legacy_charset_is_honoured(tmp_path: Path) -> None:
    # Bytes that are not UTF-8, decoded by the page's own declaration.
    page = tmp_path / "legacy.html"
    page.write_bytes(
        '<html><head><meta charset="iso-8859-1"></head><body><p>Caf\u00e9 cr\u00e8me</p></body></html>'.encode(
            "latin-1"
        )
    )
    doc = next(HtmlLoader().load(page, source="legacy.html", options=OPTIONS))
    assert doc.text == "Café crème"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", EmptyFileError),
        (b"  \n ", EmptyFileError),
        (b"<html><body><nav><a href='/'>Home</a></nav><script>x()</script></body></html>", EmptyFileError),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", EncodingError),  # binary, as the shared decoder says
    ],
)
def test_bad_pages_raise_load_errors(tmp_path: Path, content: bytes, error: type[Exception]) -> None:
    page = tmp_path / "bad.html"
    page.write_bytes(content)
    with pytest.raises(error) as info:
        list(HtmlLoader().load(page, source="bad.html", options=OPTIONS))
    assert "fix:" in str(info.value)


# -- html_to_text on real database cells ------------------------------------------------


@pytest.fixture(scope="module")
def posts(tabular_dir: Path) -> dict[str, str]:
    csv.field_size_limit(1 << 30)
    with open(tabular_dir / "beer_stackexchange" / "posts.csv", encoding="utf-8", newline="") as f:
        return {row["Id"]: row["Body"] for row in csv.DictReader(f)}


def test_every_post_body_cleans_to_plain_text(posts: dict[str, str]) -> None:
    assert len(posts) == 2354
    started = time.perf_counter()
    cleaned = {post_id: html_to_text(body) for post_id, body in posts.items()}
    assert time.perf_counter() - started < 5
    leftovers = [i for i, text in cleaned.items() if re.search(r"</?[a-z][a-z0-9]*[\s>/]|&[a-z]+;|&#\d+;", text)]
    assert leftovers == []
    assert all(cleaned[i] for i, body in posts.items() if re.sub(r"<[^>]+>", "", body).strip())


def test_links_and_entities(posts: dict[str, str]) -> None:
    text = html_to_text(posts["4"])
    assert text == (
        "Citra is a registered trademark since 2007. Citra Brand hops have fairly high alpha acids and total oil "
        "contents with a low percentage of cohumulone content and imparts interesting citrus and tropical fruit "
        "characters to beer.\n\nFor more information, you can read the Wikipedia article on the Citra brand."
    )
    assert "(<20 ppm)" in html_to_text(posts["1086"])  # &lt;
    assert "&quot;responsibly&quot;" not in html_to_text(posts["579"])
    assert '"responsibly"' in html_to_text(posts["579"])


def test_inline_code_and_pre_blocks(posts: dict[str, str]) -> None:
    assert html_to_text(posts["170"]).startswith("Draft beer is another name for Draught beer, it means")
    assert "```\nPale Lager    \nGeneric lager.\nPilsner    \n" in html_to_text(posts["154"])


def test_blockquotes_and_headings_become_paragraphs(posts: dict[str, str]) -> None:
    paragraphs = html_to_text(posts["49"]).split("\n\n")
    assert paragraphs[:4] == [
        "EDIT to add sources (original answer below)",
        "Mythbusters address this in episode 127 - http://mythresults.com/dirty-vs-clean-car - the rate of "
        "consumption is what matters, not the order",
        "A hangover caused by beer is less severe than one caused by a mixture of beer and liquor.",
        "BUSTED",
    ]


def test_ordered_lists_keep_their_numbers(posts: dict[str, str]) -> None:
    text = html_to_text(posts["106"])
    assert "\n\n1. Cooler: The way you mentioned in your question.\n2. Sunk in water:" in text
    assert "\n3. In the ground: Dig a hole" in text


def test_plain_text_passes_through() -> None:
    assert html_to_text("  no markup at all ") == "no markup at all"
    assert html_to_text("") == ""
    assert html_to_text("a &lt; b &amp;&amp; <i>c</i>") == "a < b && c"
