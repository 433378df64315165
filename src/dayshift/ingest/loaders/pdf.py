"""PDF loader: one Document per file, text in reading order, ruled tables as Markdown.

Built on pypdfium2 (Apache-2.0 / BSD-3-Clause; PDFium is BSD-3-Clause), not
PyMuPDF (AGPL), so dayshift stays Apache-2.0. This module is the PDFium
boundary and the assembly. It reads each page's characters (boxes, font sizes,
weights) and vector rules through PDFium, turned so that the page's main text
direction reads left to right, and hands them to pure geometry:

- `pdf_tables`: ruled tables, rules -> grid -> Markdown rows;
- `pdf_layout`: runs, reading order (XY-cut), running headers and footers,
  paragraphs and heading levels.

Then it builds the blocks. Each table is one Block(kind="table") whose text is
not repeated as prose; a table continued on the next page without its header
row gets the previous page's header. Headings are Block(kind="heading"),
bulleted items Block(kind="list"), and every block's `section` is the heading
path above it, ending with itself. The title is the metadata title when page 1
bears it out, else the largest line on page 1, else the first heading.

Why our own layout code rather than pdfplumber: docs/decisions/0014-pdf-layout.md (measured).

Left out: OCR (image-only pages have no text; a file with none raises
EmptyFileError), text drawn at an angle to the page's main direction (margin
stamps, watermarks), rules inside form XObjects, annotations and form fields.
PDFium is not thread-safe, so loads are serialised with a lock: for parallel
ingest use processes.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from dayshift.errors import EmptyFileError, EncryptedFileError, MalformedFileError, UnreadableFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.pdf_layout import (
    BULLET,
    Char,
    Page,
    Para,
    Run,
    Table,
    body_size,
    by_rows,
    drop_running_lines,
    font_levels,
    join_lines,
    line_pitch,
    merge_lines,
    outline_levels,
    paragraphs,
    reading_order,
    runs_of,
)
from dayshift.ingest.loaders.pdf_tables import Rule, find_tables, merge_rules, table_markdown
from dayshift.types import Block, BlockKind, Document, Metadata, make_doc_id

_PDFIUM_LOCK = threading.Lock()  # PDFium keeps global state and is not thread-safe
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|-medi", re.IGNORECASE)
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})


class PdfLoader:
    """Reads `.pdf` files with PDFium; `pdf_layout` and `pdf_tables` give the layout rules."""

    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UnreadableFileError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
        with _PDFIUM_LOCK:  # only PDFium calls need it; layout below runs unlocked
            pages, outline, info = _extract(data, path=str(path))
        yield _document(pages, outline, info, path=str(path), source=source)


def _extract(data: bytes, *, path: str) -> tuple[list[Page], list[tuple[str, int, int]], dict[str, str]]:
    pdf = _open(data, path=path)
    try:
        return [_read_page(pdf, index) for index in range(len(pdf))], _outline(pdf), pdf.get_metadata_dict()
    except pdfium.PdfiumError as exc:
        raise MalformedFileError(path, f"PDFium failed on a page ({exc})") from exc
    finally:
        pdf.close()


def _document(
    pages: list[Page], outline: list[tuple[str, int, int]], info: dict[str, str], *, path: str, source: str
) -> Document:
    first_page = pages[0].all_runs if pages else []
    drop_running_lines(pages)
    blocks = _blocks(pages, outline)
    if not blocks:
        raise EmptyFileError(path, f"no extractable text on any of its {len(pages)} pages (blank or scanned)")
    title = _title(info.get("Title", ""), first_page, blocks, stem=Path(source).stem)
    return Document(make_doc_id(source), source, title, blocks, _metadata(info, page_count=len(pages)))


def _open(data: bytes, *, path: str) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedFileError(path, "the PDF needs a password to open") from exc
        raise MalformedFileError(path, f"not a readable PDF ({exc})") from exc


# -- PDFium: characters and rules of one page ------------------------------------------------------


def _read_page(pdf: Any, index: int) -> Page:
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        chars, turn = _page_chars(textpage.raw)
        left, bottom, right, top = page.get_cropbox()
        ys = [_turned(x, y, turn)[1] for x, y in ((left, bottom), (right, top), (left, top), (right, bottom))]
        everything = runs_of(chars) if index == 0 else []  # page 1 with table text, for the title
        tables, chars = find_tables(chars, _page_rules(page, turn))
        return Page(index + 1, min(ys), max(ys), runs_of(chars), tables, everything)
    finally:
        textpage.close()
        page.close()


def _page_chars(textpage: Any) -> tuple[list[Char], int]:
    """Characters in content order, turned so the page's main text direction reads left to right."""
    styles: dict[int | None, tuple[float, bool, int | None]] = {}
    rect = pdfium_c.FS_RECTF()
    found: list[tuple[str, tuple[float, float, float, float], float, bool, int | None, bool]] = []
    space = False
    for i in range(pdfium_c.FPDFText_CountChars(textpage)):
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        if code == 2:  # PDFium's mark for a hyphen it judged to end a line
            code = ord("-")
        if code > 0x10FFFF:
            continue
        if code < 33 or chr(code).isspace():
            space = True
            continue
        obj = pdfium_c.FPDFText_GetTextObject(textpage, i)
        key = ctypes.cast(obj, ctypes.c_void_p).value
        if key not in styles:
            styles[key] = _style(obj)
        size, bold, quarter = styles[key]
        pdfium_c.FPDFText_GetLooseCharBox(textpage, i, rect)
        box = (rect.left, rect.bottom, rect.right, rect.top)
        found.append((chr(code).translate(_LIGATURES), box, size, bold, quarter, space))
        space = False
    counts = Counter(item[4] for item in found if item[4] is not None)
    turn = counts.most_common(1)[0][0] if counts else 0
    return [_turned_char(item, turn) for item in found if item[4] == turn], turn


