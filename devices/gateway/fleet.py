"""Start and stop the gateways of the configured devices (``pyros gateways start``, ``pyros up``).

One :class:`~devices.gateway.gateway.Gateway` per device, each with its own port, device
connection, lease and threads. A process may host all of them (the default of ``pyros gateways
start``: five small gateways cost a few threads each) or one (``--device mount``): a supervisor
that wants a crash of one device's gateway not to touch the others starts one process per device.
:func:`start_gateways` is what a supervisor calls; :func:`run_gateways` runs them in the foreground
until a signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence

from devices.client import ConnectionHooks
from devices.gateway.gateway import DeviceLink, Gateway, GatewayTiming, LinkFactory
from devices.indi.upstream import IndiUpstream
from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config
from infra.db import get_engine
from infra.db.migrate import DatabaseNotReady, ensure_ready
from infra.settings import load_settings
from infra.writebehind import WriteBehindQueue

log = logging.getLogger(__name__)


class GatewayStartError(RuntimeError):
    """A gateway could not start (unknown device, port in use); the message says which."""


def device_names(config: SiteConfig | None = None) -> list[str]:
    """The configured devices, in configuration order (``lamp`` only when configured)."""
    return list((config or get_config()).devices.configured())


def build_gateway(
    name: str,
    config: SiteConfig,
    *,
    queue: WriteBehindQueue | None = None,
    clock: Clock | None = None,
) -> Gateway:
    """The gateway of device ``name`` as configured (not started): it speaks INDI to the device
    when ``[devices.<name>] driver = "indi"``, the PyROS device protocol otherwise."""
    endpoint = config.devices.configured().get(name)
    if endpoint is None:
        raise GatewayStartError(f"device {name} is not configured ([devices.{name}])")
    settings = config.gateways
    link: LinkFactory | None = None
    if endpoint.driver == "indi":

        def link(hooks: ConnectionHooks) -> DeviceLink:
            return IndiUpstream(
                name,
                endpoint,
                config=config,
                clock=clock or get_clock(),
                timeout_s=endpoint.timeout_s,
                hooks=hooks,
                frames_dir=load_settings().frames_dir,
            )

    return Gateway(
        name,
        upstream=(endpoint.host, endpoint.port),
        listen=(settings.host, getattr(settings.ports, name)),
        timing=GatewayTiming(
            device_timeout_s=endpoint.timeout_s,
            lease_ttl_s=settings.lease_ttl_s,
            reconnect_initial_s=settings.reconnect_initial_s,
            reconnect_max_s=settings.reconnect_max_s,
            health_poll_s=settings.health_poll_s,
        ),
        queue=queue,
        clock=clock,
        link=link,
    ).allow_peers(config.security.peer_networks())


class GatewaySet:
    """Several gateways started and stopped together (and the write-behind queue they share)."""

    def __init__(self, gateways: list[Gateway], queue: WriteBehindQueue | None = None) -> None:
        self.gateways = gateways
        self.queue = queue

    def __getitem__(self, name: str) -> Gateway:
        for gateway in self.gateways:
            if gateway.device == name:
                return gateway
        raise KeyError(name)

    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Stop every gateway, then flush the queue (at most ``flush_timeout_s``)."""
        for gateway in self.gateways:
            try:
                gateway.stop()
            except Exception:
                log.exception("gateway %s: stop failed", gateway.device)
        if self.queue is not None:
            left = self.queue.stop(flush_timeout_s)
            if left:
                log.warning("gateways: %d database writes left unapplied at stop", left)

    def __enter__(self) -> GatewaySet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_gateways(
    names: Sequence[str] | None = None,
    *,
    config: SiteConfig | None = None,
    queue: WriteBehindQueue | None = None,
    use_database: bool = True,
    clock: Clock | None = None,
) -> GatewaySet:
    """Start the gateways of ``names`` (default: every configured device); returns at once.

    Parameters
    ----------
    names : sequence of str, optional
        Device names (``mount``, ``camera_vis``, ``camera_nir``, ``plc``, ``dome``).
    config : SiteConfig, optional
        Default: the process configuration.
    queue : WriteBehindQueue, optional
        Shared write-behind queue; by default one on the process database is created (and
        stopped with the set) unless ``use_database`` is False.
    clock : Clock, optional
        Default: the process clock.

    Raises
    ------
    GatewayStartError
        An unknown device name, or a port that cannot be bound (nothing is left running).
    """
    config = config or get_config()
    known = device_names(config)
    chosen = list(dict.fromkeys(names)) if names else known
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise GatewayStartError(
            f"unknown device(s) {', '.join(unknown)}: configured are {', '.join(known)}"
        )
    if queue is None and use_database:
        queue = WriteBehindQueue(get_engine, name="gateways-write-behind").start()
    started: list[Gateway] = []
    try:
        for name in chosen:
            gateway = build_gateway(name, config, queue=queue, clock=clock)
            gateway.start()
            started.append(gateway)
    except OSError as exc:
        GatewaySet(started, queue).stop(flush_timeout_s=1.0)
        raise GatewayStartError(str(exc.strerror or exc)) from None
    return GatewaySet(started, queue)


def database_problem() -> str | None:
    """Why the process database cannot take the gateways' records now (None: it can)."""
    try:
        ensure_ready(get_engine())
    except DatabaseNotReady as exc:
        return str(exc)
    return None


def run_gateways(
    names: Sequence[str] | None = None,
    *,
    config: SiteConfig | None = None,
    stop: threading.Event | None = None,
    announce: Callable[[str], None] = print,
    flush_timeout_s: float = 1.0,
) -> None:
    """Run gateways in the foreground until SIGINT/SIGTERM (or ``stop`` is set), then stop cleanly.

    The gateways never wait for the database: with the database down or not initialised they
    serve all the same, and their records wait in the write-behind queue (up to
    ``flush_timeout_s`` at stop).

    Raises
    ------
    GatewayStartError
        As :func:`start_gateways`.
    """
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        problem = database_problem()
        if problem:
            announce(f"warning: {problem}; device records wait until it is ready")
        gateways = start_gateways(names, config=config)
        try:
            for gateway in gateways.gateways:
                host, port = gateway.address
                device_host, device_port = gateway.upstream_address
                announce(
                    f"gateway {gateway.device}: {host}:{port} -> device {device_host}:{device_port}"
                )
            announce("gateways running (Ctrl-C or SIGTERM to stop)")
            while not stop.wait(0.5):
                pass
        finally:
            gateways.stop(flush_timeout_s)
        announce("gateways stopped")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
