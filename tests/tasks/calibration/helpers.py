"""Rendering small calibration frames with the sky simulator (tests only, never tasks/)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits

from infra.config import DEFAULT_CONFIG_PATH, SiteConfig, parse_config
from simulators.sky import FrameRequest, detector_model, render_frame, write_frame

VISIBLE = "Visible camera"
INFRARED = "Infrared camera"
#: Sunset at San Pedro Mártir on 2026-12-09 is near 00:45 UTC: 22 min later the sun is at −6°.
TWILIGHT = datetime(2026, 12, 9, 1, 7, tzinfo=UTC)
#: A dark instant the same night (new moon), for darks, biases and light frames.
NIGHT = datetime(2026, 12, 9, 7, 0, tzinfo=UTC)
NIGHT_LABEL = "2026-12-08"
FIELD = (60.0, 10.0)


def config_data(size: int, **sky) -> dict:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    for instrument in data["instruments"]:
        instrument["width"] = instrument["height"] = size
    data["sky"].update(sky)
    return data


def small_config(size: int = 256, **sky) -> SiteConfig:
    """The default configuration with ``size`` x ``size`` cameras and ``[sky]`` overrides."""
    return parse_config(config_data(size, **sky), "test-calibration")


def write_config(path: Path, size: int, **sky) -> Path:
    """Write a small-camera site file (for processes reading PYROS_SITE_CONFIG)."""
    import json

    def toml_value(value):
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + ", ".join(toml_value(v) for v in value) + "]"
        return repr(value)

    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith(("width =", "height =")):
            line = f"{line.split('=')[0]}= {size}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    for key, value in sky.items():
        text = text.replace("[sky]\n", f"[sky]\n{key} = {toml_value(value)}\n", 1)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Renderer:
    """Renders and writes frames of one configuration into a directory."""

    config: SiteConfig
    directory: Path
    made: list[Path] = field(default_factory=list)

    def frame(self, name: str, **request) -> Path:
        request.setdefault("instrument", VISIBLE)
        rendered = render_frame(FrameRequest(**request), self.config)
        path = write_frame(rendered, self.directory / f"{name}.fits").fits_path
        self.made.append(path)
        return path

    def biases(self, count: int, camera: str = VISIBLE, start: datetime = NIGHT) -> list[Path]:
        return [
            self.frame(f"bias-{camera[:3]}-{k}", instrument=camera, image_type="bias",
                       start=start + timedelta(seconds=20 * k), exposure_s=0.0)
            for k in range(count)
        ]  # fmt: skip

    def darks(self, count: int, exposure_s: float, camera: str = VISIBLE) -> list[Path]:
        return [
            self.frame(f"dark-{camera[:3]}-{exposure_s:g}-{k}", instrument=camera,
                       image_type="dark", start=NIGHT + timedelta(minutes=30 + 10 * k),
                       exposure_s=exposure_s)
            for k in range(count)
        ]  # fmt: skip

    def twilight_flats(self, count: int, filter_name: str = "r", first: int = 0) -> list[Path]:
        """Dithered twilight flats (36″ steps), 20 s apart, 2 s each, from the sun at −6°."""
        return [
            self.frame(f"twilight-{filter_name}-{k}", image_type="flat", filter=filter_name,
                       start=TWILIGHT + timedelta(seconds=20 * k), exposure_s=2.0,
                       ra_deg=FIELD[0] + 0.01 * k, dec_deg=FIELD[1] + 0.007 * (k % 3))
            for k in range(first, first + count)
        ]  # fmt: skip

    def dome_flats(self, count: int, filter_name: str = "r") -> list[Path]:
        return [
            self.frame(f"dome-{filter_name}-{k}", image_type="flat", filter=filter_name,
                       flat_source="dome", start=NIGHT + timedelta(minutes=k), exposure_s=5.0)
            for k in range(count)
        ]  # fmt: skip

    def light(self, name: str = "light", **changes) -> Path:
        request = dict(image_type="light", filter="r", start=NIGHT + timedelta(hours=1),
                       exposure_s=60.0, ra_deg=FIELD[0], dec_deg=FIELD[1])  # fmt: skip
        request.update(changes)
        return self.frame(name, **request)

    def model(self, camera: str = VISIBLE):
        return detector_model(self.config.sky, self.config.instrument(camera), self.config.sky.seed)


def edit_header(path: Path, target: Path, remove: tuple[str, ...] = (), **values) -> Path:
    """Copy a FITS file with keywords removed or changed."""
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data.copy()
    for key in remove:
        header.remove(key, ignore_missing=True)
    for key, value in values.items():
        header[key] = value
    fits.PrimaryHDU(data=data, header=header).writeto(target, overwrite=True)
    return target


def truncate(path: Path, target: Path, keep_fraction: float = 0.5) -> Path:
    payload = path.read_bytes()
    target.write_bytes(payload[: int(len(payload) * keep_fraction)])
    return target


def block_medians(image: np.ndarray, block: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Median of each block x block box (masked pixels ignored)."""
    data = np.array(image, dtype=float)
    if mask is not None:
        data[mask] = np.nan
    h, w = data.shape
    boxes = data[: h - h % block, : w - w % block].reshape(h // block, block, w // block, block)
    return np.nanmedian(boxes.transpose(0, 2, 1, 3).reshape(h // block, w // block, -1), axis=-1)


def large_scale_range(image: np.ndarray, block: int = 32, mask=None) -> float:
    """(max − min) / median of the block medians: the large-scale flatness of an image."""
    medians = block_medians(image, block, mask)
    return float((np.nanmax(medians) - np.nanmin(medians)) / np.nanmedian(medians))
