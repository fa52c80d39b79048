"""The previews server: the PNGs of the previews directory over HTTP (``pyros up`` runs it).

``GET /previews/<name>.png`` a frame's preview, ``/previews/latest.png`` the newest,
``/`` a page of the latest ones, ``/health`` ``ok``. Anything else is 404. Like every listener
of the stack it follows ``[security]`` (infra/config_security.py): bound to loopback unless
``bind_hosts`` lists its address, and a client outside loopback and ``allowed_peers`` gets 403
(one log line naming it). Read-only, from the standard library's threading HTTP server.
"""

from __future__ import annotations

import html
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.config_security import IPNetwork, SecuritySection, peer_allowed
from tasks.controlroom.preview_store import latest_previews, preview_file

log = logging.getLogger(__name__)


class RemoteBindRefused(ValueError):
    """The server was asked to listen beyond this machine without the site's leave
    (``[security] bind_hosts``)."""


class _Handler(BaseHTTPRequestHandler):
    server: _PreviewHTTPServer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        peer = str(self.client_address[0])
        if not peer_allowed(peer, self.server.allowed_peers):
            log.warning(
                "previews server: refused %s (not loopback nor in [security] allowed_peers)", peer
            )
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"forbidden\n", send_body)
            return
        path = self.path.split("?", 1)[0]
        directory = self.server.directory
        if path == "/health":
            self._send(HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n", send_body)
        elif path in ("/", "/previews", "/previews/"):
            page = index_page(directory, self.server.keep).encode()
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page, send_body)
        elif path.startswith("/previews/") and (
            found := preview_file(directory, path.removeprefix("/previews/"))
        ):
            try:
                body = found.read_bytes()
            except FileNotFoundError:  # pruned between the look and the read
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no such preview\n", send_body)
                return
            self._send(HTTPStatus.OK, "image/png", body, send_body, cache=False)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no such preview\n", send_body)

    def _send(
        self, status: HTTPStatus, kind: str, body: bytes, send_body: bool, *, cache: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if not cache:
            self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _PreviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        directory: Path,
        keep: int,
        allowed_peers: tuple[IPNetwork, ...],
    ) -> None:
        super().__init__(address, _Handler)
        self.directory = directory
        self.keep = keep
        self.allowed_peers = allowed_peers


def index_page(directory: Path, keep: int) -> str:
    """The HTML page of the latest ``keep`` previews, newest first."""
    items = [
        f'<figure><img src="/previews/{html.escape(p.name)}" alt="{html.escape(p.image_id)}">'
        f"<figcaption>{html.escape(p.image_id)}: {p.candidates} candidate(s)</figcaption>"
        "</figure>"
        for p in latest_previews(directory, keep)
    ]
    body = "\n".join(items) or "<p>No preview yet.</p>"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>PyROS previews</title>'
        '<meta http-equiv="refresh" content="10"></head><body><h1>Latest frames</h1>'
        f"{body}</body></html>"
    )


class PreviewServer:
    """Serves ``directory``'s previews on ``host``:``port`` (0: a free port) from a thread.

    ``security`` is the site's ``[security]`` section (default: loopback only, for both the
    address and the clients).

    Raises
    ------
    RemoteBindRefused
        When ``host`` is not a loopback address and ``security.bind_hosts`` does not list it.
    OSError
        When the port is taken.
    """

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        security: SecuritySection | None = None,
        keep: int = 12,
    ) -> None:
        security = security or SecuritySection()
        try:
            security.check_bind("controlroom.previews_host", host)
        except ValueError as refused:
            raise RemoteBindRefused(f"previews server: {refused}") from None
        self._httpd = _PreviewHTTPServer(
            (host, port), Path(directory), keep, security.peer_networks()
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host = str(self._httpd.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> PreviewServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="previews-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread or a signal handler)."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
