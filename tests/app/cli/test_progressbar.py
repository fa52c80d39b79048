"""The long commands' progress bar: drawn on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from rich.console import Console

from app.cli.progressbar import progress_bar


def test_on_a_terminal_the_bar_shows_its_name_and_progress():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bar("replay 2026-12-04 (simulated s)", console=console) as advance:
        advance(50, 200)
        assert " 25%" in out.getvalue()
        advance(200, 200)
    text = out.getvalue()
    assert "replay 2026-12-04 (simulated s)" in text and "100%" in text


def test_without_a_terminal_nothing_is_drawn():
    out = io.StringIO()
    with progress_bar("master bias", console=Console(file=out, force_terminal=False)) as advance:
        advance(1, 2)
        advance(2, 2)
    assert out.getvalue() == ""
