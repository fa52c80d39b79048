"""Run benchmarks: ``python -m tests.benchmarks [name ...]`` (each in its own process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = names or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}\n")
        return 2
    failed = 0
    for name in chosen:
        result = subprocess.run(
            [sys.executable, "-m", f"tests.benchmarks.bench_{name}"],
            cwd=HERE.parents[1],
            check=False,
        )
        if result.returncode != 0:
            sys.stderr.write(f"benchmark {name} failed (exit {result.returncode})\n")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if a]))
