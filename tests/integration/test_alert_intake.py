"""The alert intake with real processes (issue #17): ``twistd comet``, a Tansu Kafka broker and
``pyros alert listen`` on free loopback ports, in a temporary PYROS_HOME.

Counts are printed (``-s`` shows them). ``PYROS_KILL_ROUNDS`` (default 10) sets the rounds per kill
point; ``PYROS_FUZZ_PACKETS`` (default 10000) the mutated packets of the fuzz test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.alert_intake import PYROS, REPO, IntakeRig
from tests.support.voevents import SWIFT, VOEVENT_DIR, packet_stream, read_voevents, variant

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not VOEVENT_DIR.is_dir(), reason="needs ../shared/data/voevents"),
]

SWIFT_CLOCK = "sim:2018-12-13T12:58:42Z@1"


@pytest.fixture
def rig(tmp_path: Path):
    rig = IntakeRig(tmp_path / "home", clock=SWIFT_CLOCK)
    rig.start_brokers()
    yield rig
    rig.close()


def _swift(trigger: int) -> tuple[bytes, str]:
    """A Swift BAT position notice of its own trigger (a follow-up at SWIFT_CLOCK)."""
    ivorn = f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{trigger}-475"
    raw = variant(read_voevents()[SWIFT], ivorn=ivorn, params={"TrigID": str(trigger)})
    return raw, ivorn


def _ingest(home: Path, file: Path) -> dict:
    env = {**os.environ, "PYROS_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("PYROS_DATABASE_URL", None)
    done = subprocess.run(
        [*PYROS, "alert", "ingest", str(file), "--json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout)


def _comet_accepts(raw: bytes) -> bool:
    """Whether Comet's broker takes the packet: it refuses a VOEvent its own copy of the
    VOEvent 2.0 schema does not validate (GECAM's FLT notice carries a ``datatype`` attribute
    on a ``Param``, which the schema does not allow)."""
    import comet
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(Path(comet.__path__[0]) / "schema" / "VOEvent-v2.0.xsd"))
    return bool(schema.validate(etree.fromstring(raw)))


def _issued(raw: bytes) -> str:
    from tasks.alerts.parse import issued_at_hint

    when = issued_at_hint(raw)
    assert when is not None
    return f"sim:{when.strftime('%Y-%m-%dT%H:%M:%S')}Z@1"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("road", ["comet", "kafka"])
def test_every_notice_gets_the_ingest_decision(tmp_path: Path, road: str) -> None:
    """Each real notice, sent with comet-sendvo (or produced to Kafka) to a listener whose clock
    is the notice's own issue time, is decided as ``pyros alert ingest`` decides it. A notice
    Comet's broker refuses (invalid against the VOEvent 2.0 schema) fails ``pyros alert send``
    with the broker's refusal named; Kafka carries every notice."""
    notices = read_voevents()
    ingest_home = tmp_path / "ingest"
    ingest_home.mkdir()
    subprocess.run(
        [*PYROS, "db", "init"],
        env={**os.environ, "PYROS_HOME": str(ingest_home)}, cwd=REPO, check=True,
        capture_output=True,
    )  # fmt: skip
    rig = IntakeRig(tmp_path / "home")
    rig.start_brokers()
    try:
        for name, raw in notices.items():
            expected = _ingest(ingest_home, VOEVENT_DIR / name)
            if road == "comet" and not _comet_accepts(raw):
                refusal = rig.sendvo(VOEVENT_DIR / name, refused=True)
                print(f"comet {name}: refused by the broker (schema): {refusal.strip()[-160:]}")
                continue
            rig.start_listener(clock=_issued(raw))
            if road == "comet":
                rig.sendvo(VOEVENT_DIR / name)
            else:
                rig.produce([raw])
            rows = rig.wait_ivorns({expected["ivorn"]})
            rig.stop_listener()
            got = next(r for r in rows if r["ivorn"] == expected["ivorn"])
            print(f"{road} {name}: {got['decision']} / ingest {expected['decision']}")
            assert (got["decision"], got["action"], got["road"]) == (
                expected["decision"],
                expected["action"],
                road,
            ), name
            assert (got["request_id"] is None) == (expected["request_id"] is None), name
    finally:
        rig.close()


