"""The loader interface: a file in, documents out.

A loader turns one file into `Document`s made of structural `Block`s in reading
order. It knows nothing of chunking, embedding or storage. Errors about the
file itself are raised as `dayshift.errors.LoadError` subclasses so the batch
can record them and go on; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dayshift.types import Document


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Per-run knobs a loader may read. Defaults suit most inputs."""

    # Tabular exports (CSV, JSONL, SQLite): None means "choose sensibly".
    text_columns: tuple[str, ...] | None = None
    metadata_columns: tuple[str, ...] | None = None
    id_column: str | None = None
    title_column: str | None = None
    tables: tuple[str, ...] | None = None  # SQLite tables to read; None = all
    extra: dict[str, str] = field(default_factory=dict)


class Loader(Protocol):
    """Reads one kind of file. `source` is the path relative to the ingest root,
    used to build stable document ids with `dayshift.types.make_doc_id`."""

    extensions: tuple[str, ...]  # lower-case, with the dot: (".md", ".markdown")

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]: ...
