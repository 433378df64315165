"""PDF page layout: characters -> runs -> lines in reading order -> paragraphs and headings.

Pure geometry over the characters that `pdf` reads from PDFium (points, y
growing downwards in the page's reading direction); nothing here calls PDFium.

- Runs: characters are grouped in content order into runs, split at gaps wider
  than a word space, so no run crosses a column gutter.
- Reading order: a recursive XY-cut over runs and tables. A region is cut at a
  vertical gutter when one runs its full height (columns read left to right,
  each top to bottom), otherwise at its widest horizontal gap.
- Running headers and footers: runs in the top or bottom 12% of a page whose
  text (digits masked) recurs in that margin on at least half the pages, and
  bare page numbers there, are dropped.
- Paragraphs start at a larger than usual line gap, a first-line indent, a
  bullet, a change of size or weight, or a new column; a sentence that runs on
  into the next column stays whole. Hyphenated line ends are joined.
- Headings: with a PDF outline, short paragraphs matching an outline entry on
  its page are headings at the outline's level; without one, short paragraphs
  set larger than the body text, or wholly bold at about body size, are
  headings ranked by size.

Left out: finding tables (`pdf_tables`; here a table is only a box to place in
reading order), reading PDFium, building blocks, title and metadata (`pdf`).
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

BULLET = re.compile(r"^([•●○◦▪■□►▶➢✓✔\uf000-\uf0ff]\s*|[-–—*]\s+)")
_LIST_START = re.compile(r"^([•●○◦▪■□►▶➢✓✔–—*\uf000-\uf0ff]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
_PAGE_NUMBER = re.compile(r"^(page\s+)?(\d+|[ivxlcdm]+)(\s+of\s+\d+)?$", re.IGNORECASE)
_COMBINING = {"ˆ": "\u0302", "˜": "\u0303", "¸": "\u0327", "¨": "\u0308", "˚": "\u030a", "ˇ": "\u030c", "´": "\u0301"}
_ACCENT_AFTER = re.compile(f"([A-Za-z])([{''.join(_COMBINING)}])")  # "Aviac¸a˜o" -> "Aviação"
_MARGIN = 0.12  # share of page height where running headers and footers live


@dataclass(slots=True)
class Char:
    text: str
    x0: float  # points; y grows downwards, in the page's reading direction
    x1: float
    top: float
    bottom: float
    size: float  # font size in points
    bold: bool
    space_before: bool  # whitespace came before it in the content stream


@dataclass(slots=True)
class Run:
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
class Table:
    """A ruled table found by `pdf_tables`: its box, and its cells as rows of text."""

    x0: float
    x1: float
    top: float
    bottom: float
    rows: list[list[str]]  # cell text, the first row is the header


@dataclass(slots=True)
class Page:
    """One page in reading space: its vertical extent, its prose runs and its tables."""

    number: int  # 1-based
    top: float
    bottom: float
    runs: list[Run]
    tables: list[Table]
    all_runs: list[Run]  # including text inside tables; page 1 only


# -- runs ------------------------------------------------------------------------------------------


def runs_of(chars: list[Char]) -> list[Run]:
    """Characters in content order -> runs, each on one line with no wide gap."""
    return [_make_run(group) for group in char_groups(chars)]


def char_groups(chars: list[Char]) -> list[list[Char]]:
    """Characters of one run: same line, advancing, no gap wider than a generous word space."""
    groups: list[list[Char]] = []
    for char in chars:
        if groups and _continues(groups[-1], char):
            groups[-1].append(char)
        else:
            groups.append([char])
    return groups


def _continues(current: list[Char], char: Char) -> bool:
    last, first = current[-1], current[0]
    height = max(first.bottom - first.top, char.bottom - char.top)
    middle = (first.top + first.bottom) / 2
    gap = char.x0 - last.x1
    em = max(last.size, char.size, 1.0)
    advancing = char.x0 >= last.x0 - 0.3 * em  # ligatures give two characters one box
    return abs((char.top + char.bottom) / 2 - middle) <= 0.45 * height and advancing and gap <= 0.6 * em


def _make_run(chars: list[Char]) -> Run:
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
    return Run(
        text=text,
        x0=min(c.x0 for c in chars),
        x1=max(c.x1 for c in chars),
        top=min(c.top for c in chars),
        bottom=max(c.bottom for c in chars),
        size=sizes.most_common(1)[0][0],
        bold=sum(c.bold for c in chars) / len(chars),
    )


# -- running headers and footers -------------------------------------------------------------------


def drop_running_lines(pages: list[Page]) -> None:
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


def _margin_key(run: Run, page: Page) -> str:
    """Which margin, and the text with digits masked: 'bottom:page # of #'."""
    zone = "top" if run.middle < (page.top + page.bottom) / 2 else "bottom"
    text = "#" if _PAGE_NUMBER.match(run.text.strip()) else re.sub(r"\d+", "#", run.text.lower())
    return f"{zone}:{text}"


def _in_margin(run: Run, page: Page) -> bool:
    band = _MARGIN * (page.bottom - page.top)
    return run.bottom <= page.top + band or run.top >= page.bottom - band


def _page_number(run: Run, page: Page, running: set[int]) -> bool:
    """A bare page number in a margin, alone on its line or beside running text (not "4" + heading)."""
    if not _in_margin(run, page) or not _PAGE_NUMBER.match(run.text.strip()):
        return False
    return all(id(other) in running for other in page.runs if other is not run and _same_row(run, other))


def _same_row(a: Run, b: Run) -> bool:
    return abs(a.middle - b.middle) <= 0.5 * min(a.bottom - a.top, b.bottom - b.top)


# -- reading order ---------------------------------------------------------------------------------

Item = Run | Table


def reading_order(items: list[Item]) -> list[Item]:
    """Recursive XY-cut, done with a stack: columns first, then the widest horizontal gap."""
    ordered: list[Item] = []
    stack: list[list[Item]] = [items]
    while stack:
        region = stack.pop()
        parts = _vertical_cut(region) if len(region) > 1 else None
        parts = parts or (_horizontal_cut(region) if len(region) > 1 else None)
        if parts:
            stack.extend(reversed(parts))
        else:
            ordered.extend(by_rows(region))
    return ordered


def _vertical_cut(region: list[Item]) -> list[list[Item]] | None:
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
    parts: list[list[Item]] = [[] for _ in range(len(cuts) + 1)]
    for item in region:
        parts[bisect_right(cuts, item.x0)].append(item)
    return [part for part in parts if part]


def _horizontal_cut(region: list[Item]) -> list[list[Item]] | None:
    ordered = sorted(region, key=lambda i: i.top)
    best, best_gap, reach = 0, 0.0, ordered[0].bottom
    for k, item in enumerate(ordered[1:], start=1):
        if item.top - reach > best_gap:
            best, best_gap = k, item.top - reach
        reach = max(reach, item.bottom)
    return [ordered[:best], ordered[best:]] if best else None


def by_rows(items: list[Any]) -> list[Any]:
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


def merge_lines(items: list[Any]) -> list[Any]:
    """Join consecutive runs that sit on the same line into one line."""
    merged: list[Any] = []
    for item in items:
        last = merged[-1] if merged else None
        if isinstance(item, Run) and isinstance(last, Run) and _same_line(last, item):
            share = len(last.text) / (len(last.text) + len(item.text))
            merged[-1] = Run(
                f"{last.text} {item.text}", last.x0, item.x1, min(last.top, item.top),
                max(last.bottom, item.bottom), max(last.size, item.size),
                last.bold * share + item.bold * (1 - share),
            )  # fmt: skip
        else:
            merged.append(item)
    return merged


def _same_line(a: Run, b: Run) -> bool:
    small, big = sorted((a, b), key=lambda run: run.size)
    if small.size < 0.8 * big.size:  # a footnote mark or an index beside normal text
        level = big.top <= small.middle <= big.bottom
    else:
        level = abs(a.middle - b.middle) <= 0.3 * min(a.bottom - a.top, b.bottom - b.top)
    return level and -1 <= b.x0 - a.x1 <= 4 * max(a.size, b.size)


# -- paragraphs and headings -----------------------------------------------------------------------

Para = tuple[int, list[Run] | Table]  # (page number, lines of a paragraph or a table)


def line_pitch(pages: list[list[Item]]) -> float:
    """Typical distance between baselines in a paragraph, in ems."""
    ratios = [
        (b.middle - a.middle) / a.size
        for items in pages
        for a, b in pairwise(items)
        if isinstance(a, Run) and isinstance(b, Run) and a.size > 0 and abs(a.size - b.size) < 0.5
        and 0 < b.middle - a.middle < 2.5 * a.size and b.x0 < a.x1 and a.x0 < b.x1
    ]  # fmt: skip
    return statistics.median(ratios) if ratios else 1.2


def body_size(runs: list[Run]) -> float:
    sizes: Counter[float] = Counter()
    for run in runs:
        sizes[round(run.size * 2) / 2] += len(run.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def paragraphs(items: list[Item], pitch: float) -> list[list[Run] | Table]:
    out: list[list[Run] | Table] = []
    current: list[Run] = []
    for item in items:
        if current and (isinstance(item, Table) or _breaks(current, item, pitch)):
            out.append(current)
            current = []
        if isinstance(item, Table):
            out.append(item)
        else:
            current.append(item)
    if current:
        out.append(current)
    return out


def _breaks(paragraph: list[Run], b: Run, pitch: float) -> bool:
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


def join_lines(lines: list[str], *, compounds: frozenset[str] = frozenset()) -> str:
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


def _heading_candidate(para: list[Run] | Table) -> str | None:
    if isinstance(para, Table) or len(para) > 3:
        return None
    text = join_lines([line.text for line in para])
    letters = sum(ch.isalpha() for ch in text)
    if len(text) > 150 or letters < 2 or text.endswith((",", ";")) or BULLET.match(text):
        return None
    if re.search(r"\.{4,}|…", text):
        return None  # a table-of-contents line
    return text


def outline_levels(paras: list[Para], outline: list[tuple[str, int, int]]) -> dict[int, int]:
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


def font_levels(paras: list[Para], body: float) -> dict[int, int]:
    """Short paragraphs set larger than the body, or bold at about its size; ranked by size, then
    weight, then numbering depth ("3.2.3" is below "3.2"). Styles seen only on the first two pages
    of a longer document are cover-page typography, not headings."""
    styles: dict[int, tuple[float, bool, int]] = {}
    pages_of: dict[tuple[float, bool, int], set[int]] = defaultdict(set)
    for k, (page, para) in enumerate(paras):
        text = _heading_candidate(para)
        if text is None or isinstance(para, Table):
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
