"""The write-behind queue never blocks its caller and lands queued writes when the database is
back. "Database down" is a TCP proxy in front of the shared PostgreSQL server, cut and restored."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from infra.db import session_scope
from infra.db.engine import create_pyros_engine
from infra.db.models import JournalEntry, ObservatoryState
from infra.journal import record
from infra.writebehind import WriteBehindQueue
from tests.support.databases import only_on
from tests.support.tcp_proxy import TcpProxy

EVENING = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def _count(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(JournalEntry))


def test_queued_journal_writes_land(engine):
    queue = WriteBehindQueue(lambda: engine).start()
    for i in range(250):
        record("plc", "plc", {"i": i}, sim_time=EVENING + timedelta(seconds=i), into=queue)
    assert queue.flush(30)
    assert queue.stop() == 0
    assert _count(engine) == 250
    assert queue.stats.written == 250


def test_a_bad_write_is_dropped_without_losing_the_good_ones(engine):
    queue = WriteBehindQueue(lambda: engine).start()
    record("plc", "plc", {"i": 1}, sim_time=EVENING, into=queue)
    queue.put(lambda s: s.add(ObservatoryState(key="k", value="v")))  # missing updated_at
    record("plc", "plc", {"i": 2}, sim_time=EVENING, into=queue)
    assert queue.flush(30)
    queue.stop()
    assert _count(engine) == 2
    assert queue.stats.failed == 1


def test_a_full_queue_drops_the_oldest_and_never_blocks():
    applied: list[int] = []
    # Not started: nothing drains, as when the database hangs for a long time.
    queue = WriteBehindQueue(lambda: None, maxsize=10)
    for i in range(1000):
        queue.put(lambda s, i=i: applied.append(i))
    stats = queue.stats
    assert (stats.pending, stats.dropped) == (10, 990)
    assert applied == []


@only_on("postgresql")  # the outage is a cut TCP proxy in front of PostgreSQL
def test_writes_queued_while_the_database_is_unreachable_land_when_it_is_back(db_url):
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = create_pyros_engine(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        connect_timeout_s=1,
    )
    direct = create_pyros_engine(db_url)
    queue = WriteBehindQueue(lambda: proxied, retry_initial_s=0.05, retry_max_s=0.5).start()
    try:
        record("plc", "plc", {"phase": "before"}, sim_time=EVENING, into=queue)
        assert queue.flush(30)
        proxy.cut()
        started = time.monotonic()
        for i in range(20):
            record("plc", "plc", {"phase": "outage", "i": i}, sim_time=EVENING, into=queue)
        assert time.monotonic() - started < 5  # queuing does not wait for the database
        time.sleep(1.0)
        assert queue.stats.pending == 20 and queue.stats.retries >= 1
        assert _count(direct) == 1
        proxy.restore()
        assert queue.flush(60)
        assert _count(direct) == 21
    finally:
        queue.stop(1)
        proxied.dispose()
        direct.dispose()
        proxy.close()
