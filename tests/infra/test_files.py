from datetime import UTC, datetime
from pathlib import Path

from infra.files import default_frame_path


def test_a_frame_id_becomes_a_safe_file_under_device_and_date() -> None:
    now = datetime(2026, 12, 4, 1, 2, 3, tzinfo=UTC)
    path = default_frame_path(Path("/f"), "cam", "../S1 P2/I3", now)
    assert path == Path("/f/cam/20261204/S1_P2_I3.fits")
    assert default_frame_path(Path("/f"), "cam", "...", now).name == "frame.fits"
