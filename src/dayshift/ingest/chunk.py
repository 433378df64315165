"""Structure-aware chunking, sized in the embedding model's own tokens.

A document's blocks are packed into chunks in reading order:

    Document.blocks --(same section)--> runs --(split what is too big)--> units --(pack)--> chunks

* A chunk never crosses a section boundary, so its section path is exact.
* Blocks are kept whole where they fit. A block that does not is split at
  sentences (paragraphs, lists), rows (tables, whose header row is repeated on
  every piece) or lines (code); a single over-long sentence is cut at token
  boundaries as a last resort.
* Overlap is carried in whole units (sentences, rows) and only where a break
  falls inside a block; paragraphs that end cleanly need none.
* Sizes count the tokens the embedder sees, including the context header
  (title and section path) that `Chunk.indexed_text` puts in front of every chunk.
  The one exception: the body always gets at least 32 tokens, so a context
  header longer than `chunk_tokens - 32` makes its chunks that much longer.
* Keeping blocks whole means a larger `chunk_tokens` can occasionally give
  more chunks, not fewer, when blocks pack differently.

Each chunk's text is an exact slice of `Document.text` (plus a repeated table
header), and `char_start`/`char_end` locate it there.

Left out: semantic (embedding-similarity) splitting, and chunks that span
sections; both cost more than they gained on the corpora we measured.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dayshift.embed.base import IdTokenizer, Tokenizer
from dayshift.types import Block, Chunk, Document, context_header

# A sentence ends at . ! ? (optionally closed by quotes/brackets) followed by
# whitespace and an upper-case letter, digit or opening quote/bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")
_MIN_BODY_TOKENS = 32


@dataclass(frozen=True, slots=True)
class ChunkingPolicy:
    chunk_tokens: int = 256
    overlap_tokens: int = 32


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int  # offsets into Document.text
    end: int
    tokens: int
    block: int  # index of the block it came from
    header: str = ""  # table header to repeat when a chunk starts with this row
    header_tokens: int = 0


class _TokenIndex:
    """Token counts of any character range of a text, from one tokenizer pass; with an
    `IdTokenizer`, also the token ids of a range that re-tokenises to exactly those ids."""

    def __init__(self, text: str, tokenizer: Tokenizer) -> None:
        self.text = text
        self.tokenizer = tokenizer
        if isinstance(tokenizer, IdTokenizer):
            ids, spans = tokenizer.tokenise(text)
            self.ids: list[int] | None = ids
        else:
            spans, self.ids = tokenizer.token_spans(text), None
        self.starts, self.ends = (list(column) for column in zip(*spans)) if spans else ([], [])
        self._word_start: list[bool] | None = None  # only an over-long sentence needs it

    def count(self, start: int, end: int) -> int:
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def ids_of(self, start: int, end: int) -> list[int] | None:
        """The ids the tokenizer gives text[start:end] on its own, read from the whole text's
        tokens; None where the range cuts a token or a word (the piece would tokenise otherwise)."""
        ids, starts, ends = self.ids, self.starts, self.ends
        if ids is None:
            return None
        first, last = bisect.bisect_left(starts, start), bisect.bisect_left(starts, end)
        continues = self.tokenizer.continues_word  # type: ignore[attr-defined]
        if first > 0 and ends[first - 1] > start or last > 0 and ends[last - 1] > end:
            return None  # a token crosses an end of the range
        if first < len(ids) and continues(ids[first]) or last < len(ids) and continues(ids[last]):
            return None  # the range starts inside a word, or ends inside one
        return ids[first:last]

    def cut_points(self, start: int, end: int, *, max_tokens: int) -> list[int]:
        """Character offsets that cut [start, end) into pieces of <= max_tokens tokens.

        Cuts fall where a word starts, so no piece re-tokenises longer than
        counted; a single word longer than `max_tokens` is cut inside it.
        """
        word_start = self._word_starts()
        first, last = bisect.bisect_left(self.starts, start), bisect.bisect_left(self.starts, end)
        cuts, at = [], first
        while last - at > max_tokens:
            cut = at + max_tokens
            while cut > at + 1 and not word_start[cut]:
                cut -= 1
            cut = cut if word_start[cut] else at + max_tokens
            cuts.append(self.starts[cut])
            at = cut
        return cuts

    def _word_starts(self) -> list[bool]:
        """Whether each token starts a word: nothing but a gap precedes it (not a "##" piece)."""
        if self._word_start is None:
            text, starts, ends = self.text, self.starts, self.ends
            self._word_start = [
                i == 0 or ends[i - 1] < s or not text[s - 1].isalnum() for i, s in enumerate(starts)
            ]
        return self._word_start


def chunk_document(
    doc: Document,
    *,
    tokenizer: Tokenizer,
    policy: ChunkingPolicy = ChunkingPolicy(),
    ingested_at: float,
) -> list[Chunk]:
    return chunk_with_token_ids(doc, tokenizer=tokenizer, policy=policy, ingested_at=ingested_at)[0]


def chunk_with_token_ids(
    doc: Document,
    *,
    tokenizer: Tokenizer,
    policy: ChunkingPolicy = ChunkingPolicy(),
    ingested_at: float,
) -> tuple[list[Chunk], list[list[int] | None]]:
    """The chunks, and for each the token ids of its `indexed_text` where the tokenizer is an
    `IdTokenizer` and they could be read from the document's own tokenisation (else None), so
    an embedder that takes ids need not tokenise the chunk again."""
    text = doc.text
    tokens = _TokenIndex(text, tokenizer)
    offsets = _block_offsets(doc.blocks)
    chunks: list[Chunk] = []
    token_ids: list[list[int] | None] = []
    for run in _section_runs(doc.blocks):
        section = doc.blocks[run[0]].section
        header = context_header(doc.title, section)
        header_ids = _ids(header, tokenizer) if header else []
        header_tokens = len(header_ids) if header_ids is not None else tokenizer.count(header)
        budget = max(policy.chunk_tokens - header_tokens, min(_MIN_BODY_TOKENS, policy.chunk_tokens))
        units = [u for i in run for u in _units(doc.blocks[i], i, offsets[i], tokens, budget=budget)]
        for group in _pack(units, budget=budget, overlap=policy.overlap_tokens):
            chunk = _make_chunk(doc, group, text, offsets, ordinal=len(chunks), ingested_at=ingested_at)
            chunks.append(chunk)
            token_ids.append(_chunk_ids(chunk, group, header_ids, tokens))
    return chunks, token_ids


def _ids(text: str, tokenizer: Tokenizer) -> list[int] | None:
    return tokenizer.tokenise(text)[0] if isinstance(tokenizer, IdTokenizer) else None


def _chunk_ids(chunk: Chunk, group: list[_Unit], header_ids: list[int] | None, tokens: _TokenIndex) -> list[int] | None:
    """Ids of `chunk.indexed_text`: context header, then a repeated table header, then the body."""
    if header_ids is None:
        return None
    body = tokens.ids_of(chunk.char_start, chunk.char_end)
    if body is None:
        return None
    if len(chunk.text) != chunk.char_end - chunk.char_start:  # a table header in front
        table_header = _ids(group[0].header, tokens.tokenizer)
        if table_header is None:
            return None
        return header_ids + table_header + body
    return header_ids + body


def _block_offsets(blocks: Sequence[Block]) -> list[int]:
    offsets, pos = [], 0
    for block in blocks:
        offsets.append(pos)
        pos += len(block.text) + 2  # "\n\n" between blocks, as in Document.text
    return offsets


def _section_runs(blocks: Sequence[Block]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i, block in enumerate(blocks):
        if runs and blocks[runs[-1][0]].section == block.section:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _units(block: Block, index: int, offset: int, tokens: _TokenIndex, *, budget: int) -> list[_Unit]:
    end = offset + len(block.text)
    whole = tokens.count(offset, end)
    if whole <= budget:
        return [_Unit(offset, end, whole, index)]
    header = ""
    if block.kind == "table":
        pieces, header = _table_rows(block.text)
    elif block.kind == "code":
        pieces = _lines(block.text)
    else:
        pieces = _sentences(block.text)
    header_tokens = tokens.count(offset, offset + len(header)) if header else 0
    units: list[_Unit] = []
    if header and header_tokens > (budget * 2) // 3:
        # Too wide to repeat and still leave room for rows: its lines are rows like any other, but for the
        # "| --- |" line, which alone would make a chunk of dashes.
        pieces = [(a, b) for a, b in _lines(block.text) if not _rule_line(block.text[a:b])]
        header, header_tokens = "", 0
    elif header:
        # The header row where it stands, with the separator line under it; later chunks repeat the row only.
        stands = tokens.count(offset, offset + pieces[0][0]) if pieces else header_tokens
        units.append(_Unit(offset, offset + (pieces[0][0] - 1 if pieces else len(header)), stands, index))
    for start, stop in pieces:
        s, e = offset + start, offset + stop
        n = tokens.count(s, e)
        if n + header_tokens <= budget:
            units.append(_Unit(s, e, n, index, header, header_tokens))
            continue
        cuts = [s, *tokens.cut_points(s, e, max_tokens=max(budget - header_tokens, 1)), e]
        units.extend(
            _Unit(a, b, tokens.count(a, b), index, header, header_tokens) for a, b in zip(cuts, cuts[1:]) if b > a
        )
    return units


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`."""
    return _sentences(text)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start() + len(match.group(0).rstrip())))
        start = match.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((start, start + len(line.rstrip("\n"))))
        start += len(line)
    return [(a, b) for a, b in spans if b > a]


