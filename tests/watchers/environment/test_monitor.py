"""The environment monitor on the real simulators, behind real gateways: the seed's rain scenario
gives RAINING rows while it rains and OK before and after; unsafe closes the dome whatever else is
down; a flapping sensor cycles the dome at most once per hold period; a frozen PLC date and a PLC
that keeps going away are errors, and the monitor recovers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import make_url

from infra.db import session_scope
from infra.db.engine import create_pyros_engine
from infra.db.models import JournalEntry, WeatherWatch, WeatherWatchHistory
from simulators import DATA_DIR
from simulators.scenario import load_scenario
from tasks.environment.observatory_state import request_dome, weather_verdict
from tests.support.databases import only_on
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

#: Polling step of the waits: short, to see states that last a fraction of a wall second.
STEP_S = 0.02


def shutter(mrig) -> str:
    return mrig.monitor.reflex.dome.status().shutter.value


def open_dome(mrig, engine) -> None:
    """Ask for the dome open and wait until the monitor opened it (hold time included)."""
    with session_scope(engine) as session:
        request_dome(session, "open", "test", mrig.bench.clock.now())
    mrig.control.refresh()
    assert wait_until(lambda: shutter(mrig) == "open", 60, STEP_S), shutter(mrig)


def test_the_seed_rain_scenario_gives_raining_rows_while_it_rains(engine, monitor_rig):
    scenario = load_scenario(DATA_DIR / "scenarios" / "scenario_plc.json")
    mrig = monitor_rig(lambda: engine, speed=5.0, scenario=scenario)
    start = mrig.bench.clock.start
    mrig.start()
    assert wait_until(lambda: mrig.bench.clock.now() > start + timedelta(seconds=10.5), 30, STEP_S)
    mrig.stop()
    assert mrig.queue.flush(30)
    with session_scope(engine) as session:
        rows = [
            ((r.updated_at - start).total_seconds(), r.global_status)
            for r in session.scalars(select(WeatherWatch).order_by(WeatherWatch.id))
        ]
        history = [
            h.to_status
            for h in session.scalars(select(WeatherWatchHistory).order_by(WeatherWatchHistory.id))
        ]
        readings = session.scalars(select(JournalEntry).where(JournalEntry.kind == "plc")).all()
    assert len(rows) >= 15 and len(readings) == len(rows)
    # A reading reflects the PLC at its poll: allow one poll interval around the changes.
    assert {s for t, s in rows if t < 2.9} == {"OK"}
    assert {s for t, s in rows if 3.6 <= t <= 6.9} == {"RAINING"}
    assert {s for t, s in rows if t >= 7.6} == {"OK"}
    assert history == ["OK", "RAINING", "OK"]
    with session_scope(engine) as session:
        verdict = weather_verdict(session)  # never safe: the hold time (60 s) never passed
    assert not verdict.safe and "hold time" in verdict.reason
    # One unsafe episode since the start (the hold time never passed); the rain closed for too.
    (episode,) = mrig.monitor.episodes.episodes
    assert episode.end is None and episode.elements == ("rain",), episode


# PostgreSQL: the outage is a cut TCP proxy in front of it.
@only_on("postgresql")
def test_unsafe_closes_the_dome_with_the_database_and_prefect_away_and_writes_land_later(
    db_url, monitor_rig, monkeypatch
):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = create_pyros_engine(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        connect_timeout_s=1,
    )
    direct = create_pyros_engine(db_url)
    try:
        mrig = monitor_rig(lambda: proxied, speed=20.0, safety_changes={"hold_good_s": 20.0})
        mrig.start()
        open_dome(mrig, direct)
        proxy.cut()
        mrig.bench.observatory.plc.set_value("WXT520", "RainRate", 12.0)
        assert wait_until(lambda: "CLOSE" in mrig.bench.observatory.dome.last_received, 20, STEP_S)
        assert wait_until(lambda: shutter(mrig) in ("closing", "closed"), 20, STEP_S)
        assert wait_until(
            lambda: mrig.queue.stats.pending > 0 and mrig.queue.stats.retries > 0, 20, STEP_S
        )
        proxy.restore()
        assert mrig.queue.flush(60)
        with session_scope(direct) as session:
            raining = session.scalars(
                select(WeatherWatch).where(WeatherWatch.global_status == "RAINING")
            ).all()
            unsafe = [
                e
                for e in session.scalars(select(JournalEntry).where(JournalEntry.kind == "event"))
                if e.payload["event"] == "pyros.weather.unsafe"
            ]
        # Written late, but written: the rows and the one unsafe verdict, for the rain. (The
        # monitor's *current* synthesis is not asserted: under load the simulated clock runs on.)
        assert raining and len(unsafe) == 1
        assert "Rain" in unsafe[0].payload["payload"]["reason"]
    finally:
        proxied.dispose()
        direct.dispose()
        proxy.close()


def test_a_hundred_fast_rain_toggles_cycle_the_dome_at_most_once(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0, safety_changes={"hold_good_s": 30.0})
    mrig.start()
    open_dome(mrig, engine)
    plc = mrig.bench.observatory.plc
    clock = mrig.bench.clock
    opened_at = mrig.bench.observatory.dome.last_received["OPEN"]
    for i in range(100):  # rain on and off every simulated second
        plc.set_value("WXT520", "RainRate", 12.0 if i % 2 == 0 else 0.0)
        clock.sleep(1.0)
    plc.set_value("WXT520", "RainRate", 0.0)
    toggled_until = clock.now()
    assert wait_until(lambda: shutter(mrig) == "open", 30, STEP_S)
    mrig.stop()
    dome = mrig.bench.observatory.dome
    # One close (at the first rain) and one re-open, no sooner than the hold time after the
    # last rain.
    assert dome.last_received["OPEN"] != opened_at
    assert dome.last_received["OPEN"][0] >= toggled_until - timedelta(seconds=1) + timedelta(
        seconds=30
    )
    assert mrig.monitor.closures == 1
    assert mrig.queue.flush(30)
    with session_scope(engine) as session:
        assert weather_verdict(session).safe


def test_a_frozen_plc_date_is_stale_and_unsafe(engine, monitor_rig):
    mrig = monitor_rig(lambda: engine, speed=20.0, safety_changes={"stale_after_s": 10.0})
    mrig.start()
    assert wait_until(
        lambda: (
            mrig.monitor.last is not None and mrig.monitor.last.synthesis.weather_status == "OK"
        ),
        20,
        STEP_S,
    )
    mrig.bench.observatory.faults.inject("plc", "frozen", 60.0)
    assert wait_until(lambda: mrig.monitor.last.synthesis.weather_status == "ERROR", 20, STEP_S)
    assert "stale: the PLC's date is" in mrig.monitor.last.synthesis.reasons[0]
    assert wait_until(lambda: mrig.monitor.last.synthesis.weather_status == "OK", 20, STEP_S)


def test_the_plc_going_away_twenty_times_is_an_error_each_time_and_the_monitor_recovers(
    engine, monitor_rig
):
    mrig = monitor_rig(lambda: engine, speed=20.0, safety_changes={"hold_good_s": 600.0})
    mrig.start()
    faults = mrig.bench.observatory.faults
    seen_error = 0
    for _ in range(20):
        assert wait_until(
            lambda: (
                mrig.monitor.last is not None and mrig.monitor.last.synthesis.weather_status == "OK"
            ),
            20,
            STEP_S,
        )
        faults.inject("plc", "disconnect", 4.0)
        if wait_until(lambda: mrig.monitor.last.synthesis.weather_status == "ERROR", 20, STEP_S):
            seen_error += 1
        assert shutter(mrig) == "closed"  # never opened: the hold time never passed
    assert wait_until(lambda: mrig.monitor.last.synthesis.weather_status == "OK", 20, STEP_S)
    assert seen_error == 20 and mrig.alive
    assert "OPEN" not in mrig.bench.observatory.dome.last_received
