"""``make bench B=cli``: wall time of ``pyros`` commands that do not need the stack (goal < 2 s).

Each command runs as a new process, as an operator would type it; median and worst of 5.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

from tests.benchmarks.common import emit, isolated_home, machine
from tests.support.cli import pyros_command

SEED = (
    Path(__file__).resolve().parents[2]
    / "simulators"
    / "data"
    / "requests"
    / ("routine_request_01.xml")
)


def main() -> None:
    with isolated_home():
        pyros = pyros_command(installed=True)  # the console script, as typed
        subprocess.run([*pyros, "db", "init"], check=True, capture_output=True)
        commands = {
            "--help": ["--help"],
            "config check": ["config", "check"],
            "request submit": ["request", "submit", str(SEED), "--again"],
            "request list": ["request", "list", "--json"],
            "request show": ["request", "show", "1", "--json"],
            "journal list": ["journal", "list", "--json"],
        }
        for label, args in commands.items():
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                subprocess.run([*pyros, *args], check=True, capture_output=True)
                timings.append(time.perf_counter() - started)
            emit(
                "cli",
                command=f"pyros {label}",
                median_seconds=round(statistics.median(timings), 3),
                max_seconds=round(max(timings), 3),
                **machine(),
            )


if __name__ == "__main__":
    main()
