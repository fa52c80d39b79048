"""Two lease contenders as separate processes: a routine flow and an alert listener stand-in.

``python -m tests.support.contenders routine HOST PORT``: claims the mount at routine priority,
prints ``{"event": "ready"}``, then sends a goto every 2 ms until one fails with Preempted, and
prints when the last accepted one was sent and when the refusal came (wall ``time.time()``).

``python -m tests.support.contenders alert HOST PORT``: prints ``{"event": "ready"}``, waits for a
line on stdin, claims at alert priority, slews, and prints when it asked and was granted.
"""

from __future__ import annotations

import json
import sys
import time

from devices.controllers import GatewayMount
from devices.controllers.link import GatewayLink, LinkSettings
from devices.errors import Preempted
from infra.clock import get_clock
from infra.config import get_config
from tests.devices.helpers import sky_position

SETTINGS = LinkSettings(timeout_s=3.0, claim_wait_s=2.0, heartbeat_s=0.2, poll_interval_s=0.01)


def say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main(role: str, host: str, port: int) -> None:
    link = GatewayLink("mount", host, port, SETTINGS)
    mount = GatewayMount(link, config=get_config(), clock=get_clock())
    if role == "routine":
        lease = mount.claim("flow-routine", "routine")
        target = sky_position(60, 90)
        last_ok_sent = time.time()
        mount.goto(*target)
        accepted = 1
        say(event="ready", epoch=lease.epoch)
        while True:
            sent = time.time()
            try:
                mount.goto(*target)
            except Preempted as problem:
                say(event="preempted", sent=sent, at=time.time(), accepted=accepted,
                    last_ok_sent=last_ok_sent, message=problem.message)  # fmt: skip
                break
            accepted += 1
            last_ok_sent = sent
            time.sleep(0.002)
    else:
        say(event="ready")
        sys.stdin.readline()
        asked = time.time()
        lease = mount.claim("alert-listener", "alert")
        granted = time.time()
        mount.goto(*sky_position(60, 270))
        say(event="claimed", asked=asked, granted=granted, epoch=lease.epoch,
            previous=lease.previous, aborted=lease.aborted)  # fmt: skip
        lease.release()
    link.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
