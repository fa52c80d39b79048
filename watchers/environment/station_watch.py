"""The monitor's reading of a weather station of its own (``[devices.weather]``).

The station is read by a thread of its own, every poll interval, and the monitor takes the latest
reading with its reception time at each poll (:meth:`StationWatch.latest`): a station that does
not answer costs its gateway's timeout on this thread, never a delay in acting on the PLC's rain.
A station that stops answering is seen at once when its gateway says so (unreachable: an error),
and otherwise by the age of its last reading (stale after the PLC's limit): either way unsafe
(:func:`tasks.environment.station.station_records`). Every reading is journaled (kind
``weather``), as the PLC's are (kind ``plc``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devices.controllers.weather import WeatherState, WeatherStation
from devices.errors import DeviceProblem
from infra.clock import Clock
from infra.journal import KIND_WEATHER, record
from infra.writebehind import WriteBehindQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationSnapshot:
    """The station's latest reading (None: none yet, or the last read failed), when it was
    received (the clock's), and why there is no reading."""

    reading: WeatherState | None
    received_at: datetime | None
    error: str | None


#: Before the first read.
NOT_YET = StationSnapshot(None, None, "not read yet")


def journal_payload(state: WeatherState) -> dict[str, Any]:
    """The reading as journaled (JSON)."""
    return {
        "station": state.station,
        "date": state.date.isoformat(),
        "light": state.light.value,
        "parameters": [
            {"name": p.name, "value": p.value, "light": p.light.value} for p in state.parameters
        ],
    }


class StationWatch:
    """Reads the station (no lease needed) in the background; the latest reading on demand.

    Parameters
    ----------
    station : WeatherStation
        The station's controller, through its gateway.
    clock : Clock
        The one clock (reception times).
    interval_wall_s : float
        Wall seconds between two reads (the monitor's poll interval).
    queue : WriteBehindQueue, optional
        Where readings are journaled (None: not journaled).
    """

    def __init__(
        self,
        station: WeatherStation,
        clock: Clock,
        interval_wall_s: float,
        queue: WriteBehindQueue | None = None,
    ) -> None:
        self.station, self.clock, self.queue = station, clock, queue
        self.interval_wall_s = interval_wall_s
        self._latest = NOT_YET
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> StationSnapshot:
        """Read the station once now; the result becomes the latest snapshot."""
        try:
            state = self.station.status()
        except DeviceProblem as problem:
            self._latest = StationSnapshot(None, None, str(problem))
            return self._latest
        received = self.clock.now()
        if self.queue is not None:
            payload = journal_payload(state)
            record(KIND_WEATHER, "weather", payload, sim_time=received, into=self.queue,
                   clock=self.clock)  # fmt: skip
        self._latest = StationSnapshot(state, received, None)
        return self._latest

    def latest(self) -> StationSnapshot:
        """The latest snapshot (never blocks)."""
        return self._latest

    def start(self) -> StationWatch:
        """Read in the background until :meth:`stop`; returns itself."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="monitor-station", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading (the thread ends after its current read)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.read()
            except Exception:  # a bug must not end the watch: the reading ages into stale
                log.exception("weather station read failed")
            self._stop.wait(self.interval_wall_s)
