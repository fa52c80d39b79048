"""The control room's artifacts on a real Prefect server (the session's test harness): one
artifact per key, updated in place, bounded; previews rendered, stored and linked."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from infra.config_controlroom import ControlRoomSection

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def _versions(key: str) -> list:
    """Every artifact stored under ``key`` (all versions), newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
                limit=100,
            )

    return asyncio.run(read())


def test_an_artifact_republished_is_updated_in_place(prefect_harness):
    from prefect import flow
    from prefect.artifacts import Artifact, MarkdownArtifact

    from tasks.controlroom.prefect_tasks import upsert_artifact

    @flow
    def publish_five_times() -> set:
        return {
            upsert_artifact(
                MarkdownArtifact(key="test-upsert", markdown=f"# take {i}", description=f"{i}")
            )
            for i in range(5)
        }

    ids = publish_five_times()
    assert len(ids) == 1
    assert [(a.data, a.description) for a in _versions("test-upsert")] == [("# take 4", "4")]
    latest = Artifact.get("test-upsert")  # what the UI's artifact page shows
    assert latest is not None and latest.data == "# take 4"


def test_publishers_racing_on_a_new_key_leave_one_artifact(prefect_harness):
    """Two flows (a block and an alert's follow-up) publishing a key's first version at once
    both find none and both create one: they converge on one (CI of 2026-12-05, two
    ``pyros-sequence-progress``). Eight threads released together; run on random keys."""
    import threading
    import uuid

    from prefect.artifacts import ProgressArtifact

    from tasks.controlroom.prefect_tasks import upsert_artifact

    for attempt in range(3):
        key = f"test-race-{uuid.uuid4().hex[:8]}"
        start = threading.Barrier(8)
        ids: list = []

        def publish(i: int, key: str = key, start: threading.Barrier = start, ids=ids) -> None:
            start.wait()
            ids.append(upsert_artifact(ProgressArtifact(key=key, progress=i, description=f"{i}")))

        threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        (survivor,) = _versions(key)
        assert len(ids) == 8 and survivor.id in ids, (attempt, ids)
        # The survivor holds one publisher's content, and the key goes on updating in place.
        assert float(survivor.data) in range(8)
        upsert_artifact(ProgressArtifact(key=key, progress=50.0, description="after"))
        (after,) = _versions(key)
        assert after.id == survivor.id and float(after.data) == 50.0


def test_a_key_of_another_type_gets_a_new_version(prefect_harness):
    from prefect import flow
    from prefect.artifacts import MarkdownArtifact, TableArtifact

    from tasks.controlroom.prefect_tasks import upsert_artifact

    @flow
    def publish() -> None:
        upsert_artifact(MarkdownArtifact(key="test-retyped", markdown="text"))
        upsert_artifact(TableArtifact(key="test-retyped", table=[{"a": 1}]))

    publish()
    assert [a.type for a in _versions("test-retyped")] == ["table", "markdown"]


def test_the_nrt_results_artifact_stays_one_bounded_table(prefect_harness):
    from prefect import flow

    from tasks.nrt.prefect_tasks import publish_results
    from tasks.nrt.results_window import ResultsWindow

    @flow
    def night_of_frames() -> None:
        window = ResultsWindow(4)
        for index in range(30):
            window.add({"image_id": f"IMG-{index}", "status": "done", "candidates": []})
            publish_results("test-nrt-window", window)

    night_of_frames()
    (artifact,) = _versions("test-nrt-window")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert [row["image"] for row in rows] == ["IMG-29", "IMG-28", "IMG-27", "IMG-26"]
    assert "30 frame(s) analysed" in artifact.description


def test_an_analysed_frame_gets_its_preview_and_the_artifacts_link_it(prefect_harness, tmp_path):
    from prefect import flow
    from prefect.artifacts import Artifact

    from tasks.controlroom.prefect_tasks import preview_frame
    from tasks.controlroom.views import LATEST_PREVIEW_KEY, PREVIEWS_KEY

    room = ControlRoomSection(previews_port=18281, preview_size_px=64, previews_keep=2)
    rng = np.random.default_rng(3)
    summaries = []
    for index in range(3):
        path = tmp_path / f"frame{index}.fits"
        fits.PrimaryHDU(rng.normal(100.0, 5.0, (32, 48)).astype(np.float32)).writeto(path)
        candidates = [{"x": 10.0, "y": 12.0, "snr": 8.0}] * index
        summaries.append(
            {"image_id": f"FRAME-{index}", "path": str(path), "candidates": candidates}
        )
    previews = tmp_path / "previews"

    @flow
    def analysed() -> list:
        return [preview_frame(s, room, previews) for s in summaries]

    stored = analysed()
    assert [p.name for p in stored] == ["FRAME-0.png", "FRAME-1.png", "FRAME-2.png"]
    assert sorted(p.name for p in previews.glob("*.png")) == ["FRAME-1.png", "FRAME-2.png"]
    assert Image.open(io.BytesIO((previews / "FRAME-2.png").read_bytes())).size == (64, 43)
    (markdown,) = _versions(PREVIEWS_KEY)
    assert "http://127.0.0.1:18281/previews/FRAME-2.png" in markdown.data
    assert "FRAME-1" in markdown.data and "FRAME-0" not in markdown.data
    assert "FRAME-2 — 2 candidate(s)" in markdown.data
    image = Artifact.get(LATEST_PREVIEW_KEY)
    assert image is not None and image.type == "image"
    assert image.data == "http://127.0.0.1:18281/previews/FRAME-2.png"
    assert len(_versions(LATEST_PREVIEW_KEY)) == 1


