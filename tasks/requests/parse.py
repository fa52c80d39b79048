"""Safe parsing of request XML into plain specifications (no site knowledge, no database).

Safety first: a size cap, UTF-8 only, no DOCTYPE (so no entity can be declared, let alone expanded
or fetched), a parser that never resolves entities nor touches the network; then the XSD
(``request.xsd``), then conversion. Every problem becomes a :class:`RequestError` naming the source,
the line when known, and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from lxml import etree

XSD_PATH = Path(__file__).with_name("request.xsd")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_Number = TypeVar("_Number", int, float)


class RequestError(ValueError):
    """A request cannot be accepted.

    Attributes
    ----------
    source : str
        File name (or other origin) of the request.
    line : int or None
        Line of the problem in the source, when known.
    field : str
        What is wrong (an XPath-like location such as ``/request/sequence[2]@jd2``).
    problem : str
        Why.
    """

    def __init__(self, source: str, line: int | None, field: str, problem: str) -> None:
        self.source, self.line, self.field, self.problem = source, line, field, problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {problem}")


@dataclass(frozen=True)
class PlanSpec:
    """One plan: ``nb_images`` exposures of ``exposure_s`` through ``filter``."""

    name: str
    filter: str
    exposure_s: float
    nb_images: int
    line: int | None
    path: str


@dataclass(frozen=True)
class AlbumSpec:
    """The plans of one camera."""

    name: str
    instrument: str
    plans: tuple[PlanSpec, ...]
    line: int | None
    path: str


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence as written in the file (times not yet resolved)."""

    name: str
    duration_s: float
    jd1: float
    jd2: float
    target_coords: str
    priority: int | None
    t_prefered: float | None
    min_altitude_deg: float | None
    max_airmass: float | None
    min_moon_distance_deg: float | None
    albums: tuple[AlbumSpec, ...]
    line: int | None
    path: str


@dataclass(frozen=True)
class RequestSpec:
    """A parsed request file."""

    source: str
    name: str
    program: str
    target_type: str
    relative: bool
    priority: int | None
    sequences: tuple[SequenceSpec, ...]


#: Fields that say where a request came from or where in its file something was written, not
#: what it asks for: left out of its content hash.
_NOT_CONTENT = frozenset({"source", "line", "path"})


