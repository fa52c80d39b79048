"""Device gateways: one per device, owning its connection and its lease (DESIGN §2).

``Gateway`` is one device's gateway; ``start_gateways`` / ``run_gateways`` start the configured
ones (``pyros gateways start``; the supervisor behind ``pyros up`` calls ``start_gateways``).
"""

from devices.gateway.fleet import GatewaySet, GatewayStartError, run_gateways, start_gateways
from devices.gateway.gateway import Gateway, GatewayTiming

__all__ = [
    "Gateway",
    "GatewaySet",
    "GatewayStartError",
    "GatewayTiming",
    "run_gateways",
    "start_gateways",
]
