"""The listener's spool: every packet is durable on local disk before anything else happens to it.

Layout under ``$PYROS_HOME/alerts/spool``: ``tmp/`` (being written), ``new/`` (durable, not yet
decided), ``done/`` (decided; kept ``done_retention_s`` so redeliveries are recognised),
``failed/`` (the database was reachable and still nothing could be stored: kept for the
operator). A write is: the bytes to ``tmp/``, ``fsync``, ``rename`` into ``new/``, ``fsync`` of
``new/`` — after it the packet survives a crash of the listener and of the machine.

An entry's name says everything the listener needs::

    <wall ns, 20 digits>@<road>@<sha256 of the bytes, 32 hex>@<key>.voe

``key`` identifies a delivery that may come again after a crash (a Kafka message
``kafka:<topic>:<partition>:<offset>``, a drop file ``drop:<name>``, a saved Comet event
``saved:<name>``); the index of keys and hashes over ``new/`` and ``done/`` tells whether it was
already spooled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".voe"
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


@dataclass(frozen=True)
class SpoolEntry:
    """One spooled packet (its file in ``new/``)."""

    name: str
    wall_ns: int
    road: str
    sha: str
    key: str

    @property
    def wall_received_at(self) -> datetime:
        """Wall instant the packet was spooled (its reception)."""
        return datetime.fromtimestamp(self.wall_ns / 1e9, UTC)

    @classmethod
    def parse(cls, name: str) -> SpoolEntry | None:
        """The entry a file name describes, or None for a foreign file."""
        if not name.endswith(SUFFIX):
            return None
        parts = name[: -len(SUFFIX)].split("@", 3)
        if len(parts) != 4 or not parts[0].isdigit():
            return None
        return cls(name, int(parts[0]), parts[1], parts[2], parts[3])


def safe_key(key: str) -> str:
    """``key`` made safe for a file name (at most 150 characters)."""
    return _UNSAFE.sub("_", key)[:150]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The durable spool of one listener (thread-safe).

    Parameters
    ----------
    root : Path
        ``$PYROS_HOME/alerts/spool``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp, self.new, self.done, self.failed = (
            self.root / n for n in ("tmp", "new", "done", "failed")
        )
        for directory in (self.tmp, self.new, self.done, self.failed):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._shas: set[str] = set()
        self._last_ns = 0
        self._reindex()

    def _reindex(self) -> None:
        for leftover in self.tmp.iterdir():  # a write a crash interrupted: never acknowledged
            leftover.unlink(missing_ok=True)
        for directory in (self.new, self.done, self.failed):
            for path in directory.iterdir():
                entry = SpoolEntry.parse(path.name)
                if entry is not None:
                    self._remember(entry)

    def _remember(self, entry: SpoolEntry) -> None:
        self._shas.add(entry.sha)
        if entry.key:
            self._keys.add(entry.key)

    def has_key(self, key: str) -> bool:
        """Whether a delivery with this key was already spooled."""
        with self._lock:
            return safe_key(key) in self._keys

    def has_sha(self, sha: str) -> bool:
        """Whether these exact bytes (their SHA-256, 32 hex) were already spooled."""
        with self._lock:
            return sha[:32] in self._shas

    def write(self, raw: bytes, road: str, key: str = "") -> SpoolEntry:
        """Make ``raw`` durable in ``new/``; returns its entry.

        Raises
        ------
        OSError
            When the disk refuses (the caller must not acknowledge the packet then).
        """
        sha = hashlib.sha256(raw).hexdigest()[:32]
        with self._lock:
            wall_ns = max(time.time_ns(), self._last_ns + 1)  # names stay unique and ordered
            self._last_ns = wall_ns
        name = f"{wall_ns:020d}@{road}@{sha}@{safe_key(key)}{SUFFIX}"
        tmp = self.tmp / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.new / name)
        _fsync_dir(self.new)
        entry = SpoolEntry(name, wall_ns, road, sha, safe_key(key))
        with self._lock:
            self._remember(entry)
        return entry

    def read(self, entry: SpoolEntry) -> bytes | None:
        """The bytes of a pending entry (None when it is no longer pending)."""
        try:
            return (self.new / entry.name).read_bytes()
        except FileNotFoundError:
            return None

    def pending(self) -> list[SpoolEntry]:
        """Entries not yet decided, oldest first."""
        entries = [SpoolEntry.parse(p.name) for p in self.new.iterdir()]
        return sorted((e for e in entries if e is not None), key=lambda e: e.name)

    def mark_done(self, entry: SpoolEntry, *, failed: bool = False) -> None:
        """Move a decided entry out of ``new/`` (durably)."""
        target = self.failed if failed else self.done
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.new / entry.name, target / entry.name)
            _fsync_dir(self.new)

    def prune(self, retention_s: float) -> int:
        """Delete handled entries older than ``retention_s``; returns how many."""
        horizon = time.time_ns() - int(retention_s * 1e9)
        removed = 0
        for path in self.done.iterdir():
            entry = SpoolEntry.parse(path.name)
            if entry is not None and entry.wall_ns < horizon:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
