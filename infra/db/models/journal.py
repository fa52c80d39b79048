"""The night journal (append-only), the nights with their code version and configuration hash,
and the small observatory state (operating mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime


class JournalEntry(Base):
    """An external input or an event, exactly as received (DESIGN §4). Never updated or deleted."""

    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_night_kind", "night", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(256))
    night: Mapped[str] = mapped_column(String(10))
    sim_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    wall_time: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any] | list[Any] | None] = mapped_column(JSON)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


class Night(Base):
    """One observing night (label = local date of its evening) and what ran it."""

    __tablename__ = "nights"

    label: Mapped[str] = mapped_column(String(10), primary_key=True)
    code_version: Mapped[str] = mapped_column(String(64))
    config_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wall_first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObservatoryState(Base):
    """Small named state shared by every process (e.g. ``operating_mode`` = AUTO or MANUAL)."""

    __tablename__ = "observatory_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128), default="")
