"""Ruled tables on a PDF page: rules -> grid -> Markdown rows.

Rules are stroked lines and thin filled bars (not the sides of cell shading),
read from PDFium by `pdf`. Rules that cross are grouped, and each group is
snapped into a grid; neighbouring cells with no rule between them are merged
(spans). The first row is the header. A ruled band in which every cell holds
the same number of aligned lines is split into one row per line (statistics
printed five records to a band). Characters inside a table are taken out of
the page's prose, so its text is not repeated.

Left out: tables without rules (their cells read as text, column by column), a
box or a lone rule (no grid), and a header carried over to a table continued
on the next page (`pdf` does that, across pages).
"""

from __future__ import annotations

import re
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass

from dayshift.ingest.loaders.pdf_layout import Char, Table, by_rows, char_groups, join_lines, merge_lines, runs_of

_FIGURE = re.compile(r"^[-+–(]?[$€£]?[\d.,]+%?\)?$")
_RULE_TOLERANCE = 2.0  # points: rules this close are one rule
_MIN_CELL = 6.5  # points: no table cell is narrower or shorter


@dataclass(slots=True)
class Rule:
    """A horizontal or vertical rule in reading space."""

    pos: float  # y of a horizontal rule, x of a vertical one
    lo: float  # extent along the rule
    hi: float


def merge_rules(rules: list[Rule]) -> list[Rule]:
    """Snap rules within tolerance onto one line, then join pieces that touch."""
    merged: list[Rule] = []
    rules.sort(key=lambda r: r.pos)
    groups: list[list[Rule]] = []
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
                merged.append(Rule(pos, rule.lo, rule.hi))
    return merged


def _crosses(rule: Rule, pos: float, at: float) -> bool:
    """Does `rule` lie on line `pos` and cover `at` along its length?"""
    tol = _RULE_TOLERANCE
    return abs(rule.pos - pos) <= tol and rule.lo - tol <= at <= rule.hi + tol


def find_tables(chars: list[Char], rules: tuple[list[Rule], list[Rule]]) -> tuple[list[Table], list[Char]]:
    """Find ruled tables; return them and the characters outside them."""
    across, down = rules
    parent = list(range(len(across) + len(down)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    positions = [v.pos for v in down]  # sorted by merge_rules
    for i, h in enumerate(across):
        first = bisect_left(positions, h.lo - _RULE_TOLERANCE)
        for j in range(first, bisect_right(positions, h.hi + _RULE_TOLERANCE)):
            if _crosses(down[j], down[j].pos, h.pos):
                parent[find(i)] = find(len(across) + j)
    groups: dict[int, tuple[list[Rule], list[Rule]]] = defaultdict(lambda: ([], []))
    for i, h in enumerate(across):
        groups[find(i)][0].append(h)
    for j, v in enumerate(down):
        groups[find(len(across) + j)][1].append(v)
    tables: list[Table] = []
    for hs, vs in groups.values():
        if hs and vs:
            table = _grid_table(hs, vs, chars)
            if table is not None:
                tables.append(table)
                chars = [c for c in chars if not _inside(c, table)]
    return tables, chars


def _inside(char: Char, box: Table) -> bool:
    x, y = (char.x0 + char.x1) / 2, (char.top + char.bottom) / 2
    return box.x0 - 1 <= x <= box.x1 + 1 and box.top - 1 <= y <= box.bottom + 1


def _grid_table(hs: list[Rule], vs: list[Rule], chars: list[Char]) -> Table | None:
    box = Table(
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
    texts: dict[tuple[int, int], list[Char]] = defaultdict(list)
    for group in char_groups([char for char in chars if _inside(char, box)]):
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


def _grid_lines(values: list[float], rules: list[Rule]) -> list[float]:
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


def _rule_length(pos: float, rules: list[Rule]) -> float:
    return sum(rule.hi - rule.lo for rule in rules if abs(rule.pos - pos) <= _RULE_TOLERANCE)


def _cell_roots(ys: list[float], xs: list[float], hs: list[Rule], vs: list[Rule]) -> list[list[tuple[int, int]]]:
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
    texts: dict[tuple[int, int], list[Char]], *, rows: int, cols: int, cells: list[list[tuple[int, int]]]
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
            table.append(_row({root[1]: join_lines([t for t, _ in found]) for root, found in band.items()}, cols))
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


def _caption_merged(rows: list[list[str]]) -> list[list[str]]:
    """[caption row, column names, ...] -> [column names with the caption in their empty cells, ...]."""
    if len(rows) < 3 or len(rows[0]) < 3 or sum(bool(c.strip()) for c in rows[0]) != 1:
        return rows
    caption, names = rows[0], rows[1]
    if sum(bool(c.strip()) for c in names) < 2:
        return rows
    merged = [n if n.strip() else c for c, n in zip(caption, names, strict=False)]
    merged += names[len(merged):]
    return [merged, *rows[2:]]


def _lines_of(chars: list[Char]) -> list[tuple[str, float]]:
    """A cell's text lines, top to bottom, with their vertical middles."""
    return [(run.text, run.middle) for run in merge_lines(by_rows(runs_of(chars)))]


def table_markdown(rows: list[list[str]]) -> str:
    """Rows as Markdown, the first row as header; "|" in a cell is escaped.

    A caption row on top (one filled cell across a table of three columns or more, as the FBI NICS
    table's title) is merged into the row of column names under it, so the header a chunk repeats
    names the columns, not only the title."""
    rows = _caption_merged(rows)
    escaped = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in escaped]
    lines.insert(1, "| " + " | ".join("---" for _ in escaped[0]) + " |")
    return "\n".join(lines)
