"""Running a near-real-time consumer: wired with the configured reference catalog, until its
stop condition. Shared by the ``nrt-analysis`` flow and ``pyros nrt run``.

The reference catalog is the one ``[nrt] reference_catalog`` names, built by
:func:`infra.refcat.load_reference_catalog` from the installed plugins (entry points): nothing
in ``tasks/`` imports an implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from infra.config import SiteConfig, get_config
from infra.refcat import ReferenceCatalog, load_reference_catalog
from tasks.nrt.analysis_rows import ImageRow
from tasks.nrt.consumer import FrameSummary, NrtConsumer, RunSummary

#: Runs the consumer's ``process`` for one image (the flow wraps it in a Prefect task).
FrameRunner = Callable[[ImageRow], FrameSummary | None]


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


def make_consumer(
    config: SiteConfig | None = None,
    engine: Engine | None = None,
    on_result: Callable[[FrameSummary], None] | None = None,
    catalog: ReferenceCatalog | None = None,
) -> NrtConsumer:
    """A consumer wired with the configured catalog (tests may pass their own ``catalog``)."""
    config = config or get_config()
    return NrtConsumer(
        catalog or load_reference_catalog(config), engine=engine, config=config, on_result=on_result
    )


def run_consumer(
    *,
    sequence_id: int | None = None,
    until: str | datetime | None = None,
    idle_timeout_s: float | None = None,
    max_images: int | None = None,
    on_result: Callable[[FrameSummary], None] | None = None,
    runner_factory: Callable[[NrtConsumer], FrameRunner] | None = None,
    engine: Engine | None = None,
    config: SiteConfig | None = None,
) -> RunSummary:
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
