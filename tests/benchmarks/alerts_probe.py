"""Prefect's own path for ``bench_alerts``: a served flow, started by ``pyros.alert.follow-up``
through a deployment trigger, whose code claims the mount and issues the slew (what the reflex
does without Prefect). Run as ``python -m tests.benchmarks.alerts_probe`` with
``PREFECT_API_URL`` set; it serves until killed."""

from __future__ import annotations

from prefect import flow
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from devices.controllers import Priority, connect_mount


@flow(name="alert-slew-probe")
def slew_probe(ra: float, dec: float, burst_key: str = "") -> None:
    """Claim the mount at alert priority and send the slew."""
    mount = connect_mount()
    try:
        mount.claim(f"probe:{burst_key}", Priority.ALERT, wait_s=5.0)
        mount.goto(ra, dec)
        mount.release()
    finally:
        mount.disconnect()


if __name__ == "__main__":
    slew_probe.serve(
        name="alert-slew-probe",
        triggers=[
            DeploymentEventTrigger(
                expect={"pyros.alert.follow-up"},
                match={"prefect.resource.id": "pyros.alert.*"},
                parameters={
                    "ra": "{{ event.payload.ra_deg }}",
                    "dec": "{{ event.payload.dec_deg }}",
                    "burst_key": "{{ event.payload.burst_key }}",
                },
            )
        ],
        pause_on_shutdown=False,
    )