def _rule_line(line: str) -> bool:
    """A Markdown table's separator line: | --- | :-: |."""
    return "-" in line and set(line.replace("|", "").strip()) <= set("-: ")


def _table_rows(text: str) -> tuple[list[tuple[int, int]], str]:
    """Row spans, and the Markdown header row if the table has one. The row alone is what a chunk repeats:
    its "| --- |" separator would cost a wide table as many tokens again and name nothing."""
    rows = _lines(text)
    lines = text.splitlines()
    has_header = len(lines) > 2 and set(lines[1].replace("|", "").strip()) <= set("-: ")
    if not has_header:
        return rows, ""
    return rows[2:], lines[0]


def _pack(units: Sequence[_Unit], *, budget: int, overlap: int) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0
    for unit in units:
        cost = unit.tokens + (unit.header_tokens if not current else 0)
        if current and used + unit.tokens > budget:
            groups.append(current)
            current = _overlap_tail(current, unit, budget=budget, overlap=overlap)
            used = sum(u.tokens for u in current) + (current[0].header_tokens if current else 0)
            cost = unit.tokens + (unit.header_tokens if not current else 0)
        current.append(unit)
        used += cost
    if current:
        groups.append(current)
    return groups


def _overlap_tail(previous: list[_Unit], nxt: _Unit, *, budget: int, overlap: int) -> list[_Unit]:
    """Trailing units of `previous` to repeat, only when the break falls inside one block."""
    if overlap <= 0 or previous[-1].block != nxt.block:
        return []
    tail: list[_Unit] = []
    total = 0
    for unit in reversed(previous):
        if unit.block != nxt.block or total + unit.tokens > overlap:
            break
        tail.insert(0, unit)
        total += unit.tokens
    first = tail[0] if tail else nxt
    return tail if total + nxt.tokens + first.header_tokens <= budget else []


def _make_chunk(
    doc: Document, group: list[_Unit], text: str, offsets: list[int], *, ordinal: int, ingested_at: float
) -> Chunk:
    start, end = group[0].start, group[-1].end
    body = text[start:end]
    first_block = doc.blocks[group[0].block]
    if group[0].header and not text[offsets[group[0].block] : start].strip("\n") == "":
        body = f"{group[0].header}\n{body}"
    return Chunk(
        chunk_id=f"{doc.doc_id}:{ordinal}",
        doc_id=doc.doc_id,
        doc_version=doc.version,
        source=doc.source,
        title=doc.title,
        text=body,
        section=first_block.section,
        page=first_block.page,
        char_start=start,
        char_end=end,
        ordinal=ordinal,
        ingested_at=ingested_at,
        metadata=dict(doc.metadata),
    )
