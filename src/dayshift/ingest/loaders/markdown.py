"""Markdown loader: one `.md` / `.markdown` file in, one `Document` out.

Scope: CommonMark plus GitHub tables, parsed with markdown-it-py. Headings give
every block its section path (`("Chapter", "Sub heading")`) and are kept as
`kind="heading"` blocks; paragraphs, lists, fenced code (kept intact, fences
and info string included), tables (Markdown rows) and inline HTML (reduced to
text) become blocks. YAML front matter becomes metadata (scalars; lists joined
with ", "). Inline markup is reduced to its text: links to their link text,
images to their alt text, inline code to its content. mdBook directives
(`{{#include file:anchor}}`, `{{#rustdoc_include ...}}`) are resolved when the
target exists inside the ingest root, and dropped otherwise. Title: front
matter `title`, else the first H1, else the first heading of the shallowest
level used, else the file name. Decoding is the shared `text.read_text`.

Left out: other Markdown flavours' extensions (footnotes, math, admonitions),
HTML rendering, link targets (only link text is kept), mdBook's hiding of
`# ` lines in Rust listings, and nested includes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from html import unescape
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from dayshift.errors import EmptyFileError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.text import read_text
from dayshift.types import Block, BlockKind, Document, Metadata, make_doc_id

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
# {{#include path}}, {{#rustdoc_include path:anchor}}, {{#title ...}}; a line
# holding only the directive goes away with its newline.
_DIRECTIVE = re.compile(r"^[ \t]*(\{\{#(\w+)\s*([^}]*)\}\})[ \t]*\r?\n|\{\{#(\w+)\s*([^}]*)\}\}", re.M)
_INCLUDES = frozenset({"include", "rustdoc_include", "playground", "playpen"})
_ANCHOR_LINE = re.compile(r"^.*\bANCHOR(?:_END)?:\s*\w+.*$\n?", re.M)
_MAX_INCLUDE_BYTES = 1_000_000

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_HTML_TAG = re.compile(r"<[^>]*>")

_PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


class MarkdownLoader:
    """Loads one Markdown file as one document."""

    extensions: tuple[str, ...] = (".md", ".markdown")

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        text = read_text(path)  # the shared decoder: BOM, UTF-8, else a confident guess
        meta, body = split_front_matter(text, path=path)
        body = resolve_directives(body, path=path, root=_ingest_root(path, source))
        tokens = _PARSER.parse(body)
        blocks = tokens_to_blocks(tokens)
        if not blocks:
            raise EmptyFileError(
                str(path), "no text after front matter and directives", "add content or exclude the file"
            )
        title = str(meta.pop("title", "") or "") or _title_from_tokens(tokens) or path.stem
        yield Document(doc_id=make_doc_id(source), source=source, title=title, blocks=blocks, metadata=meta)


def split_front_matter(text: str, *, path: Path | str = "<text>") -> tuple[Metadata, str]:
    """(metadata, body) from a text that may open with a YAML `---` block."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise MalformedFileError(
            str(path), f"invalid YAML front matter: {exc}", "fix the YAML between the opening and closing --- lines"
        ) from exc
    if not isinstance(data, dict):  # a thematic break, not front matter
        return {}, text
    return _scalar_metadata(data), text[match.end() :]


def _scalar_metadata(data: dict[object, object]) -> Metadata:
    meta: Metadata = {}
    for key, value in data.items():
        if isinstance(value, (list, tuple)):
            items = [_scalar(v) for v in value]
            joined = ", ".join(str(v) for v in items if v is not None)
            if joined:
                meta[str(key)] = joined
        elif (scalar := _scalar(value)) is not None:
            meta[str(key)] = scalar
    return meta


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return None  # nested mappings and nulls carry no indexable value


# -- mdBook directives -------------------------------------------------------


def _ingest_root(path: Path, source: str) -> Path:
    """The folder `source` is relative to, so includes cannot escape it."""
    root, parts = path.absolute(), Path(source).parts
    if not parts or not path.as_posix().endswith(Path(source).as_posix()):
        return root.parent.resolve()
    for _ in parts:
        root = root.parent
    return root.resolve()


