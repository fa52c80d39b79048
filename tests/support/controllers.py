"""The controller class of each configured device name (tests: gateways on fake devices and on
INDI's simulators)."""

from __future__ import annotations

from devices.controllers import (
    GatewayCamera,
    GatewayDome,
    GatewayLamp,
    GatewayMount,
    GatewayPlc,
    GatewayWeatherStation,
)
from devices.controllers.base import GatewayController

CONTROLLERS: dict[str, type[GatewayController]] = {
    "mount": GatewayMount,
    "dome": GatewayDome,
    "camera_vis": GatewayCamera,
    "camera_nir": GatewayCamera,
    "plc": GatewayPlc,
    "lamp": GatewayLamp,
    "weather": GatewayWeatherStation,
}
