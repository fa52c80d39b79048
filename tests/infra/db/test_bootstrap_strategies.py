"""The database's strategy rows mirror ``[[alerts.strategies]]``, the partial-tiling keys too."""

from __future__ import annotations

from sqlalchemy import select

from infra.config import load_config, parse_config
from infra.db import session_scope
from infra.db.bootstrap import init_database
from infra.db.models import StrategyObs


def _strategies(engine) -> dict[str, tuple[float, int, float, float | None]]:
    with session_scope(engine) as session:
        return {
            s.name: (s.max_error_radius_deg, s.max_tiles, s.error_containment, s.min_probability)
            for s in session.scalars(select(StrategyObs))
        }


def test_strategy_rows_follow_the_site_file(engine):
    init_database(engine, load_config())
    rows = _strategies(engine)
    assert rows["gbm-gecam-wide"] == (5.0, 36, 0.68, 0.05)
    assert rows["swift-bat"] == (0.15, 1, 0.9, None)
    data = load_config().model_dump(mode="json")
    gbm = next(s for s in data["alerts"]["strategies"] if s["name"] == "gbm-gecam-wide")
    gbm.update(min_probability=None, error_containment=0.5)
    init_database(engine, parse_config(data))
    assert _strategies(engine)["gbm-gecam-wide"] == (5.0, 36, 0.5, None)
