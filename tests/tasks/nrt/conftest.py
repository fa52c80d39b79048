"""Frames rendered once per test session for the NRT tests (deleted at the end).

The configuration is chosen here, not the one the pipeline was tuned on (the defaults): 640²
frames of a field at galactic latitude 15° (denser than the tuning field at −31°), seeing 1.8″
instead of 1.4″, SIP distortion 2.5 px instead of 1.5, a pointing error of 80″ instead of 60″,
0.1° rotation instead of 0.05°, another seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from tests.support.nrt_sky import NIGHT, FrameMaker, afterglow, sky_config

SIZE = 640
FIELD = (110.828, 18.084)  # l = 200°, b = +15°
TEST_SKY = dict(
    seeing_fwhm_arcsec=1.8,
    sip_amplitude_px=2.5,
    pointing_error_arcsec=80.0,
    rotation_error_deg=0.1,
    seed=424242,
)
IVORN = "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_999999-001"
#: The burst: 5 minutes before the first frame; its afterglow is at this offset from the centre.
TRIGGER = NIGHT - timedelta(minutes=5)
GLOW_OFFSET_DEG = (0.012, -0.009)


@dataclass
class NrtBank:
    """Frames of the test configuration: a follow-up sequence and bad frames."""

    maker: FrameMaker
    sequence: list[Path] = field(default_factory=list)
    glow_ra: float = 0.0
    glow_dec: float = 0.0
    bad: dict[str, Path] = field(default_factory=dict)
    clouds: Path | None = None
    masters_input: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def config(self):
        return self.maker.config


def _edited(source: Path, target: Path, data=None, remove=(), **cards) -> Path:
    with fits.open(source) as hdul:
        header = hdul[0].header.copy()
        pixels = hdul[0].data.copy() if data is None else data
    for key in remove:
        header.remove(key, ignore_missing=True)
    for key, value in cards.items():
        header[key] = value
    if pixels.dtype.kind == "f":
        for key in ("BZERO", "BSCALE"):
            header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data=pixels, header=header).writeto(target, overwrite=True)
    return target


@pytest.fixture(scope="session")
def nrt_bank(tmp_path_factory):
    """Render the session's frames (masters' inputs, a 3-frame follow-up, bad frames)."""
    directory = tmp_path_factory.mktemp("nrt")
    maker = FrameMaker(sky_config(SIZE, **TEST_SKY), directory)
    bank = NrtBank(maker)
    bank.masters_input = maker.calibration_frames()
    ra, dec = FIELD
    bank.glow_ra = float(ra + GLOW_OFFSET_DEG[0] / np.cos(np.radians(dec)))
    bank.glow_dec = dec + GLOW_OFFSET_DEG[1]
    glow = afterglow(bank.glow_ra, bank.glow_dec, NIGHT, mag_at_start=18.5, since_s=300.0)
    for k in range(3):
        bank.sequence.append(
            maker.light(
                f"follow-{k}",
                ra,
                dec,
                NIGHT + timedelta(minutes=4 * k),
                afterglows=(glow,),
                alert_ivorn=IVORN,
                sequence_id=1,
                frame_index=k,
            )
        )
    good = bank.sequence[0]
    bad = directory / "bad"
    bad.mkdir()
    truncated = bad / "truncated.fits"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    bank.bad["truncated"] = truncated
    bank.bad["no-filter"] = _edited(good, bad / "no-filter.fits", remove=("FILTER",))
    bank.bad["no-wcs"] = _edited(good, bad / "no-wcs.fits", remove=("CTYPE1", "CRVAL1"))
    bank.bad["no-exptime"] = _edited(good, bad / "no-exptime.fits", remove=("EXPTIME",))
    bank.bad["unknown-filter"] = _edited(good, bad / "unknown-filter.fits", FILTER="V")
    nan = np.full((SIZE, SIZE), np.nan, dtype=np.float32)
    bank.bad["all-nan"] = _edited(good, bad / "all-nan.fits", data=nan)
    saturated = np.full((SIZE, SIZE), 65535, dtype=np.uint16)
    bank.bad["saturated"] = _edited(good, bad / "saturated.fits", data=saturated)
    bank.clouds = maker.light("clouds", ra, dec, NIGHT + timedelta(hours=1), transparency=0.01)
    bank.bad["clouds"] = bank.clouds
    maker.made += [p for p in bad.iterdir()]
    yield bank
    maker.cleanup()


@pytest.fixture
def masters(nrt_bank, engine):
    """The test configuration's calibration masters, built into this test's database."""
    return nrt_bank.maker.build_masters(engine, nrt_bank.masters_input)
