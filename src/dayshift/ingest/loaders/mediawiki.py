"""MediaWiki loader: a pages-articles XML export (`.xml` or `.xml.bz2`) in, one
`Document` per article out.

Scope: the export is stream-parsed (lxml iterparse, one <page> in memory at a
time; bz2 decompressed on the fly), so dump size does not matter. Only articles
(namespace 0) that are not redirects are kept; doc_id is `<source>#<title>`.
Each article's wikitext becomes blocks in `wikitext` (see there for what is
kept and dropped). Metadata: page_id, revision_id, revision_timestamp and url.

Left out: non-article namespaces, and everything about wikitext itself
(`wikitext`). A corrupt stream raises MalformedFileError after the articles
read before the damage have been yielded.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from lxml import etree

from dayshift.errors import EmptyFileError, MalformedFileError, UnreadableFileError, UnsupportedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.wikitext import wikitext_to_blocks
from dayshift.types import Document, Metadata, make_doc_id


class MediaWikiLoader:
    """Loads every article of a MediaWiki XML export, one document each."""

    extensions: tuple[str, ...] = (".xml", ".bz2")

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        if path.name.lower().endswith(".bz2") and not path.name.lower().endswith(".xml.bz2"):
            raise UnsupportedFileError(str(path), "a .bz2 file that is not a compressed .xml export")
        count = 0
        for page in iter_pages(path):
            if page.namespace == 0 and not page.redirect:
                count += 1
                yield _document(page, source=source)
        if count == 0:
            raise EmptyFileError(str(path), "the export holds no articles (namespace 0, not redirects)")


# -- streaming the XML -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WikiPage:
    title: str
    namespace: int
    page_id: int | None
    redirect: bool
    revision_id: int | None
    timestamp: str
    text: str
    url: str


def iter_pages(path: Path) -> Iterator[WikiPage]:
    """Every <page> of the export, in file order, holding one page in memory."""
    try:
        empty = path.stat().st_size == 0
        stream: IO[bytes] = bz2.open(path, "rb") if path.name.lower().endswith(".bz2") else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UnreadableFileError(str(path), f"cannot open: {exc.strerror or exc}") from exc
    with stream:
        try:
            if empty or not stream.peek(1):  # type: ignore[attr-defined]
                raise EmptyFileError(str(path), "the file is empty", "re-export the wiki dump")
            yield from _pages(etree.iterparse(stream, events=("start", "end"), huge_tree=True,
                                              resolve_entities=False, no_network=True), path=path)  # fmt: skip
        except etree.XMLSyntaxError as exc:
            raise MalformedFileError(str(path), f"invalid XML: {exc}") from exc
        except (OSError, EOFError) as exc:  # bz2 data errors surface as OSError/EOFError
            raise MalformedFileError(str(path), f"corrupt compressed stream: {exc}") from exc


def _pages(events: Iterator[tuple[str, etree._Element]], *, path: Path) -> Iterator[WikiPage]:
    root: etree._Element | None = None
    base_url = ""
    for event, el in events:
        name = etree.QName(el).localname
        if root is None:
            if name != "mediawiki":
                raise MalformedFileError(
                    str(path), f"not a MediaWiki export: the root element is <{name}>",
                    "export pages with Special:Export or use a pages-articles dump",
                )  # fmt: skip
            root = el
        elif event == "end" and name == "base":
            base_url = el.text or ""
        elif event == "end" and name == "page":
            yield _page(el, base_url=base_url)
            el.clear(keep_tail=True)
            while el.getprevious() is not None:  # drop finished pages: memory stays constant
                del root[0]


def _page(el: etree._Element, *, base_url: str) -> WikiPage:
    ns = el.tag[: el.tag.index("}") + 1] if el.tag.startswith("{") else ""  # the export's XML namespace

    def number(value: str | None) -> int | None:
        return int(value) if value and value.lstrip("-").isdigit() else None

    title = el.findtext(f"{ns}title") or ""
    return WikiPage(
        title=title,
        namespace=number(el.findtext(f"{ns}ns")) or 0,
        page_id=number(el.findtext(f"{ns}id")),
        redirect=el.find(f"{ns}redirect") is not None,
        revision_id=number(el.findtext(f"{ns}revision/{ns}id")),
        timestamp=el.findtext(f"{ns}revision/{ns}timestamp") or "",
        text=el.findtext(f"{ns}revision/{ns}text") or "",
        url=base_url.rsplit("/", 1)[0] + "/" + quote(title.replace(" ", "_")) if base_url else "",
    )


def _document(page: WikiPage, *, source: str) -> Document:
    fields = {"page_id": page.page_id, "revision_id": page.revision_id,
              "revision_timestamp": page.timestamp, "url": page.url}  # fmt: skip
    meta: Metadata = {key: value for key, value in fields.items() if value not in (None, "")}
    blocks = wikitext_to_blocks(page.text)
    return Document(
        doc_id=make_doc_id(source, page.title), source=source, title=page.title, blocks=blocks, metadata=meta
    )
