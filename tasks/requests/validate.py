"""Check a parsed request against the site: cameras, filters, windows, coordinates, priorities.

Pure: the site configuration and the submission instant come in as arguments; nothing here reads
the database (users, programs and quotas are checked by :mod:`tasks.requests.ingest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infra.astro import configure_astropy
from infra.config import InstrumentSection, SiteConfig
from tasks.durations import CameraTiming, PlanTiming, sequence_duration_s
from tasks.requests.parse import AlbumSpec, RequestError, RequestSpec, SequenceSpec

#: Julian date of the Unix epoch; absolute windows are Julian dates in UTC.
JD_UNIX_EPOCH = 2440587.5
#: Accepted range of absolute Julian dates (years ~1859 to ~2132).
JD_MIN, JD_MAX = 2400000.5, 2500000.5


@dataclass(frozen=True)
class ValidSequence:
    """A sequence with its window resolved and its target parsed."""

    spec: SequenceSpec
    window_start: datetime
    window_end: datetime
    t_prefered: datetime | None
    ra_deg: float | None
    dec_deg: float | None
    priority: int
    estimated_s: float


@dataclass(frozen=True)
class ValidRequest:
    """A request ready to be stored."""

    spec: RequestSpec
    submitted_at: datetime
    sequences: tuple[ValidSequence, ...]

    @property
    def estimated_hours(self) -> float:
        """Observing time the request asks for (what the quota is checked against)."""
        return sum(s.estimated_s for s in self.sequences) / 3600.0


def jd_to_datetime(jd: float) -> datetime:
    """A Julian date (UTC) as an aware datetime."""
    return datetime.fromtimestamp((jd - JD_UNIX_EPOCH) * 86400.0, UTC)


def parse_coordinates_many(texts: list[str]) -> list[tuple[float, float] | str]:
    """Parse many "RA DEC" strings at once (one vectorised SkyCoord per notation).

    Two plain numbers are degrees; anything else (``12:30:00 +10:00:00``, ``12h30m +10d``) is
    hours and degrees, as astronomers write them.

    Returns
    -------
    list
        Per input, ``(ra_deg, dec_deg)`` or the reason it is not a sky position.
    """
    # Import time: astropy and numpy load only when a request has sidereal targets to parse.
    configure_astropy()
    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord

    results: list[tuple[float, float] | str] = [""] * len(texts)
    degrees: list[int] = []
    sexagesimal: list[int] = []
    for index, text in enumerate(texts):
        if not text.strip():
            results[index] = 'is empty (sidereal targets need "RA DEC")'
        elif _plain_numbers(text):
            degrees.append(index)
        else:
            sexagesimal.append(index)
    if degrees:
        values = np.array([[float(v) for v in texts[i].replace(",", " ").split()] for i in degrees])
        coords = SkyCoord(ra=values[:, 0] * u.deg, dec=np.clip(values[:, 1], -90, 90) * u.deg)
        for row, index in enumerate(degrees):
            ra, dec = values[row]
            if not 0.0 <= ra <= 360.0:
                results[index] = f"{texts[index]!r}: RA {ra:g} is outside 0..360 degrees"
            elif not -90.0 <= dec <= 90.0:
                results[index] = f"{texts[index]!r}: Dec {dec:g} is outside -90..90 degrees"
            else:
                results[index] = (float(coords.ra.deg[row]), float(coords.dec.deg[row]))
    if sexagesimal:
        parsed: list[tuple[float, float] | str]
        try:
            coords = SkyCoord([texts[i] for i in sexagesimal], unit=(u.hourangle, u.deg))
            parsed = list(zip(coords.ra.deg.tolist(), coords.dec.deg.tolist(), strict=True))
        except Exception:
            parsed = []
            for index in sexagesimal:
                try:
                    one = SkyCoord(texts[index], unit=(u.hourangle, u.deg))
                    parsed.append((float(one.ra.deg), float(one.dec.deg)))
                except Exception as exc:
                    parsed.append(f"{texts[index]!r} is not a sky position: {exc}")
        for index, value in zip(sexagesimal, parsed, strict=True):
            results[index] = value
    return results


def _plain_numbers(text: str) -> bool:
    parts = text.replace(",", " ").split()
    if len(parts) != 2:
        return False
    try:
        [float(part) for part in parts]
    except ValueError:
        return False
    return True


def _resolve_time(value: float, relative: bool, submitted_at: datetime) -> datetime:
    if relative:
        return submitted_at + timedelta(seconds=value)
    return jd_to_datetime(value)


def _fail(spec: RequestSpec, line: int | None, field: str, problem: str) -> RequestError:
    return RequestError(spec.source, line, field, problem)


@dataclass(frozen=True)
class _Rules:
    """What a sequence is checked against: the site and the submitter's priority ceiling."""

    config: SiteConfig
    cameras: dict[str, CameraTiming]
    max_priority: int


