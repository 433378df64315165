"""Wikitext -> blocks: one article's markup as clean text, headings, lists and tables.

Templates are removed except a handful that carry inline text (convert, lang,
nowrap, sortname, yes/no ...); <ref>s, comments, files, images, categories and
interlanguage links are dropped; links become their text; bold/italic marks
go. Section headings set `Block.section` (the lead section has `()`) and are
kept as heading blocks; wiki tables become Markdown rows (`kind="table"`,
colspan/rowspan filled in); `*`/`#` lists become `- ` / `1. ` lines; <math>
keeps its TeX. Sections that only cite sources (References, External links,
Notes, Further reading ...) are skipped.

Left out: template expansion (a template's output is unknown without the
wiki's template pages), parser functions, image captions and infobox fields;
reading the XML export (`mediawiki`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Tag, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

from dayshift.ingest.loaders.markdown import markdown_table
from dayshift.types import Block, BlockKind

# -- wikitext preprocessing: refs, comments, templates ----------------------------------

_REFS = re.compile(r"<!--.*?(?:-->|\Z)|<ref\b[^>]*?/>|<ref\b[^>]*>.*?</ref\s*>|<references\b.*?(?:/>|</references\s*>)",
                   re.S | re.I)  # fmt: skip
_VERBATIM = re.compile(r"<(nowiki|pre|math|chem|source|syntaxhighlight)\b[^>]*?(?:/>|>.*?</\1\s*>)", re.S | re.I)
_BRACES = re.compile(r"\{\{|\}\}")
_BRACKETS = re.compile(r"\[\[|\]\]")
_MEDIA_LINK = re.compile(r"\[\[\s*(?:file|image|category|media)\s*:", re.I)
_Params = tuple[list[str], dict[str, str]]  # (positional, named)


def _first(p: _Params) -> str:
    return p[0][0] if p[0] else p[1].get("1", "")


def _convert(p: _Params) -> str:
    pos = p[0]
    if len(pos) >= 4 and pos[1].strip() in ("to", "-", "–", "and", "or", "by", "x"):
        return " ".join(pos[:4])
    return " ".join(pos[:2])


def _cell_template(default: str) -> Callable[[_Params], str]:
    """{{yes}}, {{n/a}} ...: table-cell templates output `attributes | text`, so the
    cell's own attributes before them must end at our "|" as they do in MediaWiki."""
    return lambda p: "|" + (_first(p) or default)


# Templates whose visible output is plain text we can reproduce; all others go.
_INLINE_TEMPLATES: dict[str, Callable[[_Params], str]] = {
    "convert": _convert, "cvt": _convert,
    "lang": lambda p: p[0][-1] if p[0] else "", "transl": lambda p: p[0][-1] if p[0] else "",
    "nowrap": _first, "nobr": _first, "small": _first, "smaller": _first, "big": _first, "larger": _first,
    "abbr": _first, "vanchor": _first, "visible anchor": _first, "mvar": _first, "var": _first, "ill": _first,
    "flag": _first, "flagcountry": _first, "flagu": _first, "nts": _first, "nihongo": _first, "ipa": _first,
    "sortname": lambda p: " ".join(p[0][:2]), "sort": lambda p: p[0][-1] if p[0] else "",
    "chem": lambda p: "".join(p[0]), "dts": lambda p: " ".join(p[0]), "frac": lambda p: "/".join(p[0]),
    "as of": lambda p: "As of " + " ".join(p[0][:3]), "quote": lambda p: p[1].get("text", "") or _first(p),
    "hlist": lambda p: " · ".join(p[0]), "·": lambda p: " · ", "!": lambda p: "|",
    **{name: _cell_template(text) for name, text in
       (("yes", "Yes"), ("no", "No"), ("partial", "Partial"), ("n/a", "N/A"), ("na", "N/A"), ("tba", "TBA"))},
}  # fmt: skip


