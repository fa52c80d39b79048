"""``python -m app.comet_broker HOST TWISTD-ARGUMENTS...``: Comet's broker (``twistd comet``)
listening on ``HOST`` only.

Comet 3 binds its receiver and its broadcaster on every interface (it has no listen-address
option: ``TCPServer(port, factory)`` in ``comet.service.broker``). Safe by default means loopback
unless configured (``[alert_intake.comet] host``, docs/configuration.md "Security"), so this runs
twistd with Comet's TCP servers given that interface; everything else is ``twistd comet`` as is.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile


def settle_dbm() -> None:
    """Let :mod:`dbm` choose its backend now, in this one thread, before Twisted's threads run.

    Comet checks each event against its seen-events database from Twisted's thread pool
    (``anydbm.open`` in ``comet.utility.event_db``). ``dbm.open`` chooses its backend on its first
    call, importing ``dbm.gnu``, ``dbm.ndbm`` then ``dbm.dumb``; where ``_gdbm`` is not built (this
    machine's Python), a second thread making that first call while the first one's import of
    ``dbm.gnu`` fails is handed the half-imported module (the import system gives a module still
    initialising to a second importer once its lock is released), and ``dbm`` keeps it as its
    default: every later check failed (``module 'dbm.gnu' has no attribute 'open'``; CI,
    2026-12-07: 1,943 times in the fuzz test, 90 of 100 valid alerts never forwarded).
    """
    import dbm

    with tempfile.TemporaryDirectory() as scratch:
        dbm.open(os.path.join(scratch, "settle"), "c").close()


def main(argv: list[str]) -> None:
    """Run ``twistd`` with ``argv[1:]``, Comet's listeners bound to ``argv[0]``."""
    if not argv:
        sys.stderr.write("usage: python -m app.comet_broker HOST TWISTD-ARGUMENTS...\n")
        raise SystemExit(2)
    host, arguments = argv[0], argv[1:]
    import comet.service.broker as broker
    from twisted.application import internet
    from twisted.scripts.twistd import run

    # Comet's makeService looks TCPServer up in its module when it runs: the interface is added.
    broker.TCPServer = functools.partial(internet.TCPServer, interface=host)
    settle_dbm()
    sys.argv = ["twistd", *arguments]
    run()  # type: ignore[no-untyped-call]  # twisted.scripts.twistd.run has no annotations


if __name__ == "__main__":
    main(sys.argv[1:])
