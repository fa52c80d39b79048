"""Tonight's plan: a Schedule and its scheduled (or unplanned, with the reason) sequences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from infra.db.models.base import Base, UTCDateTime


class Schedule(Base):
    """One planning result for a night (every re-plan makes a new one; the latest is current)."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    night: Mapped[str] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wall_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    night_start: Mapped[datetime] = mapped_column(UTCDateTime())
    night_end: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    objective: Mapped[float] = mapped_column(Float, default=0.0)
    planning_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    entries: Mapped[list[ScheduledSequence]] = relationship(
        back_populates="schedule",
        order_by="ScheduledSequence.position",
        cascade="all, delete-orphan",
    )


class ScheduledSequence(Base):
    """A sequence in a schedule: planned with start and end, or unplanned with the reason."""

    __tablename__ = "scheduled_sequences"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[bool] = mapped_column(Boolean, default=True)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    planned_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")

    schedule: Mapped[Schedule] = relationship(back_populates="entries")