@pytest.mark.timeout(600)
def test_the_same_notice_ten_times_by_every_road(rig: IntakeRig) -> None:
    rig.start_listener()
    raw, ivorn = _swift(900001)
    copies = [raw] * 10
    rig.send_comet(copies)  # Comet acknowledges all and relays the first (identical bytes)
    rig.produce(copies)
    for i in range(10):
        rig.drop(raw, f"copy{i}.xml")
    rig.wait_ivorns({ivorn})
    deadline = time.monotonic() + 60
    while (rig.spool_pending() or list((rig.home / "alerts/drop").iterdir())) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    time.sleep(1.0)
    rows = [r for r in rig.rows() if r["ivorn"] == ivorn]
    done = list((rig.home / "alerts/spool/done").iterdir())
    print(f"spooled {len(done)} deliveries; Alert rows {len(rows)}; "
          f"requests {rig.requests_for(ivorn)}")  # fmt: skip
    assert len(rows) == 1 and rows[0]["decision"] == "follow-up"
    assert rig.requests_for(ivorn) == 1
    assert rig.spool_pending() == 0


def _wait_exit(process: subprocess.Popen, within_s: float) -> bool:
    try:
        process.wait(within_s)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.timeout(3000)
@pytest.mark.parametrize("point", ["received", "journaled", "deciding", "decided", "before-commit"])
def test_kill_points_exactly_once(rig: IntakeRig, point: str) -> None:
    """SIGKILL at ``point`` round after round while alerts keep arriving by both roads; then
    every alert has exactly one Alert row and one follow-up request."""
    rounds = int(os.environ.get("PYROS_KILL_ROUNDS", "10"))
    sent: list[str] = []
    trigger = 910000 + 1000 * ["received", "journaled", "deciding", "decided",
                               "before-commit"].index(point)  # fmt: skip
    killed = 0
    for _ in range(rounds):
        batch = [_swift(trigger + len(sent) + i) for i in range(4)]
        trigger += 4
        sent.extend(ivorn for _, ivorn in batch)
        rig.send_comet([raw for raw, _ in batch[:2]])
        rig.produce([raw for raw, _ in batch[2:]])
        process = rig.start_listener(kill_at=point, wait=False)
        if _wait_exit(process, 60):
            killed += process.returncode == -signal.SIGKILL
        else:
            rig.stop_listener()
    rig.start_listener()
    rows = rig.wait_ivorns(set(sent), within_s=180)
    per_ivorn = Counter(r["ivorn"] for r in rows if r["ivorn"] in sent)
    requests = {ivorn: rig.requests_for(ivorn) for ivorn in sent}
    print(
        f"kill point {point}: {rounds} rounds, {killed} SIGKILLs; {len(sent)} alerts sent, "
        f"{len(per_ivorn)} decided, rows per alert {set(per_ivorn.values())}, "
        f"requests per alert {set(requests.values())}"
    )
    assert killed >= 1
    assert set(per_ivorn) == set(sent)
    assert set(per_ivorn.values()) == {1}
    assert set(requests.values()) == {1}


@pytest.mark.timeout(3000)
def test_fuzz_through_the_broker(tmp_path: Path) -> None:
    """Mutated packets with 100 valid copies mixed in, through the Comet broker: the listener
    never dies, every valid copy is decided, the broker keeps serving."""
    mutants = int(os.environ.get("PYROS_FUZZ_PACKETS", "10000"))
    rig = IntakeRig(tmp_path / "home")  # the system clock: every copy is in the past
    rig.start_brokers()
    try:
        rig.start_listener()
        pid = rig.status()["pid"]
        stream = packet_stream(read_voevents(), mutants=mutants, copies=10, seed=20261204)
        valid, refused = {}, set()
        for raw, _, name in stream:
            if name is not None:
                from lxml import etree

                ivorn = etree.fromstring(raw).get("ivorn")
                # Comet's broker refuses a copy its schema does not validate (GECAM's notice).
                if _comet_accepts(raw):
                    valid[ivorn] = name
                else:
                    refused.add(ivorn)
        summary = rig.send_comet([raw for raw, _, _ in stream])
        rows = rig.wait_ivorns(set(valid), within_s=600)
        decided = {r["ivorn"] for r in rows} & set(valid)
        print(
            f"fuzz: {summary['sent']} packets sent, {summary['acked']} acknowledged by the "
            f"broker; {len(decided)}/{len(valid)} valid decided ({len(refused)} valid copies "
            f"refused by Comet's schema check); {len(rows)} Alert rows"
        )
        assert rig.listener is not None and rig.listener.poll() is None
        assert rig.status()["pid"] == pid
        assert len(valid) + len(refused) == 100
        assert len(decided) == len(valid)
        assert not refused & {r["ivorn"] for r in rows}
        probe, probe_ivorn = _swift(990001)
        assert rig.send_comet([probe])["acked"] == 1  # the broker still serves
        rig.wait_ivorns({probe_ivorn})
    finally:
        rig.close()


