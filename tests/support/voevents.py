"""Real VOEvents from ../shared/data/voevents, variants of them, and packet mutations (tests and
benchmarks). The real files are read in place, never copied into the repository."""

from __future__ import annotations

import random
import re
from datetime import datetime
from pathlib import Path

VOEVENT_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "voevents"
SWIFT = "Swift__876016-BAT_GRB_POS.xml"
SWIFT_LOST_LOCK = "Swift__1209406-BAT_GRB_POS-lost_lock.xml"
FERMI_LONG = "Fermi__624500874-GBM_FIN_POS-long_duration.xml"


#: A small Swift-like position notice written here (for tests that must run without the real
#: files): GRB 181213's position, time and trigger.
SYNTHETIC = b"""<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475" role="observation" version="2.0"
    xsi:schemaLocation="http://www.ivoa.net/xml/VOEvent/v2.0  http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd">
    <Who><AuthorIVORN>ivo://nasa.gsfc.tan/gcn</AuthorIVORN><Date>2018-12-13T12:58:42</Date></Who>
    <What>
        <Param name="Packet_Type" value="61"/>
        <Param name="TrigID" value="876016" ucd="meta.id"/>
        <Description>Type=61: The Swift-BAT instrument position notice.</Description>
    </What>
    <WhereWhen><ObsDataLocation><ObservatoryLocation id="GEOLUN"/><ObservationLocation>
        <AstroCoordSystem id="UTC-FK5-GEO"/>
        <AstroCoords coord_system_id="UTC-FK5-GEO">
            <Time unit="s">
                <TimeInstant><ISOTime>2018-12-13T12:57:38.43</ISOTime></TimeInstant>
            </Time>
            <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
                <Value2><C1>248.2071</C1><C2>78.5044</C2></Value2>
                <Error2Radius>0.0500</Error2Radius>
            </Position2D>
        </AstroCoords>
    </ObservationLocation></ObsDataLocation></WhereWhen>
    <Why importance="0.90"><Inference probability="0.90"><Name>GRB 181213</Name>
        <Concept>process.variation.burst;em.gamma</Concept></Inference></Why>
</voe:VOEvent>
"""


def read_voevents() -> dict[str, bytes]:
    """Every real notice by file name (empty when the folder is absent)."""
    if not VOEVENT_DIR.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(VOEVENT_DIR.glob("*.xml"))}


def variant(
    raw: bytes,
    *,
    ivorn: str | None = None,
    params: dict[str, str] | None = None,
    ra: float | None = None,
    dec: float | None = None,
    error: float | None = None,
    date: datetime | None = None,
    event_time: datetime | None = None,
    citations: list[tuple[str, str]] | None = None,
    role: str | None = None,
) -> bytes:
    """A copy of a real notice with some fields changed (parsed and rewritten with lxml)."""
    from lxml import etree

    root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    if ivorn is not None:
        root.set("ivorn", ivorn)
    if role is not None:
        root.set("role", role)
    for name, value in (params or {}).items():
        (param,) = root.xpath(f"//Param[@name='{name}']")
        param.set("value", value)
    for tag, value in (("C1", ra), ("C2", dec), ("Error2Radius", error)):
        if value is not None:
            root.find(f".//{tag}").text = f"{value:.4f}"
    if date is not None:
        root.find("Who/Date").text = date.strftime("%Y-%m-%dT%H:%M:%S")
    if event_time is not None:
        root.find(".//ISOTime").text = event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
    if citations:
        block = root.find("Citations")
        if block is None:
            block = etree.SubElement(root, "Citations")
        for cited, cite in citations:
            etree.SubElement(block, "EventIVORN", cite=cite).text = cited
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


TRIGGER_PARAMS = ("TrigID", "Trigger_Number", "Burst_Id", "GraceID", "AMON_ID")


def fresh_copies(voevents: dict[str, bytes], copies: int) -> list[tuple[bytes, datetime, str]]:
    """``copies`` copies of every real notice, each with its own IVORN and trigger id (so each
    is a new burst), with the instant to judge it at (its Who/Date) and the file it came from."""
    from tasks.alerts.parse import issued_at_hint

    packets = []
    for index, (name, raw) in enumerate(sorted(voevents.items())):
        text = raw.decode()
        ivorn = text.split('ivorn="', 1)[1].split('"', 1)[0]
        for copy in range(copies):
            tag = f"9{index:02d}{copy:05d}"
            params = {
                p: (f"sb{tag}" if p == "Burst_Id" else tag)
                for p in TRIGGER_PARAMS
                if f'name="{p}"' in text
            }
            packet = variant(raw, ivorn=f"{ivorn}-fuzz{copy}", params=params)
            packets.append((packet, issued_at_hint(raw), name))
    return packets


def packet_stream(
    voevents: dict[str, bytes], mutants: int, copies: int, seed: int
) -> list[tuple[bytes, datetime, str | None]]:
    """``mutants`` mutated real notices with :func:`fresh_copies` mixed in at random places;
    each item is (packet, instant, file name of a valid copy or None for a mutant)."""
    from tasks.alerts.parse import issued_at_hint

    rng = random.Random(seed)
    bases = [(raw, issued_at_hint(raw)) for _, raw in sorted(voevents.items())]
    items: list[tuple[bytes, datetime, str | None]] = []
    for _ in range(mutants):
        raw, when = rng.choice(bases)
        items.append((mutate(raw, rng), when, None))
    for packet in fresh_copies(voevents, copies):
        items.insert(rng.randrange(len(items) + 1), packet)
    return items


_NUMBER = re.compile(rb"-?\d+(\.\d+)?")
_ODD_VALUES = [b"NaN", b"inf", b"-1e400", b"1e309", b"999", b"-91", b"", b"0x1F", b"\xff\xfe"]
_ODD_BYTES = [b"\x00", b"<", b">", b"&", b"&amp;", b"]]>", b"<!--", b"\xc3", b"'", b'"', b"<x>"]


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One to three random mutations of a packet (byte flips, cuts, repeats, odd values)."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        kind = rng.randrange(8)
        i = rng.randrange(len(data))
        j = min(len(data), i + rng.randint(1, 200))
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 5)):
                k = rng.randrange(len(data))
                data[k] = rng.randrange(256)
        elif kind == 1:  # truncate
            del data[i:]
        elif kind == 2:  # cut a span
            del data[i:j]
        elif kind == 3:  # repeat a span
            data[i:i] = data[i:j]
        elif kind == 4:  # odd value in place of a number
            numbers = list(_NUMBER.finditer(bytes(data)))
            if numbers:
                m = rng.choice(numbers)
                data[m.start() : m.end()] = rng.choice(_ODD_VALUES)
        elif kind == 5:  # odd bytes inserted
            data[i:i] = rng.choice(_ODD_BYTES)
        elif kind == 6:  # a digit changed (often still valid XML)
            digits = [k for k, b in enumerate(data) if 48 <= b <= 57]
            if digits:
                data[rng.choice(digits)] = rng.randrange(48, 58)
        else:  # swap two spans
            k = rng.randrange(len(data))
            l_ = min(len(data), k + rng.randint(1, 100))
            a, b = bytes(data[i:j]), bytes(data[k:l_])
            if j <= k:
                data[k:l_] = a
                data[i:j] = b
    return bytes(data)
