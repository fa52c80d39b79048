"""Safe parsing of VOEvent packets into a plain :class:`Notice` (no site, no database, no clock).

Order matters (docs/alerts.md): a size cap; UTF-8 or ASCII only (so the gate below sees every
markup byte as written); no ``<!DOCTYPE``/``<!ENTITY`` anywhere, so nothing can be declared, let
alone expanded or fetched; then voevent-parse; then semantic checks (IVORN and role, RA/Dec in
range, times that parse and are not in the future). Every failure, whatever the exception the
libraries raise on a mangled packet, becomes an :class:`AlertRejected` with a reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import voeventparse as vp
from lxml import etree

from tasks.alerts.missions import identify

ROLES = ("observation", "test", "utility", "prediction")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_WHO_DATE = re.compile(rb"<Who\b.{0,2000}?<Date>\s*([^<\s]{1,40})\s*</Date>", re.DOTALL)
_TOKEN = re.compile(r"^[A-Za-z0-9_.:+-]{1,64}$")
#: Trigger ids GCN sends as integers; a mangled one is a malformed packet.
_INTEGER_IDS = ("TrigID", "Trigger_Number")
#: Accepted years of event and issue times.
_YEARS = (1990, 2100)

#: Flags a notice may raise about itself.
FLAG_RETRACTION = "retraction"
FLAG_NOT_A_GRB = "not-a-grb"
FLAG_LOST_LOCK = "lost-lock"
FLAG_TEST = "test-submission"


class AlertRejected(ValueError):
    """A packet that is malformed or unsafe.

    Attributes
    ----------
    reason : str
        Why it was rejected.
    ivorn : str or None
        The IVORN it claims, when it could be read (never trusted for identity).
    """

    def __init__(self, reason: str, ivorn: str | None = None) -> None:
        self.reason, self.ivorn = reason, ivorn
        super().__init__(reason)


@dataclass(frozen=True)
class Notice:
    """What PyROS needs from one VOEvent."""

    ivorn: str
    role: str
    issued_at: datetime | None
    event_time: datetime | None
    ra_deg: float | None
    dec_deg: float | None
    #: Error radius in degrees; None when there is no position, negative when unknown (-1).
    error_radius_deg: float | None
    packet_type: int | None
    mission: str
    kind: str
    trigger_key: str | None
    name: str | None
    citations: tuple[tuple[str, str], ...] = ()
    flags: frozenset[str] = frozenset()
    params: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_position(self) -> bool:
        """Whether the notice gives a sky position."""
        return self.ra_deg is not None and self.dec_deg is not None

    @property
    def error_known(self) -> bool:
        """Whether the position comes with a usable error radius."""
        return self.error_radius_deg is not None and self.error_radius_deg >= 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able facts (stored in the alert's details)."""
        return {
            "ivorn": self.ivorn,
            "role": self.role,
            "mission": self.mission,
            "kind": self.kind,
            "trigger_key": self.trigger_key,
            "packet_type": self.packet_type,
            "name": self.name,
            "issued_at": self.issued_at,
            "event_time": self.event_time,
            "ra_deg": self.ra_deg,
            "dec_deg": self.dec_deg,
            "error_radius_deg": self.error_radius_deg,
            "citations": [list(c) for c in self.citations],
            "flags": sorted(self.flags),
        }


def gate(raw: bytes, max_bytes: int) -> None:
    """Refuse what must never reach an XML parser.

    Raises
    ------
    AlertRejected
        Too large, empty, not UTF-8/ASCII, or declaring a DTD or an entity.
    """
    if not isinstance(raw, bytes | bytearray):
        raise AlertRejected(f"a packet must be bytes, not {type(raw).__name__}")
    if len(raw) > max_bytes:
        raise AlertRejected(f"too large ({len(raw)} bytes; the limit is {max_bytes})")
    if not raw.strip():
        raise AlertRejected("empty packet")
    if b"\x00" in raw:
        raise AlertRejected("not UTF-8 text (NUL byte): UTF-16/32 packets are refused")
    declared = _DECLARATION.match(raw)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _ENCODINGS:
        raise AlertRejected(
            f"encoding {declared.group(1).decode('ascii', 'replace')!r} is refused (UTF-8 only)"
        )
    match = _FORBIDDEN.search(raw)
    if match:
        raise AlertRejected(
            f"<!{match.group(1).decode().upper()}> is not allowed (no DTD, no entities)"
        )


