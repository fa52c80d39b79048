"""The listener's core on a real database: spool first, decide once, keep what the database
could not take; the drop folder road; the intake configuration."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from infra.clock import parse_clock
from infra.config import ConfigError, load_config, parse_config
from infra.db import session_scope
from infra.db.models import Alert
from infra.writebehind import WriteBehindQueue
from tasks.alerts.parse import issued_at_hint
from tests.support.voevents import SYNTHETIC, variant
from watchers.alerts.drop_road import DropRoad
from watchers.alerts.kafka_road import consumer_config
from watchers.alerts.listener import AlertListener
from watchers.alerts.spool import Spool


def _listener(tmp_path, engine_factory):
    config = load_config()
    when = issued_at_hint(SYNTHETIC)
    clock = parse_clock(f"sim:{when:%Y-%m-%dT%H:%M:%S}Z@1")
    queue = WriteBehindQueue(engine_factory, maxsize=100)
    return AlertListener(Spool(tmp_path / "spool"), config, clock, engine_factory, queue)


def _rows(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Alert))


def test_each_delivery_is_spooled_and_the_alert_decided_once(tmp_path, engine):
    listener = _listener(tmp_path, lambda: engine)
    entries = [listener.receive(SYNTHETIC, "comet"), listener.receive(SYNTHETIC, "kafka", "k:1")]
    assert listener.receive(SYNTHETIC, "kafka", "k:1") is None  # a redelivery
    for entry in entries:
        assert listener.decide(entry)
    assert listener.spool.pending() == []
    assert _rows(engine) == 1
    with session_scope(engine) as session:
        row = session.scalars(select(Alert)).one()
        assert row.road == "comet" and row.decision == "follow-up"
        assert row.wall_decided_at >= row.wall_received_at
    assert listener.decided == {"follow-up": 1, "duplicate": 1}


def test_a_database_away_keeps_the_packet_in_the_spool(tmp_path, engine):
    from sqlalchemy import create_engine

    dead = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    listener = _listener(tmp_path, lambda: dead)
    entry = listener.receive(SYNTHETIC, "drop", "drop:x")
    stopper = threading.Timer(0.5, listener._stop.set)
    stopper.start()
    assert not listener.decide(entry)  # stopped while retrying: still pending
    assert [e.name for e in listener.spool.pending()] == [entry.name]
    # The database is back (a new listener on the same spool): decided from the spool.
    again = _listener(tmp_path, lambda: engine)
    assert again.decide(again.spool.pending()[0])
    assert _rows(engine) == 1 and again.spool.pending() == []


def test_the_drop_folder_takes_complete_files_only(tmp_path, engine):
    listener = _listener(tmp_path, lambda: engine)
    drop = DropRoad(tmp_path / "drop", listener.receive, 0.05, 262144)
    (tmp_path / "drop" / "a.xml").write_bytes(SYNTHETIC)
    (tmp_path / "drop" / "b.xml.part").write_bytes(SYNTHETIC[:100])
    (tmp_path / "drop" / ".c.xml").write_bytes(SYNTHETIC[:100])
    other = variant(SYNTHETIC, ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1-1",
                    params={"TrigID": "1"})  # fmt: skip
    (tmp_path / "drop" / "d.xml").write_bytes(other)
    assert drop.poll() == 2
    assert sorted(p.name for p in (tmp_path / "drop").iterdir()) == [".c.xml", "b.xml.part"]
    assert [e.road for e in listener.spool.pending()] == ["drop", "drop"]


def test_the_processor_thread_decides_what_a_previous_run_left(tmp_path, engine):
    first = _listener(tmp_path, lambda: engine)
    first.receive(SYNTHETIC, "comet")
    listener = _listener(tmp_path, lambda: engine).start()
    try:
        deadline = time.monotonic() + 60
        while listener.spool.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    assert listener.spool.pending() == [] and _rows(engine) == 1


def _with_intake(**intake):
    data = load_config().model_dump()
    data["alert_intake"] = {**data["alert_intake"], **intake}
    return data


def test_intake_configuration_is_validated():
    with pytest.raises(ConfigError, match=r"alert_intake.comet.author_whitelist"):
        parse_config(_with_intake(comet={"author_whitelist": ["not-a-net"]}))
    with pytest.raises(ConfigError, match=r"alert_intake.kafka.topics"):
        parse_config(_with_intake(kafka={"topics": ["bad topic"]}))
    with pytest.raises(ConfigError, match=r"remote_brokers"):
        parse_config(_with_intake(comet={"remote_brokers": ["host-without-port"]}))
    with pytest.raises(ConfigError, match=r"must differ"):
        parse_config(_with_intake(comet={"receive_port": 9000, "broadcast_port": 9000}))


def test_kafka_secrets_come_from_the_environment_only():
    kafka = load_config().alert_intake.kafka
    local = consumer_config(kafka, {})
    assert local["security.protocol"] == "plaintext" and local["enable.auto.commit"] is False
    gcn = kafka.model_copy(update={"local_broker": False})
    with pytest.raises(ValueError, match="GCN_KAFKA_CLIENT_ID"):
        consumer_config(gcn, {})
    remote = consumer_config(
        gcn, {"GCN_KAFKA_CLIENT_ID": "id", "GCN_KAFKA_CLIENT_SECRET": "secret"}
    )
    assert remote["client_id"] == "id" and "bootstrap.servers" not in remote
