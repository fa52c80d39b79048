"""One connection to an INDI server, shared by the threads of a gateway.

:class:`IndiLink` runs an ``indipyclient`` client (pure Python, asyncio) in an event loop on its
own thread and keeps, under one condition variable, a copy of every property of the INDI devices
it watches: state (``Idle``/``Ok``/``Busy``/``Alert``), member values (numbers as floats), message,
and an update counter. Gateway threads read that copy, send new property values, and wait for the
driver's answer (:meth:`IndiLink.wait_update`): INDI has no request ids, so an answer is the next
update of the property after the send, which is how every INDI client knows a driver took a value.

The client reconnects to the server by itself (every 5 s, indipyclient's fixed pace); an end of
stream from the server (it died) is noticed within 0.1 s — indipyclient alone notices a dead server
only when a send fails — and ends the connection at once, so the gateway reports ``lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from indipyclient import IPyClient

from devices.client import ConnectionHooks
from devices.errors import DeviceDisconnected, DeviceError, DeviceTimeout

log = logging.getLogger(__name__)
# indipyclient logs every connection attempt as a warning; the gateway's health reports them.
logging.getLogger("indipyclient").setLevel(logging.ERROR)

#: How often the watchdog looks for an end of stream from the server (seconds).
EOF_CHECK_S = 0.1


@dataclass(frozen=True)
class Vector:
    """A copy of one INDI property (vector) as last received.

    Attributes
    ----------
    device, name : str
        INDI device and property names.
    kind : str
        ``Switch``, ``Number``, ``Text``, ``Light`` or ``BLOB``.
    state : str
        ``Idle``, ``Ok``, ``Busy`` or ``Alert``.
    values : dict
        Member name -> value (float for numbers, ``On``/``Off`` for switches, text, light state).
    message : str
        The driver's last message on this property.
    seq : int
        The link's update counter when this copy was made (larger: newer).
    received : float
        ``time.monotonic()`` of the update.
    """

    device: str
    name: str
    kind: str
    state: str
    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    seq: int = 0
    received: float = 0.0

    def on(self, member: str) -> bool:
        """Whether switch ``member`` is On."""
        return self.values.get(member) == "On"

    def number(self, member: str) -> float | None:
        """Number ``member`` (None when absent)."""
        value = self.values.get(member)
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Blob:
    """A BLOB received: the bytes and their format (``.fits``)."""

    device: str
    vector: str
    member: str
    data: bytes
    format: str
    seq: int


BlobHandler = Callable[[Blob], None]


def _values(vector: Any) -> dict[str, Any]:
    """Member values of an indipyclient vector (numbers as floats)."""
    values: dict[str, Any] = {}
    for member in vector.data:
        if vector.vectortype == "NumberVector":
            try:
                values[member] = float(vector.getfloatvalue(member))
            except (TypeError, ValueError):
                values[member] = None
        elif vector.vectortype == "BLOBVector":
            values[member] = None
        else:
            values[member] = vector[member]
    return values


class _Client(IPyClient):  # type: ignore[misc]
    """indipyclient's client, reporting every event to its :class:`IndiLink`."""

    def __init__(self, host: str, port: int, link: IndiLink) -> None:
        super().__init__(indihost=host, indiport=port)
        self.link = link
        self.enable_reports = False
        self.set_vector_timeouts(timeout_enable=False)

    async def rxevent(self, event: Any) -> None:
        self.link._event(event)

    async def hardware(self) -> None:
        # indipyclient reads b"" forever from a server that closed: end the connection ourselves
        # (its own reconnection loop then takes over).
        while not self._stop:
            await asyncio.sleep(EOF_CHECK_S)
            reader = self._reader
            if reader is not None and reader.at_eof() and self._writer is not None:
                await self._clear_connection()


