"""Newline-delimited JSON framing that survives split and coalesced reads.

TCP delivers a byte stream: one ``recv`` may hold half a line or ten lines. :class:`LineFramer`
turns chunks into complete lines. A line longer than :data:`MAX_LINE_BYTES` is refused at once
(an :class:`OversizedLine` marker as soon as the limit is crossed, not when the line finally ends)
and the rest of it is skipped up to its newline, so one oversized line never costs unbounded
memory and never desynchronises the lines after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devices.errors import LINE_TOO_LONG, ProtocolError

#: Longest accepted line, newline excluded (1 MiB).
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class OversizedLine:
    """Marker yielded in place of a line longer than the limit.

    Attributes
    ----------
    limit : int
        The limit that was crossed (bytes).
    seen : int
        How many bytes of the line had arrived when it was refused.
    """

    limit: int
    seen: int

    def error(self, what: str = "line") -> ProtocolError:
        """A :class:`ProtocolError` describing this line."""
        return ProtocolError(
            f"{what} longer than {self.limit} bytes refused ({self.seen} bytes without a newline)",
            code=LINE_TOO_LONG,
        )


class LineFramer:
    """Split a byte stream into lines.

    Parameters
    ----------
    max_line : int
        Longest accepted line in bytes, newline excluded.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        if max_line < 1:
            raise ValueError("max_line must be >= 1")
        self.max_line = max_line
        self._buffer = bytearray()
        self._skipping = False

    @property
    def pending(self) -> int:
        """Bytes of an unterminated line held (0 while skipping an oversized one)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | OversizedLine]:
        """Add ``data``; return the lines it completed (without newline, ``\\r`` stripped).

        Empty lines are dropped (they may serve as keep-alives).
        """
        out: list[bytes | OversizedLine] = []
        start = 0
        size = len(data)
        while start < size:
            newline = data.find(b"\n", start)
            end = size if newline < 0 else newline
            if self._skipping:
                if newline >= 0:
                    self._skipping = False
                start = end + 1
                continue
            piece_len = end - start
            if len(self._buffer) + piece_len > self.max_line:
                out.append(OversizedLine(self.max_line, len(self._buffer) + piece_len))
                self._buffer.clear()
                self._skipping = newline < 0
                start = end + 1
                continue
            if newline < 0:
                self._buffer += data[start:]
                break
            if self._buffer:
                self._buffer += data[start:end]
                line = bytes(self._buffer)
                self._buffer.clear()
            else:
                line = data[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.strip():
                out.append(line)
            start = newline + 1
        return out


def encode(obj: Any) -> bytes:
    """One JSON line (compact, UTF-8, newline-terminated). NaN and infinities are refused."""
    return (
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        + b"\n"
    )


def snippet(line: bytes, limit: int = 60) -> str:
    """A short printable excerpt of ``line`` for error messages."""
    text = line[:limit].decode("utf-8", errors="replace")
    return repr(text + ("…" if len(line) > limit else ""))


def decode(line: bytes) -> Any:
    """Parse one line of JSON.

    Raises
    ------
    ProtocolError
        With code ``bad_json`` and an excerpt of the line.
    """
    try:
        return json.loads(line)
    except RecursionError:
        raise ProtocolError(f"JSON nested too deeply: {snippet(line)}", code="bad_json") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(
            f"not JSON ({exc.__class__.__name__}: {str(exc).splitlines()[0]}): {snippet(line)}",
            code="bad_json",
        ) from None
