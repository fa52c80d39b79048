"""GRB alerts, their decisions, and the follow-up strategies (StrategyObs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime


class Alert(Base):
    """One VOEvent as received, with PyROS's decision, reason and action."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    ivorn: Mapped[str | None] = mapped_column(String(512), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wall_received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    role: Mapped[str | None] = mapped_column(String(16))
    mission: Mapped[str | None] = mapped_column(String(32))
    packet_type: Mapped[str | None] = mapped_column(String(64))
    burst_key: Mapped[str | None] = mapped_column(String(128), index=True)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    error_radius_deg: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(String(16), default="none")
    strategy: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    journal_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    raw_sha256: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Which road brought the packet (``comet``, ``kafka``, ``drop``, ``cli``; migration 0006).
    road: Mapped[str | None] = mapped_column(String(16))
    #: Wall instant the decision was stored (``wall_received_at`` -> this: the intake latency).
    wall_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StrategyObs(Base):
    """A follow-up strategy per mission and error-box size, loaded from the site configuration."""

    __tablename__ = "strategy_obs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    missions: Mapped[list[Any]] = mapped_column(JSON)
    max_error_radius_deg: Mapped[float] = mapped_column(Float)
    allow_tiling: Mapped[bool] = mapped_column(Boolean, default=False)
    max_tiles: Mapped[int] = mapped_column(Integer, default=1)
    #: The share of the burst's probability inside a notice's error radius.
    error_containment: Mapped[float] = mapped_column(Float, default=0.9, server_default="0.9")
    #: None: whole circles only; a fraction: the most probable ``max_tiles`` tiles when they hold
    #: at least this much of the probability.
    min_probability: Mapped[float | None] = mapped_column(Float)
    plans: Mapped[list[Any]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")
