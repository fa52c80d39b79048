"""One clock for every process (DESIGN §3).

Everything reads time from here: the system clock, or a simulated clock given by
``PYROS_CLOCK=sim:<start instant>@<speed>@<wall epoch>``, where simulated time =
start + speed × (wall − wall epoch). Every duration handed to :meth:`Clock.sleep` is in simulated
seconds; times handed to Prefect go through :meth:`Clock.to_wall`, the one conversion point.

:class:`DiscreteEventClock` is the deterministic, in-process clock of replay and large simulations:
no wall time at all, time advances from one scheduled event to the next.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.settings import load_settings

#: Smallest wall-clock sleep, so that fast simulated clocks never busy-loop.
MIN_WALL_SLEEP_S = 0.001


class ClockError(ValueError):
    """A clock specification cannot be parsed or used."""


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant into an aware UTC datetime (naive input is taken as UTC).

    Raises
    ------
    ClockError
        If ``text`` is not an ISO 8601 instant.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Clock(ABC):
    """What every part of PyROS reads time from."""

    #: Simulated seconds per wall second (1 for the system clock).
    speed: float = 1.0

    @abstractmethod
    def now(self) -> datetime:
        """The current (simulated) instant, aware, in UTC."""

    def timestamp(self) -> float:
        """The current (simulated) instant as POSIX seconds."""
        return self.now().timestamp()

    @abstractmethod
    def to_wall(self, instant: datetime) -> datetime:
        """Wall-clock instant at which the clock reads ``instant`` (for Prefect-facing times)."""

    @abstractmethod
    def to_sim(self, wall: datetime) -> datetime:
        """Simulated instant the clock reads at wall-clock instant ``wall``."""

    def wall_seconds(self, seconds: float) -> float:
        """Wall-clock length of ``seconds`` simulated seconds."""
        return max(0.0, seconds) / self.speed

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` simulated seconds (at least :data:`MIN_WALL_SLEEP_S` of wall time)."""
        time.sleep(max(MIN_WALL_SLEEP_S, self.wall_seconds(seconds)))

    def sleep_until(self, instant: datetime) -> None:
        """Sleep until the clock reads ``instant`` (returns at once if it has passed)."""
        remaining = (instant - self.now()).total_seconds()
        if remaining > 0:
            self.sleep(remaining)

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        """Wait for ``event`` at most ``seconds`` simulated seconds; True if it was set."""
        if seconds is None:
            return event.wait()
        return event.wait(max(MIN_WALL_SLEEP_S, self.wall_seconds(seconds)))


class SystemClock(Clock):
    """The real time."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def to_wall(self, instant: datetime) -> datetime:
        return instant.astimezone(UTC)

    def to_sim(self, wall: datetime) -> datetime:
        return wall.astimezone(UTC)

    def spec(self) -> str:
        """The ``PYROS_CLOCK`` value describing this clock."""
        return "system"


class SimulatedClock(Clock):
    """Simulated time = start + speed × (wall − wall_epoch).

    Parameters
    ----------
    start : datetime
        Simulated instant at the wall epoch.
    speed : float
        Simulated seconds per wall second (> 0).
    wall_epoch : float, optional
        POSIX wall time at which the simulated clock reads ``start``.
    epoch_file : Path, optional
        Where the epoch will be written once the stack is healthy (``pyros up``): until the file
        exists, time stands still at ``start``, so every process agrees on the same epoch.
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        wall_epoch: float | None = None,
        epoch_file: Path | None = None,
    ) -> None:
        if not speed > 0:
            raise ClockError(f"speed must be > 0 (got {speed})")
        if start.tzinfo is None:
            raise ClockError("start must be timezone-aware")
        if wall_epoch is None and epoch_file is None:
            raise ClockError("a simulated clock needs a wall epoch or an epoch file")
        self.start = start.astimezone(UTC)
        self.speed = float(speed)
        self._epoch = None if wall_epoch is None else float(wall_epoch)
        self.epoch_file = None if epoch_file is None else Path(epoch_file)

    @property
    def wall_epoch(self) -> float | None:
        """The wall epoch, once known (read from the epoch file when there is one)."""
        if self._epoch is None and self.epoch_file is not None:
            try:
                self._epoch = float(self.epoch_file.read_text(encoding="utf-8").strip())
            except (OSError, ValueError):
                return None
        return self._epoch

    def now(self) -> datetime:
        epoch = self.wall_epoch
        if epoch is None:
            return self.start
        return self.start + timedelta(seconds=self.speed * (time.time() - epoch))

    def to_wall(self, instant: datetime) -> datetime:
        epoch = self.wall_epoch
        epoch = time.time() if epoch is None else epoch
        offset = (instant - self.start).total_seconds() / self.speed
        return datetime.fromtimestamp(epoch + offset, UTC)

    def to_sim(self, wall: datetime) -> datetime:
        epoch = self.wall_epoch
        if epoch is None:
            return self.start
        return self.start + timedelta(seconds=self.speed * (wall.timestamp() - epoch))

    def spec(self) -> str:
        """The ``PYROS_CLOCK`` value describing this clock (for child processes)."""
        epoch = self.wall_epoch
        tail = f"{epoch:.6f}" if epoch is not None else f"file:{self.epoch_file}"
        return f"sim:{format_instant(self.start)}@{self.speed:g}@{tail}"


