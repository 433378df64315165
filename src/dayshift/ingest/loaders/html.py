"""HTML loader: one `.html` / `.htm` page in, one `Document` of its main content out.

Scope: static pages as saved or exported (docs sites, articles, wikis). Parsing is
lxml's forgiving HTML parser. Boilerplate is removed by structure, not by
statistics: <nav>, <aside>, <footer>, page-level <header>, scripts, styles,
forms, dialogs, ARIA landmarks (navigation, banner, contentinfo, complementary,
search, dialog) and elements whose id/class/aria-label name a menu, sidebar,
cookie banner, share bar and the like. The main content is <main> (or
role=main), else a single <article>, else the cleaned <body>, where link-heavy
blocks and copyright lines are also dropped. Headings h1-h6 give the section
path and are kept as heading blocks; <p>, lists, <pre> (a fenced `code` block)
and data tables (Markdown rows) become blocks. Inline markup is reduced to text.
Bytes are decoded by the page's <meta charset>, else by the shared `read_text`.
The title is the <title>, cut to the content heading it names ("Data Types -
Book | Site" -> "Data Types"), else the first heading, else the file name.

`html_to_text` is the same extraction without boilerplate removal, for HTML
fragments such as database cells.

Left out: JavaScript-rendered content, readability-style scoring of div soup,
images (alt text is not indexed), link targets, and rowspan/colspan layout
(cells are kept in source order).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html
from lxml import etree

from dayshift.errors import EmptyFileError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.markdown import markdown_table
from dayshift.ingest.loaders.text import read_text, unreadable_error
from dayshift.types import Block, BlockKind, Document, Metadata, make_doc_id

_ALWAYS_DROP = (
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed",
    "audio", "video", "map", "button", "input", "select", "textarea", "link", "meta",
)  # fmt: skip
_PAGE_CHROME = ("nav", "aside", "footer", "form", "dialog")
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"})
_CHROME_NAME = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|menubar|breadcrumbs?|sidebar|side-?nav|footer|masthead|"
    r"banner|cookies?|cookie-?consent|consent|gdpr|newsletter|subscribe|share|sharing|social|advert|ads|"
    r"sponsor|promo|related|comments?|popup|modal|skip-?link|toolbar|pagination|pager)(?=$|[-_\s])",
    re.I,
)
_CONTENT_NAME = re.compile(r"(?:^|[-_\s])(?:article|content|main|body|post|entry|chapter)(?=$|[-_\s])", re.I)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CONTAINERS = frozenset((
    "div", "section", "article", "main", "body", "html", "blockquote", "figure", "figcaption", "header",
    "address", "details", "summary", "center", "fieldset", "hgroup", "li", "dd", "dt", "td", "th", "tbody",
    "thead", "tfoot", "tr", "form",
))  # fmt: skip
_LAYOUT_CELL_CHILDREN = frozenset(["table", "pre", "section", "article", *_HEADINGS])
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)
_TITLE_SEPARATOR = re.compile(r"\s+[|\-–—:·»]\s+")
_BR = "\u2028"  # stands for <br> until whitespace is collapsed
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class HtmlLoader:
    """Loads the main content of one HTML page as one document."""

    extensions: tuple[str, ...] = (".html", ".htm")

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        root = _parse_document(_read_html(path), path=path)
        metadata, page_title = _metadata(root), _squash(root.findtext(".//title") or "")
        main = _main_content(root)
        blocks = _Extractor().run(main)
        if not blocks:
            raise EmptyFileError(
                str(path), "no main content left once navigation and boilerplate are removed",
                "if the page is built by JavaScript, save the rendered page; otherwise exclude it",
            )  # fmt: skip
        title = _title(page_title, main) or path.stem
        yield Document(doc_id=make_doc_id(source), source=source, title=title, blocks=blocks, metadata=metadata)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, blocks
    separated by blank lines, <pre> kept verbatim in a fence, lists as `- ` lines."""
    if "<" not in html and "&" not in html:
        return html.strip()
    try:
        root = lxml.html.document_fromstring(_XML_DECL.sub("", html))
    except (etree.ParserError, ValueError):
        return html.strip()
    _drop(root.xpath("//" + " | //".join(_ALWAYS_DROP)))
    return "\n\n".join(block.text for block in _Extractor().run(root))


# -- reading -----------------------------------------------------------------


