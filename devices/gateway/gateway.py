"""One device gateway: the single connection to a device, many clients, and the lease.

A :class:`Gateway` listens on its own port and speaks the device protocol to its clients. It
answers the lease commands itself (``CLAIM``, ``HEARTBEAT``, ``RELEASE``, ``LEASE``, ``HEALTH``),
forwards read commands (``STATUS``...) to the device without a lease, and forwards control
commands only under the current lease: the lease check and the write to the device happen under
one lock, so the device receives commands in the order of the lease decisions and never a
command issued under a stale epoch after the claim that superseded it. A preempting claim sends
``ABORT`` to the device under the same lock, before it is granted.

Every failure is an error reply to the client that caused it; the gateway never drops a client
for a bad command, and one misbehaving device request never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from devices.client import ConnectionHooks, NdjsonClient, ReconnectPolicy
from devices.commands import ABORT_COMMAND, Access, DeviceKind, kind_of, validate
from devices.errors import (
    INTERNAL,
    DeviceError,
    DeviceProblem,
    DeviceTimeout,
    exception_for,
)
from devices.framing import OversizedLine, decode
from devices.gateway.health import DeviceHealth
from devices.gateway.recorder import GatewayRecorder
from devices.lease import Grant, Lease, LeaseArbiter, Priority
from devices.protocol import (
    CommandLine,
    error_item,
    parse_command_line,
    peek_id,
    reply_line,
    result_item,
)
from devices.replies import PendingReply
from devices.server import Connection, LineServer
from infra.clock import Clock, format_instant, get_clock
from infra.config_security import IPNetwork
from infra.writebehind import WriteBehindQueue

log = logging.getLogger(__name__)

#: Consecutive device timeouts after which the device connection is reset.
RESET_AFTER_TIMEOUTS = 3
#: Wall seconds between housekeeping rounds (lease lapses, health polls).
HOUSEKEEPING_S = 0.1


@dataclass(frozen=True)
class GatewayTiming:
    """A gateway's wall-clock settings (``[gateways]`` and the device's ``timeout_s``).

    Attributes
    ----------
    device_timeout_s : float
        Timeout of every request to the device (wall seconds).
    lease_ttl_s : float
        Default lease time-to-live (wall seconds).
    reconnect_initial_s, reconnect_max_s : float
        Reconnection backoff to the device (wall seconds).
    health_poll_s : float
        Poll the device's ``STATUS`` this often when no client does (0: never).
    """

    device_timeout_s: float = 5.0
    lease_ttl_s: float = 10.0
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 2.0
    health_poll_s: float = 5.0


class DeviceLink(Protocol):
    """What a gateway needs of its link to the device: :class:`~devices.client.NdjsonClient` (the
    PyROS device protocol) or :class:`~devices.indi.upstream.IndiUpstream` (INDI)."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> Any: ...

    def close(self) -> None: ...

    def reset(self, reason: str) -> None: ...

    def submit(
        self,
        items: list[dict[str, Any]],
        *,
        owner: str | None = None,
        epoch: int | None = None,
        extra: dict[str, Any] | None = None,
        connect_wait_s: float | None = None,
    ) -> PendingReply: ...

    def wait(self, pending: PendingReply, timeout: float | None = None) -> list[dict[str, Any]]: ...


#: Builds a gateway's device link, given the hooks that keep the gateway's health.
LinkFactory = Callable[[ConnectionHooks], DeviceLink]


