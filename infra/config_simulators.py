"""The ``[simulators]`` section of the site configuration (docs/simulators.md).

``pyros up`` starts the simulators on the device endpoints (``[devices.*]``) unless
``enabled = false`` (real hardware). A simulator listens on this machine, so while they are enabled
every device endpoint must be a loopback address; the check is made in the site configuration's
cross-checks (:func:`check_endpoints`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Hosts a simulator can listen on (this machine).
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatorsSection(_Section):
    """The device simulators, the scenario player and what it sends out.

    Attributes
    ----------
    enabled : bool
        Run the simulators with the stack (``pyros up``); false when real devices are configured.
    scenario : str
        Scenario file the simulators play when started by ``pyros up`` (empty: none).
    interlock_rain_rate_mm_h : float
        The dome's own PLC interlock refuses to open while a valid station's rain rate is above
        this (or DRD11's digital channel reads rain).
    alert_broker_host, alert_broker_port :
        The VOEvent broker (Comet) the scenario's ``alertSimulator`` items are sent to; without a
        port, the stack's own broker (``[alert_intake.comet] receive_port``, what ``pyros up``
        starts), so the scenario's alerts reach the alert listener.
    alert_send_timeout_s : float
        Wall seconds ``comet-sendvo`` may take.
    submit_timeout_s : float
        Wall seconds ``pyros request submit`` may take for a ``userSimulator`` item.
    max_concurrent_submissions : int
        Scenario submissions (requests, alerts) running at once; later ones wait their turn.
    """

    enabled: bool = True
    scenario: str = ""
    interlock_rain_rate_mm_h: float = Field(default=0.1, ge=0.0)
    alert_broker_host: str = "127.0.0.1"
    alert_broker_port: int | None = Field(default=None, ge=1, le=65535)
    alert_send_timeout_s: float = Field(default=10.0, gt=0.0, le=600.0)
    submit_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    max_concurrent_submissions: int = Field(default=4, ge=1, le=64)


def check_endpoints(section: SimulatorsSection, endpoints: dict[str, str]) -> None:
    """Refuse device endpoints a simulator cannot serve while simulators are enabled.

    Parameters
    ----------
    section : SimulatorsSection
        The ``[simulators]`` section.
    endpoints : dict
        Device name -> host.

    Raises
    ------
    ValueError
        Naming the first non-local endpoint.
    """
    if not section.enabled:
        return
    for name, host in endpoints.items():
        if host not in LOCAL_HOSTS:
            raise ValueError(
                f"simulators.enabled: devices.{name}.host is {host!r}, but a simulator listens on "
                "this machine; set [simulators] enabled = false to use real devices"
            )
