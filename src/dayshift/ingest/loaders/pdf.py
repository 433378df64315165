"""PDF loader: one Document per file, text in reading order, ruled tables as Markdown.

Built on pypdfium2 (Apache-2.0 / BSD-3-Clause; PDFium is BSD-3-Clause), not
PyMuPDF (AGPL), so dayshift stays Apache-2.0. PDFium gives characters with
boxes and fonts, and the page's vector paths; the layout is recovered here:

- Runs: characters are grouped in content order into runs, split at gaps wider
  than a word space, so no run crosses a column gutter.
- Reading order: a recursive XY-cut over runs and tables. A region is cut at a
  vertical gutter when one runs its full height (columns read left to right,
  each top to bottom), otherwise at its widest horizontal gap.
- Tables: ruled tables only. Rules (stroked lines, thin filled bars; not the
  sides of cell shading) are snapped into a grid; neighbouring cells with no
  rule between them are merged (spans). A table continued on the next page
  without its header row gets the previous page's header. Each table is one Block(kind="table") of Markdown rows, the
  first row as header, and its text is not repeated as prose. A ruled band in
  which every cell holds the same number of aligned lines is split into one
  row per line (statistics printed five records to a band).
- Headings: with a PDF outline, short paragraphs matching an outline entry on
  its page are headings at the outline's level; without one, short paragraphs
  set larger than the body text, or wholly bold at about body size, are
  headings ranked by size. Headings are emitted as Block(kind="heading") and
  every block's `section` is the heading path above it, ending with itself.
- Running headers and footers: runs in the top or bottom 12% of a page whose
  text (digits masked) recurs in that margin on at least half the pages, and
  bare page numbers there, are dropped.
- Paragraphs start at a larger than usual line gap, a first-line indent, a
  bullet, a change of size or weight, or a new column; a sentence that runs on
  into the next column stays whole. Hyphenated line ends are joined. Bulleted
  items become Block(kind="list").

Left out: OCR (image-only pages have no text; a file with none raises
EmptyFileError), tables without rules (their cells read as text, column by
column), text drawn at an angle to the page's main direction (margin stamps,
watermarks), rules inside form XObjects, annotations and form fields.
PDFium is not thread-safe, so loads are serialised with a lock: for parallel
ingest use processes.
"""

from __future__ import annotations

import ctypes
import math
import re
import statistics
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from dayshift.errors import EmptyFileError, EncryptedFileError, MalformedFileError, UnreadableFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.types import Block, BlockKind, Document, Metadata, make_doc_id

