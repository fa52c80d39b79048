"""The night's display: lines and the bar on stderr with ``--json`` (stdout keeps the one JSON
document), on stdout otherwise; the bar is gone when the night is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.cli.nightprogress import NightDisplay

START = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)


def _night(display: NightDisplay) -> None:
    display.say("before the night")
    display.start_night(START, START + timedelta(hours=2))
    display.tick(START + timedelta(minutes=30), 1, 20)
    display.say("01:00:00 sequence 1 'a' executed: 20 image(s)")
    display.tick(START + timedelta(hours=2), 2, 40)
    display.close()


def test_with_json_everything_goes_to_stderr(capsys):
    with NightDisplay(to_stderr=True) as display:
        _night(display)
    out, err = capsys.readouterr()
    assert out == ""
    assert "before the night" in err and "sequence 1 'a' executed: 20 image(s)" in err


def test_without_json_the_lines_go_to_stdout_once_each(capsys):
    with NightDisplay(to_stderr=False) as display:
        _night(display)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("sequence 1 'a' executed") == 1 and out.count("before the night") == 1
    assert "{" not in out
