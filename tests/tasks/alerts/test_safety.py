"""Hostile packets: external entities, external DTDs, entity expansion, encodings that would hide
markup, XInclude and schema locations. Every one is rejected or harmless, and the proof is
physical: a sentinel file whose content must appear nowhere, a FIFO that must never be opened
(opening it for reading would block until a writer came), and a real listening socket that must
never see a connection."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from infra.db import session_scope
from infra.db.models import Alert, JournalEntry
from tasks.alerts.handle import handle_packet
from tests.support.voevents import SYNTHETIC

SECRET = "TOP-SECRET-SENTINEL-7d1f"
ISSUED = "2018-12-13T12:58:42"


class FifoTrap:
    """A FIFO watched by a writer: any reader that opens it is recorded."""

    def __init__(self, path: Path) -> None:
        self.path, self.opened = path, False
        os.mkfifo(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody has it open for reading
                    raise
                time.sleep(0.001)
                continue
            self.opened = True
            try:
                os.write(fd, SECRET.encode())
            except BrokenPipeError:  # the reader already went away
                pass
            finally:
                os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def traps(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    fifo = FifoTrap(tmp_path / "secret.fifo")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    yield {"file": secret, "fifo": fifo.path, "url": f"http://127.0.0.1:{port}"}
    fifo.close()
    assert not fifo.opened, "the FIFO sentinel was opened for reading"
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody ever connected
    listener.close()


def _hostile(swift: bytes, traps: dict) -> dict[str, bytes]:
    body = swift.split(b"?>", 1)[1]  # the notice without its XML declaration
    decl = b"<?xml version='1.0' encoding='UTF-8'?>\n"
    named = body.replace(b"<Name>GRB 181213</Name>", b"<Name>&xxe;</Name>")
    file_url, fifo_url, url = f"file://{traps['file']}", f"file://{traps['fifo']}", traps["url"]
    laughs = "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10)
    )
    packets = {
        "xxe-file": f'<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "{file_url}">]>',
        "xxe-fifo": f'<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "{fifo_url}">]>',
        "xxe-http": f'<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "{url}/x">]>',
        "external-dtd": f'<!DOCTYPE voe:VOEvent SYSTEM "{url}/voevent.dtd">',
        "parameter-entity": f'<!DOCTYPE voe:VOEvent [<!ENTITY % p SYSTEM "{url}/p"> %p;]>',
        "billion-laughs": f"<!DOCTYPE voe:VOEvent [{laughs}<!ENTITY xxe '&l9;'>]>",
        "quadratic": f"<!DOCTYPE voe:VOEvent [<!ENTITY xxe '{'a' * 50000}'>]>",
        "lower-case": f'<!doctype voe:VOEvent [<!entity xxe SYSTEM "{file_url}">]>',
    }
    result = {name: decl + dtd.encode() + b"\n" + named for name, dtd in packets.items()}
    utf16 = (
        "<?xml version='1.0' encoding='UTF-16'?>\n" + packets["xxe-file"] + named.decode()
    ).encode("utf-16")
    result["utf-16"] = utf16
    result["utf-7"] = (
        b"<?xml version='1.0' encoding='UTF-7'?>+ADw-+ACE-DOCTYPE x +AFs-+ADw-+ACE-ENTITY xxe "
        b"SYSTEM +ACI-" + file_url.encode() + b"+ACI-+AD4-+AF0-+AD4-" + named
    )
    return result


def _harmless(swift: bytes, traps: dict) -> dict[str, bytes]:
    include = (
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{traps["file"]}" '
        f'parse="text"/><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        f'href="{traps["url"]}/inc" parse="text"/>'
    ).encode()
    return {
        "xinclude": swift.replace(b"<Description>Type=61", include + b"<Description>Type=61"),
        "schema-location": swift.replace(
            b"http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd",
            f"{traps['url']}/VOEvent-v2.0.xsd".encode(),
        ),
    }


def test_entities_and_dtds_are_rejected_without_reading_or_connecting(engine, traps):
    from datetime import datetime

    when = datetime.fromisoformat(ISSUED + "+00:00")
    hostile = _hostile(SYNTHETIC, traps)
    for name, packet in hostile.items():
        decision = handle_packet(packet, when, engine=engine)
        assert decision.decision == "rejected", (name, decision.reason)
        assert SECRET not in repr(decision)
    reasons = {name: handle_packet(p, when, engine=engine).reason for name, p in hostile.items()}
    assert "NUL byte" in reasons["utf-16"] and "'UTF-7' is refused" in reasons["utf-7"]
    assert all("DOCTYPE" in r for n, r in reasons.items() if n not in ("utf-16", "utf-7"))

    harmless = _harmless(SYNTHETIC, traps)
    for index, (name, packet) in enumerate(harmless.items()):
        packet = packet.replace(b"876016-475", f"876016-safe{index}".encode())
        decision = handle_packet(packet, when, engine=engine)
        assert decision.decision not in ("rejected",), (name, decision.reason)
        assert SECRET not in repr(decision)
    with session_scope(engine) as session:
        for alert in session.scalars(select(Alert)):
            assert SECRET not in f"{alert.reason} {alert.details}"
        for entry in session.scalars(select(JournalEntry)):
            assert SECRET not in str(entry.payload)
            assert entry.raw is None or SECRET.encode() not in entry.raw


def test_even_past_the_gate_the_parser_resolves_nothing(traps):
    """Defence in depth: voevent-parse itself (lxml >= 6.1) must not read or fetch entities."""
    import voeventparse as vp
    from lxml import etree

    for name in ("xxe-file", "xxe-http", "external-dtd", "parameter-entity"):
        packet = _hostile(SYNTHETIC, traps)[name]
        try:
            tree = vp.loads(packet)
        except etree.XMLSyntaxError:
            continue  # "Entity 'xxe' not defined": refused, as wanted
        assert SECRET not in etree.tostring(tree).decode()


def test_the_traps_catch_a_reader_and_a_connection(tmp_path):
    """The sentinels can fail: a plain read of the FIFO and a plain connection are both seen."""
    fifo = FifoTrap(tmp_path / "probe.fifo")
    with open(fifo.path, "rb") as reader:  # blocks until the trap's writer shows up
        assert reader.read(len(SECRET)) == SECRET.encode()
    fifo.close()
    assert fifo.opened
    listener = socket.create_server(("127.0.0.1", 0))
    with socket.create_connection(listener.getsockname(), timeout=5):
        listener.settimeout(5)
        connection, _ = listener.accept()
        connection.close()
    listener.close()
