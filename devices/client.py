"""The one client shape for every TCP device (controllers -> gateways, gateways -> devices).

:class:`NdjsonClient` keeps one connection to a newline-delimited JSON server:

- every request has a timeout (:class:`~devices.errors.DeviceTimeout` names the command and what
  arrived);
- requests carry ids and may be in flight together (from several threads); replies are matched by
  id, or, from a device that does not echo ids, in order;
- a background thread connects, and reconnects after a loss with capped exponential backoff and
  jitter, so the client may start before its server (start-order independence);
- a request while disconnected fails at once with :class:`~devices.errors.DeviceDisconnected`
  (optionally after one immediate connection attempt);
- garbage, oversized (> 1 MiB) and truncated replies fail the request they answer with a
  :class:`~devices.errors.ProtocolError`; the connection survives garbage and oversized lines.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.errors import DeviceDisconnected, DeviceTimeout, exception_for
from devices.framing import MAX_LINE_BYTES, LineFramer, encode
from devices.protocol import command_line
from devices.replies import PendingReply, ReplyRouter

_client_numbers = itertools.count(1)


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Wait before connection attempt ``attempt + 1`` (0-based): capped doubling, jittered.

    The step doubles from ``initial_s`` up to ``max_s``; the wait is drawn uniformly in
    [50 %, 100 %] of the step, so clients that lost the same server do not return in lockstep.
    """
    step = min(max_s, initial_s * (2.0 ** min(attempt, 60)))
    return step * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a client connects and reconnects.

    Attributes
    ----------
    initial_s, max_s : float
        Backoff between connection attempts: doubles from the first to the cap; each wait is
        drawn uniformly in [50 %, 100 %] of the current step (jitter).
    on_demand : bool
        When a request finds no connection, try once at once instead of waiting for the backoff
        (controllers); a gateway's device link fails at once and leaves reconnecting to the
        backoff (except before the first attempt has finished: then a request waits for it).
    attempt_timeout_s : float, optional
        Timeout of one connection attempt (default: the client's ``timeout_s``, at most 5 s).
    """

    initial_s: float = 0.05
    max_s: float = 2.0
    on_demand: bool = True
    attempt_timeout_s: float | None = None


@dataclass(frozen=True)
class ConnectionHooks:
    """Called from a client's threads on connection, on loss (``on_disconnected(reason)``) and
    on a failed connection attempt (``on_connect_failed(reason)``); they must be quick."""

    on_connected: Callable[[], None] | None = None
    on_disconnected: Callable[[str], None] | None = None
    on_connect_failed: Callable[[str], None] | None = None


class NdjsonClient:
    """A reconnecting NDJSON client.

    Parameters
    ----------
    host, port :
        Server address.
    name : str
        What the server is (a device or gateway name), used in every message.
    timeout_s : float
        Default timeout of a request (wall seconds).
    reconnect : ReconnectPolicy
        Backoff, connection on demand, and the timeout of one connection attempt.
    hooks : ConnectionHooks
        Who is told about connections and losses.
    max_line : int
        Longest accepted reply line.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str,
        timeout_s: float = 5.0,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        hooks: ConnectionHooks = ConnectionHooks(),
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        if timeout_s <= 0 or reconnect.initial_s <= 0 or reconnect.max_s < reconnect.initial_s:
            raise ValueError("timeouts and backoff must be positive, the cap >= the first step")
        self.host, self.port, self.name = host, port, name
        self.timeout_s = timeout_s
        self.connect_timeout_s = reconnect.attempt_timeout_s or min(timeout_s, 5.0)
        self._backoff = (reconnect.initial_s, reconnect.max_s)
        self._on_demand = reconnect.on_demand
        self._on_connected = hooks.on_connected
        self._on_disconnected = hooks.on_disconnected
        self._on_connect_failed = hooks.on_connect_failed
        self._max_line = max_line
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._generation = 0
        self._router: ReplyRouter | None = None
        self._closed = False
        self._kick = False
        self._attempts = 0
        self._last_error = "not connected yet"
        self._connector: threading.Thread | None = None
        self._readers: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self._prefix = f"{next(_client_numbers)}-"
        self._rng = random.Random()
        self.connects = self.disconnects = self.late_replies = 0

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> NdjsonClient:
        """Start connecting in the background (idempotent)."""
        with self._cond:
            if self._connector is None and not self._closed:
                self._connector = threading.Thread(
                    target=self._connect_loop, name=f"client-{self.name}", daemon=True
                )
                self._connector.start()
        return self

    def close(self) -> None:
        """Close the connection and stop reconnecting; pending requests fail."""
        with self._cond:
            self._closed = True
            generation = self._generation
            self._cond.notify_all()
        self._drop(generation, "client closed")
        for thread in [self._connector, *self._readers]:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def __enter__(self) -> NdjsonClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._sock is not None

    @property
    def last_error(self) -> str:
        with self._cond:
            return self._last_error

    def reset(self, reason: str) -> None:
        """Drop the current connection (pending requests fail); reconnecting follows."""
        with self._cond:
            generation = self._generation
        self._drop(generation, reason)

    # ----------------------------------------------------------------- requests
    def submit(
        self,
        items: list[dict[str, Any]],
        *,
        owner: str | None = None,
        epoch: int | None = None,
        extra: dict[str, Any] | None = None,
        connect_wait_s: float | None = None,
    ) -> PendingReply:
        """Send one command line; returns at once with the pending reply.

        Raises
        ------
        DeviceDisconnected
            No connection (after one immediate attempt when ``connect_on_demand``).
        """
        sock, generation = self._connection(connect_wait_s)
        request_id = f"{self._prefix}{next(self._ids)}"
        line = command_line(items, request_id=request_id, owner=owner, epoch=epoch)
        if extra:
            line.update(extra)
        data = encode(line)
        pending = PendingReply(request_id, [str(i.get("name")) for i in items])
        with self._cond:
            router = self._router
            if self._generation != generation or router is None:
                raise DeviceDisconnected(
                    f"{self.name}: connection lost ({self._last_error})", device=self.name
                )
            router.add(pending)
        try:
            with self._write_lock:
                sock.sendall(data)
        except OSError as exc:
            router.discard(request_id)
            self._drop(generation, f"send failed: {exc}")
            raise DeviceDisconnected(
                f"{self.name}: connection lost while sending ({exc})", device=self.name
            ) from None
        return pending

    def wait(self, pending: PendingReply, timeout: float | None = None) -> list[dict[str, Any]]:
        """Wait for a submitted request's reply items.

        Raises
        ------
        DeviceTimeout
            Nothing came within ``timeout`` (default: the client's).
        DeviceDisconnected, ProtocolError
            The connection was lost, or the reply broke the protocol.
        """
        timeout = self.timeout_s if timeout is None else timeout
        items = pending.wait(timeout)
        if items is not None:
            return items
        with self._cond:
            router, generation = self._router, self._generation
        partial, echoed = 0, True
        if router is not None:
            router.discard(pending.request_id)
            partial, echoed = router.partial, router.ids_echoed
        if pending.done:  # answered in the meantime
            return self.wait(pending, 0)
        if not echoed or partial:
            # A late reply from a device that does not echo ids would answer the wrong request,
            # and an unterminated line would corrupt the next one: only a new connection
            # resynchronises either.
            self._drop(generation, f"no reply within {timeout:g} s")
        what = "+".join(pending.names)
        extra = f" ({partial} bytes of an unterminated reply received)" if partial else ""
        raise DeviceTimeout(
            f"{self.name}: no reply to {what} within {timeout:g} s{extra}", device=self.name
        )

    def request(
        self,
        items: list[dict[str, Any]],
        *,
        owner: str | None = None,
        epoch: int | None = None,
        timeout: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Send one command line and return its reply items (errors are items, not raised)."""
        return self.wait(self.submit(items, owner=owner, epoch=epoch, extra=extra), timeout)

    def call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        owner: str | None = None,
        epoch: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and return its reply item.

        Raises
        ------
        DeviceProblem
            The subclass matching an error reply, or the transport failure.
        """
        items = self.request(
            [{"name": name, **(args or {})}], owner=owner, epoch=epoch, timeout=timeout
        )
        item = items[0]
        if "error" in item:
            raise exception_for(item["error"], device=self.name)
        return item

    # ----------------------------------------------------------------- connection
    def _connection(self, connect_wait_s: float | None) -> tuple[socket.socket, int]:
        if self._connector is None:
            self.start()
        with self._cond:
            if self._sock is not None:
                return self._sock, self._generation
            if self._closed:
                raise DeviceDisconnected(f"{self.name}: client closed", device=self.name)
            wait = self.connect_timeout_s if connect_wait_s is None else connect_wait_s
            # Wait for one connection attempt: one made now (on demand), or the first one, still
            # under way (a request in the first moments after start is not a disconnection).
            if wait > 0 and (self._on_demand or self._attempts == 0):
                attempts = self._attempts
                if self._on_demand:
                    self._kick = True
                self._cond.notify_all()
                deadline = time.monotonic() + wait
                while self._sock is None and not self._closed and self._attempts <= attempts:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._sock is not None:
                    return self._sock, self._generation
            raise DeviceDisconnected(
                f"{self.name}: not connected to {self.host}:{self.port} ({self._last_error})",
                device=self.name,
            )

    def _connect_loop(self) -> None:
        first, cap = self._backoff
        failures = 0
        was_connected = False
        while True:
            with self._cond:
                while self._sock is not None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            if was_connected and failures == 0:
                # Just lost the server: a dying process may still accept into its backlog for a
                # moment (connect, then reset), so the first attempt waits one step too.
                self._pause(backoff_delay(0, first, cap, self._rng))
            if self._connect_once():
                failures = 0
                was_connected = True
                continue
            self._pause(backoff_delay(failures, first, cap, self._rng))
            failures += 1

    def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less if a request asks for a connection or we close."""
        deadline = time.monotonic() + delay
        with self._cond:
            while not self._kick and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._kick = False

    def _connect_once(self) -> bool:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as exc:
            with self._cond:
                self._attempts += 1
                reason = exc.strerror or str(exc) or type(exc).__name__
                self._last_error = f"cannot connect to {self.host}:{self.port}: {reason}"
                message = self._last_error
                self._cond.notify_all()
            if self._on_connect_failed is not None and not self._closed:
                self._on_connect_failed(message)
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(max(self.timeout_s, 0.5))
        if self._on_connected is not None and not self._closed:
            # Before the connection is usable: no reply can be seen before the connection is.
            self._on_connected()
        with self._cond:
            self._attempts += 1
            if self._closed:
                sock.close()
                self._cond.notify_all()
                return True
            self._generation += 1
            generation = self._generation
            self._sock = sock
            router = self._router = ReplyRouter(self.name, self._count_late)
            self.connects += 1
            self._readers = [t for t in self._readers if t.is_alive()]
            reader = threading.Thread(
                target=self._read_loop,
                args=(sock, router, generation),
                name=f"reader-{self.name}",
                daemon=True,
            )
            self._readers.append(reader)
            self._cond.notify_all()
        reader.start()
        return True

    def _drop(self, generation: int, reason: str) -> None:
        with self._cond:
            if generation != self._generation or self._sock is None:
                return
            sock, self._sock = self._sock, None
            router, self._router = self._router, None
            closing = self._closed
            self._last_error = reason
            self.disconnects += 1
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
        if router is not None:
            router.fail_all(reason, closing=closing)
        if self._on_disconnected is not None and not closing:
            self._on_disconnected(reason)

    # ----------------------------------------------------------------- replies
    def _count_late(self) -> None:
        self.late_replies += 1

    def _read_loop(self, sock: socket.socket, router: ReplyRouter, generation: int) -> None:
        framer = LineFramer(self._max_line)
        reason = "connection closed by the server"
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                with self._cond:
                    if self._generation != generation or self._sock is None:
                        return
                continue
            except OSError as exc:
                reason = f"connection error: {exc.strerror or exc}"
                break
            if not data:
                break
            for line in framer.feed(data):
                router.route(line)
            router.partial = framer.pending
        self._drop(generation, reason)
