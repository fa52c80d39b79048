"""What is asked for: Request -> Sequence -> Album -> Plan, and every sequence state transition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from infra.db.models.base import Base, UTCDateTime
from infra.db.sequence_rules import STATE_VALUES, SequenceState

_STATE_CHECK = "state IN ({})".format(", ".join(f"'{s}'" for s in STATE_VALUES))


class Request(Base):
    """One submission: a request file from an astronomer, or a follow-up made from an alert."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_user_content", "user_id", "content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("scientific_programs.id"))
    target_type: Mapped[str] = mapped_column(String(16))
    is_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(1024), default="")
    raw_sha256: Mapped[str] = mapped_column(String(64), default="")
    #: What the request asks for, hashed (tasks/requests/parse.py:content_sha256): the same
    #: content submitted again by the same user is refused unless asked for again.
    content_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    journal_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    #: Set by ``pyros request cancel`` (issue #23); an executing sequence reads it between
    #: exposures and stops at the end of the current one.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    sequences: Mapped[list[Sequence]] = relationship(
        back_populates="request", order_by="Sequence.id", cascade="all, delete-orphan"
    )


class Sequence(Base):
    """One pointing: a target, a time window, constraints and albums run in parallel."""

    __tablename__ = "sequences"
    __table_args__ = (
        CheckConstraint(_STATE_CHECK, name="state_known"),
        CheckConstraint("window_start < window_end", name="window_ordered"),
        Index("ix_sequences_state_window", "state", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    target_type: Mapped[str] = mapped_column(String(16))
    target_coords: Mapped[str] = mapped_column(String(256), default="")
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    declared_duration_s: Mapped[float] = mapped_column(Float)
    jd1: Mapped[float] = mapped_column(Float)
    jd2: Mapped[float] = mapped_column(Float)
    relative: Mapped[bool] = mapped_column(Boolean, default=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    t_prefered: Mapped[datetime | None] = mapped_column(UTCDateTime())
    min_altitude_deg: Mapped[float | None] = mapped_column(Float)
    max_airmass: Mapped[float | None] = mapped_column(Float)
    min_moon_distance_deg: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default=SequenceState.DRAFT.value)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_reason: Mapped[str] = mapped_column(Text, default="")
    executed_hours: Mapped[float] = mapped_column(Float, default=0.0)

    request: Mapped[Request] = relationship(back_populates="sequences")
    albums: Mapped[list[Album]] = relationship(
        back_populates="sequence", order_by="Album.position", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[SequenceTransition]] = relationship(
        back_populates="sequence", order_by="SequenceTransition.id", cascade="all, delete-orphan"
    )


class SequenceTransition(Base):
    """One change of a sequence's state, with when (simulated and wall time) and why."""

    __tablename__ = "sequence_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    wall_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")

    sequence: Mapped[Sequence] = relationship(back_populates="transitions")


class Album(Base):
    """The plans of one camera within a sequence (albums run in parallel on their cameras)."""

    __tablename__ = "albums"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    instrument: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer, default=0)

    sequence: Mapped[Sequence] = relationship(back_populates="albums")
    plans: Mapped[list[Plan]] = relationship(
        back_populates="album", order_by="Plan.position", cascade="all, delete-orphan"
    )


class Plan(Base):
    """``nb_images`` exposures of ``exposure_s`` seconds through one filter; progress kept here."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("nb_images > 0", name="nb_images_positive"),
        CheckConstraint("exposure_s > 0", name="exposure_positive"),
        CheckConstraint("images_done >= 0 AND images_done <= nb_images", name="progress_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    filter: Mapped[str] = mapped_column(String(128))
    exposure_s: Mapped[float] = mapped_column(Float)
    nb_images: Mapped[int] = mapped_column(Integer)
    images_done: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    album: Mapped[Album] = relationship(back_populates="plans")
