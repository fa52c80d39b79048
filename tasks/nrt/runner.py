"""Wiring a near-real-time consumer: the reference catalog named by the configuration, the stop
conditions, the run. Shared by the ``nrt-analysis`` flow and ``pyros nrt run``.

The catalog is chosen by name (``[nrt] reference_catalog``) from :data:`CATALOGS`, which maps
names to implementations by import path: ``simulated`` is the sky renderer's survey catalog (its
stars with survey errors and a magnitude limit, never the render truth). A real cone search is
one more entry; nothing in ``tasks/`` imports an implementation statically.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime

from infra.config import SiteConfig, get_config

#: Reference catalogs by configuration name: ``module:Class``, built with the site's
#: configuration section the class names (``[sky]`` for the simulated one).
CATALOGS = {"simulated": ("simulators.sky:SimulatedReferenceCatalog", "sky")}


def reference_catalog(config: SiteConfig):
    """The reference catalog named by ``[nrt] reference_catalog`` (see :data:`CATALOGS`).

    Raises
    ------
    ValueError
        When the name is not in :data:`CATALOGS`.
    """
    name = config.nrt.reference_catalog
    if name not in CATALOGS:
        known = ", ".join(sorted(CATALOGS))
        raise ValueError(f"nrt.reference_catalog: unknown catalog {name!r} (known: {known})")
    path, section = CATALOGS[name]
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)(getattr(config, section))


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
