"""``pyros nrt``: run the consumer, list the analyses, analyse one frame, bad options."""

from __future__ import annotations

import json

from app.cli.main import main
from tests.support.nrt_sky import write_site_config
from tests.tasks.nrt.conftest import SIZE, TEST_SKY, masters, nrt_bank  # noqa: F401 (fixtures)
from tests.tasks.nrt.test_consumer import _image


def test_run_list_and_frame(nrt_bank, engine, sim_clock, masters, tmp_path, monkeypatch, capsys):  # noqa: F811
    site = write_site_config(tmp_path / "site.toml", SIZE, **TEST_SKY)
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(site))
    _image(engine, nrt_bank.sequence[1], "CLI0")
    _image(engine, nrt_bank.bad["unknown-filter"], "CLI1")
    assert main(["nrt", "run", "--idle-timeout", "0", "--max-images", "5"]) == 0
    out = capsys.readouterr().out
    assert "CLI0: done in" in out and "candidate(s)" in out
    assert "CLI1: failed: " in out and "unknown filter 'V'" in out
    assert "ended (no new frame for 0 s): 1 done, 1 failed" in out

    assert main(["nrt", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["image_id"], i["status"]) for i in listed] == [("CLI1", "failed"), ("CLI0", "done")]
    assert listed[1]["astrometry_rms_arcsec"] < 0.2 and listed[1]["n_sources"] > 20

    assert main(["nrt", "frame", str(nrt_bank.sequence[0]), "--json"]) == 0
    frame = json.loads(capsys.readouterr().out)
    assert frame["ok"] and frame["astrometry"]["n_matches"] >= 12
    assert [c["kind"] for c in frame["candidates"]] == ["new"]

    assert main(["nrt", "frame", str(nrt_bank.bad["no-wcs"])]) == 2
    assert "no initial WCS" in capsys.readouterr().err
    assert main(["nrt", "run", "--until", "tomorrow"]) == 2
    assert "--until: 'tomorrow' is not an ISO 8601 instant" in capsys.readouterr().err
