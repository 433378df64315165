"""Plain-text files (.txt, .text, .rst, .log) and `read_text`, the decoder every
text-based loader shares.

`read_text` turns a file's bytes into a `str` or raises a `LoadError` that says
how to fix the file:

    bytes --BOM?--> utf-8-sig / utf-16 / utf-32
          --binary-looking (NUL bytes, many control bytes)?--> EncodingError
          --valid UTF-8?--> done
          --charset-normalizer, one confident answer?--> done, else EncodingError

A guess is accepted only when it is confident: equally good candidates agree
on the text (or one of them is Windows-1252, the usual legacy encoding, which
then wins), and the winner is not messy without a coherent language fit.
Anything else is refused rather than silently turned into mojibake.

`TextLoader` makes one Document per file, one paragraph Block per run of
non-blank lines. In .rst files, underlined (and over+underlined) titles become
heading Blocks and set the section path.

Left out: reStructuredText directives, roles, tables and literal blocks are not
interpreted (they stay as text); log files are not parsed into records (a log
without blank lines is one big Block, which the chunker splits); UTF-16/32
without a BOM is treated as binary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dayshift.errors import EmptyFileError, EncodingError, UnreadableFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.types import Block, Document, make_doc_id

if TYPE_CHECKING:
    from charset_normalizer import CharsetMatch

log = logging.getLogger(__name__)

_BOMS: tuple[tuple[bytes, str], ...] = (  # longest first: UTF-32 LE starts like UTF-16 LE
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_SNIFF_BYTES = 64 * 1024
_MAX_CONTROL_RATIO = 0.10  # above this share of control bytes, it is not text
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")  # \x1b: ANSI colours in logs
_TIE_CHAOS = 0.03  # charset-normalizer "mess" scores this close are a tie
_MAX_CHAOS = 0.02  # messier than this needs a coherent language fit ...
_MIN_COHERENCE = 0.2  # ... of at least this (0..1)
_MAX_TITLE_CHARS = 120
_RST_ADORNMENT = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}$")


def read_text(path: Path) -> str:
    """Decode a text file. Newlines come back as "\\n"; a BOM is removed.

    Raises UnreadableFileError (missing, a directory, no permission),
    EmptyFileError (no non-whitespace text) or EncodingError (binary, or not
    UTF-8 and no confident guess).
    """
    data = _read_bytes(path)
    text = _decode(path, data)
    if not text.strip():
        raise EmptyFileError(str(path), "the file is empty or holds only whitespace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise unreadable_error(path, exc) from exc


def unreadable_error(path: Path, exc: OSError) -> UnreadableFileError:
    """The UnreadableFileError for an OSError met while opening or reading `path`."""
    if isinstance(exc, IsADirectoryError):
        return UnreadableFileError(
            str(path), "is a directory, not a file", "point at a file, or ingest the folder instead"
        )
    if isinstance(exc, PermissionError):
        return UnreadableFileError(
            str(path), "permission denied", f"grant read access (for example `chmod a+r '{path}'`)"
        )
    return UnreadableFileError(str(path), f"cannot be read: {exc.strerror or exc}")


def _decode(path: Path, data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _encoding_error(path, data, exc, f"has a {encoding} byte-order mark but") from exc
    if _looks_binary(data[:_SNIFF_BYTES]):
        raise EncodingError(
            str(path),
            "looks like binary data (NUL or control bytes), not text",
            "check that this is really a text file; if it is, convert it to UTF-8",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _decode_guessed(path, data, exc)


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in _TEXT_CONTROLS)
    return bool(sample) and controls / len(sample) > _MAX_CONTROL_RATIO


def _decode_guessed(path: Path, data: bytes, utf8_error: UnicodeDecodeError) -> str:
    """Not UTF-8: decode with charset-normalizer's guess only when it is confident."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise _encoding_error(path, data, utf8_error, "is not UTF-8 and its encoding cannot be detected;")
    encoding = _confident_encoding(matches)
    if encoding is None:
        names = ", ".join(m.encoding for m in matches[:4])
        raise _encoding_error(path, data, utf8_error, f"is not UTF-8 and its encoding is a guess at best ({names});")
    log.info("%s: not UTF-8, decoded as %s", path, encoding)
    return data.decode(encoding)


