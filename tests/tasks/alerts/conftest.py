"""Fixtures of the alert tests: the real notices (skipped with a reason when absent) and the
site configuration."""

from __future__ import annotations

import pytest

from infra.config import SiteConfig, load_config
from tests.support.voevents import VOEVENT_DIR, read_voevents


@pytest.fixture(scope="session")
def voevents() -> dict[str, bytes]:
    """The real notices of ../shared/data/voevents, by file name."""
    notices = read_voevents()
    if not notices:
        pytest.skip(f"real VOEvents absent: {VOEVENT_DIR} (they are never copied into the repo)")
    return notices


@pytest.fixture(scope="session")
def config() -> SiteConfig:
    """The bundled site configuration."""
    return load_config()
