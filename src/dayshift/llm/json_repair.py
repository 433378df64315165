"""Find and parse the JSON value in what a model actually wrote.

Models wrap JSON in code fences and prose, and write near-JSON: trailing
commas, single or typographic quotes, unquoted keys, Python literals
(`True`/`False`/`None`), comments, and output cut off by `max_tokens`. This
module finds the first complete value and parses it, strictly when it can and
with a small tolerant recursive-descent parser when it must:

    '```json\\n{a: 1, "b": [True,],}\\n```'  ->  {"a": 1, "b": [True]}
    'Sure! {"name": "Ada", "tags": ["x"'     ->  {"name": "Ada", "tags": ["x"]}

Nothing is ever evaluated. A string ends at a closing quote only when what
follows could end a string (`,`, `:`, `}`, `]`, a line break or the end), so
`'it's'` and `"say "hi" now"` keep their inner quotes.

Why not the json-repair library: docs/decisions/0013-json-repair.md (measured).

Left out: unquoted string values, JSON5 hex numbers, and choosing between
several values by schema (the first complete one wins; with
`top_level="object"` only objects are considered).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FoundJSON", "JSONExtractionError", "extract_json", "find_json"]

TopLevel = Literal["any", "object", "array"]

_MAX_CANDIDATES = 64  # start positions tried; bounds the work on long prose
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_KEY = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$-]*")
_LITERALS: dict[str, Any] = {
    "true": True, "True": True, "false": False, "False": False,
    "null": None, "None": None, "undefined": None,
    "NaN": float("nan"), "Infinity": float("inf"),
}  # fmt: skip
# opening quote -> the quotes that may close it
_CLOSERS = {
    '"': '"\u201d',
    "'": "'\u2019",
    "\u201c": '\u201d"',
    "\u2018": "\u2019'",
    "\u201d": '\u201d"',
    "\u2019": "\u2019'",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}
_MISSING: Any = object()  # the text ended before a value began


class JSONExtractionError(ValueError):
    """No usable JSON value in the text; the message says where parsing stopped."""


@dataclass(frozen=True, slots=True)
class FoundJSON:
    value: Any
    repaired: bool  # True when the JSON text itself needed fixing, not just cutting out
    start: int  # offset of the value in the text it was parsed from


def extract_json(text: str, *, top_level: TopLevel = "any") -> Any:
    """The first complete JSON value in `text`, repaired if need be."""
    return find_json(text, top_level=top_level).value


def find_json(text: str, *, top_level: TopLevel = "any") -> FoundJSON:
    """Like `extract_json`, and also says whether the JSON had to be repaired."""
    fenced = _FENCE.search(text)
    sources = [fenced.group(1), text] if fenced else [text]
    problems: list[str] = []
    for source in sources:
        found = _find_in(source, top_level, problems)
        if found is not None:
            return found
    if top_level == "any" and not problems:
        try:
            return FoundJSON(json.loads(text), repaired=False, start=0)  # a bare scalar such as `42`
        except ValueError:
            pass
    wanted = {"any": "JSON object or array", "object": "JSON object", "array": "JSON array"}[top_level]
    if not problems:
        opener = {"any": "'{' or '['", "object": "'{'", "array": "'['"}[top_level]
        raise JSONExtractionError(f"no {wanted} in the output: it contains no {opener} ({len(text)} chars)")
    raise JSONExtractionError(f"no parsable {wanted} in the output: {problems[0]}")


def _find_in(text: str, top_level: TopLevel, problems: list[str]) -> FoundJSON | None:
    openers = {"any": "{[", "object": "{", "array": "["}[top_level]
    starts = [i for i, ch in enumerate(text) if ch in openers][:_MAX_CANDIDATES]
    decoder = json.JSONDecoder()
    for start in starts:
        try:
            return FoundJSON(decoder.raw_decode(text, start)[0], repaired=False, start=start)
        except (ValueError, RecursionError):
            pass
        parser = _Lenient(text, start)
        try:
            return FoundJSON(parser.value(), repaired=True, start=start)
        except RecursionError:
            problems.append(f"from the {text[start]!r} at offset {start}: nested too deeply")
        except _Fail as exc:
            problems.append(f"from the {text[start]!r} at offset {start}: {exc} at offset {parser.i}")
    return None


class _Fail(Exception):
    pass


class _Lenient:
    """Tolerant parser over `text[i:]`; stops after one value, closes what the text left open."""

    def __init__(self, text: str, i: int) -> None:
        self.s, self.i = text, i

    def _at_end(self) -> bool:
        return self.i >= len(self.s)

    def _skip(self) -> None:
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if ch.isspace():
                self.i += 1
            elif ch == "#" or s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = len(s) if end < 0 else end + 2
            else:
                return

    def value(self) -> Any:
        self._skip()
        if self._at_end():
            return _MISSING
        ch = self.s[self.i]
        if ch == "{":
            return self._object()
        if ch == "[":
            return self._array()
        if ch in _CLOSERS:
            return self._string()
        if ch in "+-.0123456789":
            return self._number()
        return self._literal()

    def _object(self) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self._skip()
            if self._at_end():
                return out  # truncated: close it
            ch = self.s[self.i]
            if ch == "}":
                self.i += 1
                return out
            if ch == ",":  # separators, trailing and doubled commas alike
                self.i += 1
                continue
            key = self._key()
            self._skip()
            if self._at_end():
                return out  # a key with no value is dropped
            if self.s[self.i] != ":":
                raise _Fail(f"expected ':' after key {key!r}")
            self.i += 1
            value = self.value()
            if value is _MISSING:
                return out
            out[key] = value

    def _array(self) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self._skip()
            if self._at_end():
                return out
            ch = self.s[self.i]
            if ch == "]":
                self.i += 1
                return out
            if ch == ",":
                self.i += 1
                continue
            value = self.value()
            if value is _MISSING:
                return out
            out.append(value)

    def _key(self) -> str:
        if self.s[self.i] in _CLOSERS:
            return self._string()
        word = _KEY.match(self.s, self.i)
        if word is None:
            raise _Fail(f"expected a key, found {self.s[self.i]!r}")
        self.i = word.end()
        return word.group()

    def _string(self) -> str:
        s, closers = self.s, _CLOSERS[self.s[self.i]]
        self.i += 1
        out: list[str] = []
        while self.i < len(s):
            ch = s[self.i]
            if ch == "\\":
                out.append(self._escape())
                continue
            self.i += 1
            if ch in closers and self._string_may_end_here():
                return "".join(out)
            out.append(ch)
        return "".join(out)  # truncated: close it

    def _string_may_end_here(self) -> bool:
        rest = self.s[self.i : self.i + 200]
        stripped = rest.lstrip()
        return not stripped or stripped[0] in ",:}]" or "\n" in rest[: len(rest) - len(stripped)]

    def _escape(self) -> str:
        s, i = self.s, self.i
        code = s[i + 1 : i + 2]
        if code != "u":
            self.i += 2
            return _ESCAPES.get(code, code)
        digits = s[i + 2 : i + 6]
        if len(digits) < 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            self.i = min(len(s), i + 2 + len(digits))
            return ""  # a cut-off or broken \u escape is dropped
        self.i = i + 6
        point = int(digits, 16)
        low = s[self.i + 2 : self.i + 6]
        if (
            0xD800 <= point < 0xDC00
            and s.startswith("\\u", self.i)
            and re.fullmatch(r"[dD][c-fC-F][0-9a-fA-F]{2}", low)
        ):
            self.i += 6
            point = 0x10000 + ((point - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return chr(point)

    def _number(self) -> Any:  # int, float, or _MISSING
        match = _NUMBER.match(self.s, self.i)
        if match is None:
            if self.s[self.i :].strip() in ("-", "+", "."):
                self.i = len(self.s)
                return _MISSING  # cut off before the first digit
            raise _Fail(f"expected a number, found {self.s[self.i]!r}")
        self.i = match.end()
        text = match.group()
        return float(text) if any(c in text for c in ".eE") else int(text)

    def _literal(self) -> Any:
        word = _WORD.match(self.s, self.i)
        if word is None:
            raise _Fail(f"expected a value, found {self.s[self.i]!r}")
        if word.group() in _LITERALS:
            self.i = word.end()
            return _LITERALS[word.group()]
        if word.end() == len(self.s) and any(name.startswith(word.group()) for name in _LITERALS):
            self.i = word.end()
            return _MISSING  # `tru` at the very end: cut off
        raise _Fail(f"unexpected word {word.group()!r} where a value should be")
