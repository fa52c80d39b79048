"""Planning around a lost camera (#24): the sequences that still need it are left out with the
reason and planned again when it is back; those that need only the working camera are planned.

The suite's clock stands at 2026-11-25 02:00 UTC, 25 minutes into the night of 2026-11-24.
"""

from __future__ import annotations

from sqlalchemy import select, update

from infra.db import session_scope
from infra.db.models import Album, Plan, Sequence
from tasks.night.policy import NightWindows
from tasks.night.state_reader import DeviceView, current_schedule, planned_entries, read_night_state
from tasks.requests.ingest import ingest_request_bytes
from tasks.scheduling import reasons as why
from tasks.scheduling.schedule_rows import plan_and_save
from tests.support.requests import plan_xml, request_xml, sequence_xml

LOST = {"Visible camera": "Visible camera: lost since 01:55:00 UTC (connection refused)"}


def submit(engine) -> dict[str, int]:
    """Three 20-min test sequences: on the visible camera, on the infrared one, on both."""

    def one(name: str, detector: str, filt: str = "r") -> str:
        return sequence_xml(
            name,
            duration="1200",
            jd1="0",
            jd2=str(14 * 3600),
            detector=detector,
            plans=plan_xml(filt, "30", "2"),
        )

    both = one("both", "Visible camera").replace(
        "</album>",
        '</album>\n    <album detector="Infrared camera" name="nir">'
        + plan_xml("J", "30", "2")
        + "</album>",
    )
    xml = request_xml([one("vis", "Visible camera"), one("nir", "Infrared camera", "J"), both])
    ids = ingest_request_bytes(xml.encode(), "lost.xml", engine=engine).sequence_ids
    return dict(zip(("vis", "nir", "both"), ids, strict=True))


def state_of(engine, sequence_id: int) -> tuple[str, str]:
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        return sequence.state, sequence.state_reason


def test_sequences_needing_a_lost_camera_wait_and_are_planned_again_when_it_is_back(
    engine, sim_clock
):
    ids = submit(engine)
    plan_and_save(engine=engine, clock=sim_clock, lost=LOST)
    assert state_of(engine, ids["nir"])[0] == "planned"
    for name in ("vis", "both"):
        state, reason = state_of(engine, ids[name])
        assert state == "unplannable" and why.code_of(reason) == why.DEVICE_LOST
        assert reason.endswith("waits for " + LOST["Visible camera"])
    windows = NightWindows(sunset=None, start=None, end=None, sunrise=None)
    with session_scope(engine) as session:
        night = read_night_state(session, sim_clock.now(), windows, DeviceView(True), "2026-11-24")
        entries = planned_entries(session, current_schedule(session, "2026-11-24"))
    assert night.waiting_on == {
        frozenset({"Visible camera"}),
        frozenset({"Visible camera", "Infrared camera"}),
    }
    assert [(e.sequence_id, e.instruments) for e in entries] == [
        (ids["nir"], frozenset({"Infrared camera"}))
    ]
    # The visible album of "both" done before the loss: it needs only the infrared camera now.
    with session_scope(engine) as session:
        album = session.scalar(
            select(Album.id).where(
                Album.sequence_id == ids["both"], Album.instrument == "Visible camera"
            )
        )
        session.execute(update(Plan).where(Plan.album_id == album).values(images_done=2))
    sim_clock.advance(60)
    plan_and_save(engine=engine, clock=sim_clock, lost=LOST)
    assert state_of(engine, ids["both"])[0] == "planned"
    assert state_of(engine, ids["vis"])[0] == "unplannable"
    # The camera back: planned again.
    sim_clock.advance(60)
    plan_and_save(engine=engine, clock=sim_clock, lost={})
    assert {name: state_of(engine, i)[0] for name, i in ids.items()} == {
        "vis": "planned",
        "nir": "planned",
        "both": "planned",
    }
    with session_scope(engine) as session:
        night = read_night_state(session, sim_clock.now(), windows, DeviceView(True), "2026-11-24")
    assert night.waiting_on == frozenset()
