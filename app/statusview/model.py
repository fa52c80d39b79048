"""The state of the observatory as ``pyros status`` shows it: plain typed records.

Every section says when it could not be read (``error``) instead of raising: a device or a
database that does not answer is part of the state, not a failure of the command.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DeviceLink:
    """What a device's gateway said (or that it said nothing).

    Attributes
    ----------
    name : str
        The device (``mount``, ``dome``, ``camera_vis``...).
    reachable : bool
        Whether the device answered STATUS through its gateway.
    state : str or None
        The device's own state word (``tracking``, ``open``, ``exposing``...).
    error : str or None
        Why it did not answer (gateway down, device lost, timeout).
    lease : str or None
        The lease holder, ``owner (priority)``; None when nobody holds it.
    link : str or None
        The gateway's link to the device (``up``, ``down``...); None when the gateway is down.
    """

    name: str
    reachable: bool
    state: str | None = None
    error: str | None = None
    lease: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class MountStatus:
    """The mount: where it points and whether it tracks."""

    device: DeviceLink
    ra_deg: float | None = None
    dec_deg: float | None = None
    alt_deg: float | None = None
    az_deg: float | None = None
    tracking: bool | None = None


@dataclass(frozen=True)
class DomeStatus:
    """The dome's shutter."""

    device: DeviceLink
    open_percent: float | None = None


@dataclass(frozen=True)
class ExposureProgress:
    """The exposure in progress on a camera (simulated seconds, from the one clock)."""

    frame_id: str
    image_type: str
    started_at: datetime
    exposure_s: float
    elapsed_s: float

    @property
    def fraction(self) -> float:
        """Elapsed over total (1 for a zero-second exposure)."""
        return 1.0 if self.exposure_s <= 0 else min(1.0, self.elapsed_s / self.exposure_s)


@dataclass(frozen=True)
class CameraStatus:
    """One camera: state, filter and exposure progress."""

    device: DeviceLink
    instrument: str
    filter: str | None = None
    exposure: ExposureProgress | None = None


@dataclass(frozen=True)
class WeatherStatus:
    """The environment monitor's latest word: its verdict, its synthesis and their age.

    Attributes
    ----------
    safe : bool or None
        The monitor's verdict (None: it never gave one).
    reason : str
        Why (the verdict's reason).
    weather_status, site_status : str or None
        Global statuses of the latest synthesis rows (``override`` during a fake alarm).
    should_close : bool or None
        Whether the latest weather synthesis asks the dome closed.
    reasons : list of str
        The latest synthesis's reasons.
    overrides : list of str
        Operator overrides in force now (a fake alarm shows here at once).
    last_word_at : datetime or None
        When the monitor last spoke (simulated instant).
    age_s : float or None
        Simulated seconds since then.
    dome_request : str
        What the dome was asked to be (the monitor decides).
    error : str or None
        Why it could not be read.
    """

    safe: bool | None = None
    reason: str = ""
    weather_status: str | None = None
    site_status: str | None = None
    should_close: bool | None = None
    reasons: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    last_word_at: datetime | None = None
    age_s: float | None = None
    dome_request: str = ""
    error: str | None = None


@dataclass(frozen=True)
class PlanProgress:
    """Images done of one plan."""

    album: str
    plan: str
    filter: str
    done: int
    total: int


@dataclass(frozen=True)
class SequenceStatus:
    """A sequence executing now or planned next."""

    id: int
    name: str
    state: str
    since: datetime | None
    planned_start: datetime | None = None
    plans: list[PlanProgress] = field(default_factory=list)

    @property
    def images(self) -> tuple[int, int]:
        """Images done and images asked, over every plan."""
        return sum(p.done for p in self.plans), sum(p.total for p in self.plans)


@dataclass(frozen=True)
class AlertStatus:
    """The last alert received and its outcome."""

    ivorn: str | None
    mission: str | None
    received_at: datetime
    decision: str
    action: str
    reason: str
    follow_up: str | None = None


@dataclass(frozen=True)
class WatcherStatus:
    """A supervised watcher: its process (per the supervisor) and its last heartbeat."""

    name: str
    process: str | None
    last_heartbeat_at: datetime | None
    heartbeat_age_s: float | None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessStatus:
    """One process of the stack, as the supervisor reports it."""

    name: str
    state: str
    ready: bool
    pid: int | None
    restarts: int


@dataclass(frozen=True)
class RecordsStatus:
    """What the database tells (mode, weather, sequences, the last alert, heartbeats)."""

    mode: str | None = None
    mode_by: str = ""
    weather: WeatherStatus = field(default_factory=WeatherStatus)
    current: SequenceStatus | None = None
    next: SequenceStatus | None = None
    last_alert: AlertStatus | None = None
    heartbeats: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ObservatoryStatus:
    """Everything ``pyros status`` shows."""

    at: datetime
    mode: str | None
    mount: MountStatus | None
    dome: DomeStatus | None
    cameras: list[CameraStatus]
    weather: WeatherStatus
    current: SequenceStatus | None
    next: SequenceStatus | None
    last_alert: AlertStatus | None
    watchers: list[WatcherStatus]
    processes: list[ProcessStatus]
    database_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able dict (instants stay datetimes: the CLI's JSON writer formats them)."""
        data = asdict(self)
        for camera, source in zip(data["cameras"], self.cameras, strict=True):
            if source.exposure is not None:
                camera["exposure"]["fraction"] = round(source.exposure.fraction, 4)
        for key in ("current", "next"):
            sequence = getattr(self, key)
            if sequence is not None:
                data[key]["images_done"], data[key]["images_total"] = sequence.images
        return data
