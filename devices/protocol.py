"""The shape of protocol lines: command lines in, reply lines out (docs/protocol.md).

A command line is one JSON object::

    {"id": "c7", "command": [{"name": "GOTO", "ra_deg": 83.6, "dec_deg": 22.0}],
     "owner": "alert-listener", "epoch": 1764000000123}

``command`` is the list of the seed's PLC protocol (``{"command": [{"name": "STATUS"}]}``); ``id``
(optional) is echoed in every reply item so replies can be matched to requests; ``owner`` and
``epoch`` are the lease the command is issued under (gateways check them, devices may log them).

A reply line is one JSON array with one item per command, in order: ``{"name": "GOTO", "id":
"c7", ...}`` or ``{"name": "GOTO", "id": "c7", "error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices.errors import BAD_COMMAND, DeviceProblem, ProtocolError
from devices.framing import encode

#: Most commands accepted on one line.
MAX_COMMANDS_PER_LINE = 16
#: Envelope members a command line may carry besides ``command``.
ENVELOPE_KEYS = ("id", "owner", "epoch")


@dataclass
class CommandLine:
    """A parsed command line.

    Attributes
    ----------
    items : list of dict
        The commands, each with its ``name``.
    id : str, int or None
        Request id, echoed in every reply item.
    owner : str or None
        Lease owner the commands are issued by.
    epoch : int or None
        Lease epoch the commands are issued under (the fencing token).
    extra : dict
        Other envelope members (informational, ignored).
    """

    items: list[dict[str, Any]]
    id: str | int | None = None
    owner: str | None = None
    epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _bad(message: str) -> ProtocolError:
    return ProtocolError(message, code=BAD_COMMAND)


def peek_id(data: Any) -> str | int | None:
    """The request id of a decoded line, if it has a usable one (for error replies)."""
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def parse_command_line(data: Any) -> CommandLine:
    """Check the envelope of a decoded command line.

    ``command`` may also be a single object (taken as a list of one), which is friendlier to
    someone typing commands by hand.

    Raises
    ------
    ProtocolError
        ``bad_command``, naming what is wrong.
    """
    if not isinstance(data, dict):
        raise _bad(f"a command line must be a JSON object, not {type(data).__name__}")
    if "command" not in data:
        raise _bad('a command line needs "command": [{"name": ...}]')
    commands = data["command"]
    if isinstance(commands, dict):
        commands = [commands]
    if not isinstance(commands, list) or not commands:
        raise _bad('"command" must be a non-empty list of command objects')
    if len(commands) > MAX_COMMANDS_PER_LINE:
        raise _bad(f'"command" holds {len(commands)} commands (at most {MAX_COMMANDS_PER_LINE})')
    items: list[dict[str, Any]] = []
    for index, item in enumerate(commands):
        if not isinstance(item, dict):
            raise _bad(f"command[{index}] must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f'command[{index}] needs a "name" string')
        items.append(dict(item))
    request_id = data.get("id")
    if request_id is not None and (
        isinstance(request_id, bool)
        or not isinstance(request_id, str | int)
        or len(str(request_id)) > 128
    ):
        raise _bad('"id" must be a string or an integer (at most 128 characters)')
    owner = data.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner or len(owner) > 128):
        raise _bad('"owner" must be a non-empty string of at most 128 characters')
    epoch = data.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise _bad('"epoch" must be a non-negative integer')
    extra = {k: v for k, v in data.items() if k not in ("command", *ENVELOPE_KEYS)}
    return CommandLine(items=items, id=request_id, owner=owner, epoch=epoch, extra=extra)


def command_line(
    items: list[dict[str, Any]],
    *,
    request_id: str | int | None = None,
    owner: str | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """Build a command line object (what :func:`devices.framing.encode` sends)."""
    line: dict[str, Any] = {}
    if request_id is not None:
        line["id"] = request_id
    line["command"] = items
    if owner is not None:
        line["owner"] = owner
    if epoch is not None:
        line["epoch"] = epoch
    return line


def result_item(name: str | None, request_id: str | int | None, **fields: Any) -> dict[str, Any]:
    """A successful reply item (``id`` only when the command line had one)."""
    item: dict[str, Any] = {"name": name}
    if request_id is not None:
        item["id"] = request_id
    item.update(fields)
    return item


def error_item(
    name: str | None, request_id: str | int | None, problem: DeviceProblem, **fields: Any
) -> dict[str, Any]:
    """A reply item carrying ``problem`` as its ``error`` member."""
    return result_item(name, request_id, error=problem.as_error(), **fields)


def reply_line(items: list[dict[str, Any]]) -> bytes:
    """Encode a reply line."""
    return encode(items)


def parse_reply(data: Any) -> list[dict[str, Any]]:
    """Check a decoded reply line: a non-empty array of objects (a lone object is accepted).

    Raises
    ------
    ProtocolError
        When the reply is neither.
    """
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list) or not data or not all(isinstance(i, dict) for i in data):
        raise ProtocolError(
            f"a reply must be a non-empty JSON array of objects, not {type(data).__name__}"
        )
    return data


def reply_id(items: list[dict[str, Any]]) -> str | int | None:
    """The request id a reply answers (from its first item), if any."""
    value = items[0].get("id")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    return None