def test_no_preview_when_disabled_or_unreadable(prefect_harness, tmp_path):
    from tasks.controlroom.prefect_tasks import preview_frame

    bad = tmp_path / "bad.fits"
    bad.write_text("not FITS")
    room = ControlRoomSection()
    assert preview_frame({"image_id": "X", "path": str(bad)}, room, tmp_path / "p") is None
    assert preview_frame({"image_id": "X"}, room, tmp_path / "p") is None
    off = ControlRoomSection(previews_enabled=False)
    assert preview_frame({"image_id": "X", "path": str(bad)}, off, tmp_path / "p") is None
    assert not (tmp_path / "p").exists()


def _health(condition: str = "ok", reason: str = "") -> list:
    from datetime import UTC, datetime

    from tasks.night.device_health import DeviceCondition, DeviceHealth, DeviceRole

    since = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
    return [
        DeviceHealth("mount", DeviceRole.MOUNT, DeviceCondition.OK, "", since),
        DeviceHealth(
            "camera_nir",
            DeviceRole.CAMERA,
            DeviceCondition(condition),
            reason,
            since,
            instrument="Infrared camera",
        ),
    ]


def test_device_health_is_published_when_it_changes_in_place(prefect_harness):
    from prefect import flow
    from prefect.artifacts import Artifact

    from tasks.controlroom.prefect_tasks import DeviceHealthArtifact
    from tasks.controlroom.views import DEVICE_HEALTH_KEY

    @flow
    def night_looks() -> list[bool]:
        artifact = DeviceHealthArtifact()
        return [
            artifact.update(_health()),
            artifact.update(_health()),  # the same: nothing sent
            artifact.update(_health("lost", "gateway unreachable")),
        ]

    assert night_looks() == [True, False, True]
    (stored,) = _versions(DEVICE_HEALTH_KEY)
    rows = json.loads(stored.data)
    assert [(r["device"], r["condition"]) for r in rows] == [
        ("mount", "ok"),
        ("camera_nir", "lost"),
    ]
    assert rows[1]["since (UTC)"] == "2026-12-04 22:00:00"
    assert stored.description == (
        "**Device health**: 1 lost, 1 ok; Infrared camera: lost (gateway unreachable)."
    )
    assert Artifact.get(DEVICE_HEALTH_KEY) is not None


def test_an_unreachable_api_never_stops_the_analysis(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.controlroom.prefect_tasks import preview_frame
    from tasks.nrt.prefect_tasks import publish_results
    from tasks.nrt.results_window import ResultsWindow
    from tests.support.ports import free_port

    path = tmp_path / "frame.fits"
    fits.PrimaryHDU(np.arange(64.0 * 64).reshape(64, 64).astype(np.float32)).writeto(path)
    window = ResultsWindow(2)
    window.add({"image_id": "IMG-1", "status": "done", "candidates": []})
    summary = {"image_id": "IMG-1", "path": str(path), "candidates": []}
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        assert publish_results("test-unreachable", window) is None
        stored = preview_frame(summary, ControlRoomSection(), tmp_path / "previews")
    assert stored is not None and (tmp_path / "previews" / "IMG-1.png").is_file()


def test_the_sequence_progress_is_one_progress_artifact_updated_in_place(
    engine, sim_clock, prefect_harness
):
    from prefect import flow
    from sqlalchemy import select, update

    from infra.db import session_scope
    from infra.db.models import Album, Plan
    from tasks.controlroom.prefect_tasks import publish_sequence_progress
    from tasks.controlroom.progress import SEQUENCE_PROGRESS_KEY
    from tasks.requests.ingest import ingest_request_bytes
    from tests.support.requests import request_xml, sequence_xml

    xml = request_xml([sequence_xml("progress", jd1="0", jd2="30000")]).encode()
    sequence_id = ingest_request_bytes(xml, "t").sequence_ids[0]

    def frames_done(count: int) -> None:
        with session_scope(engine) as session:
            plan_ids = select(Plan.id).join(Album).where(Album.sequence_id == sequence_id)
            first = session.scalars(plan_ids).first()
            session.execute(update(Plan).where(Plan.id == first).values(images_done=count))

    @flow
    def sequence() -> list:
        seen = [publish_sequence_progress(sequence_id)]
        frames_done(1)
        seen.append(publish_sequence_progress(sequence_id))
        seen.append(publish_sequence_progress(sequence_id, "executed"))
        return seen

    first, second, last = sequence()
    assert first == 0.0 and 0.0 < second == last <= 100.0
    (artifact,) = _versions(SEQUENCE_PROGRESS_KEY)
    assert artifact.type == "progress" and float(artifact.data) == last
    assert f"**Sequence {sequence_id}** (progress): 1/" in artifact.description
    assert artifact.description.endswith("executed.")
    assert publish_sequence_progress(10**6) is None  # no such sequence: nothing published
