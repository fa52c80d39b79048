"""Candidate rules on synthetic measurements, and light curves across frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tasks.nrt.candidates import (
    AlertRegion,
    CandidateParams,
    DetectionTraits,
    MeasuredSources,
    chance_probability,
    chance_radius_arcsec,
    clean_sources,
    explained_by_catalog,
    find_candidates,
    near_saturated_blobs,
)
from tasks.nrt.lightcurve import LightCurveTracker
from tasks.nrt.measured import ProjectedCatalog

RA0, DEC0 = 150.0, 30.0


def _sources(offsets_arcsec, mags, snrs, matched):
    ra = RA0 + np.array([o[0] for o in offsets_arcsec]) / 3600 / np.cos(np.radians(DEC0))
    dec = DEC0 + np.array([o[1] for o in offsets_arcsec]) / 3600
    n = len(mags)
    mags = np.array(mags, dtype=float)
    snrs = np.array(snrs, dtype=float)
    return dict(
        ra=ra,
        dec=dec,
        x=np.arange(n, dtype=float),
        y=np.arange(n, dtype=float),
        mag=mags,
        mag_err=1.0857 / snrs,
        snr=snrs,
        matched_mag=np.array(matched, dtype=float),
        clean=np.ones(n, dtype=bool),
    )


def test_new_sources_must_be_significantly_brighter_than_the_catalog_depth():
    s = _sources(
        [(100, 0), (200, 0), (300, 0), (400, 0)],
        [18.0, 20.3, 20.9, 17.0],
        [80, 40, 12, 100],
        [np.nan, np.nan, np.nan, 17.02],
    )
    found = find_candidates(
        MeasuredSources(**s),
        catalog_limit=21.0,
        frame_area_arcsec2=1e6,
        alert=None,
        params=CandidateParams(),
    )
    # 18.0: new. 20.3 ± 0.03: new. 20.9: beyond the depth. 17.0: a catalog star.
    assert [(c["kind"], c["mag"]) for c in found] == [("new", 18.0), ("new", 20.3)]


def test_at_the_alert_position_a_faint_source_counts_only_when_chance_cannot_explain_it():
    alert = AlertRegion("ivo://x#1", RA0, DEC0, error_arcsec=10.0)
    s = _sources(
        [(1.0, 0.0), (0.0, 8.0), (60.0, 0.0)],
        [21.8, 21.9, 21.7],
        [9, 8, 10],
        [np.nan, np.nan, np.nan],
    )
    # 300 unmatched clean sources on a 10⁶ arcsec² frame: rho = 3e-4 /arcsec².
    s["clean"] = np.ones(3, dtype=bool)
    params = CandidateParams(chance_probability_max=0.05)
    found = find_candidates(
        MeasuredSources(**s),
        catalog_limit=21.0,
        frame_area_arcsec2=1e6 / 100,
        alert=alert,
        params=params,
    )
    # rho = 3/1e4: at 1″ P = 9e-4 (kept); at 8″ P = 0.06 (refused); at 60″ outside the circle.
    assert [(c["kind"], c["alert_distance_arcsec"]) for c in found] == [("alert", 1.0)]
    assert found[0]["chance_probability"] < 0.001 and found[0]["alert_ivorn"] == "ivo://x#1"


def test_a_new_source_outside_the_alert_circle_is_not_the_alerts():
    alert = AlertRegion("ivo://x#3", RA0, DEC0, error_arcsec=180.0)
    # Both far brighter than the catalog's depth: one 100″ from the alert, one 290″.
    s = _sources([(100.0, 0.0), (290.0, 0.0)], [17.0, 16.0], [50, 120], [np.nan, np.nan])
    found = find_candidates(
        MeasuredSources(**s),
        catalog_limit=21.0,
        frame_area_arcsec2=1e6,
        alert=alert,
        params=CandidateParams(chance_probability_max=1.0),
    )
    outside, inside = found  # most significant first
    assert outside["kind"] == "new" and "alert_ivorn" not in outside
    assert inside["alert_ivorn"] == "ivo://x#3" and inside["alert_distance_arcsec"] == 100.0


def test_a_catalog_star_brightened_at_the_alert_position_is_a_candidate():
    alert = AlertRegion("ivo://x#2", RA0, DEC0, error_arcsec=3.0)
    s = _sources([(0.5, 0.0), (1.0, 1.0)], [18.0, 19.02], [100, 60], [19.5, 19.0])
    found = find_candidates(
        MeasuredSources(**s),
        catalog_limit=21.0,
        frame_area_arcsec2=1e6,
        alert=alert,
        params=CandidateParams(),
    )
    assert [(c["kind"], c["catalog_mag"]) for c in found] == [("brightened", 19.5)]


def test_two_known_stars_merged_into_one_detection_are_explained_by_the_catalog():
    # Two catalog stars 9 px apart, the detection between them with their summed flux.
    fwhm = 5.0
    explained = explained_by_catalog(
        np.array([50.0, 80.0]),
        np.array([50.0, 50.0]),
        np.array([2000.0, 1000.0]),
        np.array([45.5, 54.5]),
        np.array([50.0, 50.0]),
        np.array([1000.0, 1000.0]),
        fwhm,
    )
    assert explained.tolist() == [True, False]


def test_light_curves_link_candidates_and_measure_the_decay():
    trigger = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
    tracker = LightCurveTracker(link_radius_arcsec=1.0, trigger_time=trigger)
    forced_calls = []

    def forced(ra, dec):
        forced_calls.append((ra, dec))
        return {"mag": None, "mag_err": None, "snr": 1.0, "limit_mag": 21.5}

    for k, t in enumerate((120.0, 240.0, 480.0)):
        mag = 17.0 + 2.5 * 1.2 * np.log10(t / 120.0)  # alpha = 1.2
        cands = [
            {
                "kind": "alert",
                "ra": RA0 + 0.1 / 3600,
                "dec": DEC0,
                "mag": mag,
                "mag_err": 0.02,
                "snr": 50.0,
            }
        ]
        if k == 0:  # a one-off (a cosmic ray that passed the cuts) elsewhere
            cands.append(
                {
                    "kind": "new",
                    "ra": RA0 + 0.01,
                    "dec": DEC0,
                    "mag": 19.0,
                    "mag_err": 0.05,
                    "snr": 20.0,
                }
            )
        tracks = tracker.update(trigger + timedelta(seconds=t), f"I{k}", cands, forced)
    main = next(t for t in tracks if t["track_id"] == 1)
    assert main["detections"] == 3 and main["fading"]
    assert main["alpha"] == pytest.approx(1.2, abs=0.01)
    other = next(t for t in tracks if t["track_id"] == 2)
    assert other["detections"] == 1 and [p["detected"] for p in other["points"]] == [
        True,
        False,
        False,
    ]
    assert len(forced_calls) == 2
    restored = LightCurveTracker(1.0, trigger)
    restored.restore(tracks)
    assert restored.tracks[0].as_dict(trigger)["alpha"] == pytest.approx(1.2, abs=0.01)


def test_the_chance_radius_is_where_the_chance_probability_reaches_its_limit():
    density = 3e-4  # per arcsec²
    radius = chance_radius_arcsec(density, 0.01)
    assert chance_probability(radius, density) == pytest.approx(0.01)
    assert (
        chance_probability(0.9 * radius, density) < 0.01 < chance_probability(1.1 * radius, density)
    )


def test_a_bump_at_the_end_of_a_bleed_trail_is_not_clean():
    """A saturated star bleeds up and down its column; the charge spilled at the trail's end is a
    sharp bump no catalog has. It touches the saturated blob: not clean. A source 10 px away,
    and one beside a one-pixel hot pixel or a dead column, stay clean."""
    mask = np.zeros((200, 200), dtype=bool)
    mask[60:90, 100] = True  # the bleed trail of a saturated star
    mask[73:77, 99:102] = True  # its saturated core
    mask[150, 30] = True  # a hot pixel
    mask[:, 180] = True  # a dead column
    x = np.array([100.0, 100.2, 110.0, 31.5, 181.5])
    y = np.array([91.6, 57.9, 75.0, 150.0, 40.0])
    near = near_saturated_blobs(x, y, mask, margin_px=2.5)
    assert near.tolist() == [True, True, False, False, False]
    traits = DetectionTraits(
        x=x,
        y=y,
        flux=np.full(5, 1000.0),
        flags=np.zeros(5, dtype=np.int32),
        sharpness=np.full(5, 0.1),
        near_saturation=near,
    )
    empty = ProjectedCatalog(np.empty(0), np.empty(0), np.empty(0), np.empty(0))
    clean = clean_sources(
        traits,
        empty,
        shape=(200, 200),
        fwhm=2.0,
        stars_sharpness=0.1,
        params=CandidateParams(),
    )
    assert clean.tolist() == [False, False, True, True, True]
    assert not near_saturated_blobs(x, y, None, 2.5).any()
