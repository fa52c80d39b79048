"""A minimal fake device speaking the device protocol (docs/protocol.md), for tests.

Not the simulator: a small real NDJSON TCP server (stdlib only, its own framing, so it also checks
that ``devices/`` interoperates with an independent implementation) that keeps just enough state
to answer every command of one device kind, logs every line it receives (with the lease envelope
the gateway forwards), and misbehaves on demand: garbage, truncated lines, oversized lines, slow or
missing replies, dropped connections, replies without ids.

Run alone (for kill/restart tests): ``python -m tests.support.fake_device --kind mount --port N``
prints ``ready <port>`` once listening.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SWITCHES = ("lights", "calibration_lamp", *(f"outlet_{i}" for i in range(1, 9)))
MINIMAL_PLC_STATUS = {
    "name": "STATUS",
    "from": "Beckhoff",
    "version_firmware": "20170809",
    "site": "OSM-Mexico",
    "date": "2017-03-03T13:45:00",
    "device": [
        {
            "name": "DRD11",
            "type": "meteo",
            "serial_number": "RET6789",
            "valid": "yes",
            "values": [{"name": "digital", "value": 1, "unit": "bool", "comment": "1=Dry 0=Rain"}],
        }
    ],
}


@dataclass
class Misbehaviour:
    mode: str
    count: int
    names: set[str] | None
    delay_s: float = 0.0


@dataclass
class Received:
    """One command line as the device received it."""

    at: float  # time.time()
    line: dict[str, Any]
    seq: int = 0
    names: list[str] = field(default_factory=list)

    @property
    def owner(self) -> str | None:
        return self.line.get("owner")

    @property
    def epoch(self) -> int | None:
        return self.line.get("epoch")


class FakeDevice:
    """A fake device of ``kind`` (mount, dome, camera, plc, lamp, weather) on ``host:port`` (0: a
    free port).

    ``move_s`` is how long (wall) slews, shutter moves, filter moves take; exposures last their
    ``exposure_s`` times ``time_scale``.
    """

    def __init__(
        self,
        kind: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        move_s: float = 0.05,
        time_scale: float = 0.01,
        filters: list[str] | None = None,
        plc_status: dict[str, Any] | None = None,
        frames_dir: Path | None = None,
    ) -> None:
        self.kind, self.host, self.port = kind, host, port
        self.move_s, self.time_scale = move_s, time_scale
        self.filters = filters or ["Clear", "g", "r", "i", "z", "First infrared filter"]
        self.plc_status = plc_status or MINIMAL_PLC_STATUS
        self.frames_dir = frames_dir
        self.log: list[Received] = []
        self._lock = threading.RLock()
        self._misbehaviours: list[Misbehaviour] = []
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._seq = 0
        self._op = 0
        self.state: dict[str, Any] = self._initial_state()

    # ------------------------------------------------------------------ lifecycle
    def _initial_state(self) -> dict[str, Any]:
        if self.kind == "mount":
            return {"state": "idle", "ra_deg": None, "dec_deg": None, "tracking": False,
                    "target": None}  # fmt: skip
        if self.kind == "dome":
            return {"state": "closed", "open_percent": 0.0}
        if self.kind == "camera":
            return {"state": "idle", "filter": self.filters[0], "exposure": None,
                    "last_frame": None}  # fmt: skip
        if self.kind == "lamp":
            return {"state": "off", "intensity": 0.0}
        if self.kind == "weather":  # a station in fine weather; tests edit its parameters
            return {"station": "Fake Station", "light": "OK",
                    "parameters": [{"name": "WEATHER_RAIN_HOUR", "value": 0.0,
                                    "light": "OK"}]}  # fmt: skip
        return {"switches": dict.fromkeys(SWITCHES, False)}

    def start(self) -> FakeDevice:
        self._listener = socket.create_server((self.host, self.port))
        self.port = self._listener.getsockname()[1]
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close the listener and every connection (what a crash looks like from outside)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for timer in self._timers:
            timer.cancel()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> FakeDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test controls
    def misbehave(
        self, mode: str, *, count: int = 1, names: list[str] | None = None, delay_s: float = 1.0
    ) -> None:
        """Misbehave on the next ``count`` lines whose first command is in ``names`` (any).

        Modes: ``garbage``, ``truncated`` (half a reply, no newline, connection kept),
        ``truncated_close`` (half a reply, then the connection closes), ``oversized`` (a 2 MiB
        line), ``slow`` (reply after ``delay_s``), ``silent`` (no reply), ``drop`` (close the
        connection), ``no_id`` (reply without the id).
        """
        with self._lock:
            self._misbehaviours.append(
                Misbehaviour(mode, count, set(names) if names else None, delay_s)
            )

    def mark(self) -> int:
        """The sequence number of the last line received (to look at what comes after)."""
        with self._lock:
            return self._seq

    def received(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.log if name is None or name in r.names]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # ------------------------------------------------------------------ serving
    def _accept(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip() and not self._answer(conn, line):
                        return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _take_misbehaviour(self, names: list[str]) -> Misbehaviour | None:
        with self._lock:
            for item in self._misbehaviours:
                if item.names is None or (names and names[0] in item.names):
                    item.count -= 1
                    if item.count <= 0:
                        self._misbehaviours.remove(item)
                    return item
        return None

    def _answer(self, conn: socket.socket, raw: bytes) -> bool:
        """Answer one line; False when the connection must end."""
        try:
            line = json.loads(raw)
            items = line["command"] if isinstance(line["command"], list) else [line["command"]]
            names = [str(i.get("name")) for i in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            conn.sendall(json.dumps([{"name": None, "error": {"code": "bad_command",
                         "message": "fake: unreadable line"}}]).encode() + b"\n")  # fmt: skip
            return True
        with self._lock:
            self._seq += 1
            self.log.append(Received(time.time(), line, self._seq, names))
        request_id = line.get("id")
        bad = self._take_misbehaviour(names)
        reply = []
        for item in items:
            result = self._execute(item)
            result = {"name": item.get("name"), **result}
            if request_id is not None and not (bad and bad.mode == "no_id"):
                result["id"] = request_id
            reply.append(result)
        data = json.dumps(reply).encode() + b"\n"
        mode = bad.mode if bad else None
        if mode == "garbage":
            data = b"\x00\x01 this is not json {{{\n"
        elif mode in ("truncated", "truncated_close"):
            conn.sendall(data[: len(data) // 2])
            return mode == "truncated"
        elif mode == "oversized":
            data = b'[{"name":"STATUS","blob":"' + b"x" * (2 << 20) + b'"}]\n'
        elif mode == "slow":
            time.sleep(bad.delay_s)
        elif mode == "silent":
            return True
        elif mode == "drop":
            return False
        conn.sendall(data)
        return True

    # ------------------------------------------------------------------ device behaviour
    def _later(self, seconds: float, op: int, change: dict[str, Any]) -> None:
        def finish() -> None:
            with self._lock:
                if self._op == op:
                    self.state.update(change() if callable(change) else change)

        timer = threading.Timer(seconds, finish)
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _begin(self) -> int:
        self._op += 1
        return self._op

    def _execute(self, item: dict[str, Any]) -> dict[str, Any]:
        name = item.get("name")
        with self._lock:
            handler = getattr(self, f"_{self.kind}_{str(name).lower()}", None)
            if handler is None:
                return {"error": {"code": "unknown_command", "message": f"fake: {name}?"}}
            return handler(item)

    def _mount_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**self.state, "alt_deg": None, "az_deg": None}

    def _mount_goto(self, item: dict[str, Any]) -> dict[str, Any]:
        target = {"ra_deg": item["ra_deg"], "dec_deg": item["dec_deg"]}
        self.state.update(state="slewing", target=target, tracking=True)
        self._later(self.move_s, self._begin(), {"state": "tracking", **target})
        return self._mount_status(item)

    def _mount_park(self, item: dict[str, Any]) -> dict[str, Any]:
        self.state.update(state="parking", tracking=False, target=None)
        self._later(self.move_s, self._begin(), {"state": "parked"})
        return self._mount_status(item)

    def _mount_abort(self, item: dict[str, Any]) -> dict[str, Any]:
        self._begin()
        self.state.update(state="idle", tracking=False)
        return self._mount_status(item)

    def _mount_tracking(self, item: dict[str, Any]) -> dict[str, Any]:
        on = bool(item.get("on"))
        self.state["tracking"] = on
        if self.state["state"] in ("idle", "tracking"):
            self.state["state"] = "tracking" if on else "idle"
        return self._mount_status(item)

    def _dome_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return dict(self.state)

    def _dome_open(self, item: dict[str, Any]) -> dict[str, Any]:
        self.state.update(state="opening", open_percent=50.0)
        self._later(self.move_s, self._begin(), {"state": "open", "open_percent": 100.0})
        return dict(self.state)

    def _dome_close(self, item: dict[str, Any]) -> dict[str, Any]:
        self.state.update(state="closing", open_percent=50.0)
        self._later(self.move_s, self._begin(), {"state": "closed", "open_percent": 0.0})
        return dict(self.state)

    def _dome_abort(self, item: dict[str, Any]) -> dict[str, Any]:
        self._begin()
        if self.state["state"] in ("opening", "closing"):
            self.state["state"] = "stopped"
        return dict(self.state)

    def _camera_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**self.state, "filters": list(self.filters)}

    def _camera_set_filter(self, item: dict[str, Any]) -> dict[str, Any]:
        wanted = item.get("filter")
        if wanted not in self.filters:
            return {"error": {"code": "bad_argument", "message": f"fake: no filter {wanted!r}"}}
        if self.state["state"] != "idle":
            return {"error": {"code": "busy", "message": f"fake: camera {self.state['state']}"}}
        self.state["state"] = "moving_filter"
        self._later(self.move_s, self._begin(), {"state": "idle", "filter": wanted})
        return self._camera_status(item)

    def _camera_expose(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.state["state"] != "idle":
            return {"error": {"code": "busy", "message": f"fake: camera {self.state['state']}"}}
        frame_id = item.get("frame_id") or f"fake-{self._seq}"
        directory = self.frames_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        path = item.get("path") or str(directory / f"{frame_id}.fake")
        started = datetime.now(UTC).isoformat()
        exposure = {
            "frame_id": frame_id,
            "exposure_s": item["exposure_s"],
            "image_type": item["image_type"],
            "started_at": started,
            "path": path,
        }
        self.state.update(state="exposing", exposure=exposure)

        def done() -> dict[str, Any]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            temporary = Path(path).with_suffix(".part")
            temporary.write_text(f"fake frame {frame_id}\n")
            temporary.replace(path)
            frame = {**exposure, "filter": self.state["filter"],
                     "completed_at": datetime.now(UTC).isoformat()}  # fmt: skip
            return {"state": "idle", "exposure": None, "last_frame": frame}

        self._later(float(item["exposure_s"]) * self.time_scale, self._begin(), done)
        return {**self._camera_status(item), "frame_id": frame_id, "path": path}

    def _camera_abort(self, item: dict[str, Any]) -> dict[str, Any]:
        self._begin()
        self.state.update(state="idle", exposure=None)
        return self._camera_status(item)

    def _plc_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in self.plc_status.items() if k != "name"}

    def _plc_switches(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"switches": dict(self.state["switches"])}

    def _plc_switch(self, item: dict[str, Any]) -> dict[str, Any]:
        self.state["switches"][item["switch"]] = bool(item["on"])
        return self._plc_switches(item)

    def _weather_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**self.state, "date": datetime.now(UTC).isoformat()}

    def _lamp_status(self, item: dict[str, Any]) -> dict[str, Any]:
        return dict(self.state)

    def _lamp_light(self, item: dict[str, Any]) -> dict[str, Any]:
        if "intensity" in item:
            self.state["intensity"] = float(item["intensity"])
        self.state["state"] = "on" if item["on"] else "off"
        return dict(self.state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kind", required=True, choices=["mount", "dome", "camera", "plc", "lamp", "weather"]
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--move-s", type=float, default=0.05)
    args = parser.parse_args(argv)
    device = FakeDevice(args.kind, port=args.port, move_s=args.move_s).start()
    sys.stdout.write(f"ready {device.port}\n")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()
