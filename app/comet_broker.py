"""``python -m app.comet_broker HOST TWISTD-ARGUMENTS...``: Comet's broker (``twistd comet``)
listening on ``HOST`` only.

Comet 3 binds its receiver and its broadcaster on every interface (it has no listen-address
option: ``TCPServer(port, factory)`` in ``comet.service.broker``). Safe by default means loopback
unless configured (``[alert_intake.comet] host``, docs/configuration.md "Security"), so this runs
twistd with Comet's TCP servers given that interface; everything else is ``twistd comet`` as is.
"""

from __future__ import annotations

import functools
import sys


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
    sys.argv = ["twistd", *arguments]
    run()  # type: ignore[no-untyped-call]  # twisted.scripts.twistd.run has no annotations


if __name__ == "__main__":
    main(sys.argv[1:])
