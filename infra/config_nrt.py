"""The ``[nrt]`` section of the site configuration: the near-real-time analysis of every frame.

Which reference catalog the consumer queries, which extraction engine it uses, the detection,
astrometry and candidate thresholds, and how the long-lived consumer polls. ``docs/nrt.md``
explains each step; every key has a default, so a site file gives only what it changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from infra.refcat import registered_catalogs


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NrtSection(_Section):
    """Near-real-time analysis: extraction, astrometry, photometry, candidates, the consumer."""

    # Where reference stars come from: "simulated" is the sky renderer's survey catalog
    # (simulators.sky.SimulatedReferenceCatalog); names are the "pyros.reference_catalogs" entry
    # points of pyproject.toml, resolved by infra/refcat.py.
    reference_catalog: str = "simulated"
    # Background, detection and photometry: "sep" (SEP, C) or "photutils" (measured side by side
    # in docs/benchmarks.md; SEP is 12-20x faster there).
    engine: Literal["sep", "photutils"] = "sep"
    background_box_px: int = Field(default=64, ge=8, le=1024)
    detect_threshold_sigma: float = Field(default=1.5, gt=0.0, le=100.0)
    detect_min_area_px: int = Field(default=5, ge=1, le=1000)
    # Sources below this measured signal-to-noise ratio are not reported.
    report_snr_min: float = Field(default=5.0, gt=0.0, le=1000.0)
    # Photometric aperture radius, in units of the frame's measured FWHM.
    aperture_fwhm: float = Field(default=1.5, gt=0.2, le=10.0)
    # Astrometry: the largest pointing error and rotation searched from the header WCS.
    max_offset_arcsec: float = Field(default=300.0, gt=0.0, le=3600.0)
    max_rotation_deg: float = Field(default=0.5, ge=0.0, le=10.0)
    match_stars: int = Field(default=120, ge=10, le=2000)
    min_matches: int = Field(default=12, ge=6, le=1000)
    sip_degree: int = Field(default=3, ge=0, le=5)
    match_radius_arcsec: float = Field(default=1.5, gt=0.0, le=60.0)
    # Candidates: sources absent from the catalog that it should contain (brighter than its limit
    # by this margin), and, in follow-up frames, any new source at the alert's position.
    candidate_snr_min: float = Field(default=5.0, gt=0.0, le=1000.0)
    catalog_margin_mag: float = Field(default=0.5, ge=0.0, le=5.0)
    alert_radius_min_arcsec: float = Field(default=2.0, gt=0.0, le=3600.0)
    chance_probability_max: float = Field(default=0.01, gt=0.0, le=1.0)
    brightening_mag: float = Field(default=0.5, gt=0.0, le=10.0)
    edge_margin_fwhm: float = Field(default=2.0, ge=0.0, le=50.0)
    sharpness_max: float = Field(default=1.8, gt=1.0, le=100.0)
    # Follow-up frames searched by difference imaging, without the alert circle's help: "tiled"
    # when the circle does not fit in the frame (a tiled error box), "always", or "off".
    blind_search: Literal["off", "tiled", "always"] = "tiled"
    # Light curves: detections of consecutive frames within this distance are the same source.
    link_radius_arcsec: float = Field(default=1.0, gt=0.0, le=60.0)
    # The consumer: how often it looks for new frames (wall seconds), when it gives up waiting.
    poll_s: float = Field(default=0.5, gt=0.0, le=60.0)
    idle_timeout_s: float = Field(default=600.0, gt=0.0)

    @field_validator("reference_catalog")
    @classmethod
    def _registered(cls, name: str) -> str:
        """A catalog some installed distribution registers (a typo fails at load, not at dusk)."""
        known = registered_catalogs()
        if name not in known:
            listed = ", ".join(sorted(known)) or "none: is pyros installed (pip install -e .)?"
            raise ValueError(f"unknown reference catalog {name!r} (registered: {listed})")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> NrtSection:
        if self.min_matches > self.match_stars:
            raise ValueError("min_matches must not exceed match_stars")
        return self
