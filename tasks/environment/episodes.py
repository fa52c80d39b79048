"""The unsafe episodes of the night, as the environment artifact lists them (pure, bounded).

The artifact shows the synthesis of the moment; an operator reading it after the rain also
needs to see that it rained, when, and what closed the dome. :class:`EpisodeLog` follows the
monitor's verdicts: an episode opens when the verdict is unsafe (at the monitor's first poll too:
it starts unsafe until the hold time of good readings has passed), gathers the elements that
called for closing while it lasts, and closes when the verdict turns safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

#: Episodes kept: those that ended within this time of the latest verdict, at most ``LIMIT``.
KEEP = timedelta(hours=24)
LIMIT = 20
#: Elements named per episode (a long episode may see many; the first ones say why it began).
ELEMENTS_MAX = 6


@dataclass(frozen=True)
class UnsafeEpisode:
    """One unsafe period: from ``start`` to ``end`` (None while it lasts), the verdict's reason
    when it began and the elements that called for closing during it."""

    start: datetime
    reason: str
    elements: tuple[str, ...] = ()
    end: datetime | None = None


class EpisodeLog:
    """The unsafe episodes of the last :data:`KEEP`, oldest first.

    Updated by the monitor's poll thread and read by the artifact's thread: every update
    replaces the tuple :attr:`episodes` as a whole, so a reader always sees a consistent one.
    """

    def __init__(self, keep: timedelta = KEEP, limit: int = LIMIT) -> None:
        if limit < 1:
            raise ValueError("an episode log keeps at least one episode")
        self.keep, self.limit = keep, limit
        self.episodes: tuple[UnsafeEpisode, ...] = ()

    def update(self, safe: bool, reason: str, closing: Iterable[str], at: datetime) -> None:
        """Follow one verdict at ``at``: ``closing`` names the elements calling for closing."""
        episodes = list(self.episodes)
        current = episodes[-1] if episodes and episodes[-1].end is None else None
        if not safe:
            if current is None:
                episodes.append(UnsafeEpisode(at, reason, _add((), closing)))
            else:
                episodes[-1] = replace(current, elements=_add(current.elements, closing))
        elif current is not None:
            episodes[-1] = replace(current, end=at)
        horizon = at - self.keep
        kept = [e for e in episodes if e.end is None or e.end >= horizon]
        self.episodes = tuple(kept[-self.limit :])


def _add(elements: tuple[str, ...], more: Iterable[str]) -> tuple[str, ...]:
    """``elements`` and the new names of ``more``, in order of appearance, bounded."""
    names = list(elements)
    for name in more:
        if name not in names and len(names) < ELEMENTS_MAX:
            names.append(name)
    return tuple(names)


def episodes_markdown(episodes: Iterable[UnsafeEpisode]) -> list[str]:
    """The episodes as a Markdown table (newest first), or a line saying there were none."""
    rows = sorted(episodes, key=lambda e: e.start, reverse=True)
    if not rows:
        return ["**Unsafe episodes (last 24 h):** none."]
    lines = [
        "**Unsafe episodes (last 24 h):**",
        "",
        "| from (UTC) | to (UTC) | closed for | reason when it began |",
        "| --- | --- | --- | --- |",
    ]
    for episode in rows:
        end = f"{episode.end:%Y-%m-%d %H:%M:%S}" if episode.end else "still unsafe"
        closed_for = ", ".join(episode.elements) or "—"
        lines.append(
            f"| {episode.start:%Y-%m-%d %H:%M:%S} | {end} | {closed_for} | {episode.reason} |"
        )
    return lines
