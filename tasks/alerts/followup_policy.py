"""The ``alert-follow-up`` flow's policy (pure): given the burst's follow-up as it stands, the
weather and the dome, what the flow does next; and what its artifact says.

The flow asks between steps (and a watcher asks during an exposure whether to stop); it never
moves anything itself: :mod:`tasks.alerts.followup_run` carries the steps out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tasks.alerts.followup_rows import FollowUp


class StepKind(StrEnum):
    """What the follow-up does next."""

    EXECUTE = "execute"
    WAIT = "wait"
    END = "end"


@dataclass(frozen=True)
class FollowUpView:
    """Everything :func:`next_step` looks at."""

    follow_up: FollowUp | None
    now: datetime
    weather_safe: bool
    dome_open: bool
    dome_requested_open: bool = False


@dataclass(frozen=True)
class FollowUpStep:
    """The policy's answer."""

    kind: StepKind
    reason: str
    sequence_id: int | None = None
    #: Ask the environment monitor to open the dome (it alone decides).
    request_dome: bool = False


def next_step(view: FollowUpView) -> FollowUpStep:
    """What the follow-up does next.

    The order is the order of precedence, first match wins:

    1. no follow-up stored for the burst: end;
    2. the burst was withdrawn (a retraction, a lost lock, not a GRB): end with that reason
       (the run ends Completed, never Failed);
    3. the follow-up window (the alert's validity) is over: end;
    4. nothing left to execute: end (done);
    5. unsafe weather (the monitor holds the mount): wait, still valid, nothing opens;
    6. the dome is not open: wait, asking the monitor to open it (once);
    7. otherwise execute the first sequence left (a re-point's new request comes first: its
       sequences are the burst's current ones).
    """
    follow_up = view.follow_up
    if follow_up is None:
        return FollowUpStep(StepKind.END, "no follow-up stored for this burst")
    if follow_up.withdrawn is not None:
        return FollowUpStep(StepKind.END, f"withdrawn: {follow_up.withdrawn}")
    if follow_up.window_end is not None and view.now >= follow_up.window_end:
        return FollowUpStep(StepKind.END, "the alert's validity is over")
    if not follow_up.sequences:
        return FollowUpStep(StepKind.END, "follow-up done: no sequence left")
    if not view.weather_safe:
        return FollowUpStep(StepKind.WAIT, "weather unsafe: waiting for the dome, still valid")
    if not view.dome_open:
        return FollowUpStep(
            StepKind.WAIT,
            "the dome is not open yet (the monitor opens it when safe)",
            request_dome=not view.dome_requested_open,
        )
    return FollowUpStep(
        StepKind.EXECUTE,
        f"sequence {follow_up.sequences[0]} of {follow_up.ivorn}",
        sequence_id=follow_up.sequences[0],
    )


def should_stop(current: FollowUp | None, sequence_id: int) -> str | None:
    """Why the sequence being exposed must stop now (None: go on): the burst withdrawn, or
    the sequence no longer the burst's (a re-point cancelled it)."""
    if current is None:
        return "the follow-up is gone"
    if current.withdrawn is not None:
        return f"withdrawn: {current.withdrawn}"
    if sequence_id not in current.sequences:
        return f"re-pointed: {current.ivorn} replaces sequence {sequence_id}"
    return None


@dataclass
class TileProgress:
    """One pointing of a follow-up (a tile of a tiled error box), as the artifact shows it."""

    index: int
    sequence_id: int
    state: str = "waiting"
    images: int = 0
    analysed: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def best(self) -> dict[str, Any] | None:
        """The tile's candidate of highest SNR."""
        return max(self.candidates, key=lambda c: c.get("snr") or 0.0, default=None)


