"""``replay-night``: a recorded night replayed from the Prefect UI (docs/replay.md).

The same replay as ``pyros replay`` (:func:`tasks.replay.run.replay_and_compare`): the night's
journaled inputs on the discrete-event clock into a database of the replay's own, compared with
what was recorded. The comparison is the run's result and a Markdown artifact
(``replay-<night>``); a bad night label, a night with nothing journaled or a bad what-if fails
the run with the reason.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from infra.config import get_config
from infra.db import get_engine
from infra.journal import night_start_date
from infra.settings import load_settings
from tasks.replay.compare import DEFAULT_TOLERANCE_S
from tasks.replay.run import replay_and_compare


@flow(name="replay-night", log_prints=False)
def replay_night_flow(
    night: str, overrides: list[str] | None = None, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> dict[str, Any]:
    """Replay night ``night`` and compare it with the recording.

    Parameters
    ----------
    night : str
        Night label ``YYYY-MM-DD`` (``pyros journal nights`` lists them).
    overrides : list of str, optional
        What-if assignments ``section.key=value`` (validated against the site model).
    tolerance_s : float
        Time tolerance of "identical" (simulated seconds).

    Returns
    -------
    dict
        The replay's summary (``identical``, ``differences``, the speed...).

    Raises
    ------
    ValueError
        A night label that is not ``YYYY-MM-DD``, nothing journaled for it, or a bad what-if.
    """
    try:
        night_start_date(night)
    except ValueError:
        raise ValueError(f"night {night!r}: expected a label YYYY-MM-DD") from None
    logger = get_run_logger()
    out_dir = load_settings().home / "replays" / night
    outcome = replay_and_compare(
        get_engine(),
        night,
        get_config(),
        out_dir,
        overrides=overrides or [],
        tolerance_s=tolerance_s,
    )
    summary = outcome.summary()
    what = "identical" if summary["identical"] else f"{len(summary['differences'])} difference(s)"
    create_markdown_artifact(
        key=f"replay-{night}",
        markdown=outcome.report,
        description=f"Replay of night {night}: {what}",
    )
    logger.info("replay of %s: %s; report %s", night, what, outcome.report_path)
    return summary