class Gateway:
    """The gateway of one device.

    Parameters
    ----------
    device : str
        Configured device name (``mount``, ``dome``, ``plc``, ``camera_vis``...).
    upstream : tuple
        ``(host, port)`` of the device (hardware or simulator).
    listen : tuple
        ``(host, port)`` to serve clients on (port 0: any free port).
    timing : GatewayTiming
        Device timeout, lease time-to-live, reconnection backoff, health polling.
    queue : WriteBehindQueue, optional
        Where the lease mirror, health history, journal and events go (None: nowhere).
    clock : Clock, optional
        For timestamps (default: the process clock).
    epoch_base : int, optional
        First lease epoch (default: wall milliseconds).
    link : callable, optional
        Builds the device link from the health hooks (default: the PyROS device protocol to
        ``upstream``; ``devices.indi`` gives one for INDI devices).
    """

    def __init__(
        self,
        device: str,
        *,
        upstream: tuple[str, int],
        listen: tuple[str, int],
        timing: GatewayTiming = GatewayTiming(),
        queue: WriteBehindQueue | None = None,
        clock: Clock | None = None,
        epoch_base: int | None = None,
        link: LinkFactory | None = None,
    ) -> None:
        self.device = device
        self.kind: DeviceKind = kind_of(device)
        self.upstream_address = upstream
        self.device_timeout_s = timing.device_timeout_s
        self.health_poll_s = timing.health_poll_s
        self._clock = clock or get_clock()
        self._recorder = GatewayRecorder(
            device, self.kind.value, upstream[0], upstream[1], queue=queue, clock=self._clock
        )
        self.health = DeviceHealth(device, self._clock, self._recorder.health)
        self._arbiter = LeaseArbiter(
            device, default_ttl_s=timing.lease_ttl_s, epoch_base=epoch_base, on_lapse=self._lapsed
        )
        hooks = ConnectionHooks(
            on_connected=self.health.connected,
            on_disconnected=self.health.disconnected,
            on_connect_failed=self.health.disconnected,
        )
        self._upstream: DeviceLink = (
            link(hooks)
            if link is not None
            else NdjsonClient(
                upstream[0],
                upstream[1],
                name=device,
                timeout_s=timing.device_timeout_s,
                reconnect=ReconnectPolicy(
                    timing.reconnect_initial_s, timing.reconnect_max_s, on_demand=False
                ),
                hooks=hooks,
            )
        )
        self._server = LineServer(listen[0], listen[1], self._handle, name=f"gateway-{device}")
        self._operation: dict[str, Any] | None = None
        self._last_preemption: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._housekeeper: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> tuple[str, int]:
        """Where clients reach this gateway."""
        return self._server.host, self._server.port

    def allow_peers(self, networks: tuple[IPNetwork, ...]) -> Gateway:
        """Serve clients of ``networks`` besides loopback (``[security] allowed_peers``); call
        before :meth:`start`."""
        self._server.allowed_peers = tuple(networks)
        return self

    def start(self) -> Gateway:
        """Listen, connect to the device (in the background) and start housekeeping.

        Raises
        ------
        OSError
            When the listening address cannot be bound.
        """
        self._server.start()
        self._recorder.start()
        self._upstream.start()
        self._housekeeper = threading.Thread(
            target=self._housekeeping, name=f"gateway-{self.device}-house", daemon=True
        )
        self._housekeeper.start()
        log.info(
            "gateway %s: serving %s:%d for device %s:%d",
            self.device,
            *self.address,
            *self.upstream_address,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the device connection (clients see the connection close)."""
        self._stop.set()
        self._arbiter.close()
        self._server.stop()
        self._upstream.close()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=2.0)
        self._recorder.stop()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ requests
    def _handle(self, connection: Connection, line: bytes | OversizedLine) -> bytes:
        try:
            return self._handle_line(line)
        except Exception as exc:  # every line gets an answer, whatever happened
            log.exception("gateway %s: line failed", self.device)
            problem = DeviceError(f"{self.device}: internal gateway error: {exc}", code=INTERNAL)
            return reply_line([error_item(None, None, problem)])

    def _handle_line(self, line: bytes | OversizedLine) -> bytes:
        if isinstance(line, OversizedLine):
            return reply_line([error_item(None, None, line.error(f"{self.device}: command line"))])
        try:
            data = decode(line)
        except DeviceProblem as problem:
            problem.message = f"{self.device}: command line is {problem.message}"
            return reply_line([error_item(None, None, problem)])
        request_id = peek_id(data)
        try:
            command = parse_command_line(data)
        except DeviceProblem as problem:
            problem.message = f"{self.device}: {problem.message}"
            return reply_line([error_item(None, request_id, problem)])
        return reply_line([self._handle_item(command, item) for item in command.items])

    def _handle_item(self, command: CommandLine, item: dict[str, Any]) -> dict[str, Any]:
        name: str = item["name"]  # parse_command_line gave every item a name
        try:
            spec = validate(self.kind, item)
            if spec.access is Access.GATEWAY:
                fields = self._gateway_command(name, item, command)
            elif spec.access is Access.READ:
                fields = self._read(item, command)
            else:
                fields = self._control(item, command)
            return result_item(name, command.id, **fields)
        except DeviceProblem as problem:
            if not problem.message.startswith(f"{self.device}:"):
                problem.message = f"{self.device}: {problem.message}"
            extra = {"gateway": self._gateway_fields()} if name == "STATUS" else {}
            return error_item(name, command.id, problem, **extra)
        except Exception as exc:  # a bug must still be an answer, not a dropped connection
            log.exception("gateway %s: %s failed", self.device, name)
            internal = DeviceError(f"{self.device}: internal gateway error: {exc}", code=INTERNAL)
            return error_item(name, command.id, internal)

    def _forwarded(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "id"}

    def _read(self, item: dict[str, Any], command: CommandLine) -> dict[str, Any]:
        # (Outside the lease lock, a read may wait for the first connection to the device.)
        pending = self._upstream.submit(
            [self._forwarded(item)], owner=command.owner, epoch=command.epoch
        )
        fields = self._await(pending)
        if item["name"] == "STATUS":
            fields["gateway"] = self._gateway_fields()
        return fields

    def _control(self, item: dict[str, Any], command: CommandLine) -> dict[str, Any]:
        with self._arbiter.cond:
            self._arbiter.admit(command.owner, command.epoch)
            pending = self._upstream.submit(
                [self._forwarded(item)], owner=command.owner, epoch=command.epoch, connect_wait_s=0
            )
            if item["name"] != "ABORT":
                self._operation = {
                    "command": item["name"],
                    "owner": command.owner,
                    "epoch": command.epoch,
                    "at": format_instant(self._clock.now()),
                }
        return self._await(pending)

    def _await(self, pending: PendingReply, timeout: float | None = None) -> dict[str, Any]:
        """The device's reply item to a forwarded command, without its name and id."""
        try:
            items = self._upstream.wait(pending, timeout)
        except DeviceTimeout as problem:
            if self.health.failed(problem.message, timeout=True) >= RESET_AFTER_TIMEOUTS:
                self._upstream.reset(f"{RESET_AFTER_TIMEOUTS} requests in a row timed out")
            raise
        except DeviceProblem as problem:
            self.health.failed(problem.message)
            raise
        self.health.replied()
        item = items[0]
        if "error" in item:
            refused = exception_for(item["error"], device=self.device)
            self.health.failed(refused.message)
            raise refused
        return {k: v for k, v in item.items() if k not in ("name", "id")}

    # ------------------------------------------------------------------ lease commands
    def _gateway_command(
        self, name: str, item: dict[str, Any], command: CommandLine
    ) -> dict[str, Any]:
        if name == "CLAIM":
            return self._claim(item)
        if name == "HEARTBEAT":
            self._arbiter.heartbeat(command.owner, command.epoch)
            self._mirror()
            return {"lease": self._arbiter.describe()}
        if name == "RELEASE":
            self._arbiter.release(command.owner, command.epoch)
            self._mirror()
            return {"lease": self._arbiter.describe()}
        if name == "LEASE":
            return {"lease": self._arbiter.describe(), "last_preemption": self._last_preemption}
        return {
            "health": self.health.snapshot(),
            "lease": self._arbiter.describe(),
            "clients": self._server.client_count,
        }

    def _claim(self, item: dict[str, Any]) -> dict[str, Any]:
        owner = item["owner"]
        priority = Priority.parse(item["priority"])
        abort_command = ABORT_COMMAND[self.kind]

        def on_grant(grant: Grant) -> PendingReply | DeviceProblem | None:
            # Under the lease lock: the abort reaches the device before any command of the new
            # holder, and no command of the old one can follow it.
            if not grant.abort or abort_command is None:
                return None
            try:
                return self._upstream.submit(
                    [{"name": abort_command}],
                    owner=grant.lease.owner,
                    epoch=grant.lease.epoch,
                    extra={"reason": grant.reason},
                    connect_wait_s=0,
                )
            except DeviceProblem as problem:
                return problem

        grant, abort = self._arbiter.claim(
            owner,
            priority,
            wait_s=item.get("wait_s", 0.0),
            ttl_s=item.get("ttl_s"),
            on_grant=on_grant,
        )
        aborted, abort_error = False, None
        if isinstance(abort, PendingReply):
            try:
                self._await(abort)
                aborted = True
            except DeviceProblem as problem:
                abort_error = problem.message
        elif isinstance(abort, DeviceProblem):
            abort_error = abort.message
        self._mirror()
        previous = grant.previous
        displaced = previous.owner is not None and previous.owner != owner
        if displaced:
            self._note_displacement(grant, aborted, abort_error)
        return {
            "lease": self._arbiter.describe(),
            "epoch": grant.lease.epoch,
            "reason": grant.reason,
            "previous": {
                "owner": previous.owner,
                "priority": previous.priority.label if previous.priority is not None else None,
                "epoch": previous.epoch,
            }
            if displaced
            else None,
            "aborted": aborted,
            "abort_error": abort_error,
        }

    def _note_displacement(self, grant: Grant, aborted: bool, abort_error: str | None) -> None:
        previous, lease = grant.previous, grant.lease
        assert lease.priority is not None
        info = {
            "at": format_instant(self._clock.now()),
            "reason": grant.reason,
            "by": lease.owner,
            "priority": lease.priority.label,
            "epoch": lease.epoch,
            "displaced_owner": previous.owner,
            "displaced_priority": previous.priority.label
            if previous.priority is not None
            else None,
            "displaced_epoch": previous.epoch,
            "operation": self._operation,
            "aborted": aborted,
            "abort_error": abort_error,
        }
        self._last_preemption = info
        self._recorder.lease_event(grant.reason, info)

    def _lapsed(self, lease: Lease) -> None:
        # Called under the lease lock by the arbiter: only enqueue.
        self._recorder.lease_event(
            "lapsed",
            {
                "owner": lease.owner,
                "epoch": lease.epoch,
                "priority": lease.priority.label if lease.priority is not None else None,
            },
        )
        self._recorder.lease(self._lease_snapshot)

    def _mirror(self) -> None:
        self._recorder.lease(self._lease_snapshot)

    def _lease_snapshot(self) -> tuple[Lease, float | None]:
        lease = self._arbiter.current()
        now = time.monotonic()
        expires_in = (
            max(0.0, lease.expires_at - now)
            if lease.owner is not None and lease.expires_at is not None
            else None
        )
        return lease, expires_in

    def flush_records(self, timeout: float = 5.0) -> bool:
        """Wait until the records made so far reached the write-behind queue (tests, stop)."""
        return self._recorder.flush(timeout)

    def _gateway_fields(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "health": self.health.snapshot(),
            "lease": self._arbiter.describe(),
            "operation": self._operation,
            "last_preemption": self._last_preemption,
        }

    # ------------------------------------------------------------------ housekeeping
    def _housekeeping(self) -> None:
        next_poll = time.monotonic() + self.health_poll_s
        while not self._stop.wait(HOUSEKEEPING_S):
            self._arbiter.expire()
            if self.health_poll_s <= 0 or time.monotonic() < next_poll:
                continue
            next_poll = time.monotonic() + self.health_poll_s
            if not self._upstream.connected:
                continue
            try:
                self._await(self._upstream.submit([{"name": "STATUS"}], connect_wait_s=0))
            except DeviceProblem as problem:
                log.debug("gateway %s: health poll failed: %s", self.device, problem.message)
