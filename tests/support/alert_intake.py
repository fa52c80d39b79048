"""A real alert intake for tests and benchmarks: ``twistd comet``, a Tansu Kafka broker and the
alert listener (``pyros alert listen``) as processes, on free loopback ports, in a temporary
``PYROS_HOME`` with its own SQLite database. Everything it starts it kills (:meth:`close`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from infra.config import load_config
from infra.settings import load_settings
from tests.support.ports import free_port, wait_port
from tests.support.stack_site import with_alert_ports

REPO = Path(__file__).resolve().parents[2]
PYROS = [sys.executable, "-m", "app.cli.main"]
TOPIC = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"


class IntakeRig:
    """The intake of one temporary instance.

    Parameters
    ----------
    home : Path
        A fresh directory (``PYROS_HOME``).
    clock : str, optional
        ``PYROS_CLOCK`` of the listener (default: the system clock).
    """

    def __init__(self, home: Path, clock: str | None = None) -> None:
        from infra.config import DEFAULT_CONFIG_PATH

        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.ports = {n: free_port() for n in ("receive", "broadcast", "kafka")}
        site = with_alert_ports(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"), self.ports)
        site = site.replace("saved_scan_s = 10.0", "saved_scan_s = 1.0")
        site = site.replace("session_timeout_ms = 6000", "session_timeout_ms = 2000")
        site = site.replace("heartbeat_interval_ms = 500", "heartbeat_interval_ms = 300")
        site = site.replace('"gcn.classic.voevent.FERMI_GBM_FIN_POS",\n', "")
        site = site.replace('    "gcn.notices.svom.voevent.eclairs",\n', "")
        (self.home / "site.toml").write_text(site, encoding="utf-8")
        self.env = {
            **os.environ,
            "PYROS_HOME": str(self.home),
            "PYROS_SITE_CONFIG": str(self.home / "site.toml"),
            "PYTHONPATH": str(REPO),
        }
        for name in ("PYROS_DATABASE_URL", "PREFECT_API_URL", "PYROS_ALERT_LISTENER_KILL_AT"):
            self.env.pop(name, None)
        if clock:
            self.env["PYROS_CLOCK"] = clock
        self.config = load_config(self.home / "site.toml")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.listener: subprocess.Popen[bytes] | None = None
        subprocess.run([*PYROS, "db", "init"], env=self.env, cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
        self.engine = create_engine(f"sqlite:///{self.home / 'pyros.db'}")

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()

    def start_brokers(self) -> None:
        """The Comet broker and the Kafka broker, as ``pyros up`` starts them."""
        from app.stack import alert_specs

        settings = load_settings(self.env)
        specs, _ = alert_specs(dict(self.env), self.config, settings)
        for spec in specs:
            if spec.name == "alert-listener":
                continue
            self.processes[spec.name] = self._spawn(spec.name, spec.argv, self.env)
        wait_port(self.ports["receive"], 60, self.processes["comet-broker"], what="comet")
        wait_port(self.ports["broadcast"], 60, self.processes["comet-broker"], what="comet")
        wait_port(self.ports["kafka"], 60, self.processes["kafka-broker"], what="tansu")

    def start_listener(
        self, kill_at: str | None = None, clock: str | None = None, wait: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start ``pyros alert listen``; with ``wait``, until its roads are up and it is warm."""
        env = dict(self.env)
        if kill_at:
            env["PYROS_ALERT_LISTENER_KILL_AT"] = kill_at
        if clock:
            env["PYROS_CLOCK"] = clock
        self.status_path.unlink(missing_ok=True)
        self.listener = self._spawn("listener", [*PYROS, "alert", "listen"], env)
        if wait:
            self.wait_listener_ready()
        return self.listener

    @property
    def status_path(self) -> Path:
        return self.home / "run" / "alert-listener.json"

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def wait_listener_ready(self, within_s: float = 90.0) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.listener is not None and self.listener.poll() is not None:
                raise AssertionError(f"listener exited {self.listener.returncode}: {self.tail()}")
            status = self.status()
            roads = status.get("roads") or {}
            if status.get("ready") and roads.get("comet") and roads.get("kafka"):
                return
            time.sleep(0.1)
        raise AssertionError(f"listener not ready within {within_s} s: {self.tail()}")

    def stop_listener(self, sig: int = signal.SIGTERM) -> None:
        if self.listener is not None and self.listener.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.listener.pid, sig)
            try:
                self.listener.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.listener.pid, signal.SIGKILL)
                self.listener.wait(10)
        self.listener = None

    def close(self) -> None:
        """Kill everything this rig started."""
        self.stop_listener()
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        self.engine.dispose()

    def tail(self, name: str = "listener", lines: int = 20) -> str:
        try:
            text_ = (self.home / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text_.splitlines()[-lines:])

    # -- roads -------------------------------------------------------------------------------
    def send_comet(self, packets: list[bytes]) -> dict[str, Any]:
        """Send packets to the Comet broker with Comet's sender (one connection each)."""
        with tempfile.TemporaryDirectory(dir=self.home) as folder:
            for i, raw in enumerate(packets):
                (Path(folder) / f"{i:06d}.xml").write_bytes(raw)
            done = subprocess.run(
                [sys.executable, "-m", "tests.support.vtp_send", "127.0.0.1",
                 str(self.ports["receive"]), folder],
                env=self.env, cwd=REPO, capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError(f"vtp_send failed: {done.stderr[-2000:]}")
        return dict(json.loads(lines[-1]))

    def sendvo(self, file: Path, *, refused: bool = False) -> str:
        """One packet with Comet's own ``comet-sendvo`` (what ``pyros alert send`` runs); with
        ``refused``, the broker must refuse it (the command then fails naming it). Its stderr."""
        done = subprocess.run(
            [*PYROS, "alert", "send", str(file)], env=self.env, cwd=REPO,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if refused:
            assert done.returncode != 0 and "did not take it" in done.stderr, done.stderr
        else:
            assert done.returncode == 0, done.stderr
        return done.stderr

    def producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer({"bootstrap.servers": f"127.0.0.1:{self.ports['kafka']}", "linger.ms": 0})

    def produce(self, packets: list[bytes], topic: str = TOPIC) -> list[float]:
        """Produce packets to a topic of the local broker; the wall instants they were sent."""
        producer = self.producer()
        times = []
        for raw in packets:
            times.append(time.time())
            producer.produce(topic, raw)
            producer.poll(0)
        assert producer.flush(30) == 0
        return times

    def drop(self, raw: bytes, name: str) -> None:
        """Move a packet into the drop folder atomically."""
        drop = self.home / "alerts" / "drop"
        drop.mkdir(parents=True, exist_ok=True)
        tmp = drop / f".{name}.part"
        tmp.write_bytes(raw)
        os.replace(tmp, drop / name)

    # -- what was decided --------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            result = connection.execute(
                text(
                    "SELECT id, ivorn, decision, action, request_id, road, wall_received_at, "
                    "wall_decided_at, reason FROM alerts ORDER BY id"
                )
            )
            return [dict(row._mapping) for row in result]

    def row(self, ivorn: str) -> dict[str, Any] | None:
        """The Alert row of one IVORN (one indexed query: cheap enough to poll), or None."""
        with self.engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT ivorn, wall_received_at, wall_decided_at FROM alerts WHERE ivorn = :i"
                ),
                {"i": ivorn},
            ).first()
        return None if found is None else dict(found._mapping)

    def requests_for(self, ivorn: str) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT COUNT(*) FROM requests WHERE source = :s"),
                    {"s": f"alert:{ivorn}"},
                ).scalar_one()
            )

    def wait_ivorns(self, ivorns: set[str], within_s: float = 120.0) -> list[dict[str, Any]]:
        """Wait until every IVORN has an Alert row; returns the rows."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            rows = self.rows()
            if ivorns <= {r["ivorn"] for r in rows}:
                return rows
            time.sleep(0.1)
        missing = ivorns - {r["ivorn"] for r in self.rows()}
        raise AssertionError(f"{len(missing)} alerts not decided: {sorted(missing)[:5]}")

    def spool_pending(self) -> int:
        new = self.home / "alerts" / "spool" / "new"
        return len(list(new.iterdir())) if new.is_dir() else 0