def write_epoch_file(path: Path, wall_epoch: float | None = None) -> float:
    """Write the wall epoch (default: now) atomically; returns it. Done once per stack."""
    epoch = time.time() if wall_epoch is None else wall_epoch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{epoch:.6f}\n", encoding="utf-8")
    temporary.replace(path)
    return epoch


@dataclass(order=True)
class _Scheduled:
    at: datetime
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class DiscreteEventClock(Clock):
    """A deterministic in-process clock: time jumps from one scheduled event to the next.

    Used for replay and large simulations (DESIGN §3, §9): no wall time, no threads. Callbacks
    scheduled for the same instant run in the order they were scheduled. :meth:`sleep` advances
    time directly and is meant for the single driver of the simulation.

    Parameters
    ----------
    start : datetime
        The instant the clock starts at.
    """

    speed = float("inf")

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ClockError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._queue: list[_Scheduled] = []
        self._counter = itertools.count()

    def now(self) -> datetime:
        return self._now

    def to_wall(self, instant: datetime) -> datetime:
        return instant

    def to_sim(self, wall: datetime) -> datetime:
        return wall

    def wall_seconds(self, seconds: float) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        if not event.is_set() and seconds is not None:
            self.advance(seconds)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        """Run every event due within ``seconds`` and move time forward by ``seconds``."""
        self.run_until(self._now + timedelta(seconds=max(0.0, seconds)))

    def call_at(self, instant: datetime, callback: Callable[[], None]) -> _Scheduled:
        """Schedule ``callback`` at ``instant`` (not before now); returns a cancellable handle."""
        item = _Scheduled(max(instant, self._now), next(self._counter), callback)
        heapq.heappush(self._queue, item)
        return item

    def call_later(self, seconds: float, callback: Callable[[], None]) -> _Scheduled:
        """Schedule ``callback`` ``seconds`` after now."""
        return self.call_at(self._now + timedelta(seconds=max(0.0, seconds)), callback)

    @staticmethod
    def cancel(handle: _Scheduled) -> None:
        """Cancel a scheduled callback (no effect if it already ran)."""
        handle.cancelled = True

    def pending(self) -> int:
        """Number of scheduled, not cancelled callbacks."""
        return sum(1 for item in self._queue if not item.cancelled)

    def step(self) -> bool:
        """Run the next scheduled callback; False when nothing is scheduled."""
        while self._queue:
            item = heapq.heappop(self._queue)
            if item.cancelled:
                continue
            self._now = max(self._now, item.at)
            item.callback()
            return True
        return False

    def run_until(self, instant: datetime) -> None:
        """Run every callback due up to ``instant``, then set the time to ``instant``."""
        while self._queue and self._queue[0].at <= instant:
            self.step()
        self._now = max(self._now, instant)

    def run(self, max_steps: int | None = None) -> int:
        """Run callbacks until none is left (or ``max_steps``); returns how many ran."""
        steps = 0
        while (max_steps is None or steps < max_steps) and self.step():
            steps += 1
        return steps


def parse_clock(spec: str, wall_now: float | None = None) -> Clock:
    """Build a clock from a ``PYROS_CLOCK`` specification.

    Parameters
    ----------
    spec : str
        ``system`` or ``sim:<ISO start>@<speed>[@<wall epoch>|@file:<path>]``. With
        ``file:<path>`` the epoch is read from that file once it exists (time stands still until
        then); without an epoch the clock starts now (``wall_now``), for a single process only.
    wall_now : float, optional
        Wall time to use as the epoch when the spec has none (default: now).

    Raises
    ------
    ClockError
        Naming the part of the specification that is wrong.
    """
    spec = spec.strip()
    if spec in ("", "system"):
        return SystemClock()
    if not spec.startswith("sim:"):
        raise ClockError(f"PYROS_CLOCK: {spec!r} is neither 'system' nor 'sim:START@SPEED@EPOCH'")
    parts = spec[4:].split("@")
    if len(parts) not in (2, 3):
        raise ClockError(f"PYROS_CLOCK: {spec!r} must be sim:START@SPEED@EPOCH")
    start = parse_instant(parts[0])
    try:
        speed = float(parts[1])
    except ValueError:
        raise ClockError(f"PYROS_CLOCK: speed {parts[1]!r} is not a number") from None
    if not speed > 0 or speed == float("inf"):
        raise ClockError(f"PYROS_CLOCK: speed must be a positive finite number (got {parts[1]})")
    if len(parts) == 3 and parts[2].startswith("file:"):
        return SimulatedClock(start, speed, epoch_file=Path(parts[2][5:]))
    if len(parts) == 3:
        try:
            epoch = float(parts[2])
        except ValueError:
            raise ClockError(
                f"PYROS_CLOCK: wall epoch {parts[2]!r} is neither a number nor file:PATH"
            ) from None
    else:
        epoch = time.time() if wall_now is None else wall_now
    return SimulatedClock(start, speed, epoch)


_clock: Clock | None = None
_clock_lock = threading.Lock()


def get_clock() -> Clock:
    """The clock of this process (from ``PYROS_CLOCK`` unless one was injected)."""
    global _clock
    with _clock_lock:
        if _clock is None:
            _clock = parse_clock(load_settings().clock_spec)
        return _clock


def set_clock(clock: Clock | None) -> None:
    """Inject the clock of this process (None: read ``PYROS_CLOCK`` again on next use)."""
    global _clock
    with _clock_lock:
        _clock = clock