def validate_request(
    spec: RequestSpec,
    config: SiteConfig,
    submitted_at: datetime,
    *,
    max_priority: int | None = None,
) -> ValidRequest:
    """Validate a parsed request against the site configuration.

    Parameters
    ----------
    spec : RequestSpec
        The parsed request.
    config : SiteConfig
        The site (cameras, filter wheels, priority range).
    submitted_at : datetime
        Submission instant (from the clock): the origin of relative windows.
    max_priority : int, optional
        Highest priority the submitter may use (default: just below the alerts' priority, which
        is reserved for follow-ups).

    Raises
    ------
    RequestError
        On the first problem found, naming its line and field. One bad sequence refuses the whole
        request: nothing is stored.
    """
    if max_priority is None:
        max_priority = min(config.requests.max_priority, max(0, config.alerts.priority - 1))
    rules = _Rules(
        config,
        {i.name: CameraTiming(i.readout_s, i.filter_move_s) for i in config.instruments},
        max_priority,
    )
    positions: Sequence[tuple[float, float] | str | None] = [None] * len(spec.sequences)
    if spec.target_type == "sidereal":
        positions = parse_coordinates_many([seq.target_coords for seq in spec.sequences])
    sequences = tuple(
        _valid_sequence(spec, seq, position, rules, submitted_at)
        for seq, position in zip(spec.sequences, positions, strict=True)
    )
    return ValidRequest(spec=spec, submitted_at=submitted_at, sequences=sequences)


def _valid_sequence(
    spec: RequestSpec,
    seq: SequenceSpec,
    position: tuple[float, float] | str | None,
    rules: _Rules,
    submitted_at: datetime,
) -> ValidSequence:
    """Check one sequence (in the order of its attributes, then its albums) and resolve it."""
    priority = _priority(spec, seq, rules)
    _check_window(spec, seq)
    _check_constraints(spec, seq)
    if isinstance(position, str):
        raise _fail(spec, seq.line, f"{seq.path}@target_coords", position)
    ra, dec = position if position is not None else (None, None)
    album_timings = _album_timings(spec, seq, rules.config)
    preferred = (
        None
        if seq.t_prefered is None
        else _resolve_time(seq.t_prefered, spec.relative, submitted_at)
    )
    return ValidSequence(
        spec=seq,
        window_start=_resolve_time(seq.jd1, spec.relative, submitted_at),
        window_end=_resolve_time(seq.jd2, spec.relative, submitted_at),
        t_prefered=preferred,
        ra_deg=ra,
        dec_deg=dec,
        priority=priority,
        estimated_s=sequence_duration_s(album_timings, rules.cameras, declared_s=seq.duration_s),
    )


def _priority(spec: RequestSpec, seq: SequenceSpec, rules: _Rules) -> int:
    """The sequence's priority (its own, else the request's, else the site default), checked."""
    priority = seq.priority if seq.priority is not None else spec.priority
    if priority is None:
        priority = rules.config.requests.default_priority
    if priority > rules.max_priority:
        field = f"{seq.path}@priority" if seq.priority is not None else "/request@priority"
        raise _fail(
            spec,
            seq.line,
            field,
            f"{priority} is above the highest allowed priority {rules.max_priority}",
        )
    return priority


def _check_window(spec: RequestSpec, seq: SequenceSpec) -> None:
    """jd1 before jd2, Julian dates in range (absolute windows), t_prefered inside."""
    if seq.jd1 >= seq.jd2:
        raise _fail(
            spec,
            seq.line,
            f"{seq.path}@jd2",
            f"must be greater than jd1 (jd1={seq.jd1:g}, jd2={seq.jd2:g})",
        )
    if not spec.relative:
        for attribute, value in (
            ("jd1", seq.jd1),
            ("jd2", seq.jd2),
            ("t_prefered", seq.t_prefered),
        ):
            if value is not None and not JD_MIN <= value <= JD_MAX:
                raise _fail(
                    spec,
                    seq.line,
                    f"{seq.path}@{attribute}",
                    f"{value:g} is not a Julian date between {JD_MIN} and {JD_MAX} "
                    '(set relative="1" for seconds after submission)',
                )
    if seq.t_prefered is not None and not seq.jd1 <= seq.t_prefered <= seq.jd2:
        raise _fail(spec, seq.line, f"{seq.path}@t_prefered", "must lie between jd1 and jd2")


def _check_constraints(spec: RequestSpec, seq: SequenceSpec) -> None:
    """The observing constraints: minimum altitude, maximum airmass, moon distance."""
    if seq.min_altitude_deg is not None and not 0 <= seq.min_altitude_deg < 90:
        raise _fail(
            spec,
            seq.line,
            f"{seq.path}@min_altitude",
            f"must be between 0 and 90 degrees (got {seq.min_altitude_deg:g})",
        )
    if seq.max_airmass is not None and seq.max_airmass < 1:
        raise _fail(
            spec,
            seq.line,
            f"{seq.path}@max_airmass",
            f"must be at least 1 (got {seq.max_airmass:g})",
        )
    if seq.min_moon_distance_deg is not None and seq.min_moon_distance_deg > 180:
        raise _fail(
            spec,
            seq.line,
            f"{seq.path}@min_moon_distance",
            f"must be at most 180 degrees (got {seq.min_moon_distance_deg:g})",
        )


def _album_timings(
    spec: RequestSpec, seq: SequenceSpec, config: SiteConfig
) -> list[tuple[str, list[PlanTiming]]]:
    """Check every album (a known camera, used once, filters in its wheel); their timings."""
    used: dict[str, str] = {}
    timings = []
    for album in seq.albums:
        instrument = _instrument(spec, album, config)
        if album.instrument in used:
            raise _fail(
                spec,
                album.line,
                f"{album.path}@detector",
                f"{album.instrument!r} is already used by album {used[album.instrument]!r}"
                " of this sequence (albums run in parallel, one per camera)",
            )
        used[album.instrument] = album.name
        for plan in album.plans:
            if plan.filter not in instrument.filters:
                wheel = ", ".join(repr(f) for f in instrument.filters)
                raise _fail(
                    spec,
                    plan.line,
                    f"{plan.path}@filter",
                    f"{plan.filter!r} is not in the wheel of {instrument.name!r} ({wheel})",
                )
        timings.append(
            (
                album.instrument,
                [PlanTiming(p.filter, p.exposure_s, p.nb_images) for p in album.plans],
            )
        )
    return timings


def _instrument(spec: RequestSpec, album: AlbumSpec, config: SiteConfig) -> InstrumentSection:
    """The album's camera, which the site must have."""
    instrument = config.instrument(album.instrument)
    if instrument is None:
        known = ", ".join(repr(i.name) for i in config.instruments)
        raise _fail(
            spec,
            album.line,
            f"{album.path}@detector",
            f"unknown detector {album.instrument!r} (known: {known})",
        )
    return instrument