_PDFIUM_LOCK = threading.Lock()  # PDFium keeps global state and is not thread-safe
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|-medi", re.IGNORECASE)
_BULLET = re.compile(r"^([•●○◦▪■□►▶➢✓✔\uf000-\uf0ff]\s*|[-–—*]\s+)")
_LIST_START = re.compile(r"^([•●○◦▪■□►▶➢✓✔–—*\uf000-\uf0ff]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
_FIGURE = re.compile(r"^[-+–(]?[$€£]?[\d.,]+%?\)?$")
_PAGE_NUMBER = re.compile(r"^(page\s+)?(\d+|[ivxlcdm]+)(\s+of\s+\d+)?$", re.IGNORECASE)
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_COMBINING = {"ˆ": "\u0302", "˜": "\u0303", "¸": "\u0327", "¨": "\u0308", "˚": "\u030a", "ˇ": "\u030c", "´": "\u0301"}
_ACCENT_AFTER = re.compile(f"([A-Za-z])([{''.join(_COMBINING)}])")  # "Aviac¸a˜o" -> "Aviação"
_RULE_TOLERANCE = 2.0  # points: rules this close are one rule
_MIN_CELL = 6.5  # points: no table cell is narrower or shorter
_MARGIN = 0.12  # share of page height where running headers and footers live


@dataclass(slots=True)
class _Char:
    text: str
    x0: float  # points; y grows downwards, in the page's reading direction
    x1: float
    top: float
    bottom: float
    size: float  # font size in points
    bold: bool
    space_before: bool  # whitespace came before it in the content stream


@dataclass(slots=True)
class _Run:
    """Text on one line with no wide gap in it; after merging, a whole line."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: float  # share of characters set in a bold font

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(slots=True)
class _Table:
    x0: float
    x1: float
    top: float
    bottom: float
    rows: list[list[str]]  # cell text, the first row is the header


@dataclass(slots=True)
class _Rule:
    pos: float  # y of a horizontal rule, x of a vertical one
    lo: float  # extent along the rule
    hi: float


@dataclass(slots=True)
class _Page:
    number: int  # 1-based
    top: float
    bottom: float
    runs: list[_Run]
    tables: list[_Table]
    all_runs: list[_Run]  # including text inside tables; page 1 only


class PdfLoader:
    """Reads `.pdf` files with PDFium; see the module docstring for the layout rules."""

    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UnreadableFileError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
        with _PDFIUM_LOCK:  # only PDFium calls need it; layout below runs unlocked
            pages, outline, info = _extract(data, path=str(path))
        yield _document(pages, outline, info, path=str(path), source=source)


def _extract(data: bytes, *, path: str) -> tuple[list[_Page], list[tuple[str, int, int]], dict[str, str]]:
    pdf = _open(data, path=path)
    try:
        return [_read_page(pdf, index) for index in range(len(pdf))], _outline(pdf), pdf.get_metadata_dict()
    except pdfium.PdfiumError as exc:
        raise MalformedFileError(path, f"PDFium failed on a page ({exc})") from exc
    finally:
        pdf.close()


def _document(
    pages: list[_Page], outline: list[tuple[str, int, int]], info: dict[str, str], *, path: str, source: str
) -> Document:
    first_page = pages[0].all_runs if pages else []
    _drop_running_lines(pages)
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


# -- characters, rules and runs of one page ---------------------------------------------------------


def _read_page(pdf: Any, index: int) -> _Page:
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        chars, turn = _page_chars(textpage.raw)
        left, bottom, right, top = page.get_cropbox()
        ys = [_turned(x, y, turn)[1] for x, y in ((left, bottom), (right, top), (left, top), (right, bottom))]
        everything = _runs(chars) if index == 0 else []  # page 1 with table text, for the title
        tables, chars = _tables(chars, _page_rules(page, turn))
        return _Page(index + 1, min(ys), max(ys), _runs(chars), tables, everything)
    finally:
        textpage.close()
        page.close()


def _page_chars(textpage: Any) -> tuple[list[_Char], int]:
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


def _turned_char(item: tuple[Any, ...], turn: int) -> _Char:
    text, (left, bottom, right, top), size, bold, _, space = item
    if turn == 0:  # the common case, kept cheap
        return _Char(text, left, right, -top, -bottom, size, bold, space)
    (ax, ay), (bx, by) = _turned(left, bottom, turn), _turned(right, top, turn)
    return _Char(text, min(ax, bx), max(ax, bx), min(ay, by), max(ay, by), size, bold, space)


def _runs(chars: list[_Char]) -> list[_Run]:
    return [_make_run(group) for group in _char_groups(chars)]


def _char_groups(chars: list[_Char]) -> list[list[_Char]]:
    """Characters of one run: same line, advancing, no gap wider than a generous word space."""
    groups: list[list[_Char]] = []
    for char in chars:
        if groups and _continues(groups[-1], char):
            groups[-1].append(char)
        else:
            groups.append([char])
    return groups


def _continues(current: list[_Char], char: _Char) -> bool:
    last, first = current[-1], current[0]
    height = max(first.bottom - first.top, char.bottom - char.top)
    middle = (first.top + first.bottom) / 2
    gap = char.x0 - last.x1
    em = max(last.size, char.size, 1.0)
    advancing = char.x0 >= last.x0 - 0.3 * em  # ligatures give two characters one box
    return abs((char.top + char.bottom) / 2 - middle) <= 0.45 * height and advancing and gap <= 0.6 * em


def _make_run(chars: list[_Char]) -> _Run:
    parts = [chars[0].text]
    for prev, char in pairwise(chars):
        raised = abs(prev.size - char.size) > 0.15 * max(prev.size, char.size) and (
            abs(prev.bottom - char.bottom) > 0.2 * max(prev.size, char.size)
        )  # a superscript or subscript starts or ends: "2014 2", not "20142"
        if char.space_before or char.x0 - prev.x1 > 0.15 * max(char.size, 1.0) or raised:
            parts.append(" ")
        parts.append(char.text)
    sizes = Counter(round(char.size, 1) for char in chars)
    text = _ACCENT_AFTER.sub(lambda m: unicodedata.normalize("NFC", m[1] + _COMBINING[m[2]]), "".join(parts))
    return _Run(
        text=text,
        x0=min(c.x0 for c in chars),
        x1=max(c.x1 for c in chars),
        top=min(c.top for c in chars),
        bottom=max(c.bottom for c in chars),
        size=sizes.most_common(1)[0][0],
        bold=sum(c.bold for c in chars) / len(chars),
    )


# -- ruled tables ---------------------------------------------------------------------------------


def _page_rules(page: Any, turn: int) -> tuple[list[_Rule], list[_Rule]]:
    """Horizontal and vertical rules: stroked straight lines and thin filled bars, not inside forms.
    Sides of filled areas are not rules: cell shading is often inset from the cell's borders."""
    across: list[_Rule] = []
    down: list[_Rule] = []
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
                across.append(_Rule((ay + by) / 2, min(ax, bx), max(ax, bx)))
            elif abs(ax - bx) < 0.5 and abs(ay - by) >= 3:
                down.append(_Rule((ax + bx) / 2, min(ay, by), max(ay, by)))
    return _merge_rules(across), _merge_rules(down)


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


def _merge_rules(rules: list[_Rule]) -> list[_Rule]:
    """Snap rules within tolerance onto one line, then join pieces that touch."""
    merged: list[_Rule] = []
    rules.sort(key=lambda r: r.pos)
    groups: list[list[_Rule]] = []
    for rule in rules:
        if groups and rule.pos - groups[-1][0].pos <= _RULE_TOLERANCE:
            groups[-1].append(rule)
        else:
            groups.append([rule])
    for group in groups:
        pos = statistics.fmean(r.pos for r in group)
        for rule in sorted(group, key=lambda r: r.lo):
            if merged and merged[-1].pos == pos and rule.lo <= merged[-1].hi + _RULE_TOLERANCE:
                merged[-1].hi = max(merged[-1].hi, rule.hi)
            else:
                merged.append(_Rule(pos, rule.lo, rule.hi))
    return merged


def _crosses(rule: _Rule, pos: float, at: float) -> bool:
    """Does `rule` lie on line `pos` and cover `at` along its length?"""
    tol = _RULE_TOLERANCE
    return abs(rule.pos - pos) <= tol and rule.lo - tol <= at <= rule.hi + tol


def _tables(chars: list[_Char], rules: tuple[list[_Rule], list[_Rule]]) -> tuple[list[_Table], list[_Char]]:
    """Find ruled tables; return them and the characters outside them."""
    across, down = rules
    parent = list(range(len(across) + len(down)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    positions = [v.pos for v in down]  # sorted by _merge_rules
    for i, h in enumerate(across):
        first = bisect_left(positions, h.lo - _RULE_TOLERANCE)
        for j in range(first, bisect_right(positions, h.hi + _RULE_TOLERANCE)):
            if _crosses(down[j], down[j].pos, h.pos):
                parent[find(i)] = find(len(across) + j)
    groups: dict[int, tuple[list[_Rule], list[_Rule]]] = defaultdict(lambda: ([], []))
    for i, h in enumerate(across):
        groups[find(i)][0].append(h)
    for j, v in enumerate(down):
        groups[find(len(across) + j)][1].append(v)
    tables: list[_Table] = []
    for hs, vs in groups.values():
        if hs and vs:
            table = _grid_table(hs, vs, chars)
            if table is not None:
                tables.append(table)
                chars = [c for c in chars if not _inside(c, table)]
    return tables, chars


def _inside(char: _Char, box: _Table) -> bool:
    x, y = (char.x0 + char.x1) / 2, (char.top + char.bottom) / 2
    return box.x0 - 1 <= x <= box.x1 + 1 and box.top - 1 <= y <= box.bottom + 1


def _grid_table(hs: list[_Rule], vs: list[_Rule], chars: list[_Char]) -> _Table | None:
    box = _Table(
        x0=min([h.lo for h in hs] + [v.pos for v in vs]),
        x1=max([h.hi for h in hs] + [v.pos for v in vs]),
        top=min([h.pos for h in hs] + [v.lo for v in vs]),
        bottom=max([h.pos for h in hs] + [v.hi for v in vs]),
        rows=[],
    )
    ys = _grid_lines([h.pos for h in hs] + [box.top, box.bottom], hs)
    xs = _grid_lines([v.pos for v in vs] + [box.x0, box.x1], vs)
    if len(ys) < 3 or len(xs) < 3:
        return None  # a box or a single rule, not a grid
    cells = _cell_roots(ys, xs, hs, vs)
    texts: dict[tuple[int, int], list[_Char]] = defaultdict(list)
    for group in _char_groups([char for char in chars if _inside(char, box)]):
        slot, prev = (-1, -1), group[0]
        for char in group:
            r = min(max(bisect_right(ys, (char.top + char.bottom) / 2) - 1, 0), len(ys) - 2)
            c = min(max(bisect_right(xs, (char.x0 + char.x1) / 2) - 1, 0), len(xs) - 2)
            if r != slot[0] or (c != slot[1] and char.x0 - prev.x1 > 0.25 * char.size):
                slot = (r, c)  # text running on across a rule is one spanning label, not two cells
            texts[cells[slot[0]][slot[1]]].append(char)
            prev = char
    if len(texts) < 2:
        return None
    rows = _table_rows(texts, rows=len(ys) - 1, cols=len(xs) - 1, cells=cells)
    if len(rows) < 2:
        return None
    box.rows = rows
    return box


def _grid_lines(values: list[float], rules: list[_Rule]) -> list[float]:
    """Grid positions. Of two closer than a cell can be (a cell fill inset from its border),
    keep the one carrying more rule length."""
    kept: list[float] = []
    for value in sorted(values):
        if kept and value - kept[-1] < _MIN_CELL:
            if _rule_length(value, rules) > _rule_length(kept[-1], rules):
                kept[-1] = value
        else:
            kept.append(value)
    return kept


def _rule_length(pos: float, rules: list[_Rule]) -> float:
    return sum(rule.hi - rule.lo for rule in rules if abs(rule.pos - pos) <= _RULE_TOLERANCE)


def _cell_roots(ys: list[float], xs: list[float], hs: list[_Rule], vs: list[_Rule]) -> list[list[tuple[int, int]]]:
    """For each grid slot, the top-left slot of the (possibly spanning) cell that holds it."""
    roots = [[(r, c) for c in range(len(xs) - 1)] for r in range(len(ys) - 1)]
    for r in range(len(ys) - 1):
        for c in range(len(xs) - 1):
            middle_y, middle_x = (ys[r] + ys[r + 1]) / 2, (xs[c] + xs[c + 1]) / 2
            if c > 0 and not any(_crosses(v, xs[c], middle_y) for v in vs):
                roots[r][c] = roots[r][c - 1]
            elif r > 0 and not any(_crosses(h, ys[r], middle_x) for h in hs):
                roots[r][c] = roots[r - 1][c]
    return roots


def _table_rows(
    texts: dict[tuple[int, int], list[_Char]], *, rows: int, cols: int, cells: list[list[tuple[int, int]]]
) -> list[list[str]]:
    """Cell text as rows of strings; bands holding several aligned records become several rows."""
    lines = {root: _lines_of(chars) for root, chars in texts.items()}
    spans_down = {cells[r][c] for r in range(1, rows) for c in range(cols) if cells[r][c][0] < r}
    table: list[list[str]] = []
    for r in range(rows):
        band = {root: found for root, found in lines.items() if root[0] == r}
        counts = {len(found) for found in band.values()}
        if len(counts) == 1 and counts.pop() > 1 and not spans_down & band.keys() and _records(band):
            for i in range(len(next(iter(band.values())))):
                table.append(_row({root[1]: found[i][0] for root, found in band.items()}, cols))
        else:
            table.append(_row({root[1]: _join([t for t, _ in found]) for root, found in band.items()}, cols))
    keep = [c for c in range(cols) if any(row[c] for row in table)]
    return [[row[c] for c in keep] for row in table if any(row)]


def _records(band: dict[tuple[int, int], list[tuple[str, float]]]) -> bool:
    """Are a band's cell lines separate records: aligned, in 3+ columns, mostly figures?"""
    columns = list(band.values())
    aligned = all(abs(found[i][1] - columns[0][i][1]) < 3 for found in columns for i in range(len(found)))
    numeric = sum(all(_FIGURE.match(text) for text, _ in found) for found in columns)
    return aligned and len(columns) >= 3 and numeric >= len(columns) / 2


def _row(by_column: dict[int, str], cols: int) -> list[str]:
    return [re.sub(r"\s*\.{4,}\s*", " ", by_column.get(c, "")).strip() for c in range(cols)]


def _lines_of(chars: list[_Char]) -> list[tuple[str, float]]:
    """A cell's text lines, top to bottom, with their vertical middles."""
    return [(run.text, run.middle) for run in _merge_lines(_by_rows(_runs(chars)))]


def _markdown(rows: list[list[str]]) -> str:
    escaped = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in escaped]
    lines.insert(1, "| " + " | ".join("---" for _ in escaped[0]) + " |")
    return "\n".join(lines)


# -- running headers and footers ------------------------------------------------------------------


def _drop_running_lines(pages: list[_Page]) -> None:
    """Remove page numbers, and text (digits masked) found in the margins of at least half the pages."""
    seen: dict[str, set[int]] = defaultdict(set)
    for page in pages:
        for run in page.runs:
            if _in_margin(run, page):
                seen[_margin_key(run, page)].add(page.number)
    repeated = {key for key, numbers in seen.items() if len(numbers) >= max(3, len(pages) / 2)}
    for page in pages:
        running = {id(run) for run in page.runs if _in_margin(run, page) and _margin_key(run, page) in repeated}
        page.runs = [run for run in page.runs if id(run) not in running and not _page_number(run, page, running)]


def _margin_key(run: _Run, page: _Page) -> str:
    """Which margin, and the text with digits masked: 'bottom:page # of #'."""
    zone = "top" if run.middle < (page.top + page.bottom) / 2 else "bottom"
    text = "#" if _PAGE_NUMBER.match(run.text.strip()) else re.sub(r"\d+", "#", run.text.lower())
    return f"{zone}:{text}"


def _in_margin(run: _Run, page: _Page) -> bool:
    band = _MARGIN * (page.bottom - page.top)
    return run.bottom <= page.top + band or run.top >= page.bottom - band


def _page_number(run: _Run, page: _Page, running: set[int]) -> bool:
    """A bare page number in a margin, alone on its line or beside running text (not "4" + heading)."""
    if not _in_margin(run, page) or not _PAGE_NUMBER.match(run.text.strip()):
        return False
    return all(id(other) in running for other in page.runs if other is not run and _same_row(run, other))


def _same_row(a: _Run, b: _Run) -> bool:
    return abs(a.middle - b.middle) <= 0.5 * min(a.bottom - a.top, b.bottom - b.top)


# -- reading order ----------------------------------------------------------------------------------

_Item = _Run | _Table


def _reading_order(items: list[_Item]) -> list[_Item]:
    """Recursive XY-cut, done with a stack: columns first, then the widest horizontal gap."""
    ordered: list[_Item] = []
    stack: list[list[_Item]] = [items]
    while stack:
        region = stack.pop()
        parts = _vertical_cut(region) if len(region) > 1 else None
        parts = parts or (_horizontal_cut(region) if len(region) > 1 else None)
        if parts:
            stack.extend(reversed(parts))
        else:
            ordered.extend(_by_rows(region))
    return ordered


def _vertical_cut(region: list[_Item]) -> list[list[_Item]] | None:
    left, right = min(i.x0 for i in region), max(i.x1 for i in region)
    width = right - left
    spans: list[list[float]] = []
    for item in sorted(region, key=lambda i: i.x0):
        if spans and item.x0 < spans[-1][1] + 3:  # gutters narrower than 3 pt do not separate columns
            spans[-1][1] = max(spans[-1][1], item.x1)
        else:
            spans.append([item.x0, item.x1])
    cuts = [
        (a[1] + b[0]) / 2
        for a, b in pairwise(spans)
        if a[1] - left >= 0.15 * width and right - b[0] >= 0.15 * width  # a bullet column is no column
    ]
    if not cuts:
        return None
    parts: list[list[_Item]] = [[] for _ in range(len(cuts) + 1)]
    for item in region:
        parts[bisect_right(cuts, item.x0)].append(item)
    return [part for part in parts if part]


def _horizontal_cut(region: list[_Item]) -> list[list[_Item]] | None:
    ordered = sorted(region, key=lambda i: i.top)
    best, best_gap, reach = 0, 0.0, ordered[0].bottom
    for k, item in enumerate(ordered[1:], start=1):
        if item.top - reach > best_gap:
            best, best_gap = k, item.top - reach
        reach = max(reach, item.bottom)
    return [ordered[:best], ordered[best:]] if best else None


def _by_rows(items: list[Any]) -> list[Any]:
    """Items that overlap vertically: group into rows by their middles, each row left to right."""
    rows: list[list[Any]] = []
    for item in sorted(items, key=lambda i: (i.top + i.bottom) / 2):
        middle = (item.top + item.bottom) / 2
        last = rows[-1][-1] if rows else None
        if last is not None and abs(middle - (last.top + last.bottom) / 2) <= 0.3 * (last.bottom - last.top):
            rows[-1].append(item)
        else:
            rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda i: i.x0)]


