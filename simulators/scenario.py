"""Scenario files: the seed's format (``scenario_plc.json``, ``conf.json``), parsed and checked.

A scenario is a JSON list: its first item is the length of the run in simulated seconds, then
items ``{"time": t, "<simulator>": action}``, ``t`` in simulated seconds from the clock's start
instant. Keys (docs/simulators.md):

- ``plcSimulator`` (seed): ``{"device_name", "value_name", "value"}`` sets a PLC value;
  ``{"device_name", "valid": "no"}`` flags a device's readings (in)valid;
- ``userSimulator`` (seed): a request file, or ``{"file", "user"}``: submitted as a user would,
  with ``pyros request submit FILE --json``;
- ``faultSimulator``: ``{"device", "kind", "duration"}`` (``delay_s`` for ``slow``): misbehaviour
  for ``duration`` simulated seconds (:mod:`simulators.faults`); or ``{"device", "kind", "back"}``:
  the device misbehaves from the item's time until the run's time ``back`` (#24);
- ``alertSimulator``: a VOEvent file, or ``{"file", "host", "port"}``: sent to the broker with
  ``comet-sendvo``;
- ``afterglowSimulator``: ``{"ra_deg", "dec_deg", "magnitude", "decay_index"}`` (optional
  ``t0_s`` = 60, ``spectral_index`` = 0.8, ``trigger_offset_s`` = 0, ``name``): a fading source,
  ``magnitude`` in the reference filter at ``t0_s`` after the trigger (the item's time plus the
  offset), rendered by the cameras.

Relative file names are looked up next to the scenario file, then among the bundled request files
(``simulators/data/requests``), so the seed's ``conf.json`` runs unchanged. Every problem is a
:class:`ScenarioError` naming the file, the item and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from simulators import DATA_DIR
from simulators.faults import FaultError, fault_kind

PLC = "plcSimulator"
USER = "userSimulator"
FAULT = "faultSimulator"
ALERT = "alertSimulator"
AFTERGLOW = "afterglowSimulator"
#: Every simulator key, in the order of the documentation.
KEYS = (PLC, USER, FAULT, ALERT, AFTERGLOW)
#: Where relative request files are looked for after the scenario's own folder.
BUNDLED_REQUESTS = DATA_DIR / "requests"


class ScenarioError(ValueError):
    """A scenario that cannot be played; the message names the file, item and problem."""


@dataclass(frozen=True)
class PlcAction:
    """Set a PLC value, or a PLC device's ``valid`` flag."""

    device_name: str
    value_name: str | None = None
    value: Any = None
    valid: bool | None = None


@dataclass(frozen=True)
class SubmitAction:
    """Submit a request file as a user would."""

    file: Path
    user: str | None = None


@dataclass(frozen=True)
class FaultAction:
    """Make a device misbehave for a while."""

    device: str
    kind: str
    duration_s: float | None
    delay_s: float | None = None


@dataclass(frozen=True)
class AlertAction:
    """Send a VOEvent to the broker."""

    file: Path
    host: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class AfterglowAction:
    """A fading source for the cameras (``mag = magnitude + 2.5 decay_index log10(t / t0_s)``)."""

    ra_deg: float
    dec_deg: float
    magnitude: float
    decay_index: float = 1.0
    t0_s: float = 60.0
    spectral_index: float = 0.8
    trigger_offset_s: float = 0.0
    name: str = "afterglow"


ScenarioAction = PlcAction | SubmitAction | FaultAction | AlertAction | AfterglowAction


class ItemStatus(StrEnum):
    """Where a scenario item is: applied (done), refused or broken (failed), not replayed
    (skipped), or submitted and not answered yet (running)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ScenarioItem:
    """One timed action."""

    number: int  # 1-based position among the items (after the length)
    time_s: float
    key: str
    action: ScenarioAction
    raw: Any

    def describe(self) -> dict[str, Any]:
        return {"item": self.number, "time_s": self.time_s, "key": self.key, "action": self.raw}


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: its length and its items in time order (file order for equal times)."""

    length_s: float
    items: tuple[ScenarioItem, ...]
    source: str = "<scenario>"

    def of(self, key: str) -> list[ScenarioItem]:
        """The items of one simulator key."""
        return [item for item in self.items if item.key == key]


