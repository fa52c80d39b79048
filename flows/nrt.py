"""The ``nrt-analysis`` flow: the long-lived near-real-time consumer of a sequence or a block.

It runs beside acquisition (DESIGN §6): the night flows start one per sequence (``sequence_id``)
or per block (``until``); it analyses every light frame as its Image row appears, one Prefect
task per frame in the same process (masters, catalog fields and light curves stay in memory),
publishes the results table as an artifact and emits ``pyros.nrt.candidate``. It is also what
``pyros nrt run`` runs, without Prefect.

This module is the composition root of the analysis: it chooses the reference catalog from
``[nrt] reference_catalog`` — ``tasks/`` never imports ``simulators/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prefect import flow, get_run_logger

from infra.config import SiteConfig, get_config


def reference_catalog(config: SiteConfig):
    """The reference catalog named by ``[nrt] reference_catalog``.

    ``simulated``: the sky renderer's survey catalog (the renderer's stars with survey errors and
    a magnitude limit, never its truth). A real cone search plugs in here.
    """
    name = config.nrt.reference_catalog
    if name == "simulated":
        from simulators.sky import SimulatedReferenceCatalog

        return SimulatedReferenceCatalog(config.sky)
    raise ValueError(f"nrt.reference_catalog: unknown catalog {name!r}")  # pragma: no cover


def parse_until(until: str | datetime | None) -> datetime | None:
    """An ISO instant (aware; ``Z`` accepted) or None; ValueError naming the problem."""
    if until is None or isinstance(until, datetime):
        if isinstance(until, datetime) and until.tzinfo is None:
            raise ValueError(f"until: {until.isoformat()} has no time zone")
        return until
    try:
        instant = datetime.fromisoformat(str(until).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"until: {until!r} is not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise ValueError(f"until: {until!r} has no time zone (add Z or +00:00)")
    return instant


def make_consumer(config: SiteConfig | None = None, engine=None, on_result=None, catalog=None):
    """A consumer wired with the configured catalog (tests may pass their own ``catalog``)."""
    from tasks.nrt.consumer import NrtConsumer

    config = config or get_config()
    return NrtConsumer(
        catalog or reference_catalog(config), engine=engine, config=config, on_result=on_result
    )


def run_consumer(
    *,
    sequence_id: int | None = None,
    until: str | datetime | None = None,
    idle_timeout_s: float | None = None,
    max_images: int | None = None,
    on_result: Callable[[dict], None] | None = None,
    runner_factory=None,
    engine=None,
    config: SiteConfig | None = None,
):
    """Run a consumer until its stop condition (see ``NrtConsumer.run``); returns the summary."""
    consumer = make_consumer(config, engine, on_result)
    runner = runner_factory(consumer) if runner_factory is not None else None
    return consumer.run(
        sequence_id=sequence_id,
        until=parse_until(until),
        idle_timeout_s=idle_timeout_s,
        max_images=max_images,
        runner=runner,
    )


@flow(name="nrt-analysis", log_prints=False)
def nrt_analysis(
    sequence_id: int | None = None,
    until: str | None = None,
    idle_timeout_s: float | None = None,
    max_images: int | None = None,
) -> dict:
    """Analyse frames as they are acquired, until the sequence ends, ``until`` or idleness.

    Parameters
    ----------
    sequence_id : int, optional
        Only this sequence's frames; the run ends when the sequence is over and analysed.
    until : str, optional
        ISO instant (simulated clock) at which the run ends (a block's end).
    idle_timeout_s : float, optional
        End after this many wall seconds without a frame (default ``[nrt] idle_timeout_s``).
    max_images : int, optional
        End after this many frames.
    """
    from tasks.nrt.tasks import analyse_frame_task, artifact_key, publish_results

    logger = get_run_logger()
    summaries: list[dict] = []
    key = artifact_key(sequence_id)

    def on_result(summary: dict) -> None:
        summaries.append(summary)
        if summary["status"] == "done":
            logger.info(
                "%s: %d sources, FWHM %.2f″, depth %.2f, %d candidate(s) in %.2f s",
                summary["image_id"],
                summary["n_sources"],
                summary["fwhm_arcsec"],
                summary["limiting_mag"],
                len(summary["candidates"]),
                summary["seconds"],
            )
        else:
            logger.warning("%s: analysis failed: %s", summary["image_id"], summary["reason"])
        publish_results(key, summaries)

    result = run_consumer(
        sequence_id=sequence_id,
        until=until,
        idle_timeout_s=idle_timeout_s,
        max_images=max_images,
        on_result=on_result,
        runner_factory=lambda c: lambda image: analyse_frame_task(c, image),
    )
    logger.info(
        "NRT consumer ended (%s): %d done, %d failed, %d candidate(s)",
        result.stopped,
        result.done,
        result.failed,
        result.candidates,
    )
    return result.as_dict()