@dataclass
class FollowUpRecord:
    """What the follow-up artifact shows, updated as results come."""

    burst_key: str
    decision: str = ""
    ivorn: str = ""
    circle: tuple[float, float, float] | None = None
    #: How much of the circle the tiles cover, in words ("" for one pointing).
    coverage: str = ""
    steps: list[str] = field(default_factory=list)
    images: int = 0
    analysed: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)
    #: The NRT's light-curve tracks of the follow-up (the latest frame's view).
    light_curve: list[dict[str, Any]] = field(default_factory=list)
    #: The follow-up's pointings by sequence id, in the strategy's order (tiles: by probability).
    tiles: dict[int, TileProgress] = field(default_factory=dict)

    def tile(self, sequence_id: int) -> TileProgress:
        """The pointing of ``sequence_id`` (numbered in the order they are first seen)."""
        if sequence_id not in self.tiles:
            self.tiles[sequence_id] = TileProgress(len(self.tiles) + 1, sequence_id)
        return self.tiles[sequence_id]

    def best_position(self) -> dict[str, Any] | None:
        """The alert-region candidate of highest SNR (the afterglow's position so far)."""
        inside = [c for c in self.candidates if c.get("alert_ivorn")]
        return max(inside, key=lambda c: c.get("snr") or 0.0) if inside else None


def render_markdown(record: FollowUpRecord) -> str:
    """The follow-up artifact: the burst, its decision, the position found, the light curve."""
    lines = [f"# Alert follow-up {record.burst_key}", ""]
    lines.append(f"- notice: `{record.ivorn}`; decision: {record.decision or '?'}")
    if record.circle is not None:
        ra, dec, radius = record.circle
        lines.append(f"- error circle: RA {ra:.5f}°, Dec {dec:+.5f}°, radius {radius * 60:.2f}′")
    if record.coverage:
        lines.append(f"- tiled: {record.coverage}")
    lines.append(f"- images taken: {record.images}; analysed: {record.analysed}")
    best = record.best_position()
    if best is None:
        lines.append("- position found: none yet")
    else:
        lines.append(
            f"- position found: RA {best['ra']:.6f}°, Dec {best['dec']:+.6f}° "
            f"(mag {best.get('mag')}, SNR {best.get('snr')}, "
            f"{best.get('alert_distance_arcsec')}″ from the alert)"
        )
    tracks = [t for t in record.light_curve if t.get("kind") == "alert"] or record.light_curve
    for track in tracks[:3]:
        lines += ["", f"Light curve of track {track.get('track_id')} ({track.get('kind')}, "
                  f"RA {track.get('ra')}, Dec {track.get('dec')}, alpha {track.get('alpha')}):",
                  "", "| time | image | mag | err |", "| --- | --- | --- | --- |"]  # fmt: skip
        for point in track.get("points", [])[-50:]:
            lines.append(
                f"| {point.get('time', '')} | {point.get('image_id', '')} | "
                f"{point.get('mag', '')} | {point.get('mag_err', '')} |"
            )
    if len(record.tiles) > 1:
        lines += ["", *_tile_table(record)]
    lines += ["", "## Steps", *[f"- {step}" for step in record.steps[-30:]]]
    return "\n".join(lines) + "\n"


def _tile_table(record: FollowUpRecord) -> list[str]:
    """The tiles of a tiled error box: which are done, and what each one's search found."""
    tiles = sorted(record.tiles.values(), key=lambda t: t.index)
    done = sum(t.state == "executed" for t in tiles)
    lines = [
        f"## Tiles ({done} of {len(tiles)} observed)",
        "",
        "| tile | sequence | state | images | analysed | candidates | best candidate |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tile in tiles:
        best = tile.best()
        where = (
            f"RA {best['ra']:.5f}°, Dec {best['dec']:+.5f}°, mag {best.get('mag')}, "
            f"SNR {best.get('snr')} ({best.get('kind')}, {best.get('method', 'aperture')})"
            if best is not None
            else ""
        )
        lines.append(
            f"| {tile.index}/{len(tiles)} | {tile.sequence_id} | {tile.state} | {tile.images} | "
            f"{tile.analysed} | {len(tile.candidates)} | {where} |"
        )
    return lines
