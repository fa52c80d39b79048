"""Which mission sent a notice, what kind of event it announces, and its trigger (burst) id.

Missions are recognised from the IVORN's stream (the part before ``#``), the way GCN and the
SVOM French Science Center name their streams. The trigger id is what every notice about one
burst shares (Swift ``TrigID``, Fermi ``TrigID``, GECAM ``Trigger_Number`` per satellite, SVOM
``Burst_Id``, LVK ``GraceID``, AMON ``AMON_ID``): it is how updates of a burst are recognised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Kinds of events (``alerts.followed_kinds`` chooses which ones PyROS follows).
KIND_GRB = "grb"
KIND_GW = "gw"
KIND_NEUTRINO = "neutrino"
KIND_OTHER = "other"

KIND_LABELS = {
    KIND_GRB: "gamma-ray burst",
    KIND_GW: "gravitational-wave",
    KIND_NEUTRINO: "neutrino",
    KIND_OTHER: "unrecognised",
}


@dataclass(frozen=True)
class Mission:
    """A known alert stream."""

    name: str
    kind: str
    streams: tuple[str, ...]
    trigger_params: tuple[str, ...]


MISSIONS: tuple[Mission, ...] = (
    Mission("Swift", KIND_GRB, ("ivo://nasa.gsfc.gcn/swift",), ("TrigID",)),
    Mission("Fermi", KIND_GRB, ("ivo://nasa.gsfc.gcn/fermi",), ("TrigID",)),
    Mission("GECAM", KIND_GRB, ("ivo://nasa.gsfc.gcn/gecam",), ("Trigger_Number",)),
    Mission("SVOM", KIND_GRB, ("ivo://org.svom/fsc",), ("Burst_Id",)),
    Mission("INTEGRAL", KIND_GRB, ("ivo://nasa.gsfc.gcn/integral",), ("TrigID",)),
    Mission("LVK", KIND_GW, ("ivo://gwnet/lvc", "ivo://nasa.gsfc.gcn/lvc"), ("GraceID",)),
    Mission(
        "IceCube",
        KIND_NEUTRINO,
        ("ivo://nasa.gsfc.gcn/amon", "ivo://nasa.gsfc.gcn/icecube"),
        ("AMON_ID", "event_name"),
    ),
)


@dataclass(frozen=True)
class Identity:
    """Who sent a notice and which burst it is about."""

    mission: str
    kind: str
    trigger_key: str | None


def stream_of(ivorn: str) -> str:
    """The stream of an IVORN (``ivo://authority/path``), lower case."""
    return ivorn.split("#", 1)[0].rstrip("/").lower()


def identify(ivorn: str, params: Mapping[str, str]) -> Identity:
    """Mission, event kind and trigger key of a notice.

    Parameters
    ----------
    ivorn : str
        The notice's IVORN.
    params : mapping
        Its ``What`` parameters, flattened (name -> value).

    Returns
    -------
    Identity
        ``trigger_key`` is ``"<mission>:<id>"`` (GECAM: ``"GECAM-<satellite>:<id>"``), or None
        when the notice carries no trigger id.
    """
    stream = stream_of(ivorn)
    for mission in MISSIONS:
        if any(stream == s or stream.startswith(s + "/") for s in mission.streams):
            return Identity(mission.name, mission.kind, _trigger_key(mission, params))
    name = stream.removeprefix("ivo://").split("/")[-1] or "unknown"
    return Identity(name[:32], KIND_OTHER, None)


def _trigger_key(mission: Mission, params: Mapping[str, str]) -> str | None:
    for param in mission.trigger_params:
        value = (params.get(param) or "").strip()
        if value:
            prefix = mission.name
            if mission.name == "GECAM":
                satellite = (params.get("MISSION") or "").strip().upper()
                prefix = f"GECAM-{satellite}" if satellite else "GECAM"
            return f"{prefix}:{value}"
    return None