def _read_html(path: Path) -> str:
    """The page's own <meta charset> first, then the shared decoder (BOM, UTF-8, a confident guess)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise unreadable_error(path, exc) from exc
    declared = _CHARSET.search(raw[:4096])
    if declared and raw.strip() and not raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common: fall back to detection
    return read_text(path)


def _parse_document(text: str, *, path: Path) -> lxml.html.HtmlElement:
    try:
        return lxml.html.document_fromstring(_XML_DECL.sub("", text))
    except (etree.ParserError, ValueError) as exc:
        raise MalformedFileError(str(path), f"not parseable as HTML: {exc}") from exc


def _title(page_title: str, main: lxml.html.HtmlElement) -> str:
    """The <title>, cut to the content heading it names: "Data Types - Book | Site"
    -> "Data Types" when the content has that heading (an <h1> first)."""
    headings = [_squash(h.text_content()) for h in main.iter("h1")]
    headings += [_squash(h.text_content()) for h in main.iter(*_HEADINGS) if h.tag != "h1"]
    if not page_title:
        return headings[0] if headings else ""
    segments = {s.casefold() for s in _TITLE_SEPARATOR.split(page_title)}
    return next((h for h in headings if h.casefold() in segments), page_title)


def _metadata(root: lxml.html.HtmlElement) -> Metadata:
    meta: Metadata = {}
    for el in root.iter("meta"):
        name = (el.get("name") or "").strip().lower()
        content = _squash(el.get("content") or "")
        if name in ("description", "author", "keywords") and content:
            meta[name] = content
    lang = (root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or "").strip()
    if lang:
        meta["lang"] = lang
    return meta


# -- boilerplate removal ---------------------------------------------------------


def _main_content(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    _drop(root.xpath("//" + " | //".join(_ALWAYS_DROP)))
    _drop([el for el in root.iter(etree.Element) if _is_chrome(el)])
    mains = root.xpath("//main | //*[@role='main']")
    articles = root.xpath("//article")
    if mains or len(articles) == 1:
        return max(mains or articles, key=lambda el: len(el.text_content()))
    body = root.find("body")
    body = body if body is not None else root
    _drop([el for el in body.iter("ul", "ol", "div", "p", "table") if _is_link_list(el) or _is_copyright(el)])
    return body


def _is_chrome(el: lxml.html.HtmlElement) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _PAGE_CHROME or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if (el.get("role") or "").lower() in _CHROME_ROLES:
        return True
    if tag == "header":  # an article's own header carries its title: keep it
        return not any(a.tag in ("article", "main") for a in el.iterancestors())
    names = " ".join(filter(None, (el.get("id"), el.get("class"), el.get("aria-label"))))
    return (
        bool(names)
        and tag not in ("body", "html", "main", "article")
        and bool(_CHROME_NAME.search(names) and not _CONTENT_NAME.search(names))
    )


def _is_link_list(el: lxml.html.HtmlElement) -> bool:
    links = el.xpath(".//a")
    if len(links) < 3 or any(True for _ in el.iter("pre", "table", *_HEADINGS)):
        return False  # a wrapper that also holds content is not a menu
    text = len(_squash(el.text_content())) or 1
    return sum(len(_squash(a.text_content())) for a in links) / text > 0.6


def _is_copyright(el: lxml.html.HtmlElement) -> bool:
    text = _squash(el.text_content())
    return len(text) < 300 and bool(re.match(r"(?:©|\(c\)|copyright\b)", text, re.I))


def _drop(elements: list[lxml.html.HtmlElement]) -> None:
    for el in elements:
        parent = el.getparent()
        if parent is not None:
            el.drop_tree()  # keeps the tail text, which belongs to the parent


# -- block extraction ----------------------------------------------------------------


@dataclass
class _Extractor:
    """Walks block containers in document order, buffering inline text between blocks."""

    blocks: list[Block] = field(default_factory=list)
    path: list[tuple[int, str]] = field(default_factory=list)  # (heading level, text)
    buffer: list[str] = field(default_factory=list)

    def run(self, root: lxml.html.HtmlElement) -> list[Block]:
        self._container(root)
        self._flush()
        return self.blocks

    def _container(self, el: lxml.html.HtmlElement) -> None:
        self.buffer.append(el.text or "")
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""  # comments have no str tag
            if tag in _HEADINGS:
                self._heading(_HEADINGS[tag], _inline_text(child))
            elif tag == "p":
                self._emit(_inline_text(child), "paragraph")
            elif tag in ("ul", "ol", "dl"):
                self._emit(_list_text(child), "list")
            elif tag == "pre":
                self._emit(_code_text(child), "code")
            elif tag == "table" and not _is_layout_table(child):
                self._emit(_table_text(child), "table")
            elif tag == "hr" or tag in _CONTAINERS or tag == "table":
                self._flush()
                outer = list(self.path)
                self._container(child)
                self._flush()
                if tag == "blockquote":
                    self.path = outer  # a quoted or sidebar heading does not outlive the quote
            elif tag == "br":
                self.buffer.append(_BR)
            elif tag:
                self.buffer.append(_inline_text(child, squash=False))
            self.buffer.append(child.tail or "")

    def _flush(self) -> None:
        text = _clean_inline("".join(self.buffer))
        self.buffer.clear()
        if text:
            self.blocks.append(Block(text, kind="paragraph", section=self._section()))

    def _emit(self, text: str, kind: BlockKind) -> None:
        self._flush()
        if text.strip():
            self.blocks.append(Block(text, kind=kind, section=self._section()))

    def _heading(self, level: int, text: str) -> None:
        self._flush()
        if text:
            self.path = [(lv, t) for lv, t in self.path if lv < level] + [(level, text)]
            self.blocks.append(Block(text, kind="heading", section=self._section()))

    def _section(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.path)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _clean_inline(text: str) -> str:
    """Collapse source whitespace (newlines included); only <br> breaks a line."""
    lines = (" ".join(line.split()) for line in text.split(_BR))
    return "\n".join(line for line in lines if line)


def _inline_text(el: lxml.html.HtmlElement, *, squash: bool = True) -> str:
    parts: list[str] = [el.text or ""] if isinstance(el.tag, str) else []
    for child in el:
        if child.tag == "br":
            parts.append(_BR)
        elif isinstance(child.tag, str):
            parts.append(_inline_text(child, squash=False))
        parts.append(child.tail or "")
    text = "".join(parts)
    return _clean_inline(text) if squash else text


def _list_text(el: lxml.html.HtmlElement, depth: int = 0) -> str:
    lines: list[str] = []
    number = int(el.get("start") or 1) if el.get("start", "").isdigit() else 1
    for item in el:
        if item.tag not in ("li", "dt", "dd"):
            continue
        nested = [c for c in item if c.tag in ("ul", "ol", "dl")]
        own = _clean_inline(_text_without(item, nested)).replace("\n", " ")
        marker = f"{number}." if el.tag == "ol" else ("-" if item.tag != "dd" else "  ")
        if own:
            lines.append("  " * depth + f"{marker} {own}")
            number += 1
        lines += [_list_text(sub, depth + 1) for sub in nested]
    return "\n".join(line for line in lines if line)


def _text_without(el: lxml.html.HtmlElement, skip: list[lxml.html.HtmlElement]) -> str:
    parts = [el.text or ""]
    for child in el:
        if child not in skip and isinstance(child.tag, str):
            text = _BR if child.tag == "br" else _inline_text(child, squash=False)
            parts.append(f" {text} " if child.tag in _CONTAINERS or child.tag in ("p", "pre") else text)
        parts.append(child.tail or "")
    return "".join(parts)


def _code_text(el: lxml.html.HtmlElement) -> str:
    code = el.text_content().strip("\n")
    if not code.strip():
        return ""
    classes = " ".join(filter(None, [el.get("class")] + [c.get("class") for c in el.iter("code")]))
    lang = re.search(r"(?:language|lang)-([\w+#-]+)", classes)
    fence = "````" if "```" in code else "```"
    return f"{fence}{lang.group(1) if lang else ''}\n{code.rstrip()}\n{fence}"


def _is_layout_table(el: lxml.html.HtmlElement) -> bool:
    cells = el.xpath(".//td | .//th")
    return any(c.tag in _LAYOUT_CELL_CHILDREN for cell in cells for c in cell.iter())


def _table_text(el: lxml.html.HtmlElement) -> str:
    rows = [
        [_clean_inline(_inline_text(cell)).replace("\n", " ").replace("|", "\\|") for cell in row.xpath("./th | ./td")]
        for row in el.xpath(".//tr")
    ]
    caption = _squash(el.findtext("caption") or "")
    table = markdown_table(rows)
    return f"{caption}\n\n{table}" if caption and table else table