def preprocess(wikitext: str) -> str:
    """Wikitext without comments, references and templates (inline ones rendered)."""
    text = _REFS.sub("", wikitext)
    saved: list[str] = []

    def protect(match: re.Match[str]) -> str:
        saved.append(match.group(0))
        return f"\x00{len(saved) - 1}\x00"

    text = expand_templates(re.sub(r"\{\{\{[^{}]*\}\}\}", "", _VERBATIM.sub(protect, text)))
    return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], _drop_media_links(text))


def _drop_media_links(text: str) -> str:
    """Remove [[File:..]], [[Image:..]], [[Category:..]] with nested links, even
    when their caption's markup is too broken for the parser to see a link."""
    out, pos = [], 0
    for start in _MEDIA_LINK.finditer(text):
        if start.start() < pos:
            continue  # inside a link already removed
        depth = 0
        for match in _BRACKETS.finditer(text, start.start()):
            depth += 1 if match.group() == "[[" else -1
            if depth == 0:
                out.append(text[pos : start.start()])
                pos = match.end()
                break
    return "".join(out) + text[pos:]


def expand_templates(text: str) -> str:
    out: list[str] = []
    depth, pos, start = 0, 0, 0
    for match in _BRACES.finditer(text):
        if match.group() == "{{":
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                out += [text[pos:start], _expand_one(text[start + 2 : match.start()])]
                pos = match.end()
    out.append(text[pos:])  # an unclosed "{{" stays text; the renderer drops the braces
    return "".join(out)


def _expand_one(body: str) -> str:
    name, *args = _split_outside(body, r"\|")
    key = name.strip().replace("_", " ").lower()
    render = _INLINE_TEMPLATES.get(key) or (_first if key.startswith("lang-") else None)
    if render is None:
        return ""
    positional, named = [], {}
    for arg in args:
        arg = expand_templates(arg)
        head, eq, value = arg.partition("=")
        if eq and re.fullmatch(r"\s*[\w -]+\s*", head) and "[[" not in head:
            named[head.strip()] = value.strip()
        else:
            positional.append(arg.strip())
    return render((positional, named))


# -- wikicode to blocks ------------------------------------------------------------------

_SKIP_SECTIONS = frozenset((
    "references", "external links", "notes", "footnotes", "further reading", "sources", "citations",
    "notes and references", "references and notes", "works cited", "explanatory notes", "general references",
))  # fmt: skip
_DROP_TAGS = frozenset(("ref", "references", "gallery", "imagemap", "timeline", "score", "graph", "templatedata",
                        "includeonly"))  # fmt: skip
_VERBATIM_TAGS = frozenset(["nowiki", "pre", "math", "chem", "source", "syntaxhighlight"])
_CODE_TAGS = frozenset(["pre", "source", "syntaxhighlight"])
_CONTAINER_TAGS = frozenset(["div", "center", "blockquote", "onlyinclude", "noinclude", "section"])
_LINK_DROP_NS = frozenset(["file", "image", "category", "media"])
_LIST_LINE = re.compile(r"^([*#:;]+)\s*(.*)$")
_LEFTOVER_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
# bold/italic quotes, braces, magic words, table marks, and HTML tags the parser left as
# text (an unclosed <li>, a stray </div>), named so that "a <b" in prose survives
_LEFTOVER_MARKUP = re.compile(
    r"'{2,}|\{\{|\}\}|__[A-Z]+__|\x02\d+\x03|</?(?:li|ul|ol|div|span|br|p|small|big|center|sup|sub|font|"
    r"blockquote|poem|s|u|i|b|em|strong|code|tt|table|tr|td|th)\b[^<>]*>"
)
_EMPTY_PARENS = re.compile(r"\(\s*[,;:]?\s*\)")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" ([,.;:!?)])")


def wikitext_to_blocks(wikitext: str) -> list[Block]:
    """One article's wikitext as blocks in reading order, each with its heading path."""
    builder = _BlockBuilder()
    text = extract_tables(preprocess(wikitext), builder.tables)
    builder.walk(mwparserfromhell.parse(text).nodes)
    builder.flush()
    return builder.blocks


