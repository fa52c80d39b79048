"""Calibration masters (bias, dark, flat): one row per build, good or failed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime

#: Master types.
MASTER_TYPES = ("bias", "dark", "flat")


class MasterStatus(StrEnum):
    """How a master build ended (stored as its value in ``calibration_masters.status``)."""

    GOOD = "good"  # a usable master
    FAILED = "failed"  # a build that produced nothing (its reason says why)


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
    frames: Mapped[list[Any] | None] = mapped_column(JSON)
    rejected: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON)
