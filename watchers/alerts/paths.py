"""Where the alert intake keeps its files under ``PYROS_HOME`` (the listener and the broker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: What the listener shows of itself in ``run/`` (``pyros status`` reads it): its pid, its
#: roads, its counters, its last heartbeat.
STATUS_NAME = "alert-listener.json"


@dataclass(frozen=True)
class AlertDirs:
    """The intake's directories.

    Attributes
    ----------
    spool : Path
        The listener's spool (``tmp/``, ``new/``, ``done/``, ``failed/``).
    drop : Path
        The drop folder (move VOEvent files in atomically).
    saved : Path
        The Comet broker's ``--save-event`` directory.
    broker : Path
        The Comet broker's working directory (its event database, lock files).
    """

    spool: Path
    drop: Path
    saved: Path
    broker: Path

    @classmethod
    def under(cls, home: Path) -> AlertDirs:
        """The directories of the instance at ``home`` (``PYROS_HOME``)."""
        root = Path(home) / "alerts"
        return cls(root / "spool", root / "drop", root / "comet" / "saved", root / "comet")
