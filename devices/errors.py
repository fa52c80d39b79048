"""What can go wrong when talking to a device, as exceptions and as protocol error codes.

Every failure a caller of ``devices/`` sees is a :class:`DeviceProblem`. The five the design names:

- :class:`DeviceTimeout` — no reply within the request's timeout;
- :class:`DeviceDisconnected` — no connection (the gateway or the device is down);
- :class:`ProtocolError` — a reply (or a command) that breaks the protocol: not JSON, too long,
  truncated, wrong shape;
- :class:`DeviceError` — the device answered, with an error (busy, bad argument, fault...);
- :class:`Preempted` — the caller's lease is gone (stale epoch, lapsed, taken by a higher claim).

Two more: :class:`LeaseRefused` (a claim was not granted within its wait) and
:class:`CommandRefused` (a controller's safety check refused the command before it was sent).

On the wire an error is a reply item ``{"name": ..., "error": {"code": ..., "message": ...}}``;
:func:`exception_for` turns it back into the matching exception, so an error keeps its class
across a gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Error codes of the protocol (docs/protocol.md, "Errors").
BAD_JSON = "bad_json"
BAD_COMMAND = "bad_command"
UNKNOWN_COMMAND = "unknown_command"
LINE_TOO_LONG = "line_too_long"
BAD_ARGUMENT = "bad_argument"
BUSY = "busy"
LIMIT = "limit"
FAULT = "fault"
INTERNAL = "internal"
LEASE_REQUIRED = "lease_required"
PREEMPTED = "preempted"
LEASE_REFUSED = "lease_refused"
DEVICE_TIMEOUT = "device_timeout"
DEVICE_DISCONNECTED = "device_disconnected"
PROTOCOL_ERROR = "protocol_error"


class DeviceProblem(Exception):
    """Base of every device failure.

    Parameters
    ----------
    message : str
        What happened, naming the device.
    device : str
        Device (or gateway) name, when known.
    code : str
        Protocol error code.
    detail : mapping, optional
        Extra fields of the error reply (e.g. the new lease holder of a preemption).
    """

    default_code = INTERNAL

    def __init__(
        self,
        message: str,
        *,
        device: str = "",
        code: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.device = device
        self.code = code or self.default_code
        self.detail: dict[str, Any] = dict(detail or {})

    def as_error(self) -> dict[str, Any]:
        """The ``error`` member of a reply item carrying this failure."""
        return {**self.detail, "code": self.code, "message": self.message}


class DeviceTimeout(DeviceProblem):
    """No reply within the timeout."""

    default_code = DEVICE_TIMEOUT


class DeviceDisconnected(DeviceProblem):
    """The connection to the gateway or the device is down."""

    default_code = DEVICE_DISCONNECTED


class ProtocolError(DeviceProblem):
    """A line that breaks the protocol (not JSON, too long, truncated, wrong shape)."""

    default_code = PROTOCOL_ERROR


class DeviceError(DeviceProblem):
    """The device (or gateway) answered with an error."""

    default_code = FAULT


class Preempted(DeviceProblem):
    """The caller's lease is gone: stale epoch, lapsed, or taken by a higher-priority claim."""

    default_code = PREEMPTED


class LeaseRefused(DeviceProblem):
    """A claim was not granted: a live lease of equal or higher priority held on."""

    default_code = LEASE_REFUSED


class CommandRefused(DeviceProblem, ValueError):
    """A controller's safety check refused a command before it reached the device."""

    default_code = BAD_ARGUMENT


_BY_CODE: dict[str, type[DeviceProblem]] = {
    PREEMPTED: Preempted,
    LEASE_REFUSED: LeaseRefused,
    DEVICE_TIMEOUT: DeviceTimeout,
    DEVICE_DISCONNECTED: DeviceDisconnected,
    PROTOCOL_ERROR: ProtocolError,
    BAD_JSON: ProtocolError,
    BAD_COMMAND: ProtocolError,
    UNKNOWN_COMMAND: ProtocolError,
    LINE_TOO_LONG: ProtocolError,
}


def exception_for(error: Mapping[str, Any], *, device: str = "") -> DeviceProblem:
    """The exception matching the ``error`` member of a reply item.

    Parameters
    ----------
    error : mapping
        ``{"code": ..., "message": ..., <detail>...}``.
    device : str
        Device name for the exception (the message usually names it already).
    """
    if not isinstance(error, Mapping):
        return ProtocolError(f"{device}: malformed error member {error!r}", device=device)
    code = str(error.get("code") or FAULT)
    message = str(error.get("message") or code)
    detail = {k: v for k, v in error.items() if k not in ("code", "message")}
    kind = _BY_CODE.get(code, DeviceError)
    return kind(message, device=device, code=code, detail=detail)
