"""Astropy set-up: the parsed IERS table is cached per library version and used by the next
process; a damaged cache falls back to astropy's own loading."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "from infra.astro import configure_astropy, _iers_cache_file\n"
    "configure_astropy()\n"
    "from astropy.utils import iers\n"
    "from datetime import datetime, UTC\n"
    "from infra.config import load_config\n"
    "from tasks.sky import visibility_at\n"
    "v = visibility_at(248.2071, 78.5044, datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC),"
    " load_config())\n"
    "print(_iers_cache_file(), type(iers.earth_orientation_table.get()).__name__,"
    " round(v.altitude_deg, 6))\n"
)


def _probe(cache) -> list[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_iers_table_is_cached_then_reused_and_a_bad_cache_is_ignored(tmp_path):
    path, kind, first = _probe(tmp_path)
    assert path.startswith(str(tmp_path / "pyros" / "iers-auto-")) and kind == "IERS_Auto"
    assert os.path.getsize(path) > 100_000
    assert _probe(tmp_path) == [path, kind, first]  # loaded from the cache: same answer
    with open(path, "wb") as handle:
        handle.write(b"not a pickle")
    assert _probe(tmp_path)[1:] == [kind, first]
