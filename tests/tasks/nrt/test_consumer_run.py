"""Wiring a consumer from the configuration: the reference catalog is the installed plugin the
configuration names, and a wrong name or plugin says what is wrong."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from infra import refcat
from infra.refcat import ENTRY_POINT_GROUP, load_reference_catalog, registered_catalogs
from simulators.sky import SimulatedReferenceCatalog
from tasks.nrt.consumer_run import parse_until
from tests.support.nrt_sky import sky_config


def _not_a_catalog(config: object) -> object:
    return {"site": config}


def test_the_configured_catalog_is_the_registered_simulated_one():
    config = sky_config(256)
    assert config.nrt.reference_catalog == "simulated"
    assert "simulated" in registered_catalogs()
    catalog = load_reference_catalog(config)
    assert isinstance(catalog, SimulatedReferenceCatalog)
    assert catalog.sky == config.sky


def test_an_unknown_catalog_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown catalog 'gaia' \(known: .*simulated"):
        load_reference_catalog(sky_config(256), "gaia")


def test_a_plugin_that_builds_no_catalog_is_refused(monkeypatch):
    broken = EntryPoint("broken", f"{__name__}:_not_a_catalog", ENTRY_POINT_GROUP)
    monkeypatch.setattr(refcat, "registered_catalogs", lambda: {"broken": broken})
    with pytest.raises(TypeError, match=r"'broken' .* has no query"):
        load_reference_catalog(sky_config(256), "broken")


def test_until_must_be_an_aware_iso_instant():
    assert parse_until("2026-12-09T08:00:00Z").isoformat() == "2026-12-09T08:00:00+00:00"
    assert parse_until(None) is None
    with pytest.raises(ValueError, match="no time zone"):
        parse_until("2026-12-09T08:00:00")
    with pytest.raises(ValueError, match="not an ISO 8601 instant"):
        parse_until("tomorrow")