def _number(value: Any, where: str, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: must be a finite number (got {value!r})")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ScenarioError(f"{where}: must be {relation} {minimum:g} (got {value!r})")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: must be a non-empty string (got {value!r})")
    return value.strip()


def _fields(action: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(action, dict):
        raise ScenarioError(f"{where}: must be an object with {', '.join(sorted(required))}")
    missing = sorted(required - set(action))
    if missing:
        raise ScenarioError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(action) - required - optional)
    if unknown:
        known = ", ".join(sorted(required | optional))
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {known})")
    return action


def resolve_file(name: Any, where: str, base_dir: Path | None, *, bundled: Path | None) -> Path:
    """The file a scenario names: absolute, next to the scenario, or bundled.

    Raises
    ------
    ScenarioError
        When it is found nowhere (the message lists where it looked).
    """
    text = _text(name, where)
    path = Path(text).expanduser()
    candidates = [path] if path.is_absolute() else []
    if not path.is_absolute():
        candidates += [d / path for d in (base_dir, bundled) if d is not None]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(c.parent) for c in candidates) or "nowhere"
    raise ScenarioError(f"{where}: file {text!r} not found (looked in {looked})")


def _plc(action: Any, where: str) -> PlcAction:
    if isinstance(action, dict) and "valid" in action and "value_name" not in action:
        _fields(action, where, {"device_name", "valid"}, set())
        valid = action["valid"]
        if isinstance(valid, str) and valid.strip().lower() in ("yes", "no"):
            valid = valid.strip().lower() == "yes"
        if not isinstance(valid, bool):
            raise ScenarioError(f'{where}.valid: must be "yes", "no", true or false')
        return PlcAction(_text(action["device_name"], f"{where}.device_name"), valid=valid)
    fields = _fields(action, where, {"device_name", "value_name", "value"}, set())
    value = fields["value"]
    if not isinstance(value, str | int | float | bool) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ScenarioError(f"{where}.value: must be a finite number, a string or a boolean")
    return PlcAction(
        _text(fields["device_name"], f"{where}.device_name"),
        _text(fields["value_name"], f"{where}.value_name"),
        value,
    )


def _submit(action: Any, where: str, base_dir: Path | None) -> SubmitAction:
    if isinstance(action, str):
        return SubmitAction(resolve_file(action, where, base_dir, bundled=BUNDLED_REQUESTS))
    fields = _fields(action, where, {"file"}, {"user"})
    user = _text(fields["user"], f"{where}.user") if "user" in fields else None
    file = resolve_file(fields["file"], f"{where}.file", base_dir, bundled=BUNDLED_REQUESTS)
    return SubmitAction(file, user)


def _fault(action: Any, where: str, time_s: float) -> FaultAction:
    optional = {"duration", "duration_s", "back", "delay_s"}
    fields = _fields(action, where, {"device", "kind"}, optional)
    given = [name for name in ("duration", "duration_s", "back") if name in fields]
    if len(given) > 1:
        raise ScenarioError(f"{where}: give one of duration, duration_s or back (got {given})")
    if "back" in fields:
        # The device stops at the item's time and is back at ``back`` (#24).
        back = _number(fields["back"], f"{where}.back", minimum=0.0)
        if back <= time_s:
            raise ScenarioError(
                f"{where}.back: {back:g} must be after the item's time ({time_s:g})"
            )
        duration: Any = back - time_s
    else:
        duration = fields.get("duration", fields.get("duration_s"))
    if duration is None:
        raise ScenarioError(f"{where}: missing duration (simulated seconds) or back (a time)")
    try:
        kind = fault_kind(fields["kind"])
    except FaultError as exc:
        raise ScenarioError(f"{where}.kind: {exc}") from None
    delay = fields.get("delay_s")
    return FaultAction(
        _text(fields["device"], f"{where}.device"),
        kind,
        _number(duration, f"{where}.duration", minimum=0.0, strict=True),
        None if delay is None else _number(delay, f"{where}.delay_s", minimum=0.0),
    )


