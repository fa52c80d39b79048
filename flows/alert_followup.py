"""The ``alert-follow-up`` flow (DESIGN §2, §6), started by the ``pyros.alert.follow-up`` event
(a deployment trigger in ``prefect.yaml``: one run per burst) while the mount slews.

Thin: :class:`tasks.alerts.followup_run.FollowUpRun` does the work — it inherits the reflex's
leases (same owner, alert priority), takes the strategy's exposures on both cameras, hands
every frame to the NRT analysis with the alert's error circle (``pyros.nrt.candidate``), and
follows the burst's updates: a re-point continues with the new circle, a retraction ends the
run **Completed** with the reason (never Failed), leases released.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed

from infra.clock import get_clock
from infra.config import get_config
from infra.settings import load_settings
from tasks.alerts.followup_run import FollowUpHooks, FollowUpRun
from tasks.alerts.prefect_tasks import (
    announce_followup_image,
    execute_followup_task,
    publish_followup,
)
from tasks.alerts.reflex import owner_for
from tasks.night.devices import connect_night_devices
from tasks.night.prefect_tasks import request_dome_task
from tasks.nrt.consumer import NrtConsumer
from tasks.nrt.consumer_run import make_consumer


@flow(name="alert-follow-up")
def alert_follow_up(burst_key: str, ivorn: str = "") -> State[Any]:
    """Follow one burst until done, withdrawn or past its validity.

    Parameters
    ----------
    burst_key : str
        The burst's identity (``pyros.burst.key`` of the triggering event).
    ivorn : str
        The notice that triggered the run (for the log).
    """
    logger = get_run_logger()
    config, clock = get_config(), get_clock()
    owner = owner_for(burst_key)
    logger.info("follow-up of %s (%s) by run %s", burst_key, ivorn, flow_run.name)
    consumer: NrtConsumer | None = None
    try:
        consumer = make_consumer(config)
    except Exception as exc:  # no catalog: the frames are still taken
        logger.warning("no NRT analysis for this follow-up: %s", exc)
    hooks = FollowUpHooks(
        execute=execute_followup_task,
        on_image=lambda image, plan, camera, seq: announce_followup_image(
            image, plan, camera, seq, owner
        ),
        on_update=publish_followup,
        request_dome=lambda reason: logger.info(request_dome_task("open", reason, owner)),
    )
    devices = connect_night_devices(config, clock)
    try:
        work = FollowUpRun(burst_key, devices, config, clock, load_settings().frames_dir,
                           consumer=consumer, hooks=hooks)  # fmt: skip
        result = work.run()
    finally:
        devices.close()
    logger.info("follow-up of %s ended: %s", burst_key, result.reason)
    return Completed(message=result.reason, data=result.as_dict())
