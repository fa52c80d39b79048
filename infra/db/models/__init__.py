"""Every PyROS model, importable from one place (Alembic reads ``Base.metadata`` from here)."""

from infra.db.models.alerts import Alert, StrategyObs
from infra.db.models.base import Base, UTCDateTime
from infra.db.models.calibration import CalibrationMaster
from infra.db.models.devices import Device, DeviceLease, DeviceStatusHistory
from infra.db.models.environment import (
    SiteWatch,
    SiteWatchHistory,
    WeatherWatch,
    WeatherWatchHistory,
)
from infra.db.models.images import Image, NrtAnalysis, image_id
from infra.db.models.journal import JournalEntry, Night, ObservatoryState
from infra.db.models.people import (
    Country,
    ScientificProgram,
    User,
    UserLevel,
    program_members,
)
from infra.db.models.requests import Album, Plan, Request, Sequence, SequenceTransition
from infra.db.models.schedule import Schedule, ScheduledSequence

__all__ = [
    "Album",
    "Alert",
    "Base",
    "CalibrationMaster",
    "Country",
    "Device",
    "DeviceLease",
    "DeviceStatusHistory",
    "Image",
    "JournalEntry",
    "Night",
    "NrtAnalysis",
    "ObservatoryState",
    "Plan",
    "Request",
    "Schedule",
    "ScheduledSequence",
    "ScientificProgram",
    "Sequence",
    "SequenceTransition",
    "SiteWatch",
    "SiteWatchHistory",
    "StrategyObs",
    "UTCDateTime",
    "User",
    "UserLevel",
    "WeatherWatch",
    "WeatherWatchHistory",
    "image_id",
    "program_members",
]
