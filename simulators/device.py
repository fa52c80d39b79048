"""What every device simulator shares: the TCP server, the protocol, and misbehaviour on demand.

A :class:`SimulatedDevice` is a real NDJSON server (``devices.server.LineServer`` with ordered
replies: a device answers a connection's lines in the order it received them) that speaks the
device protocol with the same code as the gateways — framing (``devices.framing``), command lines
and replies (``devices.protocol``), command specifications and argument checks
(``devices.commands.validate``), error codes (``devices.errors``). A subclass implements one
method per command (``cmd_status``, ``cmd_goto``...) returning the reply fields; it raises a
``DeviceProblem`` to answer with an error.

Faults (:mod:`simulators.faults`) are applied here, around the commands, so every device
misbehaves the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devices.commands import DeviceKind, validate
from devices.errors import FAULT as FAULT_CODE
from devices.errors import INTERNAL, DeviceError, DeviceProblem
from devices.framing import OversizedLine, decode
from devices.protocol import error_item, parse_command_line, peek_id, reply_line, result_item
from devices.server import Connection, LineServer
from infra.clock import Clock
from infra.config_security import IPNetwork
from simulators.faults import (
    DISCONNECT,
    FAULT,
    FROZEN,
    GARBAGE,
    GARBAGE_LINE,
    SILENT,
    SLOW,
    Fault,
)

log = logging.getLogger(__name__)


class SimulatedDevice:
    """Base of the device simulators.

    Parameters
    ----------
    name : str
        Configured device name (``mount``, ``dome``, ``plc``, ``camera_vis``, ``camera_nir``).
    kind : DeviceKind
        What it is (decides which commands exist).
    host, port :
        Where to listen (port 0: a free port).
    clock : Clock
        Every duration is simulated seconds on this clock.
    lock : RLock, optional
        The model's lock. The simulators of one observatory share one (the dome reads the PLC,
        the PLC the dome, the cameras the mount): one lock cannot be taken in two orders.
        Commands hold it for microseconds; renders and slow replies never hold it.
    """

    def __init__(
        self,
        name: str,
        kind: DeviceKind,
        host: str,
        port: int,
        clock: Clock,
        lock: threading.RLock | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.clock = clock
        self._lock = lock if lock is not None else threading.RLock()
        self._fault: Fault | None = None
        self._after_reply = threading.local()
        #: Command name -> (simulated instant, wall time.time()) it was last received (benchmarks:
        #: "the close command received by the dome simulator").
        self.last_received: dict[str, tuple[datetime, float]] = {}
        self.commands_answered = 0
        self.lines_dropped = 0
        self._server = LineServer(
            host, port, self._handle, name=f"sim-{name}", ordered=True, workers=1
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> tuple[str, int]:
        """Where the device listens."""
        return self._server.host, self._server.port

    @property
    def client_count(self) -> int:
        """Connected clients (normally one: the gateway)."""
        return self._server.client_count

    def allow_peers(self, networks: tuple[IPNetwork, ...]) -> SimulatedDevice:
        """Serve clients of ``networks`` besides loopback (``[security] allowed_peers``); call
        before :meth:`start`."""
        self._server.allowed_peers = tuple(networks)
        return self

    def start(self) -> SimulatedDevice:
        """Listen.

        Raises
        ------
        OSError
            When the address cannot be bound (the message names it).
        """
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop listening, close the connections, stop background work."""
        self._server.stop()

    # ------------------------------------------------------------------ faults
    def fault_started(self, fault: Fault) -> None:
        """A fault begins (called by the fault board)."""
        with self._lock:
            self._fault = fault
        if fault.kind == DISCONNECT:
            self._server.suspend()
        elif fault.kind == FAULT:
            with self._lock:
                self.hardware_failed()
        log.info("%s: fault %s begins (%s)", self.name, fault.kind, fault.source)

    def fault_ended(self, fault: Fault) -> None:
        """A fault ends (called by the fault board): the device is back."""
        with self._lock:
            if self._fault is fault:
                self._fault = None
        if fault.kind == DISCONNECT:
            try:
                self._server.resume()
            except OSError as exc:
                log.error("%s: cannot listen again after the disconnect fault: %s", self.name, exc)
        elif fault.kind == FAULT:
            with self._lock:
                self.hardware_recovered()
        log.info("%s: fault %s over", self.name, fault.kind)

    @property
    def listening(self) -> bool:
        """Whether the device accepts connections now."""
        return self._server.listening

    def hardware_failed(self) -> None:
        """Stop what is in progress (under the device lock); subclasses override."""

    def hardware_recovered(self) -> None:
        """Leave the fault state (under the device lock); subclasses override."""

    def in_hardware_fault(self) -> bool:
        """Whether a ``fault`` fault is in force (STATUS shows the state ``fault``)."""
        fault = self._fault
        return fault is not None and fault.kind == FAULT and not fault.ended.is_set()

    def device_now(self) -> datetime:
        """The device's own clock: the simulated now, or the instant it froze (``frozen``)."""
        fault = self._fault
        if fault is not None and fault.kind == FROZEN and not fault.ended.is_set():
            return fault.started_at
        return self.clock.now()

    # ------------------------------------------------------------------ serving
    def after_reply(self, action: Callable[[], object]) -> None:
        """Run ``action`` once the reply to the current line is sent (a command handler starts
        CPU-heavy work this way, so that its accepted reply is not held up by it)."""
        self._after_reply.actions.append(action)

    def _handle(self, connection: Connection, line: bytes | OversizedLine) -> None:
        self._after_reply.actions = []
        try:
            reply = self._reply(connection, line)
            if reply is not None:
                connection.send(reply)
        finally:
            actions, self._after_reply.actions = self._after_reply.actions, []
            for action in actions:
                try:
                    action()
                except Exception:
                    log.exception("%s: work after the reply failed", self.name)

    def _reply(self, connection: Connection, line: bytes | OversizedLine) -> bytes | None:
        fault = self._fault
        if fault is not None and fault.ended.is_set():
            fault = None
        if fault is not None and fault.kind == DISCONNECT:
            connection.close()
            return None
        if fault is not None and fault.kind == SILENT:
            self.lines_dropped += 1
            return None
        try:
            reply = self._answer(line)
        except Exception as exc:  # every line gets an answer, whatever happened
            log.exception("%s: line failed", self.name)
            problem = DeviceError(f"{self.name}: internal simulator error: {exc}", code=INTERNAL)
            reply = reply_line([error_item(None, None, problem)])
        if fault is not None and fault.kind == GARBAGE:
            return GARBAGE_LINE
        if fault is not None and fault.kind == SLOW:
            # The wait ends early when the fault does: a device back to normal answers at once.
            fault.ended.wait(fault.delay_s)
        return reply

    def _answer(self, line: bytes | OversizedLine) -> bytes:
        if isinstance(line, OversizedLine):
            return reply_line([error_item(None, None, line.error(f"{self.name}: command line"))])
        try:
            data = decode(line)
        except DeviceProblem as problem:
            problem.message = f"{self.name}: command line is {problem.message}"
            return reply_line([error_item(None, None, problem)])
        request_id = peek_id(data)
        try:
            command = parse_command_line(data)
        except DeviceProblem as problem:
            problem.message = f"{self.name}: {problem.message}"
            return reply_line([error_item(None, request_id, problem)])
        return reply_line([self._item(item, command.id) for item in command.items])

    def _item(self, item: dict[str, Any], request_id: str | int | None) -> dict[str, Any]:
        name = item.get("name")
        self.last_received[str(name)] = (self.clock.now(), time.time())
        try:
            validate(self.kind, item, gateway=False)
            if name != "STATUS" and self.in_hardware_fault():
                raise DeviceError(
                    f"{self.name}: hardware fault: {name} refused (the device is in fault)",
                    code=FAULT_CODE,
                )
            handler = getattr(self, f"cmd_{str(name).lower()}")
            arguments = {k: v for k, v in item.items() if k not in ("name", "id")}
            with self._lock:
                fields = handler(**arguments)
            self.commands_answered += 1
            return result_item(name, request_id, **fields)
        except DeviceProblem as problem:
            if not problem.message.startswith(f"{self.name}:"):
                problem.message = f"{self.name}: {problem.message}"
            return error_item(name, request_id, problem)
