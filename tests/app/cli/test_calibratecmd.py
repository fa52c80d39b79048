"""``pyros calibrate``: build, list and calibrate from the command line."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

from app.cli.main import main
from tests.tasks.calibration.fixtures import bank  # noqa: F401 (fixture)
from tests.tasks.calibration.helpers import NIGHT, write_config


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_build_list_and_calibrate_a_frame(
    bank,  # noqa: F811 (the fixture imported above)
    engine,
    sim_clock,
    tmp_path,
    monkeypatch,
    capsys,
):
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(write_config(tmp_path / "site.toml", 256)))
    camera = ["--camera", "Visible camera"]
    assert main(["calibrate", "build", *camera, "--type", "bias", "--json",
                 *map(str, bank.vis_biases)]) == 0  # fmt: skip
    bias = _json(capsys)
    assert bias["ok"] and bias["status"] == "good" and bias["n_frames"] == 10
    assert main(["calibrate", "build", *camera, "--type", "flat", "--filter", "r",
                 *map(str, [*bank.dome_r, *bank.dome_g])]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "built from 7 frame(s) (2 rejected)" in captured.out
    assert "FILTER is 'g', the set is 'r'" in captured.err

    # Too few frames: exit 2, one line, the failure recorded.
    assert main(["calibrate", "build", *camera, "--type", "dark",
                 str(bank.vis_darks[0])]) == 2  # fmt: skip
    assert "at least 3 needed" in capsys.readouterr().err
    assert main(["calibrate", "build", *camera, "--type", "fringe", "x.fits"]) == 2
    assert "--type: 'fringe' is not one of bias, dark, flat" in capsys.readouterr().err
    assert main(["calibrate", "build", "--camera", "Nope", "--type", "bias", "x.fits"]) == 2
    assert "camera 'Nope' is not an instrument" in capsys.readouterr().err

    assert main(["calibrate", "list", "--json"]) == 0
    listed = _json(capsys)
    assert [(m["type"], m["status"]) for m in listed] == [
        ("dark", "failed"), ("flat", "good"), ("bias", "good")
    ]  # fmt: skip
    assert main(["calibrate", "list"]) == 0
    assert "Calibration masters" in capsys.readouterr().out

    raw = shutil.copy(bank.frame("cli-light", image_type="light", filter="r", ra_deg=60.0,
                                 dec_deg=10.0, start=NIGHT + timedelta(hours=3),
                                 exposure_s=30.0), tmp_path / "light.fits")  # fmt: skip
    assert main(["calibrate", "frame", str(raw), "--json"]) == 0
    result = _json(capsys)
    assert set(result["used"]) == {"bias", "flat"} and "dark" in result["missing"]
    assert result["output_path"].endswith("light.cal.fits")
    assert main(["calibrate", "frame", str(tmp_path / "absent.fits")]) == 2
    assert "no such file" in capsys.readouterr().err
