"""Frames taken and their near-real-time analyses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime


def image_id(sequence_id: int, plan_id: int, index: int) -> str:
    """Deterministic image id from (sequence, plan, index): a frame is never taken twice."""
    return f"S{sequence_id:07d}-P{plan_id:07d}-I{index:04d}"


class Image(Base):
    """One frame on disk (written atomically before this row is inserted)."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("plan_id", "index"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequences.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    index: Mapped[int] = mapped_column(Integer, default=0)
    instrument: Mapped[str] = mapped_column(String(128))
    filter: Mapped[str] = mapped_column(String(128), default="")
    image_type: Mapped[str] = mapped_column(String(16), default="light")
    exposure_s: Mapped[float] = mapped_column(Float, default=0.0)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wall_acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    alert_ivorn: Mapped[str | None] = mapped_column(String(512))
    header: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class NrtAnalysis(Base):
    """The near-real-time analysis of one image: status, reason when failed, and its figures."""

    __tablename__ = "nrt_analyses"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    n_sources: Mapped[int | None] = mapped_column(Integer)
    fwhm_arcsec: Mapped[float | None] = mapped_column(Float)
    limiting_mag: Mapped[float | None] = mapped_column(Float)
    zero_point: Mapped[float | None] = mapped_column(Float)
    astrometry_rms_arcsec: Mapped[float | None] = mapped_column(Float)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