def _content(value: object) -> object:
    """The JSON-able content of a spec (dataclasses as dicts, tuples as lists), without
    :data:`_NOT_CONTENT`."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _content(getattr(value, f.name))
            for f in fields(value)
            if f.name not in _NOT_CONTENT
        }
    if isinstance(value, tuple | list):
        return [_content(item) for item in value]
    return value


def content_sha256(spec: RequestSpec) -> str:
    """SHA-256 of what a request asks for: its name, program, target type, windows and every
    sequence, album and plan as parsed, but not its file name, layout, comments or line
    numbers. Two submissions with the same hash ask for the same observations."""
    text = json.dumps(_content(spec), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
    )


def read_request_file(path: Path | str, max_bytes: int) -> bytes:
    """Read a request file, refusing what exceeds ``max_bytes`` before reading it whole.

    Raises
    ------
    RequestError
        The file is missing, unreadable, empty or too large.
    """
    file = Path(path)
    source = str(path)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise RequestError(
                source, None, "file", f"too large ({size} bytes; the limit is {max_bytes})"
            )
        with file.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise RequestError(source, None, "file", "no such file") from None
    except IsADirectoryError:
        raise RequestError(source, None, "file", "is a directory, not a request file") from None
    except PermissionError:
        raise RequestError(source, None, "file", "permission denied") from None
    except OSError as exc:
        raise RequestError(source, None, "file", f"cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise RequestError(source, None, "file", f"too large (over {max_bytes} bytes)")
    return data


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _gate(data: bytes, source: str, max_bytes: int) -> None:
    """Refuse what must never reach the XML parser."""
    if len(data) > max_bytes:
        raise RequestError(
            source, None, "file", f"too large ({len(data)} bytes; limit {max_bytes})"
        )
    if not data.strip():
        raise RequestError(source, None, "file", "empty file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            source,
            _line_of_offset(data, exc.start),
            "file",
            f"not UTF-8 text (invalid byte at offset {exc.start})",
        ) from None
    match = _FORBIDDEN.search(data)
    if match:
        raise RequestError(
            source,
            _line_of_offset(data, match.start()),
            "DOCTYPE",
            f"<!{match.group(1).decode().upper()}> is not allowed in a request "
            "(no DTD, no entities)",
        )


def _number(element: etree._Element, attribute: str, source: str, path: str) -> float | None:
    raw = element.get(attribute)
    if raw is None:
        return None
    value = float(raw)  # the XSD already checked the lexical form
    if not math.isfinite(value):
        raise RequestError(
            source,
            element.sourceline,
            f"{path}@{attribute}",
            f"must be a finite number (got {raw!r})",
        )
    return value


def _integer(element: etree._Element, attribute: str) -> int | None:
    raw = element.get(attribute)
    return None if raw is None else int(raw)


def _required(value: _Number | None, element: etree._Element, field: str, source: str) -> _Number:
    """A value the XSD requires (so never None past validation; refused if it ever is)."""
    if value is None:
        raise RequestError(source, element.sourceline, field, "is required")
    return value


def parse_request(data: bytes, source: str, max_bytes: int) -> RequestSpec:
    """Parse request XML safely and check it against the XSD.

    Parameters
    ----------
    data : bytes
        The file content, exactly as received.
    source : str
        Name for error messages (the file path).
    max_bytes : int
        Size cap.

    Returns
    -------
    RequestSpec
        The request as written (times unresolved, site not yet consulted).

    Raises
    ------
    RequestError
        On anything unsafe, malformed or not matching the schema.
    """
    root = _valid_root(data, source, max_bytes)
    return RequestSpec(
        source=source,
        name=root.get("name"),
        program=root.get("scientific_program"),
        target_type=root.get("target_type"),
        relative=root.get("relative", "0") in ("1", "true"),
        priority=_integer(root, "priority"),
        sequences=tuple(
            _sequence(seq, f"/request/sequence[{s_index}]", source)
            for s_index, seq in enumerate(root.findall("sequence"), start=1)
        ),
    )


def _valid_root(data: bytes, source: str, max_bytes: int) -> etree._Element:
    """The ``<request>`` element of safe, well-formed XML that the XSD accepts."""
    _gate(data, source, max_bytes)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        message = exc.msg or str(exc)
        raise RequestError(
            source, exc.lineno or None, "XML", f"not well-formed: {message.split(', line')[0]}"
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise RequestError(source, 1, "DOCTYPE", "a DTD is not allowed in a request")
    if root.tag != "request":
        raise RequestError(
            source, root.sourceline, f"<{root.tag}>", "the root element must be <request>"
        )
    schema = _schema()
    if not schema.validate(root):
        error = schema.error_log.filter_from_errors()[0]
        path = (error.path or "").replace("/request", "/request", 1)
        message = re.sub(r"^Element '[^']*'(, attribute '[^']*')?: ", "", error.message)
        attribute = re.search(r"attribute '([^']*)'", error.message)
        field = f"{path}@{attribute.group(1)}" if attribute else (path or "request")
        raise RequestError(source, error.line or None, field, message)
    return root


def _sequence(seq: etree._Element, s_path: str, source: str) -> SequenceSpec:
    def number(attribute: str) -> float | None:
        return _number(seq, attribute, source, s_path)

    def required(attribute: str) -> float:
        return _required(number(attribute), seq, f"{s_path}@{attribute}", source)

    # Albums first: a problem in a plan is reported before one in the sequence's attributes.
    albums = tuple(
        _album(album, f"{s_path}/album[{a_index}]", source)
        for a_index, album in enumerate(seq.findall("album"), start=1)
    )
    return SequenceSpec(
        name=seq.get("name"),
        duration_s=required("duration"),
        jd1=required("jd1"),
        jd2=required("jd2"),
        target_coords=(seq.get("target_coords") or "").strip(),
        priority=_integer(seq, "priority"),
        t_prefered=number("t_prefered"),
        min_altitude_deg=number("min_altitude"),
        max_airmass=number("max_airmass"),
        min_moon_distance_deg=number("min_moon_distance"),
        albums=albums,
        line=seq.sourceline,
        path=s_path,
    )


def _album(album: etree._Element, a_path: str, source: str) -> AlbumSpec:
    plans = tuple(
        _plan(plan, f"{a_path}/plan[{p_index}]", source)
        for p_index, plan in enumerate(album.findall("plan"), start=1)
    )
    return AlbumSpec(album.get("name"), album.get("detector"), plans, album.sourceline, a_path)


def _plan(plan: etree._Element, p_path: str, source: str) -> PlanSpec:
    exposure_s = _number(plan, "duration", source, p_path)
    nb_images = _integer(plan, "nb_images")
    return PlanSpec(
        name=plan.get("name"),
        filter=plan.get("filter"),
        exposure_s=_required(exposure_s, plan, f"{p_path}@duration", source),
        nb_images=_required(nb_images, plan, f"{p_path}@nb_images", source),
        line=plan.sourceline,
        path=p_path,
    )
