"""What ``pyros up`` runs: the processes of the stack, in start order, with their environment.

Each instance lives in its own ``PYROS_HOME`` with its own Prefect home and ports, so tests and
replays never meet a running stack. A taken port fails loudly before anything starts.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.supervisor.spec import ProcessSpec, Readiness
from infra.config import SiteConfig
from infra.settings import Settings
from infra.version import REPO_ROOT


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


def prefect_env(settings: Settings, config: SiteConfig) -> tuple[dict[str, str], bool]:
    """Prefect settings for every process; True when this stack runs its own server."""
    own_server = settings.prefect_api_url is None
    api_url = settings.prefect_api_url or f"http://127.0.0.1:{config.stack.prefect_port}/api"
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
    }
    return env, own_server


def device_specs(
    python: str, env: dict[str, str], config: SiteConfig, scenario: Path | None = None
) -> tuple[list[ProcessSpec], dict[str, int]]:
    """The simulators (unless ``[simulators] enabled = false``) then the gateways, each ready
    when every one of its ports accepts connections; and the ports they need free."""
    specs: list[ProcessSpec] = []
    ports: dict[str, int] = {}
    timeout = min(120.0, config.stack.startup_timeout_s)
    names = list(type(config.devices).model_fields)
    if config.simulators.enabled:
        device_ports = {n: getattr(config.devices, n).port for n in names}
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
    if os.environ.get("PYROS_DATABASE_URL"):
        env["PYROS_DATABASE_URL"] = os.environ["PYROS_DATABASE_URL"]
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
        server = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
        specs.append(
            ProcessSpec(
                name="prefect-server",
                argv=[python, "-m", "prefect", *server],
                env=env,
                ready=Readiness(
                    http_url=f"http://127.0.0.1:{port}/api/health",
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
    then Prefect (server, bootstrap, worker).
    ``scenario`` (default ``[simulators] scenario``) is played by the simulators.
    """
    python = sys.executable
    env, own_server = stack_env(settings, config)
    if scenario is None and config.simulators.scenario:
        scenario = Path(config.simulators.scenario)
    specs, ports = device_specs(python, env, config, scenario)
    specs.extend(watcher_specs(python, env))
    prefect, prefect_ports = prefect_specs(python, env, config, own_server=own_server)
    specs.extend(prefect)
    ports.update(prefect_ports)
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
        },
    )
