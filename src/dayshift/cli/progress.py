"""Rich progress bars for long work (files, chunks, embeddings), drawn on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichProgress:
    def __init__(self, *, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def start(self, stage: str, *, total: int | None) -> None:
        self._tasks[stage] = self._progress.add_task(stage, total=total)

    def advance(self, stage: str, n: int = 1) -> None:
        task = self._tasks[stage]
        self._progress.advance(task, n)
        if stage in ("chunks", "embeddings"):  # totals grow as files are read
            done = self._progress.tasks[task].completed
            if stage == "embeddings" and "chunks" in self._tasks:
                self._progress.update(task, total=self._progress.tasks[self._tasks["chunks"]].completed)
            elif self._progress.tasks[task].total is None or done > (self._progress.tasks[task].total or 0):
                self._progress.update(task, total=done)
