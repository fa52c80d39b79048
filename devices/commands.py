"""Every command of the device protocol, per device kind, with its arguments (docs/protocol.md).

A command is ``{"name": "GOTO", "ra_deg": 83.6, "dec_deg": 22.0}``. Each has an *access*:

- ``read`` — reads the device, needs no lease (``STATUS``, ``SWITCHES``);
- ``control`` — acts on the device, needs the lease (``GOTO``, ``EXPOSE``, ``SWITCH``...);
- ``gateway`` — answered by the gateway itself, never sent to the device (``CLAIM``...).

:func:`validate` checks a command against its specification (names, types, ranges, no unknown
argument) so a gateway never forwards a malformed command and a device implementation can reuse
the same check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devices.errors import BAD_ARGUMENT, UNKNOWN_COMMAND, DeviceError, ProtocolError


class DeviceKind(StrEnum):
    """What a device is."""

    MOUNT = "mount"
    DOME = "dome"
    CAMERA = "camera"
    PLC = "plc"
    LAMP = "lamp"
    WEATHER = "weather"


class Access(StrEnum):
    """Who may send a command and who answers it."""

    READ = "read"
    CONTROL = "control"
    GATEWAY = "gateway"


#: Image types a camera accepts.
IMAGE_TYPES = ("light", "bias", "dark", "flat")
#: Switches of the PLC (lights, the calibration lamp, eight power outlets).
SWITCH_NAMES = ("lights", "calibration_lamp", *(f"outlet_{i}" for i in range(1, 9)))
#: Largest intensity a ``LIGHT`` command may ask (a panel's own range may be smaller: INDI's
#: light panel simulator goes to 255).
MAX_LAMP_INTENSITY = 65535.0
#: Lease priorities, lowest first (the lease module gives them their order).
PRIORITY_NAMES = ("routine", "operator", "alert", "safety")


@dataclass(frozen=True)
class Arg:
    """One argument of a command."""

    name: str
    type: str  # "number", "bool", "string"
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    below_maximum: bool = False  # maximum is exclusive
    choices: tuple[str, ...] = ()
    max_length: int = 4096


@dataclass(frozen=True)
class CommandSpec:
    """A command: its name, access and arguments."""

    name: str
    access: Access
    args: tuple[Arg, ...] = ()

    @property
    def needs_lease(self) -> bool:
        return self.access is Access.CONTROL


_READ_STATUS = CommandSpec("STATUS", Access.READ)
_ABORT = CommandSpec("ABORT", Access.CONTROL)

#: Commands the gateway answers itself, on every device.
GATEWAY_COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "CLAIM",
            Access.GATEWAY,
            (
                Arg("owner", "string", max_length=128),
                Arg("priority", "string", choices=PRIORITY_NAMES),
                Arg("wait_s", "number", required=False, minimum=0.0, maximum=3600.0),
                Arg("ttl_s", "number", required=False, minimum=0.05, maximum=3600.0),
            ),
        ),
        CommandSpec("HEARTBEAT", Access.GATEWAY),
        CommandSpec("RELEASE", Access.GATEWAY),
        CommandSpec("LEASE", Access.GATEWAY),
        CommandSpec("HEALTH", Access.GATEWAY),
    )
}

#: Commands each kind of device understands.
DEVICE_COMMANDS: dict[DeviceKind, dict[str, CommandSpec]] = {
    DeviceKind.MOUNT: {
        spec.name: spec
        for spec in (
            _READ_STATUS,
            CommandSpec(
                "GOTO",
                Access.CONTROL,
                (
                    Arg("ra_deg", "number", minimum=0.0, maximum=360.0, below_maximum=True),
                    Arg("dec_deg", "number", minimum=-90.0, maximum=90.0),
                ),
            ),
            CommandSpec("PARK", Access.CONTROL),
            _ABORT,
            CommandSpec("TRACKING", Access.CONTROL, (Arg("on", "bool"),)),
        )
    },
    DeviceKind.DOME: {
        spec.name: spec
        for spec in (
            _READ_STATUS,
            CommandSpec("OPEN", Access.CONTROL),
            CommandSpec("CLOSE", Access.CONTROL),
            _ABORT,
        )
    },
    DeviceKind.CAMERA: {
        spec.name: spec
        for spec in (
            _READ_STATUS,
            CommandSpec("SET_FILTER", Access.CONTROL, (Arg("filter", "string", max_length=128),)),
            CommandSpec(
                "EXPOSE",
                Access.CONTROL,
                (
                    Arg("exposure_s", "number", minimum=0.0, maximum=86400.0),
                    Arg("image_type", "string", choices=IMAGE_TYPES),
                    Arg("frame_id", "string", required=False, max_length=128),
                    Arg("path", "string", required=False),
                ),
            ),
            _ABORT,
        )
    },
    DeviceKind.PLC: {
        spec.name: spec
        for spec in (
            _READ_STATUS,
            CommandSpec("SWITCHES", Access.READ),
            CommandSpec(
                "SWITCH",
                Access.CONTROL,
                (Arg("switch", "string", choices=SWITCH_NAMES), Arg("on", "bool")),
            ),
        )
    },
    DeviceKind.LAMP: {
        spec.name: spec
        for spec in (
            _READ_STATUS,
            CommandSpec(
                "LIGHT",
                Access.CONTROL,
                (
                    Arg("on", "bool"),
                    Arg(
                        "intensity",
                        "number",
                        required=False,
                        minimum=0.0,
                        maximum=MAX_LAMP_INTENSITY,
                    ),
                ),
            ),
        )
    },
    # A weather station is only read (the environment monitor polls it; no lease).
    DeviceKind.WEATHER: {_READ_STATUS.name: _READ_STATUS},
}

#: The command that stops whatever a device is doing (None: nothing to stop).
ABORT_COMMAND: dict[DeviceKind, str | None] = {
    DeviceKind.MOUNT: "ABORT",
    DeviceKind.DOME: "ABORT",
    DeviceKind.CAMERA: "ABORT",
    DeviceKind.PLC: None,
    DeviceKind.LAMP: None,  # a lamp left on by a displaced holder is the new holder's to switch
    DeviceKind.WEATHER: None,
}


def kind_of(device: str) -> DeviceKind:
    """The kind of a configured device name (``mount``, ``dome``, ``plc``, ``lamp``,
    ``weather``, ``camera_*``).

    Raises
    ------
    ValueError
        For a name that is none of those.
    """
    if device.startswith("camera"):
        return DeviceKind.CAMERA
    try:
        return DeviceKind(device)
    except ValueError:
        raise ValueError(
            f"unknown device {device!r}: expected mount, dome, plc, lamp, weather or camera_<name>"
        ) from None


def spec_for(kind: DeviceKind, name: str, *, gateway: bool = True) -> CommandSpec:
    """The specification of command ``name`` on a ``kind`` device.

    Raises
    ------
    ProtocolError
        ``unknown_command``, listing the commands that exist.
    """
    commands = DEVICE_COMMANDS[kind]
    spec = commands.get(name) or (GATEWAY_COMMANDS.get(name) if gateway else None)
    if spec is None:
        known = sorted(commands) + (sorted(GATEWAY_COMMANDS) if gateway else [])
        raise ProtocolError(
            f"unknown command {name!r} for a {kind.value} (known: {', '.join(known)})",
            code=UNKNOWN_COMMAND,
        )
    return spec


def _bad(command: str, message: str) -> DeviceError:
    return DeviceError(f"{command}: {message}", code=BAD_ARGUMENT)


def _check_arg(command: str, arg: Arg, value: Any) -> Any:
    if arg.type == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _bad(command, f"{arg.name} must be a finite number (got {value!r})")
        if arg.minimum is not None and value < arg.minimum:
            raise _bad(command, f"{arg.name} must be >= {arg.minimum:g} (got {value!r})")
        if arg.maximum is not None and (
            value >= arg.maximum if arg.below_maximum else value > arg.maximum
        ):
            relation = "<" if arg.below_maximum else "<="
            raise _bad(command, f"{arg.name} must be {relation} {arg.maximum:g} (got {value!r})")
        return float(value)
    if arg.type == "bool":
        if not isinstance(value, bool):
            raise _bad(command, f"{arg.name} must be true or false (got {value!r})")
        return value
    if not isinstance(value, str) or not value.strip():
        raise _bad(command, f"{arg.name} must be a non-empty string (got {value!r})")
    if len(value) > arg.max_length:
        raise _bad(command, f"{arg.name} is longer than {arg.max_length} characters")
    if arg.choices and value not in arg.choices:
        raise _bad(command, f"{arg.name} {value!r} is not one of {', '.join(arg.choices)}")
    return value


def validate(kind: DeviceKind, item: dict[str, Any], *, gateway: bool = True) -> CommandSpec:
    """Check one command item; returns its specification.

    Parameters
    ----------
    kind : DeviceKind
        The device the command is for.
    item : dict
        ``{"name": ..., <arguments>}``.
    gateway : bool
        Whether gateway commands (``CLAIM``...) are allowed (False on a device).

    Raises
    ------
    ProtocolError
        Unknown command.
    DeviceError
        ``bad_argument``: a missing, unknown, mistyped or out-of-range argument.
    """
    name = item.get("name")
    if not isinstance(name, str):  # parse_command_line refuses such items before they get here
        raise ProtocolError(f"unknown command {name!r} for a {kind.value}", code=UNKNOWN_COMMAND)
    spec = spec_for(kind, name, gateway=gateway)
    allowed = {arg.name for arg in spec.args}
    unknown = sorted(set(item) - allowed - {"name", "id"})
    if unknown:
        raise _bad(name, f"unknown argument(s) {', '.join(unknown)}")
    for arg in spec.args:
        if arg.name not in item:
            if arg.required:
                raise _bad(name, f"missing argument {arg.name}")
            continue
        item[arg.name] = _check_arg(name, arg, item[arg.name])
    return spec