def _alert(action: Any, where: str, base_dir: Path | None) -> AlertAction:
    if isinstance(action, str):
        return AlertAction(resolve_file(action, where, base_dir, bundled=None))
    fields = _fields(action, where, {"file"}, {"host", "port"})
    port = fields.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        raise ScenarioError(f"{where}.port: must be a TCP port 1..65535 (got {port!r})")
    host = _text(fields["host"], f"{where}.host") if "host" in fields else None
    return AlertAction(
        resolve_file(fields["file"], f"{where}.file", base_dir, bundled=None), host, port
    )


def _afterglow(action: Any, where: str) -> AfterglowAction:
    optional = {"decay_index", "t0_s", "spectral_index", "trigger_offset_s", "name"}
    fields = _fields(action, where, {"ra_deg", "dec_deg", "magnitude"}, optional)
    dec = _number(fields["dec_deg"], f"{where}.dec_deg")
    if not -90.0 <= dec <= 90.0:
        raise ScenarioError(f"{where}.dec_deg: must be within ±90 (got {dec:g})")
    return AfterglowAction(
        ra_deg=_number(fields["ra_deg"], f"{where}.ra_deg") % 360.0,
        dec_deg=dec,
        magnitude=_number(fields["magnitude"], f"{where}.magnitude"),
        decay_index=_number(fields.get("decay_index", 1.0), f"{where}.decay_index"),
        t0_s=_number(fields.get("t0_s", 60.0), f"{where}.t0_s", minimum=0.0, strict=True),
        spectral_index=_number(fields.get("spectral_index", 0.8), f"{where}.spectral_index"),
        trigger_offset_s=_number(fields.get("trigger_offset_s", 0.0), f"{where}.trigger_offset_s"),
        name=_text(fields.get("name", "afterglow"), f"{where}.name"),
    )


def parse_scenario(data: Any, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Check a decoded scenario.

    Parameters
    ----------
    data : list
        ``[length, {"time": t, "<simulator>": action}, ...]``.
    source : str
        Name for messages (the file).
    base_dir : Path, optional
        Where relative file names are looked up first (the scenario's folder).

    Raises
    ------
    ScenarioError
        Naming the item and the problem.
    """
    if not isinstance(data, list) or not data:
        raise ScenarioError(f"{source}: a scenario is a JSON list: [length, items...]")
    length = _number(data[0], f"{source}: the first item (the run length, seconds)", minimum=0.0)
    items: list[ScenarioItem] = []
    for number, raw in enumerate(data[1:], start=1):
        where = f"{source}: item {number}"
        if not isinstance(raw, dict):
            raise ScenarioError(f'{where}: must be an object {{"time": t, "<simulator>": ...}}')
        if "time" not in raw:
            raise ScenarioError(f"{where}: missing time")
        time_s = _number(raw["time"], f"{where}.time", minimum=0.0)
        if time_s > length:
            raise ScenarioError(
                f"{where}: time {time_s:g} is after the end of the run ({length:g})"
            )
        keys = [k for k in raw if k != "time"]
        if len(keys) != 1 or keys[0] not in KEYS:
            raise ScenarioError(
                f"{where} (time {time_s:g}): needs exactly one simulator key of "
                f"{', '.join(KEYS)} (got {', '.join(keys) or 'none'})"
            )
        key = keys[0]
        where = f"{where} (time {time_s:g}) {key}"
        action = raw[key]
        if key == PLC:
            parsed: ScenarioAction = _plc(action, where)
        elif key == USER:
            parsed = _submit(action, where, base_dir)
        elif key == FAULT:
            parsed = _fault(action, where, time_s)
        elif key == ALERT:
            parsed = _alert(action, where, base_dir)
        else:
            parsed = _afterglow(action, where)
        items.append(ScenarioItem(number, time_s, key, parsed, action))
    items.sort(key=lambda item: (item.time_s, item.number))
    return Scenario(length, tuple(items), source)


def load_scenario(path: Path | str) -> Scenario:
    """Read and check a scenario file (relative names resolve next to it).

    Raises
    ------
    ScenarioError
        Unreadable, not JSON, or not a valid scenario.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read the scenario: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{file}: the scenario is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{file}: not JSON: {exc}") from None
    return parse_scenario(data, str(file), file.resolve().parent)