@dataclass
class _BlockBuilder:
    blocks: list[Block] = field(default_factory=list)
    path: list[tuple[int, str]] = field(default_factory=list)  # (heading level, title)
    buffer: list[str] = field(default_factory=list)
    skip_level: int = 0  # inside a References-like section of this level
    tables: list[str] = field(default_factory=list)  # Markdown, by placeholder number

    def walk(self, nodes: Sequence[object]) -> None:
        for node in nodes:
            if isinstance(node, Heading):
                self._heading(node.level, _tidy(inline_text(node.title)))
            elif self.skip_level:
                continue
            elif isinstance(node, Text) and "\x02" in node.value:
                pieces = _TABLE_MARK.split(node.value)  # text, table number, text, ...
                for k, piece in enumerate(pieces):
                    if k % 2:
                        self._emit(self.tables[int(piece)], "table")
                    else:
                        self.buffer.append(piece)
            elif isinstance(node, Tag) and str(node.tag).lower() in _CODE_TAGS and node.contents is not None:
                self._emit(f"```\n{str(node.contents).strip(chr(10))}\n```", "code")
            elif isinstance(node, Tag) and str(node.tag).lower() in _CONTAINER_TAGS and node.contents is not None:
                self.flush()
                self.walk(node.contents.nodes)
                self.flush()
            else:
                self.buffer.append(_node_text(node))

    def flush(self) -> None:
        text, section = "".join(self.buffer), tuple(t for _, t in self.path)
        self.buffer.clear()
        self.blocks += _text_blocks(text, section)

    def _emit(self, text: str, kind: BlockKind) -> None:
        self.flush()
        if text.strip():
            self.blocks.append(Block(text, kind=kind, section=tuple(t for _, t in self.path)))

    def _heading(self, level: int, title: str) -> None:
        if self.skip_level and level > self.skip_level:
            return
        self.flush()
        self.skip_level = level if title.lower() in _SKIP_SECTIONS else 0
        if title and not self.skip_level:
            self.path = [(lv, t) for lv, t in self.path if lv < level] + [(level, title)]
            self.blocks.append(Block(title, kind="heading", section=tuple(t for _, t in self.path)))


def inline_text(code: Wikicode | None) -> str:
    return "" if code is None else "".join(_node_text(node) for node in code.nodes)


def _node_text(node: object) -> str:
    if isinstance(node, Text):
        return node.value
    if isinstance(node, Wikilink):
        return _link_text(node)
    if isinstance(node, ExternalLink):
        return inline_text(node.title) if node.title is not None else ("" if node.brackets else str(node.url))
    if isinstance(node, HTMLEntity):
        return node.normalize()
    if isinstance(node, Tag):
        return _tag_text(node)
    if isinstance(node, Heading):
        return "\n" + inline_text(node.title) + "\n"
    return ""  # Template, Argument, Comment and anything unknown: not visible text


def _link_text(link: Wikilink) -> str:
    title = _tidy(inline_text(link.title))
    prefix = title.split(":", 1)[0].strip().lower() if ":" in title else ""
    if prefix in _LINK_DROP_NS:
        return ""  # [[File:..]], [[Category:..]]; a leading ":" links instead and survives
    if link.text is None and re.fullmatch(r"[a-z]{2,3}(?:-[a-z]+)?", prefix):
        return ""  # interlanguage link such as [[de:Anarchismus]]
    if link.text is None:
        return title.lstrip(":")
    return inline_text(link.text) or re.sub(r"\s*\([^)]*\)$", "", title.lstrip(":"))  # pipe trick [[A (b)|]]