def _style(obj: Any) -> tuple[float, bool, int | None]:
    """(font size in points, bold?, quarter turns of the baseline or None when not a right angle)."""
    if not obj:
        return 0.0, False, None
    matrix = pdfium_c.FS_MATRIX()
    pdfium_c.FPDFPageObj_GetMatrix(obj, matrix)
    font_size = ctypes.c_float(0.0)
    pdfium_c.FPDFTextObj_GetFontSize(obj, font_size)
    font = pdfium_c.FPDFTextObj_GetFont(obj)
    name = ctypes.create_string_buffer(128)
    pdfium_c.FPDFFont_GetBaseFontName(font, name, len(name))
    bold = bool(_BOLD_FONT.search(name.value.decode("latin-1"))) or pdfium_c.FPDFFont_GetWeight(font) >= 600
    angle = math.degrees(math.atan2(matrix.b, matrix.a)) % 360
    quarter = round(angle / 90) % 4
    straight = abs(angle - round(angle / 90) * 90) < 2
    return font_size.value * math.hypot(matrix.c, matrix.d), bold, quarter if straight else None


def _turned(x: float, y: float, turn: int) -> tuple[float, float]:
    """PDF user space (y up) to reading space (y down) for text turned `turn` quarter turns."""
    cos, sin = ((1, 0), (0, 1), (-1, 0), (0, -1))[turn]
    return x * cos + y * sin, x * sin - y * cos


def _turned_char(item: tuple[Any, ...], turn: int) -> Char:
    text, (left, bottom, right, top), size, bold, _, space = item
    if turn == 0:  # the common case, kept cheap
        return Char(text, left, right, -top, -bottom, size, bold, space)
    (ax, ay), (bx, by) = _turned(left, bottom, turn), _turned(right, top, turn)
    return Char(text, min(ax, bx), max(ax, bx), min(ay, by), max(ay, by), size, bold, space)


def _page_rules(page: Any, turn: int) -> tuple[list[Rule], list[Rule]]:
    """Horizontal and vertical rules: stroked straight lines and thin filled bars, not inside forms.
    Sides of filled areas are not rules: cell shading is often inset from the cell's borders."""
    across: list[Rule] = []
    down: list[Rule] = []
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH,), max_depth=0):
        left, bottom, right, top = obj.get_bounds()
        pdfium_c.FPDFPath_GetDrawMode(obj.raw, fill, stroke)
        if not stroke.value and min(right - left, top - bottom) > 2.5:
            continue
        m = obj.get_matrix()
        for (ax, ay), (bx, by) in _path_segments(obj.raw):
            (ax, ay), (bx, by) = (
                _turned(m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f, turn) for x, y in ((ax, ay), (bx, by))
            )
            if abs(ay - by) < 0.5 and abs(ax - bx) >= 3:
                across.append(Rule((ay + by) / 2, min(ax, bx), max(ax, bx)))
            elif abs(ax - bx) < 0.5 and abs(ay - by) >= 3:
                down.append(Rule((ax + bx) / 2, min(ay, by), max(ay, by)))
    return merge_rules(across), merge_rules(down)


def _path_segments(path: Any) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    x, y = ctypes.c_float(), ctypes.c_float()
    start = prev = (0.0, 0.0)
    for k in range(pdfium_c.FPDFPath_CountSegments(path)):
        segment = pdfium_c.FPDFPath_GetPathSegment(path, k)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            return []  # curves draw shapes, not table rules
        pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
        point = (x.value, y.value)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            start = point
        else:
            segments.append((prev, point))
        if pdfium_c.FPDFPathSegment_GetClose(segment):
            segments.append((point, start))
        prev = point
    return segments


# -- pages to blocks -------------------------------------------------------------------------------