def _merge_lines(items: list[Any]) -> list[Any]:
    """Join consecutive runs that sit on the same line into one line."""
    merged: list[Any] = []
    for item in items:
        last = merged[-1] if merged else None
        if isinstance(item, _Run) and isinstance(last, _Run) and _same_line(last, item):
            share = len(last.text) / (len(last.text) + len(item.text))
            merged[-1] = _Run(
                f"{last.text} {item.text}", last.x0, item.x1, min(last.top, item.top),
                max(last.bottom, item.bottom), max(last.size, item.size),
                last.bold * share + item.bold * (1 - share),
            )  # fmt: skip
        else:
            merged.append(item)
    return merged


def _same_line(a: _Run, b: _Run) -> bool:
    small, big = sorted((a, b), key=lambda run: run.size)
    if small.size < 0.8 * big.size:  # a footnote mark or an index beside normal text
        level = big.top <= small.middle <= big.bottom
    else:
        level = abs(a.middle - b.middle) <= 0.3 * min(a.bottom - a.top, b.bottom - b.top)
    return level and -1 <= b.x0 - a.x1 <= 4 * max(a.size, b.size)


# -- paragraphs, headings and sections ----------------------------------------------------------------

_Para = tuple[int, list[_Run] | _Table]  # (page number, lines of a paragraph or a table)