class IndiLink:
    """A thread-safe INDI client for the devices of one gateway.

    Parameters
    ----------
    host, port :
        The INDI server.
    devices : iterable of str
        The INDI devices this link serves (events of others are ignored).
    name : str
        The PyROS device (for messages).
    hooks : ConnectionHooks
        Told when the server connection comes up and goes down.
    blobs : iterable of str
        Devices whose BLOBs are wanted (``enableBLOB Also``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        devices: Iterable[str],
        *,
        name: str,
        hooks: ConnectionHooks = ConnectionHooks(),
        blobs: Iterable[str] = (),
    ) -> None:
        self.host, self.port, self.name = host, port, name
        self.devices = frozenset(devices)
        self._blob_devices = frozenset(blobs)
        self._hooks = hooks
        self._cond = threading.Condition()
        self._vectors: dict[tuple[str, str], Vector] = {}
        self._seq = 0
        self._generation = 0
        self._up = False
        self._closed = False
        self._blob_handlers: list[BlobHandler] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: _Client | None = None
        self._thread: threading.Thread | None = None
        self.last_error = "not connected yet"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> IndiLink:
        """Start the client's thread (it connects, and reconnects, by itself)."""
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name=f"indi-{self.name}", daemon=True
            )
            self._thread.start()
            ready.wait(5.0)
        return self

    def close(self) -> None:
        """Disconnect and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        client, loop = self._client, self._loop
        if client is not None and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(client.shutdown)
        if self._thread is not None:
            self._thread.join(timeout=7.0)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._client = _Client(self.host, self.port, self)
        if self._blob_devices:
            self._client.enableBLOBdefault = "Also"
        ready.set()
        try:
            loop.run_until_complete(self._client.asyncrun())
        except Exception:
            log.exception("indi %s: client stopped", self.name)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._set_up(False, "client closed")

    def on_blob(self, handler: BlobHandler) -> None:
        """Call ``handler(blob)`` (from the client's thread) for every BLOB received."""
        self._blob_handlers.append(handler)

    # ------------------------------------------------------------------ events (client thread)
    def _event(self, event: Any) -> None:
        kind = getattr(event, "eventtype", "")
        if kind == "ConnectionMade":
            self._set_up(True, "")
            return
        if kind == "ConnectionLost":
            self._set_up(False, f"connection to the INDI server {self.host}:{self.port} lost")
            return
        device = getattr(event, "devicename", None)
        if device not in self.devices:
            return
        name = getattr(event, "vectorname", None)
        if kind == "Delete":
            with self._cond:
                self._seq += 1
                if name is None:
                    for key in [k for k in self._vectors if k[0] == device]:
                        del self._vectors[key]
                else:
                    self._vectors.pop((device, name), None)
                self._cond.notify_all()
            return
        vector = getattr(event, "vector", None)
        if vector is None or name is None:
            return
        with self._cond:
            self._seq += 1
            seq = self._seq
            self._vectors[(device, name)] = Vector(
                device=device,
                name=name,
                kind=str(vector.vectortype).removesuffix("Vector"),
                state=str(vector.state),
                values=_values(vector),
                message=str(getattr(vector, "message", "") or ""),
                seq=seq,
                received=time.monotonic(),
            )
            self._cond.notify_all()
        if kind == "SetBLOB":
            for member, data in event.items():
                if not data:
                    continue
                size_format = event.sizeformat.get(member, (0, ""))
                blob = Blob(device, name, member, bytes(data), str(size_format[1]), seq)
                for handler in list(self._blob_handlers):
                    try:
                        handler(blob)
                    except Exception:
                        log.exception("indi %s: BLOB handler failed", self.name)

    def _set_up(self, up: bool, reason: str) -> None:
        with self._cond:
            if self._up == up:
                return
            self._up = up
            if up:
                self._generation += 1
            else:
                self.last_error = reason
                self._vectors.clear()
            self._seq += 1
            self._cond.notify_all()
            closed = self._closed
        if up and self._hooks.on_connected is not None:
            self._hooks.on_connected()
        elif not up and not closed and self._hooks.on_disconnected is not None:
            self._hooks.on_disconnected(reason)

    # ------------------------------------------------------------------ reads
    @property
    def connected(self) -> bool:
        """Whether the INDI server connection is up."""
        with self._cond:
            return self._up

    @property
    def generation(self) -> int:
        """How many times the server connection came up (a new one needs a new set-up)."""
        with self._cond:
            return self._generation

    @property
    def seq(self) -> int:
        """The update counter now (pass it to :meth:`wait_update`)."""
        with self._cond:
            return self._seq

    def vector(self, device: str, name: str) -> Vector | None:
        """The last copy of property ``name`` of ``device`` (None: not defined)."""
        with self._cond:
            return self._vectors.get((device, name))

    def vectors(self, device: str) -> dict[str, Vector]:
        """Every property of ``device`` now."""
        with self._cond:
            return {n: v for (d, n), v in self._vectors.items() if d == device}

    def require_server(self) -> None:
        """Raise DeviceDisconnected when there is no server connection."""
        with self._cond:
            if self._up:
                return
        raise DeviceDisconnected(
            f"{self.name}: not connected to the INDI server {self.host}:{self.port} "
            f"({self.last_error})",
            device=self.name,
        )

    def require(self, device: str, name: str) -> Vector:
        """Property ``name`` of ``device``.

        Raises
        ------
        DeviceDisconnected
            No server connection.
        DeviceError
            The device does not define that property (not there, not connected, not able).
        """
        with self._cond:
            if not self._up:
                raise DeviceDisconnected(
                    f"{self.name}: not connected to the INDI server {self.host}:{self.port} "
                    f"({self.last_error})",
                    device=self.name,
                )
            vector = self._vectors.get((device, name))
        if vector is None:
            raise DeviceError(
                f"{self.name}: INDI device {device!r} has no property {name} "
                "(device absent, not connected, or not able to)",
                device=self.name,
            )
        return vector

    def wait_update(
        self,
        device: str,
        name: str,
        after: int,
        timeout: float,
        accept: Callable[[Vector], bool] = lambda v: True,
    ) -> Vector:
        """Wait for an update of property ``name`` newer than ``after`` that ``accept`` takes.

        Raises
        ------
        DeviceTimeout
            None within ``timeout`` wall seconds.
        DeviceDisconnected
            The server connection went down meanwhile.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if not self._up or self._closed:
                    raise DeviceDisconnected(
                        f"{self.name}: INDI server connection lost ({self.last_error})",
                        device=self.name,
                    )
                vector = self._vectors.get((device, name))
                if vector is not None and vector.seq > after and accept(vector):
                    return vector
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeviceTimeout(
                        f"{self.name}: INDI device {device!r} did not answer on {name} within "
                        f"{timeout:g} s",
                        device=self.name,
                    )
                self._cond.wait(remaining)

    # ------------------------------------------------------------------ writes
    def send(self, device: str, name: str, members: dict[str, Any], timeout: float = 2.0) -> int:
        """Send new values of property ``name``; returns the update counter before the send.

        Raises
        ------
        DeviceDisconnected, DeviceError
            As :meth:`require`; DeviceDisconnected also when the send fails.
        """
        self.require(device, name)
        loop, client = self._loop, self._client
        if loop is None or client is None:
            raise DeviceDisconnected(f"{self.name}: INDI client not started", device=self.name)
        before = self.seq
        future = asyncio.run_coroutine_threadsafe(
            client.send_newVector(device, name, members=members), loop
        )
        try:
            future.result(timeout)
        except Exception as exc:
            future.cancel()
            raise DeviceDisconnected(
                f"{self.name}: sending {name} to INDI device {device!r} failed: {exc!r}",
                device=self.name,
            ) from None
        return before
