"""Astropy set-up: never downloads at run time (IERS auto-download and internet access off,
transforms far beyond the bundled tables still work); the parsed IERS table is cached per
library version and used by the next process; a damaged cache falls back to astropy's own
loading."""

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


def test_astropy_is_configured_offline_and_transforms_work_in_a_fresh_process():
    code = (
        "from datetime import UTC, datetime\n"
        "import numpy as np\n"
        "from infra.config import load_config\n"
        "from tasks.sky import altitudes_deg, as_time\n"
        "from astropy.utils import iers\n"
        "from astropy.utils.data import conf\n"
        "assert iers.conf.auto_download is False and conf.allow_internet is False\n"
        "t = as_time([datetime(2031, 6, 1, 6, tzinfo=UTC)])\n"
        "print(float(altitudes_deg(np.array([10.0]), np.array([20.0]), t, load_config())[0, 0]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert -90.0 <= float(result.stdout.strip()) <= 90.0
    assert "Downloading" not in result.stderr
