"""Calibration masters (bias, dark, flat): one row per build, good or failed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime

#: Master types.
MASTER_TYPES = ("bias", "dark", "flat")
#: A usable master; a build that produced nothing (its reason says why).
STATUS_GOOD = "good"
STATUS_FAILED = "failed"


class CalibrationMaster(Base):
    """A master calibration frame for one camera (and filter, for flats), valid for its night.

    A failed build is a row too (``status`` failed, ``reason``, no file): the error stays on
    record and the previous good master stays in use.
    """

    __tablename__ = "calibration_masters"
    __table_args__ = (Index("ix_calibration_masters_lookup", "camera", "type", "filter", "night"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(8))
    filter: Mapped[str] = mapped_column(String(128), default="")
    flat_source: Mapped[str] = mapped_column(String(16), default="")
    exposure_s: Mapped[float] = mapped_column(Float, default=0.0)
    night: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(1024), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    n_frames: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[list | None] = mapped_column(JSON)
    rejected: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    quality: Mapped[dict | None] = mapped_column(JSON)
