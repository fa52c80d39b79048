"""Small-frame site configurations for the sky renderer's tests (the real models, small sizes)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from infra.config import DEFAULT_CONFIG_PATH, SiteConfig, parse_config

#: A dark, moonless instant at San Pedro Mártir (new moon 2026-12-09); RA 60 is well up.
NIGHT = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
#: High galactic latitude field (b ≈ −38°), up at NIGHT.
FIELD = (60.0, 10.0)


def make_config(width: int = 512, height: int | None = None, **sky: object) -> SiteConfig:
    """The default site configuration with small cameras and ``[sky]`` overrides (validated)."""
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for instrument in data["instruments"]:
        instrument["width"] = width
        instrument["height"] = height or width
    data["sky"].update(sky)
    return parse_config(data, "test-sky")


@pytest.fixture
def sky_config() -> Callable[..., SiteConfig]:
    """``sky_config(width=512, **sky_overrides)`` -> a validated small-camera configuration."""
    return make_config
