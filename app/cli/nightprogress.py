"""What ``pyros night --simulate`` shows while the night runs: one line per event that matters
(the words come from :mod:`tasks.night.progress`) above a progress bar of the night (rich).

With ``--json`` everything here goes to stderr: stdout carries the one JSON document.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class NightDisplay:
    """Lines and the night's progress bar on one console (stderr with ``--json``)."""

    def __init__(self, *, to_stderr: bool) -> None:
        self.console = Console(stderr=to_stderr, highlight=False, soft_wrap=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._start: datetime | None = None

    def say(self, line: str) -> None:
        """One line, above the bar when there is one."""
        target = self._bar.console if self._bar is not None else self.console
        target.print(line, markup=False)

    def start_night(self, start: datetime, end: datetime) -> None:
        """Show the bar of the simulated span ``start`` → ``end``."""
        self._start = start
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        total = max((end - start).total_seconds(), 1.0)
        self._task = self._bar.add_task("night", total=total)
        self._bar.start()

    def tick(self, now: datetime, executed: int, images: int) -> None:
        """Move the bar to simulated instant ``now``."""
        if self._bar is None or self._task is None or self._start is None:
            return
        self._bar.update(
            self._task,
            completed=(now - self._start).total_seconds(),
            description=f"{now:%H:%M} UTC · {executed} sequence(s) executed · {images} image(s)",
        )

    def close(self) -> None:
        """Remove the bar (the lines stay)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> NightDisplay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
