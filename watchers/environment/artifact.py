"""The environment synthesis as a Prefect markdown artifact under a stable key, updated in place.

Published by a background thread of the monitor when Prefect is configured: on every change of
the verdict, of a global status or of the unsafe episodes, and at least once a minute; a slow or
absent Prefect server only delays the artifact, never a poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from tasks.environment.episodes import UnsafeEpisode, episodes_markdown
from tasks.environment.synthesis import GlobalStatus, Synthesis
from watchers.environment.monitor import EnvironmentMonitor

log = logging.getLogger(__name__)

ARTIFACT_KEY = "pyros-environment"
REFRESH_WALL_S = 60.0


def synthesis_markdown(
    synthesis: Synthesis,
    safe: bool,
    verdict_reason: str,
    episodes: Iterable[UnsafeEpisode] = (),
) -> str:
    """The operator's view of one synthesis, then the unsafe episodes of the last day."""
    lines = [
        f"## Environment: {'SAFE' if safe else 'UNSAFE'} — weather {synthesis.weather_status}, "
        f"site {synthesis.site_status}",
        "",
        f"*{verdict_reason}* (at {synthesis.at:%Y-%m-%d %H:%M:%S} UTC)",
        "",
    ]
    if synthesis.overrides:
        lines += ["**Operator overrides in force:**", ""]
        lines += [f"- {override}" for override in synthesis.overrides]
        lines.append("")
    lines += [
        "| element | value | interpretation | state | close |",
        "| --- | --- | --- | --- | --- |",
    ]
    for record in (*synthesis.weather, *synthesis.site):
        value = "n/a" if record.value is None else f"{record.value} {record.unit}".strip()
        lines.append(
            f"| {record.element} | {value} | {record.interpretation} | "
            f"{record.state.value} | {'YES' if record.should_close else 'no'} |"
        )
    lines += ["", *episodes_markdown(episodes)]
    return "\n".join(lines)


class SynthesisPublisher:
    """Publishes the monitor's latest synthesis (see module docstring)."""

    def __init__(self, monitor: EnvironmentMonitor) -> None:
        self.monitor = monitor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor-artifact", daemon=True)
        self._published: (
            tuple[bool, GlobalStatus, GlobalStatus, tuple[str, ...], tuple[UnsafeEpisode, ...]]
            | None
        ) = None

    def start(self) -> SynthesisPublisher:
        """Start publishing in the background; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing (at the next second)."""
        self._stop.set()

    def _run(self) -> None:
        # Import time: Prefect costs more than a second; only a configured monitor publishes.
        from prefect.artifacts import MarkdownArtifact

        from tasks.controlroom.prefect_tasks import upsert_artifact

        waited = REFRESH_WALL_S
        while not self._stop.wait(1.0):
            waited += 1.0
            last = self.monitor.last
            if last is None:
                continue
            episodes = self.monitor.episodes.episodes
            key = (
                last.verdict.safe,
                last.synthesis.weather_status,
                last.synthesis.site_status,
                last.synthesis.overrides,
                episodes,
            )
            if key == self._published and waited < REFRESH_WALL_S:
                continue
            try:
                # Updated in place: one artifact however long the night (docs/controlroom.md).
                upsert_artifact(
                    MarkdownArtifact(
                        key=ARTIFACT_KEY,
                        markdown=synthesis_markdown(
                            last.synthesis, last.verdict.safe, last.verdict.reason, episodes
                        ),
                        description="Environment synthesis (weather and site) by the monitor",
                    )
                )
                self._published, waited = key, 0.0
            except Exception as exc:  # Prefect away: try again at the next change or minute
                log.warning("environment artifact not published: %s", exc)
