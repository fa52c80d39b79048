"""The ``[security]`` section of the site configuration and the peer policy of our listeners.

Safe by default (docs/configuration.md "Security"): every listener of the stack binds to loopback
and the device gateways and simulators serve loopback clients only. Another address is an explicit
choice made here: ``bind_hosts`` lists the non-loopback addresses a listener may bind to
(``[gateways] host``), ``allowed_peers`` the networks whose clients the gateways and simulators
accept besides loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Host names that mean this machine's loopback interface.
LOOPBACK_NAMES = ("localhost",)


class SecuritySection(BaseModel):
    """Where the stack may listen and whom its device listeners serve.

    Attributes
    ----------
    bind_hosts : list of str
        Non-loopback IP addresses a listener may bind to (``0.0.0.0``: every interface); empty:
        loopback only. ``[gateways] host`` must be loopback or one of these.
    allowed_peers : list of str
        Networks (CIDR, e.g. ``192.168.10.0/24``) whose clients the device gateways and
        simulators accept besides loopback; any other peer is refused (one log line naming it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bind_hosts: list[str] = Field(default_factory=list)
    allowed_peers: list[str] = Field(default_factory=list)

    @field_validator("bind_hosts")
    @classmethod
    def _addresses(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IP address") from None
        return hosts

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network (CIDR, e.g. 10.0.0.0/24)") from None
        return networks

    def peer_networks(self) -> tuple[IPNetwork, ...]:
        """``allowed_peers`` parsed."""
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_peers)

    def check_bind(self, where: str, host: str) -> None:
        """Refuse a listener's non-loopback ``host`` that ``bind_hosts`` does not list.

        Raises
        ------
        ValueError
            Naming ``where`` (the setting) and the address.
        """
        if not is_loopback(host) and host not in self.bind_hosts:
            raise ValueError(
                f"{where}: {host!r} is not a loopback address; list it in [security] bind_hosts "
                "to listen there (and [security] allowed_peers for the clients to accept)"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) is this machine's loopback."""
    return host in LOOPBACK_NAMES or any(a.is_loopback for a in _addresses(host))


def peer_allowed(host: str, allowed: Iterable[IPNetwork] = ()) -> bool:
    """Whether a client connecting from ``host`` may be served: loopback always, another address
    only inside one of the ``allowed`` networks."""
    if is_loopback(host):
        return True
    return any(a.version == n.version and a in n for a in _addresses(host) for n in allowed)


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """``host`` as an IP address (its zone dropped), with the IPv4 address an IPv4-mapped IPv6
    one stands for; empty when ``host`` is not an IP address."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return []
    mapped = getattr(address, "ipv4_mapped", None)
    return [address] if mapped is None else [address, mapped]