def _confident_encoding(matches: list[CharsetMatch]) -> str | None:
    """The encoding to trust among charset-normalizer's matches (best first), or None.

    Single-byte Latin code pages often tie (cp1250, cp1252, mac_roman decode the
    same bytes to different letters); among tied candidates Windows-1252 wins,
    being by far the commonest legacy encoding of exported text. Otherwise the
    tied candidates must agree, and the winner must be clean or coherent.
    """
    best = matches[0]
    tied = [m for m in matches if m.chaos <= best.chaos + _TIE_CHAOS]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    if len({str(m) for m in tied}) > 1:
        return None
    if best.chaos > _MAX_CHAOS and best.coherence < _MIN_COHERENCE:
        return None
    return best.encoding


def _encoding_error(path: Path, data: bytes, exc: UnicodeDecodeError, what: str) -> EncodingError:
    line = data.count(b"\n", 0, exc.start) + 1
    return EncodingError(
        str(path),
        f"{what} first undecodable byte at line {line}",
        f"convert the file to UTF-8 (for example `iconv -f LATIN1 -t UTF-8 '{path}'`)",
    )


class TextLoader:
    """One Document per plain-text file; paragraphs (and .rst titles) become Blocks."""

    extensions: tuple[str, ...] = (".txt", ".text", ".rst", ".log")

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        text = read_text(path)
        is_rst = path.suffix.lower() == ".rst"
        blocks = _rst_blocks(text) if is_rst else paragraph_blocks(text)
        yield Document(
            doc_id=make_doc_id(source),
            source=source,
            title=_title(blocks, fallback=path.stem),
            blocks=blocks,
        )


def paragraph_blocks(text: str) -> list[Block]:
    """Split on blank lines; each paragraph keeps its inner line breaks."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    return [Block(text=p.strip("\n").rstrip()) for p in paragraphs if p.strip()]


def _title(blocks: list[Block], *, fallback: str) -> str:
    headings = [b for b in blocks if b.kind == "heading"]
    first = headings[0].text if headings else (blocks[0].text.split("\n", 1)[0].strip() if blocks else "")
    return first if 0 < len(first) <= _MAX_TITLE_CHARS else fallback


def _rst_blocks(text: str) -> list[Block]:
    """Paragraphs, with reStructuredText section titles turned into headings.

    RST has no fixed heading levels: the order in which adornment styles first
    appear defines them, so the section path is rebuilt as titles are met.
    """
    styles: list[str] = []  # adornment styles in order of first use = levels
    path: list[str] = []
    blocks: list[Block] = []
    for para in paragraph_blocks(text):
        heading = _rst_heading(para.text)
        if heading is None:
            blocks.append(Block(text=para.text, section=tuple(path)))
            continue
        title, style = heading
        if style not in styles:
            styles.append(style)
        level = styles.index(style)
        path = [*path[:level], title]
        blocks.append(Block(text=title, kind="heading", section=tuple(path)))
    return blocks


def _rst_heading(paragraph: str) -> tuple[str, str] | None:
    """("Title", style) for "Title\\n=====" or "=====\\nTitle\\n=====", else None."""
    lines = [line.rstrip() for line in paragraph.split("\n")]
    if len(lines) == 2 and _RST_ADORNMENT.match(lines[1]) and len(lines[1]) >= len(lines[0].strip()):
        return lines[0].strip(), lines[1][0]
    if len(lines) == 3 and _RST_ADORNMENT.match(lines[0]) and lines[0] == lines[2] and lines[1].strip():
        return lines[1].strip(), "over" + lines[0][0]
    return None