@pytest.mark.timeout(300)
def test_a_scenario_alert_flows_through_the_stack_broker_to_the_listener(tmp_path: Path) -> None:
    """The simulators play an ``alertSimulator`` item with the site file `pyros up` reads (no
    ``alert_broker_port``: the stack's broker); the Comet broker of the stack's plan takes it and
    the real listener decides it (road ``comet``)."""
    from simulators.scenario import parse_scenario
    from tests.support.rig import start_rig
    from tests.support.waiting import wait_until

    rig = IntakeRig(tmp_path / "home", clock=SWIFT_CLOCK)
    assert rig.config.simulators.alert_broker_port is None
    sims = None
    try:
        rig.start_brokers()
        rig.start_listener()
        raw, ivorn = _swift(997001)
        file = tmp_path / "grb.xml"
        file.write_bytes(raw)
        scenario = parse_scenario([20, {"time": 0.5, "alertSimulator": str(file)}], "grb.json")
        sims = start_rig(tmp_path / "sims", speed=10.0, config=rig.config, scenario=scenario)
        player = sims.run.player

        def over() -> bool:
            outcomes = player.describe()["outcomes"]
            return bool(outcomes) and outcomes[0]["status"] != "running"

        wait_until(over, 60, step_s=0.05)
        outcome = player.describe()["outcomes"][0]
        print(f"scenario item: {outcome['status']}: {outcome['detail']}")
        assert outcome["status"] == "done", outcome["detail"]
        assert f"127.0.0.1:{rig.ports['receive']}" in outcome["detail"]
        row = next(r for r in rig.wait_ivorns({ivorn}, within_s=60) if r["ivorn"] == ivorn)
        assert (row["road"], row["decision"]) == ("comet", "follow-up")
    finally:
        if sims is not None:
            sims.close()
        rig.close()


@pytest.mark.timeout(600)
def test_supervised_listener_back_after_a_kill(tmp_path: Path) -> None:
    """The real listener under the supervisor (with the brokers): SIGKILL it; a new one runs
    (one instance: the lock's holder is the new pid), and decides what arrives."""
    from app.stack import alert_specs
    from app.supervisor.launch import down, up
    from infra.oslock import holder_pid
    from infra.settings import load_settings

    rig = IntakeRig(tmp_path / "home", clock=SWIFT_CLOCK)
    settings = load_settings(rig.env)
    specs, _ = alert_specs(dict(rig.env), rig.config, settings)
    old_env = dict(os.environ)
    os.environ.update(rig.env)
    try:
        up(specs, settings.run_dir, settings.log_dir, timeout_s=120)
        lock = settings.run_dir / "alert-listener.lock"
        deadline = time.monotonic() + 60
        while holder_pid(lock) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        first = holder_pid(lock)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() < killed_at + 60:
            pid = holder_pid(lock)
            if pid not in (None, first):
                break
            time.sleep(0.05)
        back_s = time.monotonic() - killed_at
        second = holder_pid(lock)
        listeners = subprocess.run(
            ["pgrep", "-f", "app.cli.main alert listen"], capture_output=True, text=True
        ).stdout.split()
        mine = [p for p in listeners if _env_home(int(p)) == str(rig.home)]
        print(f"listener {first} killed; {second} holds the lock after {back_s:.2f} s; "
              f"listener processes of this home: {mine}")  # fmt: skip
        assert second not in (None, first)
        assert mine == [str(second)]
        raw, ivorn = _swift(995001)
        rig.drop(raw, "after-kill.xml")
        rig.wait_ivorns({ivorn})
    finally:
        down(settings.run_dir)
        os.environ.clear()
        os.environ.update(old_env)
        rig.close()


def _env_home(pid: int) -> str | None:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in data:
        if item.startswith(b"PYROS_HOME="):
            return item.split(b"=", 1)[1].decode()
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
