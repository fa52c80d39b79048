"""The controllers flows, watchers and operators use (one per capability), and how to get one.

Each ``connect_*`` function returns a controller on its own connection to the device's gateway
(addresses from ``[gateways]``); give each lease owner its own controller. Gateways may start
before or after: the connection is made on demand and re-made after a loss.
"""

from __future__ import annotations

from devices.controllers.base import HealthReport, LeaseInfo
from devices.controllers.camera import (
    CameraActivity,
    CameraState,
    Frame,
    GatewayCamera,
    GatewayFilterWheel,
    ImageType,
)
from devices.controllers.dome import DomeState, GatewayDome, ShutterState
from devices.controllers.lamp import FlatLamp, GatewayLamp, LampLight, LampState
from devices.controllers.link import GatewayLink, LeaseHandle, LinkSettings
from devices.controllers.mount import GatewayMount, MountMotion, MountState
from devices.controllers.plc import GatewayPlc, PlcStatus, Reading
from devices.controllers.weather import (
    GatewayWeatherStation,
    WeatherLight,
    WeatherParameter,
    WeatherState,
)
from devices.lease import Priority
from infra.clock import Clock, get_clock
from infra.config import SiteConfig, get_config

__all__ = [
    "CameraActivity",
    "CameraState",
    "DomeState",
    "FlatLamp",
    "Frame",
    "GatewayCamera",
    "GatewayDome",
    "GatewayFilterWheel",
    "GatewayLamp",
    "GatewayMount",
    "GatewayPlc",
    "GatewayWeatherStation",
    "HealthReport",
    "ImageType",
    "LampLight",
    "LampState",
    "LeaseHandle",
    "LeaseInfo",
    "MountMotion",
    "MountState",
    "PlcStatus",
    "Priority",
    "Reading",
    "ShutterState",
    "WeatherLight",
    "WeatherParameter",
    "WeatherState",
    "connect_camera",
    "connect_dome",
    "connect_flat_lamp",
    "connect_lamp",
    "connect_mount",
    "connect_plc",
    "connect_weather_station",
    "link_to",
]


def link_to(
    device: str,
    config: SiteConfig | None = None,
    *,
    address: tuple[str, int] | None = None,
) -> GatewayLink:
    """A new connection to ``device``'s gateway.

    Parameters
    ----------
    device : str
        ``mount``, ``dome``, ``plc``, ``camera_vis``, ``camera_nir``, ``lamp``,
        ``weather``.
    config : SiteConfig, optional
        Default: the process configuration.
    address : tuple, optional
        ``(host, port)`` of the gateway instead of ``[gateways]`` (tests, tools).

    Raises
    ------
    ValueError
        When the device is not configured (an optional one: ``lamp``, ``weather``).
    """
    config = config or get_config()
    settings = config.gateways
    endpoint = config.devices.configured().get(device)
    if endpoint is None:
        raise ValueError(f"no device {device!r} is configured ([devices.{device}])")
    host, port = address or (settings.host, getattr(settings.ports, device))
    return GatewayLink(
        device,
        host,
        port,
        LinkSettings(
            timeout_s=endpoint.timeout_s + settings.request_margin_s,
            claim_wait_s=settings.claim_wait_s,
            heartbeat_s=settings.heartbeat_s,
            poll_interval_s=settings.poll_interval_s,
            min_wait_s=settings.min_wait_s,
            reconnect_initial_s=settings.reconnect_initial_s,
            reconnect_max_s=settings.reconnect_max_s,
        ),
    )


def _resolve(config: SiteConfig | None, clock: Clock | None) -> tuple[SiteConfig, Clock]:
    return config or get_config(), clock or get_clock()


def connect_mount(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayMount:
    """The mount, through its gateway."""
    config, clock = _resolve(config, clock)
    return GatewayMount(link_to("mount", config, address=address), config=config, clock=clock)


def connect_dome(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayDome:
    """The dome, through its gateway."""
    config, clock = _resolve(config, clock)
    return GatewayDome(link_to("dome", config, address=address), config=config, clock=clock)


def connect_camera(
    name: str,
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayCamera:
    """A camera by instrument name (``Visible camera``) or device (``camera_vis``).

    Its filter wheel is ``camera.filter_wheel`` (same connection, same lease).

    Raises
    ------
    ValueError
        When no instrument or camera device has that name.
    """
    config, clock = _resolve(config, clock)
    instrument = config.instrument(name)
    device = instrument.device if instrument is not None else name
    if not device.startswith("camera") or device not in type(config.devices).model_fields:
        known = [i.name for i in config.instruments] + [i.device for i in config.instruments]
        raise ValueError(f"no camera called {name!r} (known: {', '.join(known)})")
    return GatewayCamera(link_to(device, config, address=address), config=config, clock=clock)


def connect_plc(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayPlc:
    """The PLC, through its gateway."""
    config, clock = _resolve(config, clock)
    return GatewayPlc(link_to("plc", config, address=address), config=config, clock=clock)


def connect_lamp(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayLamp:
    """The light panel (``[devices.lamp]``), through its gateway.

    Raises
    ------
    ValueError
        When the site has no ``[devices.lamp]``.
    """
    config, clock = _resolve(config, clock)
    return GatewayLamp(link_to("lamp", config, address=address), config=config, clock=clock)


def connect_flat_lamp(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayLamp | GatewayPlc:
    """The dome-flat lamp of this site (a :class:`~devices.controllers.lamp.FlatLamp`): the light
    panel when ``[devices.lamp]`` is configured, the PLC (its ``calibration_lamp`` switch)
    otherwise; ``address`` is that device's gateway."""
    config, clock = _resolve(config, clock)
    if config.devices.lamp is not None:
        return connect_lamp(config, clock=clock, address=address)
    return connect_plc(config, clock=clock, address=address)


def connect_weather_station(
    config: SiteConfig | None = None,
    *,
    clock: Clock | None = None,
    address: tuple[str, int] | None = None,
) -> GatewayWeatherStation:
    """The weather station (``[devices.weather]``), through its gateway.

    Raises
    ------
    ValueError
        When the site has no ``[devices.weather]``.
    """
    config, clock = _resolve(config, clock)
    return GatewayWeatherStation(
        link_to("weather", config, address=address), config=config, clock=clock
    )
