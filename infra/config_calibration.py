"""The ``[calibration]`` section of the site configuration: masters and science calibration.

How many frames a master needs, how they are combined (sigma clipping, memory bound), which flat
levels are usable, how old a master may be, and what the ``calibrate`` deployment asks the camera
for. ``docs/calibration.md`` explains the models; every key has a default, so a site file gives
only what it changes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalibrationSection(_Section):
    """Calibration masters (bias, dark, flat) and the calibration of science frames."""

    # Fewer valid frames than this and no master is built (the previous one stays in use).
    min_frames_bias: int = Field(default=5, ge=1, le=1000)
    min_frames_dark: int = Field(default=3, ge=1, le=1000)
    min_frames_flat: int = Field(default=5, ge=1, le=1000)
    # Sigma clipping across frames (per pixel): median centre, MAD standard deviation.
    sigma_low: float = Field(default=3.0, gt=0.0, le=100.0)
    sigma_high: float = Field(default=3.0, gt=0.0, le=100.0)
    clip_iterations: int = Field(default=1, ge=1, le=10)
    # Memory bound of one combine (MB): the row bands in flight are sized to stay below it.
    combine_memory_mb: float = Field(default=512.0, ge=16.0, le=65536.0)
    combine_threads: int = Field(default=2, ge=1, le=64)
    # Usable flat levels (ADU above bias), as fractions of the saturation level above bias.
    flat_level_min_fraction: float = Field(default=0.05, gt=0.0, lt=1.0)
    flat_level_max_fraction: float = Field(default=0.75, gt=0.0, le=1.0)
    # Bad pixels: flat response outside [low, high] (of the median), dark current above this.
    bad_flat_low: float = Field(default=0.5, gt=0.0, lt=1.0)
    bad_flat_high: float = Field(default=1.5, gt=1.0, le=100.0)
    hot_pixel_e_s: float = Field(default=1.0, gt=0.0)
    # Masters older than this many nights are not used (the step is then skipped and said so).
    max_master_age_nights: int = Field(default=30, ge=0, le=3650)
    # What the `calibrate` deployment asks the camera for (through the acquisition hook).
    bias_count: int = Field(default=11, ge=1, le=1000)
    dark_count: int = Field(default=7, ge=1, le=1000)
    dark_exposure_s: float = Field(default=120.0, gt=0.0, le=36000.0)
    flat_count: int = Field(default=7, ge=1, le=1000)
    twilight_flat_exposure_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    twilight_dither_arcsec: float = Field(default=30.0, ge=0.0, le=3600.0)
    dome_flat_exposure_s: float = Field(default=10.0, gt=0.0, le=3600.0)

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationSection:
        if self.flat_level_min_fraction >= self.flat_level_max_fraction:
            raise ValueError("flat_level_min_fraction must be below flat_level_max_fraction")
        return self