def _blocks(pages: list[_Page], outline: list[tuple[str, int, int]]) -> list[Block]:
    ordered = {page.number: _merge_lines(_reading_order([*page.runs, *page.tables])) for page in pages}
    pitch = _line_pitch(list(ordered.values()))
    paras: list[_Para] = [(n, para) for n, items in ordered.items() for para in _paragraphs(items, pitch)]
    runs = [run for items in ordered.values() for run in items if isinstance(run, _Run)]
    body = _body_size(runs)
    levels = _outline_levels(paras, outline) if outline else _font_levels(paras, body)
    compounds = frozenset(re.findall(r"\w+-\w+", " ".join(run.text for run in runs).lower()))
    path: list[tuple[int, str]] = []  # (level, heading text) from the top
    blocks: list[Block] = []
    header: tuple[int, list[str]] = (0, [])  # page and header row of the last table
    for k, (page, para) in enumerate(paras):
        if isinstance(para, _Table):
            rows = para.rows
            top_of_page = not blocks or blocks[-1].page != page
            if top_of_page and header[0] == page - 1 and len(header[1]) == len(rows[0]) != 0 and header[1] != rows[0]:
                rows = [header[1], *rows]  # a table continued from the last page, its header not repeated
            header = (page, rows[0])
            blocks.append(Block(_markdown(rows), kind="table", section=tuple(t for _, t in path), page=page))
            continue
        text = _join([line.text for line in para], compounds=compounds)
        kind: BlockKind = "paragraph"
        if k in levels:
            while path and path[-1][0] >= levels[k]:
                path.pop()
            path.append((levels[k], text))
            kind = "heading"
        elif _BULLET.match(text):
            text, kind = _BULLET.sub("- ", text, count=1), "list"
        blocks.append(Block(text, kind=kind, section=tuple(t for _, t in path), page=page))
    return blocks


