"""A progress bar for the long commands (calibration builds, replays) on stderr.

Shown only when stderr is a terminal: in a script, a log or beside ``--json`` the bar would be
noise. The bar is transient (it disappears when the command ends; its result stays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

#: ``advance(done, total)``: where the work is, in any unit (bands, simulated seconds).
Advance = Callable[[float, float], None]


@contextmanager
def progress_bar(description: str, *, console: Console | None = None) -> Iterator[Advance]:
    """A bar named ``description`` and the callback that moves it.

    Parameters
    ----------
    description : str
        What the bar measures, e.g. ``replay 2026-12-04 (simulated s)``.
    console : Console, optional
        Where to draw it (default: stderr); nothing is drawn unless it is a terminal.

    Yields
    ------
    callable
        ``advance(done, total)``; redraws when the whole percentage changes.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield _no_bar
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    task = bar.add_task(description, total=None)
    shown = -1

    def advance(done: float, total: float) -> None:
        nonlocal shown
        percent = int(100 * done / total) if total > 0 else 100
        if percent != shown:
            shown = percent
            bar.update(task, completed=done, total=total)
            bar.refresh()

    with bar:
        yield advance


def _no_bar(done: float, total: float) -> None:
    """No terminal: no bar."""
