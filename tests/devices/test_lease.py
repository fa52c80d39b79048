"""The lease rules, on the arbiter alone (an injected monotonic time: no sleeping)."""

from __future__ import annotations

import threading

import pytest

from devices.errors import LEASE_REQUIRED, DeviceError, LeaseRefused, Preempted
from devices.lease import LeaseArbiter, Priority
from tests.support.waiting import wait_until


class Ticker:
    """A monotonic time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def arbiter(ticker) -> LeaseArbiter:
    return LeaseArbiter("mount", default_ttl_s=10.0, epoch_base=100, clock=ticker)


def test_priorities_order_and_parse():
    assert Priority.SAFETY > Priority.ALERT > Priority.OPERATOR > Priority.ROUTINE
    assert Priority.parse(" Alert ") is Priority.ALERT
    with pytest.raises(ValueError, match=r"routine, operator, alert, safety"):
        Priority.parse("urgent")


def test_a_free_lease_is_granted_with_a_new_epoch(arbiter):
    grant, _ = arbiter.claim("flow-1", Priority.ROUTINE)
    assert (grant.lease.owner, grant.lease.epoch, grant.reason, grant.abort) == (
        "flow-1",
        101,
        "free",
        False,
    )
    with arbiter.cond:
        assert arbiter.admit("flow-1", 101).epoch == 101


def test_a_higher_claim_preempts_and_asks_for_an_abort(arbiter):
    arbiter.claim("flow-1", Priority.ROUTINE)
    grant, _ = arbiter.claim("alert-listener", Priority.ALERT)
    assert grant.abort and grant.reason == "preempted" and grant.previous.owner == "flow-1"
    with arbiter.cond, pytest.raises(Preempted) as caught:
        arbiter.admit("flow-1", 101)
    assert "stale epoch 101" in caught.value.message
    assert caught.value.detail == {"epoch": 102, "holder": "alert-listener", "priority": "alert"}


def test_an_equal_priority_never_steals_a_live_lease(arbiter):
    arbiter.claim("flow-1", Priority.ROUTINE)
    with pytest.raises(LeaseRefused, match=r"held by flow-1 \(routine\)"):
        arbiter.claim("flow-2", Priority.ROUTINE, wait_s=0)
    assert arbiter.current().owner == "flow-1" and arbiter.current().epoch == 101


def test_lower_and_equal_claims_are_refused_but_higher_ones_are_not(arbiter):
    arbiter.claim("alert-listener", Priority.ALERT)
    for owner, priority in [("op", Priority.OPERATOR), ("flow", Priority.ROUTINE)]:
        with pytest.raises(LeaseRefused):
            arbiter.claim(owner, priority)
    with pytest.raises(LeaseRefused):
        arbiter.claim("alert-2", Priority.ALERT)
    assert arbiter.current().owner == "alert-listener"
    grant, _ = arbiter.claim("environment-monitor", Priority.SAFETY)
    assert grant.abort and grant.reason == "preempted"


def test_safety_gets_in_over_safety_without_an_abort(arbiter):
    arbiter.claim("monitor-1", Priority.SAFETY)
    grant, _ = arbiter.claim("monitor-2", Priority.SAFETY)
    assert grant.reason == "safety" and not grant.abort


def test_the_holder_may_claim_again_under_a_new_epoch(arbiter):
    first, _ = arbiter.claim("flow-1", Priority.ROUTINE)
    second, _ = arbiter.claim("flow-1", Priority.OPERATOR)
    assert second.reason == "renewed" and not second.abort
    assert second.lease.epoch == first.lease.epoch + 1
    with arbiter.cond, pytest.raises(Preempted):
        arbiter.admit("flow-1", first.lease.epoch)


def test_a_dead_holder_lapses_at_expiry_and_heartbeats_keep_it(arbiter, ticker):
    lapsed = []
    arbiter._on_lapse = lapsed.append
    grant, _ = arbiter.claim("flow-1", Priority.ALERT, ttl_s=2.0)
    ticker.now += 1.5
    arbiter.heartbeat("flow-1", grant.lease.epoch)  # renewed to now + 2
    ticker.now += 1.9
    assert arbiter.current().owner == "flow-1"
    ticker.now += 0.2
    assert arbiter.expire() is not None and arbiter.current().owner is None
    assert [lease.owner for lease in lapsed] == ["flow-1"]
    with pytest.raises(Preempted, match=r"the lease is free"):
        arbiter.heartbeat("flow-1", grant.lease.epoch)
    # A lower priority now gets it, and takes over what the dead holder left in flight.
    takeover, _ = arbiter.claim("flow-2", Priority.ROUTINE)
    assert takeover.reason == "lapsed" and takeover.abort and takeover.previous.owner == "flow-1"


def test_release_frees_without_abort(arbiter):
    grant, _ = arbiter.claim("flow-1", Priority.ROUTINE)
    arbiter.release("flow-1", grant.lease.epoch)
    again, _ = arbiter.claim("flow-2", Priority.ROUTINE)
    assert again.reason == "free" and not again.abort


def test_a_command_without_lease_fields_is_refused_as_such(arbiter):
    with arbiter.cond, pytest.raises(DeviceError) as caught:
        arbiter.admit(None, None)
    assert caught.value.code == LEASE_REQUIRED


def test_on_grant_runs_under_the_lock_before_anyone_sees_the_new_lease(arbiter):
    seen = []

    def on_grant(grant):
        seen.append((grant.lease.epoch, arbiter.cond._is_owned()))
        return "abort-sent"

    _, result = arbiter.claim("a", Priority.ALERT, on_grant=on_grant)
    assert result == "abort-sent" and seen == [(101, True)]


def test_a_waiting_claim_gets_the_lease_when_the_holder_releases():
    arbiter = LeaseArbiter("dome", default_ttl_s=10.0, epoch_base=0)
    grant, _ = arbiter.claim("flow-1", Priority.ROUTINE)
    result = {}

    def wait_for_it():
        result["grant"], _ = arbiter.claim("flow-2", Priority.ROUTINE, wait_s=10.0)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert wait_until(lambda: arbiter.describe()["waiting"], 10, step_s=0.001)
    assert arbiter.describe()["waiting"] == [{"owner": "flow-2", "priority": "routine"}]
    arbiter.release("flow-1", grant.lease.epoch)
    waiter.join(5)
    assert result["grant"].lease.owner == "flow-2" and result["grant"].reason == "free"


def test_waiting_claims_are_served_by_priority_then_arrival():
    arbiter = LeaseArbiter("camera_vis", default_ttl_s=10.0, epoch_base=0)
    grant, _ = arbiter.claim("holder", Priority.OPERATOR)
    order: list[str] = []
    threads = []
    for owner, priority in [("r1", Priority.ROUTINE), ("o1", Priority.OPERATOR),
                            ("r2", Priority.ROUTINE)]:  # fmt: skip

        def claim(owner=owner, priority=priority):
            g, _ = arbiter.claim(owner, priority, wait_s=10.0)
            order.append(owner)
            arbiter.release(owner, g.lease.epoch)

        thread = threading.Thread(target=claim)
        thread.start()
        threads.append(thread)
        assert wait_until(
            lambda: len(arbiter.describe()["waiting"]) >= len(threads), 10, step_s=0.001
        )
    arbiter.release("holder", grant.lease.epoch)
    for thread in threads:
        thread.join(5)
    assert order == ["o1", "r1", "r2"]
