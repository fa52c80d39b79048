"""The alerts of the night as a Prefect table artifact under a stable key, updated in place.

Published by a background thread of the listener when Prefect is configured: after each new
decision, and once a minute (a follow-up's sequence moves on after its alert). The decision path
never waits for it: a slow or absent Prefect server only delays the artifact.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from infra.clock import Clock
from infra.db import session_scope
from tasks.controlroom.alerts_view import (
    ALERTS_KEY,
    alert_rows,
    alerts_description,
    alerts_since,
)

log = logging.getLogger(__name__)

REFRESH_WALL_S = 60.0
#: How far back "the night" reaches from now (simulated time).
NIGHT_LOOKBACK = timedelta(hours=24)


class AlertsPublisher:
    """Keeps ``pyros-alerts`` current (see module docstring).

    Parameters
    ----------
    decided : callable
        How many decisions the listener has stored so far (a change triggers a publication).
    engine_factory : callable
        Returns the database engine.
    clock : Clock
        The one clock ("the night" is the last day of simulated time).
    """

    def __init__(
        self, decided: Callable[[], int], engine_factory: Callable[[], Engine], clock: Clock
    ) -> None:
        self.decided, self.engine_factory, self.clock = decided, engine_factory, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-artifact", daemon=True)
        self._published: list[dict[str, str]] | None = None

    def start(self) -> AlertsPublisher:
        """Start publishing in the background; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing (at the next second)."""
        self._stop.set()

    def publish(self) -> bool:
        """Publish the night's alerts if they changed since the last publication; True when
        published. Raises what the database or the Prefect API raised."""
        # Import time: Prefect costs more than a second, and the listener starts its roads first.
        from prefect.artifacts import TableArtifact

        from tasks.controlroom.prefect_tasks import upsert_artifact

        with session_scope(self.engine_factory()) as session:
            rows = alert_rows(alerts_since(session, self.clock.now() - NIGHT_LOOKBACK))
        if rows == self._published:
            return False
        # Updated in place: one artifact however many alerts (docs/controlroom.md).
        upsert_artifact(
            TableArtifact(key=ALERTS_KEY, table=rows, description=alerts_description(rows))
        )
        self._published = rows
        return True

    def _run(self) -> None:
        seen, waited = -1, REFRESH_WALL_S
        while not self._stop.wait(1.0):
            waited += 1.0
            decided = self.decided()
            if decided == seen and waited < REFRESH_WALL_S:
                continue
            try:
                self.publish()
                seen, waited = decided, 0.0
            except Exception as exc:  # the database or Prefect away: try again next second
                log.warning("alerts artifact not published: %s", exc)