def issued_at_hint(raw: bytes) -> datetime | None:
    """The packet's ``Who/Date`` found without an XML parser (for the clock of ``pyros alert
    ingest``); None when absent or unreadable. Bounded regular expression, safe on any input."""
    match = _WHO_DATE.search(raw[:65536])
    if not match:
        return None
    try:
        return _instant(match.group(1).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not _YEARS[0] <= value.year <= _YEARS[1]:
        raise ValueError(f"year {value.year} is outside {_YEARS[0]}..{_YEARS[1]}")
    return value


def _flatten_params(voevent: etree._Element) -> dict[str, str]:
    """``What`` parameters as name -> value; top-level ones win over grouped ones.

    The same result as voevent-parse's ``get_toplevel_params``/``get_grouped_params`` merged,
    read in place (those deep-copy the whole ``What`` section: 0.5 ms a packet).
    """
    what = voevent.find("What")
    if what is None:
        return {}
    params: dict[str, str] = {}
    for param in what.iterfind("Group/Param"):
        name = param.get("name")
        if name is not None and name not in params:
            params[name] = (param.get("value") or "").strip()
    for param in what.iterfind("Param"):
        name = param.get("name")
        if name is not None:
            params[name] = (param.get("value") or "").strip()
    return params


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip() or None


def _position(voevent: etree._Element) -> tuple[float | None, float | None, float | None]:
    where = voevent.find("WhereWhen")
    if where is None or not where.findall(".//Position2D"):
        return None, None, None
    position = vp.get_event_position(voevent)
    if position.units != "deg":
        raise AlertRejected(f"position unit {position.units!r} is not supported (deg expected)")
    system = str(position.system or "").upper()
    if "FK5" not in system and "ICRS" not in system:
        raise AlertRejected(f"coordinate system {position.system!r} is not FK5 or ICRS")
    ra, dec, err = float(position.ra), float(position.dec), float(position.err)
    if not all(math.isfinite(v) for v in (ra, dec, err)):
        raise AlertRejected("position or error radius is not a finite number")
    if not 0.0 <= ra < 360.0:
        raise AlertRejected(f"RA {ra:g} is outside 0..360 degrees")
    if not -90.0 <= dec <= 90.0:
        raise AlertRejected(f"Dec {dec:g} is outside -90..90 degrees")
    if err > 180.0:
        raise AlertRejected(f"error radius {err:g} is larger than 180 degrees")
    return ra, dec, (err if err >= 0.0 else -1.0)


def _flags(
    params: Mapping[str, str], citations: tuple[tuple[str, str], ...], role: str
) -> frozenset[str]:
    def true(name: str) -> bool:
        return params.get(name, "").lower() in ("true", "1", "yes")

    flags = set()
    if (
        any(cite == "retraction" for _, cite in citations)
        or params.get("AlertType", "").lower() == "retraction"
        or true("Retraction")
    ):
        flags.add(FLAG_RETRACTION)
    if (
        true("Def_NOT_a_GRB")
        or params.get("GRB_Identified", "").lower() == "false"
        or params.get("SRC_CLASS", "GRB").upper() != "GRB"
    ):
        flags.add(FLAG_NOT_A_GRB)
    if true("StarTrack_Lost_Lock"):
        flags.add(FLAG_LOST_LOCK)
    if true("Test_Submission") or true("Test") or true("HardwareInj") or role == "test":
        flags.add(FLAG_TEST)
    return frozenset(flags)


def parse_notice(raw: bytes, max_bytes: int, received_at: datetime, skew_s: float) -> Notice:
    """Gate, parse and check one packet.

    Parameters
    ----------
    raw : bytes
        The packet exactly as received.
    max_bytes : int
        Size cap (``alerts.max_packet_bytes``).
    received_at : datetime
        When it arrived (clock time): event and issue times may not be later by more than
        ``skew_s``.
    skew_s : float
        Tolerated clock skew in seconds (``alerts.max_clock_skew_s``).

    Raises
    ------
    AlertRejected
        The packet is malformed or unsafe; the reason says why.
    """
    gate(raw, max_bytes)
    ivorn: str | None = None
    try:
        try:
            voevent = vp.loads(bytes(raw))
        except etree.XMLSyntaxError as exc:
            raise AlertRejected(f"not well-formed XML: {_first_line(exc)}") from None
        except (ValueError, KeyError) as exc:  # wrong or missing VOEvent version
            raise AlertRejected(f"not a VOEvent 2.0 packet: {_first_line(exc)}") from None
        tree = voevent.getroottree()
        if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
            raise AlertRejected("a DTD is not allowed")
        if voevent.tag != "VOEvent":
            raise AlertRejected(f"the root element is <{voevent.tag}>, not <VOEvent>")
        ivorn = (voevent.attrib.get("ivorn") or "").strip() or None
        notice = _build(voevent, ivorn)
    except AlertRejected as exc:
        raise AlertRejected(exc.reason, exc.ivorn or ivorn) from None
    except Exception as exc:  # anything a mangled packet makes the libraries raise
        reason = f"malformed VOEvent ({type(exc).__name__}: {_first_line(exc)})"
        raise AlertRejected(reason, ivorn) from None
    limit = received_at + timedelta(seconds=skew_s)
    for label, instant in (("event time", notice.event_time), ("issue date", notice.issued_at)):
        if instant is not None and instant > limit:
            raise AlertRejected(
                f"{label} {instant:%Y-%m-%dT%H:%M:%S}Z is after the reception time "
                f"{received_at:%Y-%m-%dT%H:%M:%S}Z (tolerance {skew_s:g} s)",
                notice.ivorn,
            )
    return notice


def _build(voevent: etree._Element, ivorn: str | None) -> Notice:
    if ivorn is None:
        raise AlertRejected("the packet has no IVORN")
    if len(ivorn) > 512 or not ivorn.startswith("ivo://") or "#" not in ivorn:
        raise AlertRejected("the IVORN must look like ivo://authority/stream#id (<= 512 chars)")
    if not ivorn.isprintable() or " " in ivorn:
        raise AlertRejected("the IVORN contains blanks or control characters")
    role = (voevent.attrib.get("role") or "").strip()
    if role not in ROLES:
        raise AlertRejected(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    date_text = _text(voevent, "Who/Date")
    try:
        issued_at = _instant(date_text) if date_text else None
    except ValueError as exc:
        raise AlertRejected(f"Who/Date {date_text!r} is not a valid time: {exc}") from None
    try:
        event_time = vp.get_event_time_as_utc(voevent)
    except Exception as exc:
        raise AlertRejected(f"event time unreadable: {_first_line(exc)}") from None
    if event_time is not None:
        event_time = event_time.astimezone(UTC)
        if not _YEARS[0] <= event_time.year <= _YEARS[1]:
            raise AlertRejected(f"event time {event_time.isoformat()} is not plausible")
    ra, dec, err = _position(voevent)
    params = _flatten_params(voevent)
    packet_type = None
    if params.get("Packet_Type"):
        try:
            packet_type = int(params["Packet_Type"])
        except ValueError:
            raise AlertRejected(
                f"Packet_Type {params['Packet_Type']!r} is not an integer"
            ) from None
    for name in _INTEGER_IDS:
        if name in params and not params[name].lstrip("-").isdigit():
            raise AlertRejected(f"{name} {params[name]!r} is not an integer")
    identity = identify(ivorn, params)
    if identity.trigger_key is not None and not _TOKEN.match(identity.trigger_key):
        raise AlertRejected(f"trigger id {identity.trigger_key!r} is not a plain identifier")
    citations = tuple(
        (str(e.text).strip(), (e.get("cite") or "").strip())
        for e in voevent.findall("Citations/EventIVORN")
        if e.text and str(e.text).strip()
    )
    return Notice(
        ivorn=ivorn,
        role=role,
        issued_at=issued_at,
        event_time=event_time,
        ra_deg=ra,
        dec_deg=dec,
        error_radius_deg=err,
        packet_type=packet_type,
        mission=identity.mission,
        kind=identity.kind,
        trigger_key=identity.trigger_key,
        name=_text(voevent, "Why/Inference/Name"),
        citations=citations,
        flags=_flags(params, citations, role),
        params=params,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