def _line_pitch(pages: list[list[_Item]]) -> float:
    """Typical distance between baselines in a paragraph, in ems."""
    ratios = [
        (b.middle - a.middle) / a.size
        for items in pages
        for a, b in pairwise(items)
        if isinstance(a, _Run) and isinstance(b, _Run) and a.size > 0 and abs(a.size - b.size) < 0.5
        and 0 < b.middle - a.middle < 2.5 * a.size and b.x0 < a.x1 and a.x0 < b.x1
    ]  # fmt: skip
    return statistics.median(ratios) if ratios else 1.2


def _body_size(runs: list[_Run]) -> float:
    sizes: Counter[float] = Counter()
    for run in runs:
        sizes[round(run.size * 2) / 2] += len(run.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _paragraphs(items: list[_Item], pitch: float) -> list[list[_Run] | _Table]:
    out: list[list[_Run] | _Table] = []
    current: list[_Run] = []
    for item in items:
        if current and (isinstance(item, _Table) or _breaks(current, item, pitch)):
            out.append(current)
            current = []
        if isinstance(item, _Table):
            out.append(item)
        else:
            current.append(item)
    if current:
        out.append(current)
    return out


def _breaks(paragraph: list[_Run], b: _Run, pitch: float) -> bool:
    """Does line `b` start a new paragraph after `paragraph`?"""
    a = paragraph[-1]
    em = max(a.size, b.size, 1.0)
    if abs(a.size - b.size) > 0.6 or (max(a.bold, b.bold) > 0.97 and min(a.bold, b.bold) < 0.5):
        return True  # a bold heading line, not bold words inside a paragraph
    if b.middle <= a.middle or b.x0 > a.x1 or b.x1 < a.x0:  # a new column or region
        return bool(re.search(r"[.!?:;\"”)]$", a.text)) or not b.text[:1].islower()
    if b.middle - a.middle > (pitch + 0.35) * em or _LIST_START.match(b.text):
        return True
    hanging = len(paragraph) == 1 and _LIST_START.match(a.text)
    return b.x0 - a.x0 > 0.8 * em and not hanging


def _join(lines: list[str], *, compounds: frozenset[str] = frozenset()) -> str:
    """Unwrap lines. A line-end hyphen between letters is dropped ("experi-" "ence") unless the
    document spells that compound with a hyphen elsewhere ("FAA-approved"), or it is in a URL."""
    text = ""
    for line in (line.strip() for line in lines):
        tail = text.rpartition(" ")[2]
        word = re.match(r"\w+", line)
        if not text:
            text = line
        elif re.search(r"[A-Za-z]-$", text) and line[:1].islower() and "/" not in tail and word:
            compound = re.sub(r"^\W+", "", tail) + word.group(0)
            text = text if compound.lower() in compounds else text[:-1]
            text += line
        elif text.endswith(("-", "–", "/")) and not line.startswith("http"):
            text += line
        else:
            text += " " + line
    return text


def _heading_candidate(para: list[_Run] | _Table) -> str | None:
    if isinstance(para, _Table) or len(para) > 3:
        return None
    text = _join([line.text for line in para])
    letters = sum(ch.isalpha() for ch in text)
    if len(text) > 150 or letters < 2 or text.endswith((",", ";")) or _BULLET.match(text):
        return None
    if re.search(r"\.{4,}|…", text):
        return None  # a table-of-contents line
    return text


def _outline_levels(paras: list[_Para], outline: list[tuple[str, int, int]]) -> dict[int, int]:
    """Paragraphs that match an outline entry on (or next to) its page, and the entry's level."""
    levels: dict[int, int] = {}
    unused = list(outline)
    for k, (page, para) in enumerate(paras):
        text = _heading_candidate(para)
        norm = re.sub(r"\W|_", "", text.lower()) if text else ""
        if len(norm) < 3:
            continue
        for entry in unused:
            title, level, target = entry
            close = len(norm) >= max(5, len(title) / 2) and (title.startswith(norm) or title.endswith(norm))
            if abs(page - target) <= 1 and (norm == title or close):
                levels[k] = level
                unused.remove(entry)
                break
    return levels


def _font_levels(paras: list[_Para], body: float) -> dict[int, int]:
    """Short paragraphs set larger than the body, or bold at about its size; ranked by size, then
    weight, then numbering depth ("3.2.3" is below "3.2"). Styles seen only on the first two pages
    of a longer document are cover-page typography, not headings."""
    styles: dict[int, tuple[float, bool, int]] = {}
    pages_of: dict[tuple[float, bool, int], set[int]] = defaultdict(set)
    for k, (page, para) in enumerate(paras):
        text = _heading_candidate(para)
        if text is None or isinstance(para, _Table):
            continue
        size, bold = max(line.size for line in para), min(line.bold for line in para)
        if size >= max(body * 1.15, body + 1) or (bold >= 0.9 and size >= body - 1.5 and not text.endswith(".")):
            number = re.match(r"(\d+(\.\d+)*)\.?\s", text)
            styles[k] = (round(size * 2) / 2, bold >= 0.9, number.group(1).count(".") if number else 0)
            pages_of[styles[k]].add(page)
    last_page = max((page for page, _ in paras), default=0)
    cover = {style for style, seen in pages_of.items() if last_page > 3 and max(seen) <= 2}
    ranks = sorted(set(styles.values()) - cover, key=lambda style: (-style[0], not style[1], style[2]))
    return {k: ranks.index(style) for k, style in styles.items() if style not in cover}


# -- outline, title and metadata -----------------------------------------------------------------------


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


def _title(meta_title: str, first_page: list[_Run], blocks: list[Block], *, stem: str) -> str:
    """Metadata title if the first page bears it out, else the largest line on page 1, else a heading."""
    meta_title = " ".join(meta_title.split())
    words = re.findall(r"\w+", meta_title.lower())
    on_page = set(re.findall(r"\w+", " ".join(run.text for run in first_page).lower()))
    junk = re.match(r"(untitled|microsoft \w+ - |document\d*$)|.*\.(docx?|pdf|indd|pptx?|xlsx?)$", meta_title.lower())
    if words and not junk and sum(w in on_page for w in words) >= 0.8 * len(words):
        return meta_title  # a template's stale title rarely shares 80% of its words with page 1
    body = _body_size(first_page)
    big = [run for run in first_page if sum(ch.isalpha() for ch in run.text) >= 3]
    if big and max(run.size for run in big) >= body * 1.15:
        largest = max(run.size for run in big)
        lines = _by_rows([run for run in big if run.size >= largest - 0.5])
        title = _join([run.text for run in lines if run.middle - lines[0].middle <= 4 * largest])
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
