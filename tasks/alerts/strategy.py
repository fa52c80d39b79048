"""Follow-up strategies (StrategyObs): which strategy covers a burst, its tiles, and the request.

A strategy covers a burst of its missions up to ``max_error_radius_deg``. The error circle fits
one pointing when its radius is at most half the field of view (the smallest field among the
strategy's cameras, pixel scale x size, so every band covers it); otherwise, if the strategy
allows tiling, a square grid of pointings (``alerts.tile_overlap`` overlap) keeps every tile
whose cell touches the circle, and at most ``max_tiles`` are allowed. A strategy with a
``min_probability`` covers a larger circle partly: its ``max_tiles`` most probable tiles, when they
hold at least that much of the burst's probability (the circle read as a circular Gaussian's
holding ``error_containment`` within its radius). The tiles are observed by probability (nearest
the position first), those below the altitude limit when the window opens last
(:func:`order_tiles`).

The follow-up is an ordinary request (:class:`~tasks.requests.parse.RequestSpec`) built here and
then validated and stored by the same code as astronomers' requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from infra.config import AlertStrategy, SiteConfig, StrategyPlan
from tasks.durations import CameraTiming, PlanTiming, sequence_duration_s
from tasks.requests.parse import AlbumSpec, PlanSpec, RequestSpec, SequenceSpec

PROGRAM = "GRB"
USER = "pyros"


@dataclass(frozen=True)
class Coverage:
    """How a strategy covers one error circle."""

    strategy: AlertStrategy
    field_deg: float
    #: Tile centres as (east, north) offsets in degrees from the burst position, most probable
    #: first.
    offsets: tuple[tuple[float, float], ...]
    #: The fraction of the burst's probability in the tiles (each tile counted over its own cell
    #: of the grid, so overlaps are not counted twice).
    probability: float
    #: Tiles the whole circle needs: more than :attr:`tiles` when only the most probable are kept.
    tiles_needed: int

    @property
    def tiles(self) -> int:
        """Number of pointings."""
        return len(self.offsets)

    def describe(self) -> str:
        """The coverage in words, for a decision's reason: "" for one pointing of the circle."""
        if self.tiles == 1 and self.tiles_needed == 1:
            return ""
        if self.tiles == self.tiles_needed:
            return f", {self.tiles} tiles"
        return (
            f", the {self.tiles} most probable of {self.tiles_needed} tiles "
            f"({self.probability:.0%} of the probability)"
        )


def field_of_view_deg(strategy: AlertStrategy, config: SiteConfig) -> float:
    """The smallest side of the fields of the strategy's cameras, in degrees."""
    sides: list[float] = []
    for plan in strategy.plans:
        instrument = config.instrument(plan.instrument)
        if instrument is not None:
            sides.extend(instrument.field_of_view_deg)
    return min(sides) if sides else 0.0


def tile_offsets(radius_deg: float, field_deg: float, overlap: float) -> list[tuple[float, float]]:
    """Offsets (east, north, degrees) of the pointings covering a circle of ``radius_deg``."""
    if radius_deg <= field_deg / 2.0:
        return [(0.0, 0.0)]
    step = field_deg * (1.0 - overlap)
    n = math.ceil(2.0 * radius_deg / step)
    centres = [(i - (n - 1) / 2.0) * step for i in range(n)]
    offsets = []
    for y in centres:
        for x in centres:
            # nearest point of the cell [x ± step/2] x [y ± step/2] to the burst position
            dx = max(0.0, abs(x) - step / 2.0)
            dy = max(0.0, abs(y) - step / 2.0)
            if math.hypot(dx, dy) <= radius_deg:
                offsets.append((x, y))
    return offsets  # in grid order: :func:`rank_tiles` orders them


def gaussian_sigma_deg(radius_deg: float, containment: float) -> float:
    """The per-axis sigma of the circular Gaussian holding ``containment`` within ``radius_deg``.

    A circular Gaussian holds ``1 - exp(-r² / 2σ²)`` of its probability within ``r``.
    """
    return radius_deg / math.sqrt(-2.0 * math.log(1.0 - containment))


def cell_probability(east: float, north: float, side: float, sigma: float) -> float:
    """The probability a centred circular Gaussian (``sigma`` per axis) puts in the square of
    ``side`` centred at (``east``, ``north``), all in degrees (the flat-sky approximation: the
    offsets are the tangent plane's, good to a percent for boxes of a few degrees)."""
    if sigma <= 0.0:  # a point: all of it in the cell holding the position
        return 1.0 if max(abs(east), abs(north)) <= side / 2.0 else 0.0
    scale = sigma * math.sqrt(2.0)

    def along(centre: float) -> float:
        low, high = (centre - side / 2.0) / scale, (centre + side / 2.0) / scale
        return 0.5 * (math.erf(high) - math.erf(low))

    return along(east) * along(north)