def _tag_text(tag: Tag) -> str:
    name = str(tag.tag).lower()
    if name in _DROP_TAGS:
        return ""
    if name == "br":
        return "\n"
    if name in ("li", "dd", "dt") and tag.wiki_markup:
        return str(tag.wiki_markup)  # list markers stay as markup for _text_blocks
    if name in ("li", "dd", "dt"):
        return f"\n{'*' if name == 'li' else ':'} {inline_text(tag.contents)}\n"
    if name == "hr":
        return "\n\n"
    if name in ("td", "th"):
        return f" {inline_text(tag.contents)} ;"  # an HTML <table>: flattened, wiki tables are parsed apart
    if tag.contents is None:
        return ""
    if name in _VERBATIM_TAGS:  # contents are literal; TeX braces spaced so no "{{" reads as wiki markup
        return str(tag.contents).replace("{{", "{ {").replace("}}", "} }")
    return inline_text(tag.contents)


# -- text lines to blocks -----------------------------------------------------------------


def _text_blocks(text: str, section: tuple[str, ...]) -> list[Block]:
    """Paragraphs (blank-line separated, soft-wrapped) and `*`/`#` lists."""
    blocks: list[Block] = []
    para: list[str] = []
    items: list[str] = []
    counters: dict[int, int] = {}

    def close(kind: BlockKind) -> None:
        lines, joiner = (para, " ") if kind == "paragraph" else (items, "\n")
        if lines:
            blocks.append(Block(joiner.join(lines), kind=kind, section=section))
            lines.clear()

    for raw in text.split("\n"):
        line = _tidy(raw)
        match = _LIST_LINE.match(line)
        if match and set(match.group(1)) & {"*", "#"}:
            close("paragraph")
            markers, content = match.groups()
            item = _list_item(markers, content, counters)
            if item:
                items.append(item)
        else:
            close("list")
            counters.clear()
            if match:  # ":" indented or ";" definition lines stand alone
                close("paragraph")
                para.append(match.group(2))
                close("paragraph")
            elif line:
                para.append(line)
            else:
                close("paragraph")
    close("paragraph")
    close("list")
    return [b for b in blocks if b.text.strip()]


def _list_item(markers: str, content: str, counters: dict[int, int]) -> str:
    if not content:
        return ""
    depth = len(markers) - 1
    for deeper in [d for d in counters if d > depth]:
        del counters[deeper]
    if markers[-1] == "#":
        counters[depth] = counters.get(depth, 0) + 1
        bullet = f"{counters[depth]}."
    elif markers[-1] == "*":
        bullet = "-"
    else:
        bullet = " "  # "*:" continues the item above
    return "  " * depth + f"{bullet} {content}"


def _tidy(text: str) -> str:
    if not text or text.isspace():
        return ""
    text = _LEFTOVER_LINK.sub(r"\1", text)  # links the parser left as text
    text = _LEFTOVER_MARKUP.sub("", text)
    text = _EMPTY_PARENS.sub("", _SPACES.sub(" ", text))  # parentheses emptied by removed templates
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).replace("( ", "(").strip()


# -- tables: parsed line by line, as MediaWiki does, since the parser gives up on sloppy markup ----

_TABLE_MARK = re.compile(r"\x02(\d+)\x03")
_ATTRS_ONLY = re.compile(r"(?:\s*[\w-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'|]+))*\s*")


@dataclass
class _Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1


