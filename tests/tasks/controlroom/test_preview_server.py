"""The previews server on real sockets: PNGs, 404s, and [security] for its address and its
clients (loopback unless bind_hosts / allowed_peers say otherwise)."""

from __future__ import annotations

import http.client
import logging

import pytest

from infra.config_security import SecuritySection
from tasks.controlroom.preview_server import PreviewServer, RemoteBindRefused
from tasks.controlroom.preview_store import store_preview
from tasks.controlroom.previews import render_preview
from tests.support.peers import own_address
from tests.support.ports import free_port


def _get(
    server: PreviewServer, path: str, method: str = "GET", host: str = "127.0.0.1"
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(host, server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


@pytest.fixture
def served(tmp_path):
    png = render_preview([[0.0, 1.0], [2.0, 3.0]], size_px=32)
    store_preview(tmp_path, "IMG-7", png, candidates=1)
    with PreviewServer(tmp_path, "127.0.0.1", free_port()) as server:
        yield server, png


def test_a_preview_is_served_as_a_png(served):
    server, png = served
    assert _get(server, "/previews/IMG-7.png") == (200, "image/png", png)
    assert _get(server, "/previews/latest.png") == (200, "image/png", png)
    status, kind, body = _get(server, "/previews/IMG-7.png", "HEAD")
    assert (status, kind, body) == (200, "image/png", b"")


@pytest.mark.parametrize(
    "path", ["/previews/IMG-8.png", "/previews/../IMG-7.json", "/previews/IMG-7.json", "/x"]
)
def test_an_unknown_frame_or_path_is_404(served, path):
    server, _ = served
    assert _get(server, path)[0] == 404


def test_the_index_page_lists_the_previews_and_health_answers(served):
    server, _ = served
    status, kind, body = _get(server, "/")
    assert status == 200 and kind.startswith("text/html")
    assert b'src="/previews/IMG-7.png"' in body and b"IMG-7: 1 candidate(s)" in body
    assert _get(server, "/health")[:2] == (200, "text/plain; charset=utf-8")
    assert server.url == f"http://127.0.0.1:{server.port}"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.org"])
def test_a_non_loopback_bind_is_refused_unless_listed(tmp_path, host):
    with pytest.raises(RemoteBindRefused, match=r"\[security\] bind_hosts"):
        PreviewServer(tmp_path, host, free_port())


def test_a_listed_address_serves_loopback_and_refuses_other_peers_by_name(served, tmp_path, caplog):
    address = own_address()
    security = SecuritySection(bind_hosts=["0.0.0.0"])
    with PreviewServer(tmp_path, "0.0.0.0", free_port(), security=security) as server:
        assert _get(server, "/health")[0] == 200
        with caplog.at_level(logging.WARNING, logger="tasks.controlroom.preview_server"):
            assert _get(server, "/previews/IMG-7.png", host=address)[0] == 403
        assert any(address in r.getMessage() for r in caplog.records), caplog.records


def test_an_allowed_peer_network_is_served(served, tmp_path):
    _, png = served  # stored in tmp_path
    address = own_address()
    security = SecuritySection(bind_hosts=["0.0.0.0"], allowed_peers=[f"{address}/32"])
    with PreviewServer(tmp_path, "0.0.0.0", free_port(), security=security) as server:
        assert _get(server, "/previews/IMG-7.png", host=address) == (200, "image/png", png)


def test_a_taken_port_fails_loudly(served, tmp_path):
    server, _ = served
    with pytest.raises(OSError):
        PreviewServer(tmp_path, "127.0.0.1", server.port)
