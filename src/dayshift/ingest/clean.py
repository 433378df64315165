"""Unicode and whitespace normalisation of loaded text, before chunking and indexing.

    text --> ANSI terminal escapes ("\\x1b[31m") removed
         --mojibake hint?--> ftfy repair ("cafÃ©" -> "café", C1 controls -> cp1252)
         --> line breaks: \\r\\n \\r \\v \\f U+2028 -> "\\n", U+2029 -> "\\n\\n"
         --> drop invisibles: controls (not \\t \\n), format chars (zero-width
             space/joiners, soft hyphen, BOM, bidi controls), lone surrogates
         --not NFKC?-------> NFKC ("ﬁ" -> "fi", "Ｆｕｌｌ" -> "Full", "…" -> "...",
                             and lossy: "km²" -> "km2", "µ" -> "μ")
         --> other Unicode spaces (NBSP, thin, ideographic ...) -> " "
         --> layout tidy, by block kind (below)
    (pure-ASCII text needs only the escape, line-break and control steps)

Layout tidy (all kinds: trailing spaces per line go, 3+ newlines become 2,
leading and trailing blank lines go):
- prose (`normalize_text`, paragraph and heading blocks): each line is also
  stripped on the left, and runs of spaces and tabs become one space;
- list blocks: as prose, but leading indentation is kept (nested items);
- code and table blocks: nothing else -- indentation, alignment and tabs stay.

ftfy is configured not to restyle text: curly quotes stay curly
(`uncurl_quotes=False`, so quotations are cited as written) and HTML entities
stay as written (`unescape_html=False`: the HTML loader already decodes them,
and "&lt;" in a code listing is content). It runs only when a cheap regex sees
a Latin-1/Windows-1252 mojibake pair, a C1 control or a surrogate: 3 of 5,000
SciFact abstracts. Running it on every text would cost ~0.13 ms per abstract,
several times all the rest (`clean_document`: ~0.04 ms per abstract).

Left out: mojibake through other code pages (MacRoman, cp437, cp1251) is not
looked for; ZWJ/ZWNJ are dropped even where a script uses them (Persian,
Indic, emoji sequences), which only changes rendering; no case folding,
de-hyphenation of line-broken words, or language-specific rules; metadata
values are not touched.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import ftfy

from dayshift.types import Block, Document

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_character_width=False,  # NFKC below does it
    fix_latin_ligatures=False,  # NFKC below does it
    fix_line_breaks=False,  # done below, with U+2029 as a blank line
    normalization=None,  # NFKC below
    explain=False,
)
# A UTF-8 lead byte read as Latin-1 ("Ã", "â") followed by a continuation byte read
# as Latin-1/Windows-1252 ("©", "€", "™"), "Ã " (a lost NBSP), C1 controls, surrogates.
_CP1252_CONT = (
    "\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
    "\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE_HINT = re.compile(f"[\xc2-\xf4][{_CP1252_CONT}]|\xc3 |[\x80-\x9f\ud800-\udfff]")
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\u2028]")
# Unicode 14 (Python 3.11) categories Cc (minus \t \n and the line breaks above),
# Cf and Cs. C1 controls are normally gone by now: ftfy reads them as cp1252, so
# NEL (\x85) becomes "…" -- far more common in real files than a NEL line break.
# tests/unit/ingest/test_clean.py checks this class against unicodedata.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    "\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]+"
)
_UNICODE_SPACE = re.compile("[\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")  # Zs minus " "
_ASCII_FEEDS = bytes.maketrans(b"\x0b\x0c", b"\n\n")
_ASCII_INVISIBLE = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])  # \r is replaced first
_TRAILING_SPACE = re.compile(r"[ \t]+(?=\n)")
_LINE_EDGE_SPACE = re.compile(r" *\n *")
_SPACE_RUN = re.compile(r" {2,}")
_INNER_SPACE_RUN = re.compile(r"(?<=\S)(?: {2,}|[ \t]*\t[ \t]*)")  # after text, not indentation
_BLANK_LINES = re.compile(r"\n{3,}")
_VERBATIM_KINDS = frozenset({"code", "table"})
# The tidy steps below test for their target with `in` first: a regex pass costs
# ~20 us on an abstract, and most texts need none of them.


def normalize_unicode(text: str) -> str:
    """The character-level steps only: mojibake, NFKC, line breaks, invisibles, spaces.

    Layout (indentation, runs of spaces, blank lines) is left as it is.
    """
    if "\x1b" in text:
        text = _ANSI_ESCAPE.sub("", text)
    if text.isascii():
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.encode("ascii").translate(_ASCII_FEEDS, _ASCII_INVISIBLE).decode("ascii")
    if _MOJIBAKE_HINT.search(text):  # before anything else: the repair needs the bytes as read
        text = ftfy.fix_text(text, _FTFY_CONFIG)
    text = _LINE_BREAK.sub("\n", text).replace("\u2029", "\n\n")
    text = _INVISIBLE.sub("", text)  # before NFKC: "e<ZWSP>\u0301" must compose to "é"
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _UNICODE_SPACE.sub(" ", text)


def normalize_text(text: str) -> str:
    """Normalise prose for retrieval: `normalize_unicode`, then lines stripped,
    runs of spaces and tabs collapsed to one space, 3+ newlines to 2, ends stripped.

    "  ﬁne  cafÃ©<ZWSP> <NBSP>\\n\\n\\n\\n  next " -> "fine café\\n\\nnext"
    """
    text = normalize_unicode(text)
    if "\t" in text:
        text = text.replace("\t", " ")  # in prose a tab is layout, not content
    if " \n" in text or "\n " in text:
        text = _LINE_EDGE_SPACE.sub("\n", text)
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    return _collapse_blank_lines(text).strip()


def normalize_list(text: str) -> str:
    """As `normalize_text`, but each line keeps its leading indentation (nested items)."""
    text = _strip_trailing_spaces(normalize_unicode(text))
    if "  " in text or "\t" in text:
        text = _INNER_SPACE_RUN.sub(" ", text)
    return _collapse_blank_lines(text).rstrip().lstrip("\n")


def normalize_verbatim(text: str) -> str:
    """For code and tables: `normalize_unicode`, trailing spaces per line and extra
    blank lines removed; indentation, alignment and tabs kept."""
    text = _strip_trailing_spaces(normalize_unicode(text))
    return _collapse_blank_lines(text).rstrip().lstrip("\n")


def _strip_trailing_spaces(text: str) -> str:
    # the last line's trailing spaces go with the caller's rstrip()
    return _TRAILING_SPACE.sub("", text) if " \n" in text or "\t\n" in text else text


def _collapse_blank_lines(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text


def normalize_title(text: str) -> str:
    """One line: `normalize_text` with every whitespace run (newlines too) as one space."""
    return " ".join(normalize_text(text).split())


def normalize_block(block: Block) -> Block:
    """The block with its text (and section path) normalised for its kind."""
    if block.kind in _VERBATIM_KINDS:
        text = normalize_verbatim(block.text)
    elif block.kind == "list":
        text = normalize_list(block.text)
    else:
        text = normalize_text(block.text)
    section = tuple(normalize_title(title) for title in block.section)
    if text == block.text and section == block.section:
        return block
    return dataclasses.replace(block, text=text, section=section)


def clean_document(doc: Document) -> Document | None:
    """A copy of `doc` with its title and blocks normalised and empty blocks
    dropped; None when no block has text left. `doc` itself is not changed."""
    blocks = [cleaned for block in doc.blocks if (cleaned := normalize_block(block)).text]
    if not blocks:
        return None
    return dataclasses.replace(doc, title=normalize_title(doc.title), blocks=blocks)
