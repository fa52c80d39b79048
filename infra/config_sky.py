"""The ``[sky]`` section of the site configuration: every knob of the camera simulator's sky.

The image pipeline is measured on renderer settings it was not tuned on (DESIGN §7), so every
realism knob lives here, validated like the rest of the site file. Units are in the key names.
``docs/configuration.md`` describes each key and the models behind them (``docs/sky.md``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkyFilter(_Section):
    """Photometric description of one filter (``[sky.filters."<name>"]``).

    A star of reference magnitude ``m_ref`` and colour ``c`` has ``m = m_ref + colour_offset_mag +
    colour_coefficient * c`` in this filter; it gives ``10**(-0.4 * (m - zero_point_mag))``
    electrons per second above the atmosphere.
    """

    zero_point_mag: float = Field(ge=10.0, le=40.0)
    sky_mag_arcsec2: float = Field(ge=5.0, le=30.0)
    extinction_mag_per_airmass: float = Field(ge=0.0, le=3.0)
    colour_offset_mag: float = Field(default=0.0, ge=-10.0, le=10.0)
    colour_coefficient: float = Field(default=0.0, ge=-10.0, le=10.0)
    wavelength_nm: float = Field(gt=100.0, le=30000.0)
    opaque: bool = False


class SkySection(_Section):
    """The synthetic sky, optics and detector effects of the camera simulator."""

    seed: int = Field(default=20261124, ge=0, le=2**63 - 1)
    cell_size_deg: float = Field(default=0.25, ge=0.02, le=5.0)
    # Star counts: dN/dm per deg² per mag = density * 10**(slope * (m - ref_mag)) * g(b)
    reference_filter: str = "r"
    star_density_per_deg2_mag: float = Field(default=550.0, gt=0.0, le=1e7)
    star_reference_mag: float = Field(default=20.0, ge=0.0, le=35.0)
    star_count_slope: float = Field(default=0.25, ge=0.0, le=0.8)
    star_latitude_exponent: float = Field(default=1.5, ge=0.0, le=5.0)
    star_latitude_min_deg: float = Field(default=3.0, ge=0.1, le=90.0)
    star_mag_bright: float = Field(default=8.0, ge=-2.0, le=35.0)
    star_mag_faint: float = Field(default=23.5, ge=-2.0, le=35.0)
    star_colour_mean: float = Field(default=0.7, ge=-3.0, le=5.0)
    star_colour_sigma: float = Field(default=0.35, ge=0.0, le=3.0)
    # Seeing and PSF
    seeing_fwhm_arcsec: float = Field(default=1.4, ge=0.2, le=20.0)
    seeing_night_variation: float = Field(default=0.15, ge=0.0, le=1.5)
    seeing_timescale_s: float = Field(default=2400.0, gt=0.0)
    seeing_field_variation: float = Field(default=0.05, ge=0.0, le=1.0)
    moffat_beta: float = Field(default=3.5, ge=1.5, le=20.0)
    # Pointing, optics
    pointing_error_arcsec: float = Field(default=60.0, ge=0.0, le=7200.0)
    pointing_jitter_arcsec: float = Field(default=0.5, ge=0.0, le=600.0)
    rotation_error_deg: float = Field(default=0.05, ge=0.0, le=10.0)
    sip_amplitude_px: float = Field(default=1.5, ge=0.0, le=100.0)
    # Background
    sky_gradient: float = Field(default=0.002, ge=0.0, le=0.5)
    moon_sky: bool = True
    twilight_mag_arcsec2_at_sun_minus6: float = Field(default=12.6, ge=0.0, le=30.0)
    twilight_mag_per_deg: float = Field(default=1.2, ge=0.0, le=5.0)
    twilight_flat_stars: bool = True
    dome_lamp_mag_arcsec2: float = Field(default=13.0, ge=0.0, le=30.0)
    dome_flat_gradient: float = Field(default=0.01, ge=0.0, le=0.5)
    # Detector
    bias_column_sigma_adu: float = Field(default=2.0, ge=0.0, le=1000.0)
    prnu_sigma: float = Field(default=0.005, ge=0.0, le=0.2)
    vignetting: float = Field(default=0.08, ge=0.0, le=0.9)
    dust_donuts: int = Field(default=6, ge=0, le=500)
    dust_donut_depth: float = Field(default=0.03, ge=0.0, le=0.9)
    dust_donut_radius_px: float = Field(default=25.0, ge=2.0, le=2000.0)
    hot_pixel_fraction: float = Field(default=2e-5, ge=0.0, le=0.05)
    hot_pixel_dark_e_s: float = Field(default=20.0, ge=0.0, le=1e6)
    dead_pixel_fraction: float = Field(default=1e-5, ge=0.0, le=0.05)
    bad_columns: int = Field(default=1, ge=0, le=1000)
    cosmic_ray_rate_per_mpix_s: float = Field(default=0.05, ge=0.0, le=1000.0)
    # Reference catalog (what the pipeline queries: the same stars, with errors and a limit)
    refcat_mag_limit: float = Field(default=21.0, ge=0.0, le=35.0)
    refcat_position_error_arcsec: float = Field(default=0.02, ge=0.0, le=60.0)
    refcat_position_error_at_limit_arcsec: float = Field(default=0.15, ge=0.0, le=60.0)
    refcat_mag_error_floor: float = Field(default=0.01, ge=0.0, le=5.0)
    refcat_mag_error_at_limit: float = Field(default=0.08, ge=0.0, le=5.0)
    filters: dict[str, SkyFilter] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SkySection:
        if self.star_mag_faint <= self.star_mag_bright:
            raise ValueError("star_mag_faint must be fainter (larger) than star_mag_bright")
        if self.reference_filter not in self.filters:
            raise ValueError(
                f"reference_filter {self.reference_filter!r} has no [sky.filters] entry"
            )
        if self.filters[self.reference_filter].opaque:
            raise ValueError(f"reference_filter {self.reference_filter!r} is opaque")
        return self