def resolve_directives(text: str, *, path: Path, root: Path) -> str:
    """Replace mdBook `{{#...}}` directives by the included text, or drop them."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2) or match.group(4)
        args = (match.group(3) if match.group(2) else match.group(5)) or ""
        included = _include(args.strip(), base=path.parent, root=root) if name in _INCLUDES else None
        if included is None:
            return ""
        return included if included.endswith("\n") or not match.group(1) else included + "\n"

    return _DIRECTIVE.sub(replace, text)


def _include(spec: str, *, base: Path, root: Path) -> str | None:
    """Text of `file`, `file:anchor`, `file:start:end` (1-based, inclusive), or None."""
    file_part, _, selector = spec.partition(":")
    target = (base / file_part).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None  # listings absent from the data are dropped, as documented
    try:
        if target.stat().st_size > _MAX_INCLUDE_BYTES:
            return None
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _select(text, selector)


def _select(text: str, selector: str) -> str:
    if not selector:
        return _ANCHOR_LINE.sub("", text)
    if re.fullmatch(r"\d*(:\d*)?", selector):
        start, _, end = selector.partition(":")
        lines = text.splitlines(keepends=True)
        first = int(start) - 1 if start else 0
        last = int(end) if end else (len(lines) if ":" in selector else first + 1)
        return "".join(lines[first:last])
    anchor = re.search(
        rf"ANCHOR:\s*{re.escape(selector)}\b[^\n]*\n(.*?)^[^\n]*ANCHOR_END:\s*{re.escape(selector)}\b",
        text,
        re.S | re.M,
    )
    return _ANCHOR_LINE.sub("", anchor.group(1)) if anchor else ""


# -- tokens to blocks ----------------------------------------------------------


def markdown_to_blocks(text: str) -> list[Block]:
    """Blocks in reading order; headings set the section path of what follows."""
    return tokens_to_blocks(_PARSER.parse(text))


def tokens_to_blocks(tokens: Sequence[Token]) -> list[Block]:
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []  # (heading level, heading text)
    saved: list[list[tuple[int, str]]] = []  # section stacks outside each blockquote
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        section = tuple(title for _, title in path)
        if tok.type == "heading_open":
            level, title = int(tok.tag[1]), _inline_text(tokens[i + 1])
            path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
            if title:
                blocks.append(Block(title, kind="heading", section=tuple(t for _, t in path)))
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open", "table_open"):
            end = _closing(tokens, i)
            if tok.type == "table_open":
                _append(blocks, _render_table(tokens[i : end + 1]), kind="table", section=section)
            else:
                _append(blocks, _render_list(tokens[i : end + 1]), kind="list", section=section)
            i = end + 1
            continue
        if tok.type == "blockquote_open":
            saved.append(list(path))
        elif tok.type == "blockquote_close" and saved:
            path = saved.pop()  # a sidebar's headings do not outlive it
        elif tok.type == "inline":
            _append(blocks, _inline_text(tok), kind="paragraph", section=section)
        elif tok.type in ("fence", "code_block"):
            _append(blocks, _fenced(tok), kind="code", section=section)
        elif tok.type == "html_block":
            _append(blocks, _strip_tags(tok.content), kind="paragraph", section=section)
        i += 1
    return blocks


def _append(blocks: list[Block], text: str, *, kind: BlockKind, section: tuple[str, ...]) -> None:
    if text.strip():
        blocks.append(Block(text.strip("\n"), kind=kind, section=section))


def _strip_tags(html: str) -> str:
    """Text of an HTML block (`<a id=..></a>`, `<span class=caption>`); full
    HTML extraction lives in the HTML loader, which builds on this module."""
    text = _HTML_TAG.sub("", _HTML_COMMENT.sub("", html))
    return "\n".join(" ".join(line.split()) for line in unescape(text).splitlines() if line.strip())


def _closing(tokens: Sequence[Token], start: int) -> int:
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


def _fenced(tok: Token) -> str:
    if not tok.content.strip():
        return ""  # e.g. a fence whose only line was a dropped {{#include}}
    fence = "````" if "```" in tok.content else "```"
    return f"{fence}{tok.info.strip()}\n{tok.content.rstrip()}\n{fence}"


def _inline_text(tok: Token) -> str:
    parts: list[str] = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))  # alt text lives in the image's children
        elif child.type == "html_inline" and child.content.lower().startswith("<br"):
            parts.append("\n")
    return re.sub(r"[ \t]+", " ", "".join(parts)).strip()


def _render_list(tokens: Sequence[Token]) -> str:
    items: list[tuple[str, list[str]]] = []  # (indented marker, content lines)
    counters: list[int | None] = []  # per nesting depth: next number, or None for bullets
    for tok in tokens:
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            counters.append(int(tok.attrGet("start") or 1) if tok.type == "ordered_list_open" else None)
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
        elif tok.type == "list_item_open":
            number = counters[-1]
            if number is not None:
                counters[-1] = number + 1
            items.append(("  " * (len(counters) - 1) + ("-" if number is None else f"{number}."), []))
        elif tok.type == "inline" and items and (text := _inline_text(tok)):
            items[-1][1].append(text)
        elif tok.type in ("fence", "code_block") and items and (code := _fenced(tok)):
            items[-1][1].append(code)
    lines = []
    for marker, content in items:
        if content:
            indent = "\n" + " " * (len(marker) + 1)
            lines.append(marker + " " + indent.join(part.replace("\n", indent) for part in content))
    return "\n".join(lines)


def _render_table(tokens: Sequence[Token]) -> str:
    rows: list[list[str]] = []
    for tok in tokens:
        if tok.type == "tr_open":
            rows.append([])
        elif tok.type == "inline" and rows:
            rows[-1].append(_inline_text(tok).replace("|", "\\|").replace("\n", " "))
    return markdown_table(rows)


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Markdown rows, first row as header: `| a | b |` / `| --- | --- |` / ..."""
    kept = [list(r) for r in rows if any(cell.strip() for cell in r)]
    if not kept:
        return ""
    width = max(len(r) for r in kept)
    padded = [r + [""] * (width - len(r)) for r in kept]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in padded[1:]]
    return "\n".join(lines)


def _title_from_tokens(tokens: Sequence[Token]) -> str:
    """The first H1; else the first heading of the shallowest level used."""
    headings = [(int(t.tag[1]), _inline_text(tokens[i + 1])) for i, t in enumerate(tokens) if t.type == "heading_open"]
    if not headings:
        return ""
    top = min(level for level, _ in headings)
    return next(text for level, text in headings if level == top)