def extract_tables(text: str, tables: list[str]) -> str:
    """Top-level `{| ... |}` tables become placeholder lines; tables[i] holds Markdown."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if lines[i].lstrip(" :").startswith("{|"):
            end = _table_end(lines, i)
            tables.append(_table_markdown(lines[i : end + 1]))
            out += ["", f"\x02{len(tables) - 1}\x03", ""]
            i = end + 1
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def _table_end(lines: list[str], start: int) -> int:
    depth = 0
    for j in range(start, len(lines)):
        line = lines[j].lstrip(" :")
        depth += line.startswith("{|") - line.startswith("|}")
        if depth == 0:
            return j
    return len(lines) - 1  # unterminated: the table runs to the end


def _table_markdown(lines: list[str]) -> str:
    caption, rows = _table_cells(lines)
    body = markdown_table(_grid(rows))
    return f"{caption}\n\n{body}" if caption and body else body


def _table_cells(lines: list[str]) -> tuple[str, list[list[_Cell]]]:
    caption = ""
    raw: list[list[str]] = [[]]  # cell sources ("attrs | content"), row by row
    j = 1
    while j < len(lines):
        line = lines[j].strip()
        if line.startswith("|}"):
            break
        if line.lstrip(":").startswith("{|"):  # a nested table is flattened into the current cell
            end = _table_end(lines, j)
            nested = " ; ".join(c.text for row in _table_cells(lines[j : end + 1])[1] for c in row if c.text)
            raw[-1] = [*raw[-1][:-1], (raw[-1][-1] if raw[-1] else "") + " " + nested]
            j = end + 1
            continue
        if line.startswith("|+"):
            caption = _cell(line[2:]).text
        elif line.startswith("|-"):
            raw.append([])
        elif line.startswith(("|", "!")):
            cells = line[2:] if line.startswith(("!!", "||")) else line[1:]
            raw[-1] += _split_outside(cells, r"!!|\|\|" if line[0] == "!" else r"\|\|")
        elif raw[-1]:
            raw[-1][-1] += "\n" + line  # a cell continued on the next line
        j += 1
    return caption, [[_cell(c) for c in row] for row in raw if row]


def _cell(source: str) -> _Cell:
    parts = _split_outside(source, r"\|", maxsplit=1)
    attrs, content = (parts[0], parts[1]) if len(parts) == 2 else ("", source)  # MediaWiki: first "|" ends attributes
    if _ATTRS_ONLY.fullmatch(content):  # `| colspan="5" {{CMain}}`: the separator was inside the template
        attrs, content = attrs + " " + content, ""
    found = dict(re.findall(r"(colspan|rowspan)\s*=\s*[\"']?(\d+)", attrs, re.I))
    spans = {k.lower(): max(1, min(int(v), 100)) for k, v in found.items()}
    text = _tidy(inline_text(mwparserfromhell.parse(content))) if re.search(r"[\[<'&{]", content) else _tidy(content)
    return _Cell(text.replace("|", "\\|"), colspan=spans.get("colspan", 1), rowspan=spans.get("rowspan", 1))


def _grid(rows: list[list[_Cell]]) -> list[list[str]]:
    """Cell texts row by row: colspans padded with empty cells, rowspans repeated below."""
    grid: list[list[str]] = []
    pending: dict[int, tuple[str, int]] = {}  # column -> (text, rows it still spans)
    for cells in rows:
        row: list[str] = []
        for cell in cells:
            _fill_spans(row, pending)
            if cell.rowspan > 1:
                pending[len(row)] = (cell.text, cell.rowspan - 1)
            row += [cell.text] + [""] * (cell.colspan - 1)
        _fill_spans(row, pending, to_end=True)
        grid.append(row)
    return grid


def _fill_spans(row: list[str], pending: dict[int, tuple[str, int]], *, to_end: bool = False) -> None:
    while len(row) in pending or (to_end and any(col >= len(row) for col in pending)):
        col = len(row)
        if col not in pending:
            row.append("")
            continue
        text, left = pending.pop(col)
        if left > 1:
            pending[col] = (text, left - 1)
        row.append(text)


def _split_outside(text: str, sep: str, *, maxsplit: int = 0) -> list[str]:
    """Split on `sep` outside [[links]] and {{templates}}."""
    parts, depth, last = [], 0, 0
    for match in re.finditer(r"\[\[|\]\]|\{\{|\}\}|" + sep, text):
        token = match.group()
        if token in ("[[", "{{"):
            depth += 1
        elif token in ("]]", "}}"):
            depth = max(depth - 1, 0)
        elif depth == 0:
            parts.append(text[last : match.start()])
            last = match.end()
            if len(parts) == maxsplit:
                break
    return [*parts, text[last:]]