def _blocks(pages: list[Page], outline: list[tuple[str, int, int]]) -> list[Block]:
    """Paragraphs, headings, lists and tables in reading order, each under its heading path."""
    ordered = {page.number: merge_lines(reading_order([*page.runs, *page.tables])) for page in pages}
    pitch = line_pitch(list(ordered.values()))
    paras: list[Para] = [(n, para) for n, items in ordered.items() for para in paragraphs(items, pitch)]
    runs = [run for items in ordered.values() for run in items if isinstance(run, Run)]
    body = body_size(runs)
    levels = outline_levels(paras, outline) if outline else font_levels(paras, body)
    compounds = frozenset(re.findall(r"\w+-\w+", " ".join(run.text for run in runs).lower()))
    path: list[tuple[int, str]] = []  # (level, heading text) from the top
    blocks: list[Block] = []
    header: tuple[int, list[str]] = (0, [])  # page and header row of the last table
    for k, (page, para) in enumerate(paras):
        if isinstance(para, Table):
            rows = para.rows
            top_of_page = not blocks or blocks[-1].page != page
            if top_of_page and header[0] == page - 1 and len(header[1]) == len(rows[0]) != 0 and header[1] != rows[0]:
                rows = [header[1], *rows]  # a table continued from the last page, its header not repeated
            header = (page, rows[0])
            blocks.append(Block(table_markdown(rows), kind="table", section=tuple(t for _, t in path), page=page))
            continue
        text = join_lines([line.text for line in para], compounds=compounds)
        kind: BlockKind = "paragraph"
        if k in levels:
            while path and path[-1][0] >= levels[k]:
                path.pop()
            path.append((levels[k], text))
            kind = "heading"
        elif BULLET.match(text):
            text, kind = BULLET.sub("- ", text, count=1), "list"
        blocks.append(Block(text, kind=kind, section=tuple(t for _, t in path), page=page))
    return blocks


# -- outline, title and metadata -------------------------------------------------------------------


def _outline(pdf: Any) -> list[tuple[str, int, int]]:
    """PDF bookmarks as (title letters and digits only, level, 1-based page)."""
    entries: list[tuple[str, int, int]] = []
    for item in pdf.get_toc(max_depth=6):
        dest = item.get_dest()
        index = dest.get_index() if dest is not None else None
        title = re.sub(r"\W|_", "", (item.get_title() or "").lower())
        if index is not None and title:
            entries.append((title, item.level, index + 1))
    return entries


def _title(meta_title: str, first_page: list[Run], blocks: list[Block], *, stem: str) -> str:
    """Metadata title if the first page bears it out, else the largest line on page 1, else a heading."""
    meta_title = " ".join(meta_title.split())
    words = re.findall(r"\w+", meta_title.lower())
    on_page = set(re.findall(r"\w+", " ".join(run.text for run in first_page).lower()))
    junk = re.match(r"(untitled|microsoft \w+ - |document\d*$)|.*\.(docx?|pdf|indd|pptx?|xlsx?)$", meta_title.lower())
    if words and not junk and sum(w in on_page for w in words) >= 0.8 * len(words):
        return meta_title  # a template's stale title rarely shares 80% of its words with page 1
    body = body_size(first_page)
    big = [run for run in first_page if sum(ch.isalpha() for ch in run.text) >= 3]
    if big and max(run.size for run in big) >= body * 1.15:
        largest = max(run.size for run in big)
        lines = by_rows([run for run in big if run.size >= largest - 0.5])
        title = join_lines([run.text for run in lines if run.middle - lines[0].middle <= 4 * largest])
        return title[:200]
    heading = next((block.text for block in blocks if block.kind == "heading"), None)
    return heading or stem


def _metadata(info: dict[str, str], *, page_count: int) -> Metadata:
    meta: Metadata = {"page_count": page_count}
    for key in ("Author", "Subject", "Keywords", "Creator", "Producer"):
        value = " ".join(info.get(key, "").split())
        if value:
            meta[key.lower()] = value
    for key, name in (("CreationDate", "created"), ("ModDate", "modified")):
        if info.get(key):
            meta[name] = _pdf_date(info[key])
    return meta


def _pdf_date(value: str) -> str:
    """PDF date 'D:20180413080308-04'00'' as ISO 8601 '2018-04-13T08:03:08-04:00'; others unchanged."""
    m = re.match(r"D:(\d{4})(\d\d)(\d\d)(\d\d)?(\d\d)?(\d\d)?(Z|[+-]\d\d'?\d\d'?)?", value)
    if not m:
        return value
    year, month, day, hour, minute, second, zone = m.groups()
    stamp = f"{year}-{month}-{day}T{hour or '00'}:{minute or '00'}:{second or '00'}"
    if zone and zone != "Z":
        zone = f"{zone[:3]}:{zone[3:].strip(chr(39))}"
    return stamp + (zone or "")
