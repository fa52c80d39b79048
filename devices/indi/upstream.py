"""The gateway's device link when the device is an INDI device (``driver = "indi"``).

:class:`IndiUpstream` has the shape of the :class:`~devices.client.NdjsonClient` a gateway holds
(``start``, ``close``, ``connected``, ``reset``, ``submit``, ``wait``), so the gateway keeps its
role unchanged — the lease, the fencing, health, timeouts, the write-behind recorder — and only
the last hop speaks INDI. Commands run one at a time, in the order the gateway submitted them (the
order of its lease decisions), on one worker thread; a command that waited in line past its
timeout is not sent.

Health: the connection is ``up`` while the INDI server connection is; a driver that stops
answering makes requests time out, and the gateway's reset (after three in a row) reports the
device ``lost`` until a round trip succeeds again (``back``).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from devices.client import ConnectionHooks
from devices.commands import DeviceKind, kind_of
from devices.errors import DeviceDisconnected, DeviceError, DeviceProblem, DeviceTimeout
from devices.indi.camera_driver import CameraDriver
from devices.indi.drivers import DomeDriver, IndiDriver, MountDriver, WeatherDriver
from devices.indi.link import IndiLink
from devices.indi.panel_driver import LampDriver
from devices.indi.weather_driver import StationDriver
from devices.replies import PendingReply
from infra.clock import Clock
from infra.config import Endpoint, SiteConfig

log = logging.getLogger(__name__)

_DRIVERS: dict[DeviceKind, type[IndiDriver]] = {
    DeviceKind.MOUNT: MountDriver,
    DeviceKind.DOME: DomeDriver,
    DeviceKind.CAMERA: CameraDriver,
    DeviceKind.PLC: WeatherDriver,
    DeviceKind.LAMP: LampDriver,
    DeviceKind.WEATHER: StationDriver,
}
_numbers = itertools.count(1)


class IndiUpstream:
    """One PyROS device on an INDI server, as a gateway's device link.

    Parameters
    ----------
    device : str
        PyROS device name (``mount``, ``dome``, ``camera_vis``, ``plc``, ``lamp``, ``weather``...).
    endpoint : Endpoint
        ``[devices.<device>]`` with ``driver = "indi"``.
    config : SiteConfig
        The site (position, instruments).
    clock : Clock
        For timestamps.
    timeout_s : float
        Timeout of one request (wall seconds).
    hooks : ConnectionHooks
        The gateway's health callbacks.
    frames_dir : Path
        Default frame directory of a camera.
    """

    def __init__(
        self,
        device: str,
        endpoint: Endpoint,
        *,
        config: SiteConfig,
        clock: Clock,
        timeout_s: float,
        hooks: ConnectionHooks,
        frames_dir: Path,
    ) -> None:
        self.name = device
        self.timeout_s = timeout_s
        self._hooks = hooks
        kind = kind_of(device)
        devices = [str(endpoint.indi_device)] + (
            [endpoint.indi_wheel] if endpoint.indi_wheel else []
        )
        self.link = IndiLink(
            endpoint.host,
            endpoint.port,
            devices,
            name=device,
            hooks=ConnectionHooks(on_connected=self._server_up, on_disconnected=self._server_down),
            blobs=[str(endpoint.indi_device)] if kind is DeviceKind.CAMERA else [],
        )
        extra: dict[str, Any] = {"frames_dir": frames_dir} if kind is DeviceKind.CAMERA else {}
        self.driver = _DRIVERS[kind](device, endpoint, self.link, config, clock, timeout_s, **extra)
        self._jobs: queue.Queue[tuple[PendingReply, list[dict[str, Any]], float] | None] = (
            queue.Queue()
        )
        self._worker: threading.Thread | None = None
        self._suspect: str | None = None
        self._lock = threading.Lock()
        self._prefix = f"indi{next(_numbers)}-"
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> IndiUpstream:
        """Connect to the INDI server (in the background) and start the worker."""
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._work, name=f"indi-{self.name}-worker", daemon=True
            )
            self._worker.start()
            self.link.start()
        return self

    def close(self) -> None:
        """Stop the worker and disconnect."""
        self._jobs.put(None)
        self.link.close()
        if self._worker is not None:
            self._worker.join(timeout=self.timeout_s + 2.0)

    @property
    def connected(self) -> bool:
        return self.link.connected and self._suspect is None

    def reset(self, reason: str) -> None:
        """The driver stopped answering: report the device lost until it answers again."""
        with self._lock:
            first = self._suspect is None
            self._suspect = reason
        if first and self._hooks.on_disconnected is not None:
            self._hooks.on_disconnected(f"INDI device not answering: {reason}")

    def _server_up(self) -> None:
        with self._lock:
            self._suspect = None
        if self._hooks.on_connected is not None:
            self._hooks.on_connected()

    def _server_down(self, reason: str) -> None:
        if self._hooks.on_disconnected is not None:
            self._hooks.on_disconnected(reason)

    # ------------------------------------------------------------------ requests
    def submit(
        self,
        items: list[dict[str, Any]],
        *,
        owner: str | None = None,
        epoch: int | None = None,
        extra: dict[str, Any] | None = None,
        connect_wait_s: float | None = None,
    ) -> PendingReply:
        """Queue one command line for the device; returns at once with the pending reply.

        Raises
        ------
        DeviceDisconnected
            No INDI server connection (after waiting up to ``connect_wait_s``, default the
            request timeout, for the first one).
        """
        wait = self.timeout_s if connect_wait_s is None else connect_wait_s
        deadline = time.monotonic() + wait
        while not self.link.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.link.connected:
            raise DeviceDisconnected(
                f"{self.name}: not connected to the INDI server "
                f"{self.link.host}:{self.link.port} ({self.link.last_error})",
                device=self.name,
            )
        pending = PendingReply(
            f"{self._prefix}{next(self._ids)}", [str(i.get("name")) for i in items]
        )
        self._jobs.put((pending, [dict(i) for i in items], time.monotonic() + self.timeout_s))
        return pending

    def wait(self, pending: PendingReply, timeout: float | None = None) -> list[dict[str, Any]]:
        """The reply items of a submitted command line.

        Raises
        ------
        DeviceTimeout
            No reply within ``timeout`` (default: the request timeout).
        DeviceDisconnected
            The server connection went down.
        """
        timeout = self.timeout_s if timeout is None else timeout
        items = pending.wait(timeout)
        if items is None:
            what = "+".join(pending.names)
            raise DeviceTimeout(
                f"{self.name}: no reply to {what} within {timeout:g} s", device=self.name
            )
        return items

    # ------------------------------------------------------------------ the worker
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            pending, items, deadline = job
            if time.monotonic() > deadline:
                pending.fail(
                    DeviceTimeout(
                        f"{self.name}: {'+'.join(pending.names)} waited its whole timeout in line "
                        "behind slower INDI requests: not sent",
                        device=self.name,
                    )
                )
                continue
            try:
                pending.resolve([self._execute(item) for item in items])
            except (DeviceTimeout, DeviceDisconnected) as problem:
                pending.fail(problem)
            except Exception as exc:  # a bug is an answer, not a dead worker
                log.exception("%s: INDI request failed", self.name)
                pending.fail(
                    DeviceError(f"{self.name}: INDI backend error: {exc}", device=self.name)
                )

    def _execute(self, item: dict[str, Any]) -> dict[str, Any]:
        name = str(item.get("name"))
        args = {k: v for k, v in item.items() if k not in ("name", "id")}
        try:
            fields = self.driver.execute(name, args)
        except (DeviceTimeout, DeviceDisconnected):
            raise
        except DeviceProblem as problem:
            if not problem.message.startswith(f"{self.name}:"):
                problem.message = f"{self.name}: {problem.message}"
            return {"name": name, "error": problem.as_error()}
        self._answered()
        return {"name": name, **fields}

    def _answered(self) -> None:
        with self._lock:
            was, self._suspect = self._suspect, None
        if was is not None and self._hooks.on_connected is not None:
            self._hooks.on_connected()
