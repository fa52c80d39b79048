"""The current sequence's progress, read from its plans (pure over a database session)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db.models import Album, Plan, Sequence

#: Stable key of the current sequence's progress (a progress artifact).
SEQUENCE_PROGRESS_KEY = "pyros-sequence-progress"


@dataclass(frozen=True)
class SequenceProgress:
    """Frames stored over frames planned, for one sequence."""

    sequence_id: int
    name: str
    done: int
    total: int

    @property
    def percent(self) -> float:
        """0 to 100 (100 for a sequence with nothing to take)."""
        return (
            100.0 if self.total <= 0 else round(100.0 * min(self.done, self.total) / self.total, 1)
        )

    def describe(self, state: str = "running") -> str:
        """``Sequence 12 (M31): 3/10 frame(s), running``."""
        return (
            f"**Sequence {self.sequence_id}** ({self.name}): {self.done}/{self.total} frame(s), "
            f"{state}."
        )


def sequence_progress(session: Session, sequence_id: int) -> SequenceProgress | None:
    """The progress of ``sequence_id`` (the sum of its plans' ``images_done`` and
    ``nb_images``); None when there is no such sequence."""
    name = session.scalar(select(Sequence.name).where(Sequence.id == sequence_id))
    if name is None:
        return None
    done, total = session.execute(
        select(
            func.coalesce(func.sum(Plan.images_done), 0), func.coalesce(func.sum(Plan.nb_images), 0)
        )
        .join(Album, Album.id == Plan.album_id)
        .where(Album.sequence_id == sequence_id)
    ).one()
    return SequenceProgress(sequence_id, name, int(done), int(total))
