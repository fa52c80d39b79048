"""Operator flows on a real Prefect server (the session's test harness)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from infra.db import session_scope
from infra.db.models import Request, Sequence
from tests.support.requests import plan_xml, request_xml, sequence_xml

pytestmark = [pytest.mark.prefect, pytest.mark.xdist_group("prefect")]


def test_submit_request_flow_stores_the_request(engine, sim_clock, prefect_harness):
    from flows.operator import submit_request

    result = submit_request(xml=request_xml([sequence_xml("a"), sequence_xml("b")]), user="pyros")
    assert result["sequences"] == 2
    with session_scope(engine) as session:
        request = session.get(Request, result["request_id"])
        assert request.source == "prefect-ui"
        assert [s.state for s in request.sequences] == ["to-be-planned", "to-be-planned"]


def test_a_refused_request_fails_the_run_with_the_reason_and_stores_nothing(
    engine, sim_clock, prefect_harness
):
    from flows.operator import submit_request

    state = submit_request(
        xml=request_xml([sequence_xml("a", plans=plan_xml("Y"))]), return_state=True
    )
    assert state.is_failed()
    with pytest.raises(Exception, match=r"prefect-ui:5: .*@filter: 'Y' is not in the wheel"):
        state.result()
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Sequence)) == 0


def test_the_flow_refuses_a_duplicate_like_the_cli_and_takes_it_with_again(
    engine, sim_clock, prefect_harness
):
    from flows.operator import submit_request

    xml = request_xml([sequence_xml("a")])
    first = submit_request(xml=xml)
    state = submit_request(xml=xml, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=f"duplicate: .* as request {first['request_id']} "):
        state.result()
    assert submit_request(xml=xml, again=True)["request_id"] != first["request_id"]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 2


def test_the_mode_flow_sets_the_mode_and_refuses_an_unknown_one(engine, sim_clock, prefect_harness):
    from flows.operator import set_mode
    from infra.opmode import get_operating_mode

    assert set_mode(mode="manual", by="night operator") == "MANUAL"
    state = set_mode(mode="SLEEP", return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="mode 'SLEEP' is not AUTO or MANUAL"):
        state.result()
    with session_scope(engine) as session:
        assert get_operating_mode(session).value == "MANUAL"


def test_replan_now_makes_a_new_current_schedule(engine, sim_clock, prefect_harness):
    from flows.operator import replan_now
    from infra.db.models import Schedule

    submit = request_xml([sequence_xml("a"), sequence_xml("b")])
    from flows.operator import submit_request

    submit_request(xml=submit)
    first = replan_now(reason="operator request")
    second = replan_now(reason="again")
    assert second["schedule_id"] != first["schedule_id"]
    with session_scope(engine) as session:
        current = session.scalars(select(Schedule).where(Schedule.is_current.is_(True))).all()
        assert [s.id for s in current] == [second["schedule_id"]]
        assert current[0].reason == "again"


def _notices(engine) -> list[dict]:
    from infra.db.models import JournalEntry

    with session_scope(engine) as session:
        rows = session.scalars(select(JournalEntry).where(JournalEntry.kind == "notice"))
        return [{"source": r.source, **r.payload} for r in rows]


def test_an_operator_notice_is_journaled(engine, sim_clock, prefect_harness):
    from flows.reactions import operator_notice

    text = operator_notice(subject="environment-monitor silent", message="no heartbeat for 20 s")
    assert text == "environment-monitor silent: no heartbeat for 20 s"
    (notice,) = _notices(engine)
    assert notice["subject"] == "environment-monitor silent" and notice["severity"] == "warning"


def test_restart_watcher_asks_the_supervisor_and_a_held_watcher_fails_the_run(
    engine, sim_clock, prefect_harness, tmp_path
):
    import sys

    from app.supervisor.control import ControlServer
    from app.supervisor.core import Supervisor
    from app.supervisor.spec import ProcessSpec
    from flows.reactions import restart_watcher
    from infra.settings import load_settings

    run_dir = load_settings().run_dir
    sleeper = ProcessSpec("watcher", [sys.executable, "-c", "import time; time.sleep(600)"])
    supervisor = Supervisor([sleeper], tmp_path / "logs", hold_dir=run_dir)
    supervisor.start_all()
    control = ControlServer(supervisor, run_dir).start()
    try:
        first = supervisor.children["watcher"].pid
        answer = restart_watcher(name="watcher", reason="no heartbeat for 20 s")
        assert answer["ok"] and supervisor.children["watcher"].pid != first
        (run_dir / "hold-watcher").touch()
        state = restart_watcher(name="watcher", return_state=True)
        assert state.is_failed()
        with pytest.raises(Exception, match="restart of watcher refused: watcher is held"):
            state.result()
        state = restart_watcher(name="nobody", return_state=True)
        with pytest.raises(Exception, match=r"no process 'nobody' \(known: watcher\)"):
            state.result()
    finally:
        control.close()
        supervisor.stop_all()
    steps = [(n["watcher"], n["step"], n.get("ok")) for n in _notices(engine)]
    assert steps[:4] == [
        ("watcher", "asked", None),
        ("watcher", "answered", True),
        ("watcher", "asked", None),
        ("watcher", "answered", False),
    ]


@pytest.mark.integration
def test_the_fake_alert_drill_reaches_the_listener_through_the_stack_broker(
    tmp_path, monkeypatch, sim_clock, prefect_harness
):
    """The fake-alert flow sends its notice to the Comet broker of the site file (the one `pyros
    up` starts); the real listener subscribed to it decides a follow-up (road comet)."""
    from flows.operator import fake_alert
    from tests.support.alert_intake import IntakeRig

    rig = IntakeRig(tmp_path / "intake", clock=f"sim:{sim_clock.now():%Y-%m-%dT%H:%M:%S}Z@1")
    try:
        rig.start_brokers()
        rig.start_listener()
        monkeypatch.setenv("PYROS_SITE_CONFIG", str(rig.home / "site.toml"))
        result = fake_alert()
        assert result["observable"]
        assert f"127.0.0.1:{rig.ports['receive']}" in result["sent"]
        rows = rig.wait_ivorns({result["ivorn"]}, within_s=60)
        row = next(r for r in rows if r["ivorn"] == result["ivorn"])
        assert (row["road"], row["decision"]) == ("comet", "follow-up")
        assert rig.requests_for(result["ivorn"]) == 1
    finally:
        rig.close()
