"""Astropy never downloads at run time: IERS auto-download and internet access are off, and
transforms far beyond the bundled tables still work."""

from __future__ import annotations

import subprocess
import sys


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
