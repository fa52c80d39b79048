"""The drop folder road: a VOEvent file moved into ``$PYROS_HOME/alerts/drop`` is an alert.

Files must be moved in atomically (written elsewhere on the same file system, then renamed);
names starting with ``.`` or ending in ``.tmp`` / ``.part`` are ignored while they are written.
A file is spooled (key ``drop:<name>:<sha256>``), then removed: a listener killed between the
two finds it again and recognises it by its key. At most ``max_bytes + 1`` bytes are read (a
larger file is rejected by the safe parser, unread beyond that).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Receive = Callable[[bytes, str, str], object]
IGNORED_SUFFIXES = (".tmp", ".part")


class DropRoad:
    """Poll a folder on a thread.

    Parameters
    ----------
    folder : Path
        The drop folder (created if needed).
    receive : callable
        The listener's ``receive``.
    poll_s : float
        Wall seconds between two looks.
    max_bytes : int
        The packet size cap (``alerts.max_packet_bytes``).
    """

    def __init__(self, folder: Path, receive: Receive, poll_s: float, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._receive = receive
        self.poll_s = poll_s
        self.max_bytes = max_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drop-folder", daemon=True)
        self.taken = 0

    def start(self) -> DropRoad:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # a bad file must not end the road
                log.exception("drop folder poll failed")
            self._stop.wait(self.poll_s)

    def poll(self) -> int:
        """Take every complete file now in the folder; returns how many."""
        taken = 0
        for path in sorted(self.folder.iterdir()):
            name = path.name
            if name.startswith(".") or name.endswith(IGNORED_SUFFIXES) or not path.is_file():
                continue
            try:
                with path.open("rb") as handle:
                    raw = handle.read(self.max_bytes + 1)
            except OSError as exc:
                log.warning("drop folder: %s not read: %s", name, exc)
                continue
            key = f"drop:{name}:{hashlib.sha256(raw).hexdigest()[:16]}"
            self._receive(raw, "drop", key)
            path.unlink(missing_ok=True)
            taken += 1
        self.taken += taken
        return taken
