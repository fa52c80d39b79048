"""A small threaded NDJSON server: accept clients, frame their lines, answer each line.

The gateways serve their clients with it; a device simulator may too. Each connection has a
reader thread; each complete line is handled on a worker thread (so a claim waiting for a lease,
or a command waiting for a slow device, never holds up the other requests of the same
connection: replies carry the request id and may come back out of order). A handler never drops
the connection: it answers with an error reply instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from devices.framing import MAX_LINE_BYTES, LineFramer, OversizedLine
from infra.config_security import IPNetwork, peer_allowed

log = logging.getLogger(__name__)


class Connection:
    """One client connection of a :class:`LineServer`."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self._write_lock = threading.Lock()
        self.closed = False

    def send(self, data: bytes) -> bool:
        """Send ``data``; False (and the connection closed) when the client is gone or stuck."""
        if self.closed:
            return False
        try:
            with self._write_lock:
                self.sock.sendall(data)
            return True
        except OSError:
            self.close()
            return False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


Handler = Callable[[Connection, "bytes | OversizedLine"], "bytes | None"]


class LineServer:
    """Serve newline-delimited requests on ``host:port`` (port 0: any free port).

    Parameters
    ----------
    host, port :
        Where to listen.
    handler : callable
        ``handler(connection, line)`` returns the reply bytes (or None for no reply); ``line``
        is an :class:`~devices.framing.OversizedLine` for a line over the limit.
    name : str
        For thread names and logs.
    workers : int
        Most lines handled at once.
    send_timeout_s : float
        A client that does not read its replies for this long is disconnected.
    ordered : bool
        Handle each connection's lines one after another, in order, on its reader thread (a
        device) instead of on the worker pool (a gateway, whose replies may come out of order).

    Only loopback clients are served unless :attr:`allowed_peers` names their network (set it
    before :meth:`start`, from ``[security] allowed_peers``): any other peer is logged in one line
    and its connection closed at once (safe by default, docs/configuration.md "Security").
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        name: str,
        workers: int = 64,
        send_timeout_s: float = 5.0,
        max_line: int = MAX_LINE_BYTES,
        ordered: bool = False,
    ) -> None:
        self.host, self.requested_port = host, port
        self._ordered = ordered
        self.name = name
        self._handler = handler
        self._workers = workers
        self._send_timeout_s = send_timeout_s
        self._max_line = max_line
        self._listener: socket.socket | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._bound_port: int | None = None
        #: Networks whose clients are served besides loopback.
        self.allowed_peers: tuple[IPNetwork, ...] = ()

    @property
    def port(self) -> int:
        """The port listened on (known after :meth:`start`)."""
        return self._bound_port if self._bound_port is not None else self.requested_port

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections now (False once suspended or stopped)."""
        return self._listener is not None and not self._stopping

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def start(self) -> LineServer:
        """Bind and start accepting.

        Raises
        ------
        OSError
            When the address cannot be bound (the message names it).
        """
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"{self.name}-work")
        try:
            self._listen(self.requested_port)
        except OSError:
            self._pool.shutdown(wait=False)
            raise
        return self

    def _listen(self, port: int) -> None:
        try:
            listener = socket.create_server((self.host, port), backlog=64)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"{self.name}: cannot listen on {self.host}:{port}: {exc.strerror or exc}",
            ) from None
        self._listener = listener
        self._bound_port = listener.getsockname()[1]
        thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"{self.name}-accept", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                listener.close()

    def drop_connections(self) -> int:
        """Close every client connection now (clients see the connection close); how many."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        return len(connections)

    def suspend(self) -> None:
        """Stop listening and drop every connection: clients are refused until :meth:`resume`."""
        self._close_listener()
        self.drop_connections()

    def resume(self) -> None:
        """Listen again on the same port after :meth:`suspend` (no effect while listening).

        Raises
        ------
        OSError
            When the port cannot be bound again.
        """
        if self._listener is None and not self._stopping:
            self._listen(self.port)

    def stop(self) -> None:
        """Stop accepting, close every connection, stop the workers."""
        self._stopping = True
        self._close_listener()
        self.drop_connections()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping and self._listener is listener:
            try:
                sock, address = listener.accept()
            except OSError:
                if self._stopping or self._listener is not listener:
                    return
                continue
            if self._stopping or self._listener is not listener:
                sock.close()
                return
            if not peer_allowed(str(address[0]), self.allowed_peers):
                log.warning(
                    "%s: refused a connection from %s:%s (not loopback nor in [security] "
                    "allowed_peers)", self.name, address[0], address[1],
                )  # fmt: skip
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self._send_timeout_s)
            connection = Connection(sock, f"{address[0]}:{address[1]}")
            with self._lock:
                self._connections.add(connection)
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(
                    target=self._read_loop,
                    args=(connection,),
                    name=f"{self.name}-client",
                    daemon=True,
                )
                self._threads.append(thread)
            thread.start()

    def _read_loop(self, connection: Connection) -> None:
        framer = LineFramer(self._max_line)
        try:
            while not self._stopping and not connection.closed:
                try:
                    data = connection.sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for line in framer.feed(data):
                    if self._ordered:
                        if connection.closed or self._stopping:
                            return
                        self._handle(connection, line)
                        continue
                    try:
                        assert self._pool is not None
                        self._pool.submit(self._handle, connection, line)
                    except RuntimeError:  # pool shut down: stopping
                        return
        finally:
            connection.close()
            with self._lock:
                self._connections.discard(connection)

    def _handle(self, connection: Connection, line: bytes | OversizedLine) -> None:
        try:
            reply = self._handler(connection, line)
        except Exception:  # the handler must answer; this is the last resort
            log.exception("%s: handler failed", self.name)
            return
        if reply:
            connection.send(reply)
