"""The ``nrt-analysis`` flow on the Prefect test harness: frames analysed, the results and the
frames' previews published as artifacts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import NrtAnalysis
from tests.support.nrt_sky import write_site_config
from tests.tasks.nrt.conftest import SIZE, TEST_SKY, masters, nrt_bank  # noqa: F401 (fixtures)
from tests.tasks.nrt.test_consumer import _image

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def test_the_flow_analyses_frames_and_publishes_the_results_table(
    nrt_bank,  # noqa: F811
    engine,
    sim_clock,
    masters,  # noqa: F811
    prefect_harness,
    tmp_path,
    monkeypatch,
):
    from prefect.artifacts import Artifact

    from flows.nrt import nrt_analysis

    site = write_site_config(tmp_path / "site.toml", SIZE, **TEST_SKY)
    monkeypatch.setenv("PYROS_SITE_CONFIG", str(site))
    _image(engine, nrt_bank.sequence[0], "FLOW0")
    _image(engine, nrt_bank.bad["no-filter"], "FLOW1")
    result = nrt_analysis(idle_timeout_s=0.0)
    assert (result["done"], result["failed"]) == (1, 1)
    assert result["candidates"] == 1 and result["stopped"] == "no new frame for 0 s"
    with session_scope(engine) as session:
        statuses = dict(session.execute(select(NrtAnalysis.image_id, NrtAnalysis.status)).all())
    assert statuses == {"FLOW0": "done", "FLOW1": "failed"}
    artifact = Artifact.get("pyros-nrt")
    assert artifact is not None and artifact.type == "table"
    assert "FLOW0" in str(artifact.data) and "FILTER is missing" in str(artifact.data)
    assert "1 frame(s) analysed, 1 failed, 1 candidate(s)" in str(artifact.description)
    # Both frames have a preview, linked from the table and the previews artifact.
    previews = tmp_path / "home" / "previews"
    assert sorted(p.name for p in previews.glob("*.png")) == ["FLOW0.png", "FLOW1.png"]
    assert "/previews/FLOW0.png" in str(artifact.data)
    markdown = Artifact.get("pyros-previews")
    assert markdown is not None and "/previews/FLOW1.png" in str(markdown.data)
