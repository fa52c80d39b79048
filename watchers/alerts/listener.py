"""The alert listener's core: spool first, then decide, then mark done — one packet at a time.

Every road hands its packet to :meth:`AlertListener.receive`, which writes it durably to the
spool (:mod:`watchers.alerts.spool`) and queues it; nothing else happens on the road's thread, so
a slow or absent database never holds a road up. One processor thread takes the entries in
order and calls :func:`tasks.alerts.handle.handle_packet` (journal first, safe parse, identity,
policy, one transaction); only when the decision is stored is the entry marked done. While the
database is away the entry stays in ``new/`` and is tried again with capped backoff; an entry
that still cannot be stored with the database reachable goes to ``failed/`` after a few tries.

Exactly once: a packet that comes again after a crash (a Kafka message whose offset was not
committed, a drop file not yet removed, an event the broker saved) is recognised by its spool
key or bytes; a packet decided but not marked done is decided again as a ``duplicate`` of its
IVORN (no second Alert row, no second request).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from infra.clock import Clock
from infra.config import SiteConfig
from infra.events import WATCHER_HEARTBEAT, emit
from infra.opmode import OperatingMode
from infra.writebehind import WriteBehindQueue
from tasks.alerts.decision import AlertDecision, Arrival
from tasks.alerts.followup_rows import reflex_inputs
from tasks.alerts.handle import announce_follow_up, handle_packet
from tasks.alerts.reflex import ReflexAction, ReflexState, decide_reflex
from watchers.alerts.ephemeris import EphemerisSky
from watchers.alerts.killswitch import KillSwitch
from watchers.alerts.reflex import AlertReflex, ReflexOutcome
from watchers.alerts.spool import Spool, SpoolEntry
from watchers.alerts.warmup import warm_up

log = logging.getLogger(__name__)

SOURCE = "alert-listener"
#: Attempts with the database reachable before an entry goes to ``failed/``.
MAX_ATTEMPTS_REACHABLE = 3
#: The processor looks at ``new/`` this often (wall seconds) for entries it was not told about.
RESCAN_S = 5.0

EngineFactory = Callable[[], Engine]


class AlertListener:
    """Spool, decide, mark done.

    Parameters
    ----------
    spool : Spool
        The durable spool.
    config : SiteConfig
        Site configuration (the alert policy).
    clock : Clock
        The one clock (reception instants are converted from the wall instant of the spool).
    engine_factory : callable
        Returns the database engine.
    queue_out : WriteBehindQueue
        Where heartbeats and the listener's own journal entries go.
    kill : KillSwitch, optional
        The crash tests' switch (inactive by default).
    reflex : AlertReflex, optional
        The alert reflex (DESIGN §2): after a decision is stored, it moves the telescope, then
        ``pyros.alert.follow-up`` is emitted. None: no reflex; the handling announces follow-ups
        itself.
    """

    def __init__(
        self,
        spool: Spool,
        config: SiteConfig,
        clock: Clock,
        engine_factory: EngineFactory,
        queue_out: WriteBehindQueue,
        kill: KillSwitch | None = None,
        reflex: AlertReflex | None = None,
    ) -> None:
        self.spool, self.config, self.clock = spool, config, clock
        self.engine_factory = engine_factory
        self.queue_out = queue_out
        self.kill = kill or KillSwitch()
        self.reflex = reflex
        #: Alerts held for the operator (MANUAL mode): shown in the status and heartbeats.
        self.attention: list[dict[str, Any]] = []
        self.last_reflex: ReflexOutcome | None = None
        self.received: Counter[str] = Counter()
        self.decided: Counter[str] = Counter()
        self.last_decision: AlertDecision | None = None
        #: The sky of the decisions: what does not depend on the alert is computed ahead.
        self.sky = EphemerisSky(config)
        #: True once the decision path is warm and the processor takes entries.
        self.ready = False
        self._todo: queue.Queue[SpoolEntry] = queue.Queue(maxsize=10000)
        self._overflow = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-decisions", daemon=True)

    def receive(self, raw: bytes, road: str, key: str = "") -> SpoolEntry | None:
        """Make a packet durable and queue it; None when this delivery was already spooled.

        Raises
        ------
        OSError
            When the spool cannot be written (the road must not acknowledge the packet).
        """
        self.kill("received")
        if key and self.spool.has_key(key):
            return None
        entry = self.spool.write(raw, road, key)
        self.received[road] += 1
        self._enqueue(entry)
        return entry

    def _enqueue(self, entry: SpoolEntry) -> None:
        try:
            self._todo.put_nowait(entry)
        except queue.Full:  # still on disk: the next rescan finds it
            self._overflow.set()

    def start(self) -> AlertListener:
        """Queue what a previous run left in the spool, then start deciding."""
        for entry in self.spool.pending():
            self._enqueue(entry)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the packet being decided."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        warm_up(self.config, self.clock.now())
        try:
            self.sky.prepare(self.clock.now())
        except Exception:  # the exact sky answers meanwhile
            log.exception("ephemerides not computed")
        self.ready = True
        rescan_at = time.monotonic() + RESCAN_S
        while not self._stop.is_set():
            if self.reflex is not None:
                self.reflex.tick()
            due = self._todo.empty() and time.monotonic() >= rescan_at
            if self._overflow.is_set() or due:
                # Entries the queue could not hold (or any other left in new/): from the disk.
                self._overflow.clear()
                for entry in self.spool.pending():
                    self._enqueue(entry)
                rescan_at = time.monotonic() + RESCAN_S
            try:
                entry = self._todo.get(timeout=0.2)
            except queue.Empty:
                continue
            self.decide(entry)

    def decide(self, entry: SpoolEntry) -> bool:
        """Decide one entry until it is stored (or given up); True when it left ``new/``."""
        backoff, reachable_failures = 0.2, 0
        while not self._stop.is_set():
            raw = self.spool.read(entry)
            if raw is None:  # decided already (queued twice)
                return True
            decision = self._handle(raw, entry)
            if decision.stored:
                self.kill("decided")
                self.act(decision)
                self.spool.mark_done(entry)
                self.decided[str(decision.decision)] += 1
                self.last_decision = decision
                return True
            if self._database_reachable():
                reachable_failures += 1
                if reachable_failures >= MAX_ATTEMPTS_REACHABLE:
                    log.error("alert %s not stored (%s): kept in failed/", entry.name, decision)
                    self.spool.mark_done(entry, failed=True)
                    self.decided["failed"] += 1
                    return True
            log.warning("alert %s not stored yet (%s); retrying", entry.name, decision.error)
            self._stop.wait(backoff)
            backoff = min(self.config.alert_intake.retry_max_s, backoff * 2)
        return False

    def _handle(self, raw: bytes, entry: SpoolEntry) -> AlertDecision:
        received_at = self.clock.to_sim(entry.wall_received_at)
        source = f"{entry.road}:{entry.key or entry.sha}"[:256]
        arrival = Arrival(
            entry.road,
            entry.wall_received_at,
            checkpoint=self.kill,
            defer_follow_up=self.reflex is not None,
            on_follow_up=self._slew_early if self.reflex is not None else None,
        )
        return handle_packet(
            raw,
            received_at,
            source=source,
            engine=self.engine_factory(),
            config=self.config,
            clock=self.clock,
            arrival=arrival,
            sky=self.sky,
        )

    def act(self, decision: AlertDecision) -> ReflexOutcome | None:
        """The reflex on a stored decision (:func:`tasks.alerts.reflex.decide_reflex`), then
        ``pyros.alert.follow-up`` for a follow-up; never raises."""
        if self.reflex is None:
            return None
        try:
            engine = self.engine_factory()
            mode, target = reflex_inputs(engine, decision)
            safe = self.reflex.weather_safe() if decision.decision == "follow-up" else True
            state = ReflexState(decision, self.clock.now(), mode, safe, target)
            plan = decide_reflex(state, self.config)
            outcome = self.reflex.carry_out(plan)
            self.last_reflex = outcome
            if plan.action is ReflexAction.MANUAL:
                self.attention = [*self.attention[-9:], {**outcome.as_dict(),
                                  "ivorn": decision.ivorn, "reason": decision.reason}]  # fmt: skip
                log.warning("alert %s held for the operator: %s", decision.ivorn, plan.reason)
            if plan.announces:
                announce_follow_up(decision, engine, self.clock, outcome.as_dict())
            return outcome
        except Exception:  # the stream of alerts never stops on one reflex
            log.exception("reflex on %s", decision.ivorn)
            return None

    def _slew_early(self, decision: AlertDecision) -> None:
        """The policy decided a follow-up of one pointing (not stored yet): slew now. (A
        follow-up only exists in AUTO mode: the policy turns it into ``ignored`` in MANUAL.)"""
        if self.reflex is None or decision.tiles > 1:
            return  # a mosaic's first tile is known once its request is stored
        state = ReflexState(decision, self.clock.now(), OperatingMode.AUTO,
                            self.reflex.weather_safe())  # fmt: skip
        self.reflex.slew_early(decide_reflex(state, self.config))

    def _database_reachable(self) -> bool:
        try:
            with self.engine_factory().connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def stats(self) -> dict[str, Any]:
        """Counters for the heartbeat and ``pyros status``."""
        last = self.last_decision
        return {
            "received": dict(self.received),
            "decided": dict(self.decided),
            "pending": self._todo.qsize(),
            "last": None if last is None else {"ivorn": last.ivorn, "decision": last.decision},
            "attention": list(self.attention),
            "reflex": None if self.last_reflex is None else self.last_reflex.as_dict(),
        }

    def heartbeat(self, roads: dict[str, bool]) -> None:
        """Tell Prefect (and the journal, through the write-behind queue) the listener lives."""
        emit(
            WATCHER_HEARTBEAT,
            f"pyros.watcher.{SOURCE}",
            {
                "watcher": SOURCE,
                "roads": roads,
                **self.stats(),
                "queue": vars(self.queue_out.stats),
                "at_wall": datetime.now(UTC),
            },
            source=SOURCE,
            into=self.queue_out,
            clock=self.clock,
        )
