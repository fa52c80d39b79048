"""Fixtures of the simulator tests: the rig (tests/support/rig.py) per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.rig import (  # noqa: F401 - re-exported for the tests
    DEVICE_TIMEOUT_S,
    DEVICES,
    LINK,
    NIGHT,
    Rig,
    site_config,
    start_rig,
)


@pytest.fixture
def rig(tmp_path) -> Iterator[Callable[..., Rig]]:
    """``rig(speed=60, config=None, scenario=None, gateways=(), start=NIGHT)``: simulators on free
    ports under a simulated clock (injected as the process clock), gateways for the named
    devices; everything stopped afterwards."""
    made: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        made.append(start_rig(tmp_path, **kwargs))
        return made[-1]

    yield make
    for rig in made:
        rig.close()


def frames_in(path: Path) -> list[Path]:
    """FITS frames under ``path`` (staging files excluded)."""
    return sorted(p for p in path.rglob("*.fits") if not p.name.startswith("."))
