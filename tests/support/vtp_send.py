"""Send many packets to a VOEvent broker with Comet's own sender (``VOEventSenderFactory``), one
connection each, in order: ``python -m tests.support.vtp_send HOST PORT DIR`` sends every file of
DIR (sorted) and prints one JSON line ``{"sent": n, "acked": n, "times": {file: wall epoch}}``.

Unparsable bytes are sent as they are (Comet's sender only needs ``raw_bytes``), so the broker
sees exactly what a broken author would send. Bounded: loopback only, one pass, then exits.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def main(host: str, port: int, folder: Path) -> dict[str, Any]:
    from comet.protocol.sender import VOEventSenderFactory
    from twisted.internet import defer, reactor, task

    files = sorted(p for p in folder.iterdir() if p.is_file())
    result: dict[str, Any] = {"sent": 0, "acked": 0, "times": {}}

    class Sender(VOEventSenderFactory):
        def __init__(self, event: Any, done: defer.Deferred) -> None:
            super().__init__(event)
            self.done = done

        def stopFactory(self) -> None:  # noqa: N802 - Twisted's name
            if not self.done.called:
                self.done.callback(self.ack)

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:  # noqa: N802
            if not self.done.called:
                self.done.callback(False)

    async def run(_reactor: Any) -> None:
        for path in files:
            done: defer.Deferred = defer.Deferred()
            event = SimpleNamespace(raw_bytes=path.read_bytes())
            result["times"][path.name] = time.time()
            reactor.connectTCP(host, port, Sender(event, done), timeout=10)
            timeout = reactor.callLater(30, lambda d=done: d.called or d.callback(False))
            acked = await done
            if timeout.active():
                timeout.cancel()
            result["sent"] += 1
            result["acked"] += int(bool(acked))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()

    task.react(lambda r: defer.ensureDeferred(run(r)))  # exits the process when done
    return result


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
