"""The device-fault night of ``make bench B=device_faults`` (#24): random faults, their cost.

:func:`draw_faults` draws the faults (each kind of the issue in turn, random devices, instants and
durations, never two at once on one device); :func:`fault_scenario` writes them into the default
night's scenario; :func:`excused_instants` gives the instants the telescope was free again after a
fault that stopped it (the faults' own durations are not counted as lost);
:func:`integrity_figures` counts what must be zero whatever the faults did.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from simulators.scenario_edit import with_items

#: What can go wrong, as the issue lists it: ``kind -> (devices, simulator fault, seconds range)``.
FAULT_KINDS: dict[str, tuple[tuple[str, ...], str, tuple[float, float]]] = {
    "camera_lost": (("camera_vis", "camera_nir"), "disconnect", (600.0, 2400.0)),
    "camera_silent": (("camera_vis", "camera_nir"), "silent", (600.0, 2400.0)),
    "mount_fault": (("mount",), "fault", (300.0, 1200.0)),
    "mount_lost": (("mount",), "disconnect", (300.0, 1200.0)),
    "dome_stuck": (("dome",), "fault", (300.0, 1200.0)),
    "plc_lost": (("plc",), "silent", (120.0, 600.0)),
    "link_drop": (("mount", "dome", "camera_vis", "camera_nir"), "disconnect", (20.0, 120.0)),
}
#: Devices whose fault stops the whole telescope (a camera's leaves the other one working).
STOPS_TELESCOPE = frozenset({"mount", "dome", "plc"})


@dataclass(frozen=True)
class DrawnFault:
    """One fault: ``device`` misbehaves as ``fault`` from ``start_s`` to ``end_s`` (run time)."""

    kind: str
    device: str
    fault: str
    start_s: float
    end_s: float


def draw_faults(rng: random.Random, count: int, span_s: tuple[float, float]) -> list[DrawnFault]:
    """``count`` faults inside ``span_s`` (run seconds), every kind in turn, in time order.

    Raises
    ------
    ValueError
        When the span cannot hold them (no free instant left on a device after many draws).
    """
    kinds = list(FAULT_KINDS)
    drawn: list[DrawnFault] = []
    for number in range(count):
        kind = kinds[number % len(kinds)]
        devices, fault, (shortest, longest) = FAULT_KINDS[kind]
        for _ in range(1000):
            device = rng.choice(devices)
            duration = rng.uniform(shortest, longest)
            start = rng.uniform(span_s[0], span_s[1] - duration)
            candidate = DrawnFault(kind, device, fault, round(start), round(start + duration))
            if not any(
                other.device == device
                and other.start_s < candidate.end_s
                and candidate.start_s < other.end_s
                for other in drawn
            ):
                drawn.append(candidate)
                break
        else:
            raise ValueError(f"no room for a {kind} fault in {span_s} beside {len(drawn)} others")
    return sorted(drawn, key=lambda f: f.start_s)


def fault_scenario(base: Path, faults: Iterable[DrawnFault], out: Path) -> Path:
    """The scenario ``base`` (its requests, files made absolute) with ``faults`` instead of its
    own faults, written to ``out``."""
    injected = [
        {
            "time": f.start_s,
            "faultSimulator": {"device": f.device, "kind": f.fault, "back": f.end_s},
        }
        for f in faults
    ]
    return with_items(base, injected, out, keep=lambda item: "faultSimulator" not in item)


def excused_instants(faults: Iterable[DrawnFault], run_start: datetime) -> list[datetime]:
    """The instants the telescope was free again after a fault that stopped it (its end)."""
    return sorted(
        run_start + timedelta(seconds=f.end_s) for f in faults if f.device in STOPS_TELESCOPE
    )


def fault_seconds(faults: Iterable[DrawnFault]) -> float:
    """Seconds during which at least one fault that stops the telescope was in force."""
    spans = sorted((f.start_s, f.end_s) for f in faults if f.device in STOPS_TELESCOPE)
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def kinds_count(faults: Iterable[DrawnFault]) -> dict[str, int]:
    """How many faults of each kind."""
    return dict(Counter(f.kind for f in faults))


@dataclass(frozen=True)
class ImageRecord:
    """What the database says of one image, and what its file holds."""

    key: tuple[int | None, int | None, int]
    whole: bool


def integrity_figures(
    images: list[ImageRecord],
    orphan_frames: dict[str, str | None],
    unexplained_lines: int,
) -> dict[str, int]:
    """The figures that must be 0 whatever the faults did.

    Parameters
    ----------
    images :
        Every image row: its (sequence, plan, index) and whether its file is there and whole.
    orphan_frames :
        Frames on disk without a row, with their sequence's state (None: no such sequence).
        Those of a sequence not finished are awaiting adoption (its next execution adopts
        them); any other is lost.
    unexplained_lines :
        Interruptions and report lines that are not ``executed`` and have no reason.
    """
    keys = Counter(image.key for image in images)
    lost = sum(1 for image in images if not image.whole) + sum(
        1 for state in orphan_frames.values() if state in (None, "executed")
    )
    return {
        "images": len(images),
        "images_lost": lost,
        "images_duplicated": sum(n - 1 for n in keys.values()),
        "frames_awaiting_adoption": sum(
            1 for state in orphan_frames.values() if state not in (None, "executed")
        ),
        "interruptions_without_reason": unexplained_lines,
    }