def rank_tiles(
    offsets: Sequence[tuple[float, float]], side: float, sigma: float
) -> list[tuple[tuple[float, float], float]]:
    """The tiles with their probability, most probable first (then nearest, south, west)."""
    probable = [(o, cell_probability(o[0], o[1], side, sigma)) for o in offsets]
    # Rounded: mirror-image tiles hold the same probability up to the last bits of erf.
    return sorted(probable, key=lambda t: (-round(t[1], 12), math.hypot(*t[0]), t[0][1], t[0][0]))


def _coverage(strategy: AlertStrategy, radius_deg: float, config: SiteConfig) -> Coverage | str:
    field = field_of_view_deg(strategy, config)
    if radius_deg > strategy.max_error_radius_deg:
        return f"{strategy.name} covers up to {strategy.max_error_radius_deg:g} deg"
    if radius_deg > field / 2.0 and not strategy.allow_tiling:
        return (
            f"{strategy.name} needs the circle inside one {field:.3f} deg field and does not tile"
        )
    overlap = config.alerts.tile_overlap
    offsets = tile_offsets(radius_deg, field, overlap)
    if len(offsets) > strategy.max_tiles and strategy.min_probability is None:
        return f"{strategy.name} would need {len(offsets)} tiles (max {strategy.max_tiles})"
    cell = field if len(offsets) == 1 else field * (1.0 - overlap)
    sigma = gaussian_sigma_deg(radius_deg, strategy.error_containment)
    kept = rank_tiles(offsets, cell, sigma)[: strategy.max_tiles]
    probability = sum(p for _, p in kept)
    if strategy.min_probability is not None and probability < strategy.min_probability:
        return (
            f"{strategy.name}'s {len(kept)} most probable of {len(offsets)} tiles would hold "
            f"{probability:.1%} of the burst's probability (at least "
            f"{strategy.min_probability:.0%} wanted)"
        )
    return Coverage(
        strategy, field, tuple(o for o, _ in kept), probability=probability,
        tiles_needed=len(offsets),
    )  # fmt: skip


def choose_strategy(mission: str, radius_deg: float, config: SiteConfig) -> Coverage | str:
    """The strategy for a burst of ``mission`` with this error radius, or why there is none.

    The most specific strategy (smallest ``max_error_radius_deg``) that covers the circle wins.
    """
    candidates = sorted(
        (s for s in config.alerts.strategies if mission.lower() in (m.lower() for m in s.missions)),
        key=lambda s: (s.max_error_radius_deg, s.name),
    )
    if not candidates:
        return f"no follow-up strategy for {mission} bursts (alerts.strategies)"
    problems = []
    for strategy in candidates:
        result = _coverage(strategy, radius_deg, config)
        if isinstance(result, Coverage):
            return result
        problems.append(result)
    return f"error radius {radius_deg:.3g} deg is larger than the strategy can cover: " + "; ".join(
        problems
    )


def tile_centres(ra_deg: float, dec_deg: float, coverage: Coverage) -> list[tuple[float, float]]:
    """Sky positions (RA, Dec in degrees) of the tiles."""
    if coverage.tiles == 1:
        return [(ra_deg, dec_deg)]
    return sky_positions(ra_deg, dec_deg, coverage.offsets)


def sky_positions(
    ra_deg: float, dec_deg: float, offsets: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Sky positions (RA, Dec in degrees) at (east, north) offsets in degrees from (RA, Dec)."""
    # Import time: astropy.coordinates is heavy and only tiled follow-ups need it.
    import numpy as np
    from astropy.coordinates import offset_by

    east = np.array([o[0] for o in offsets])
    north = np.array([o[1] for o in offsets])
    lon, lat = offset_by(
        np.radians(ra_deg),
        np.radians(dec_deg),
        np.arctan2(east, north),
        np.radians(np.hypot(east, north)),
    )
    return [(float(a) % 360.0, float(b)) for a, b in zip(lon.deg, lat.deg, strict=True)]


def order_tiles(
    centres: list[tuple[float, float]], at: datetime, config: SiteConfig
) -> list[tuple[float, float]]:
    """The tiles in the order they are observed: by probability, the visible ones first.

    ``centres`` come by probability (nearest the burst's position first: the error circle is a
    Gaussian's, centred). A tile below the site's ``min_altitude_deg`` at ``at`` (the window's
    start) goes after every visible one, keeping its probability rank among them: in a large
    box near the horizon, the tiles that can be observed now are not kept waiting for those
    that cannot. The follow-up executes its sequences in this order.
    """
    if len(centres) <= 1:
        return centres
    # Import time: tasks.sky loads astropy.coordinates (only tiled follow-ups need it here).
    from tasks.sky import altitudes_deg, as_time

    ra = [c[0] for c in centres]
    dec = [c[1] for c in centres]
    altitude = altitudes_deg(ra, dec, as_time(at), config)[:, 0]
    low = altitude < config.limits.min_altitude_deg
    ranked = sorted(range(len(centres)), key=lambda k: (bool(low[k]), k))
    return [centres[k] for k in ranked]


def _albums(strategy: AlertStrategy, path: str) -> tuple[AlbumSpec, ...]:
    by_instrument: dict[str, list[StrategyPlan]] = {}
    for plan in strategy.plans:
        by_instrument.setdefault(plan.instrument, []).append(plan)
    albums = []
    for a_index, (instrument, plans) in enumerate(by_instrument.items(), start=1):
        a_path = f"{path}/album[{a_index}]"
        albums.append(
            AlbumSpec(
                name=instrument,
                instrument=instrument,
                plans=tuple(
                    PlanSpec(
                        name=f"{p.filter} {p.count}x{p.exposure_s:g}s",
                        filter=p.filter,
                        exposure_s=p.exposure_s,
                        nb_images=p.count,
                        line=None,
                        path=f"{a_path}/plan[{p_index}]",
                    )
                    for p_index, p in enumerate(plans, start=1)
                ),
                line=None,
                path=a_path,
            )
        )
    return tuple(albums)


def _duration_s(albums: tuple[AlbumSpec, ...], config: SiteConfig) -> float:
    cameras = {i.name: CameraTiming(i.readout_s, i.filter_move_s) for i in config.instruments}
    return sequence_duration_s(
        [
            (a.instrument, [PlanTiming(p.filter, p.exposure_s, p.nb_images) for p in a.plans])
            for a in albums
        ],
        cameras,
    )


def followup_spec(
    *,
    label: str,
    source: str,
    ra_deg: float,
    dec_deg: float,
    coverage: Coverage,
    window: tuple[datetime, datetime],
    now: datetime,
    config: SiteConfig,
) -> RequestSpec:
    """The follow-up request: one sequence per tile (:func:`order_tiles`' order), one album per
    camera, at the top priority.

    Windows are relative (seconds after ``now``, the submission instant).
    """
    label = label[:200]
    start = max(0.0, (window[0] - now).total_seconds())
    end = (window[1] - now).total_seconds()
    centres = order_tiles(tile_centres(ra_deg, dec_deg, coverage), max(window[0], now), config)
    sequences = []
    for index, (ra, dec) in enumerate(centres, start=1):
        path = f"/request/sequence[{index}]"
        albums = _albums(coverage.strategy, path)
        name = label if len(centres) == 1 else f"{label} tile {index}/{len(centres)}"
        sequences.append(
            SequenceSpec(
                name=name,
                duration_s=_duration_s(albums, config),
                jd1=round(start, 3),
                jd2=round(end, 3),
                target_coords=f"{ra:.6f} {dec:.6f}",
                priority=None,
                t_prefered=None,
                min_altitude_deg=None,
                max_airmass=None,
                min_moon_distance_deg=None,
                albums=albums,
                line=None,
                path=path,
            )
        )
    return RequestSpec(
        source=source[:1024],
        name=f"follow-up {label}",
        program=PROGRAM,
        target_type="sidereal",
        relative=True,
        priority=config.alerts.priority,
        sequences=tuple(sequences),
    )


def render_request_xml(spec: RequestSpec) -> bytes:
    """The request in the request-file format (request > sequence > album > plan).

    Journaled as the follow-up request's raw input: what was stored, in the format astronomers
    submit, and parsed back by :func:`tasks.requests.parse.parse_request` to the same spec.
    """
    root = etree.Element(
        "request",
        name=spec.name,
        scientific_program=spec.program,
        target_type=spec.target_type,
        relative="1" if spec.relative else "0",
    )
    if spec.priority is not None:
        root.set("priority", str(spec.priority))
    for seq in spec.sequences:
        s = etree.SubElement(
            root,
            "sequence",
            name=seq.name,
            duration=repr(seq.duration_s),
            jd1=repr(seq.jd1),
            jd2=repr(seq.jd2),
            target_coords=seq.target_coords,
        )
        for album in seq.albums:
            a = etree.SubElement(s, "album", name=album.name, detector=album.instrument)
            for plan in album.plans:
                etree.SubElement(
                    a,
                    "plan",
                    name=plan.name,
                    duration=repr(plan.exposure_s),
                    filter=plan.filter,
                    nb_images=str(plan.nb_images),
                )
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml
