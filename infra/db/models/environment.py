"""Weather and site watch: the environment synthesis as stored by the monitor, and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime


class WeatherWatch(Base):
    """One weather synthesis (original ``weatherwatch`` table, matched on ``global_status``)."""

    __tablename__ = "weather_watch"

    id: Mapped[int] = mapped_column(primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    wall_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    global_status: Mapped[str] = mapped_column(String(32))
    should_close: Mapped[bool] = mapped_column(Boolean, default=False)
    rain_rate_mm_h: Mapped[float | None] = mapped_column(Float)
    rain_detected: Mapped[bool | None] = mapped_column(Boolean)
    wind_speed_m_s: Mapped[float | None] = mapped_column(Float)
    wind_dir_deg: Mapped[float | None] = mapped_column(Float)
    humidity_percent: Mapped[float | None] = mapped_column(Float)
    dew_point_c: Mapped[float | None] = mapped_column(Float)
    outside_temp_c: Mapped[float | None] = mapped_column(Float)
    sky_temp_c: Mapped[float | None] = mapped_column(Float)
    pressure_mbar: Mapped[float | None] = mapped_column(Float)
    synthesis: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WeatherWatchHistory(Base):
    """A change of the weather's global status, with the reason."""

    __tablename__ = "weather_watch_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    synthesis: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SiteWatch(Base):
    """One site synthesis: dome, shutter, doors, lights, inside conditions, intrusion."""

    __tablename__ = "site_watch"

    id: Mapped[int] = mapped_column(primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    wall_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    global_status: Mapped[str] = mapped_column(String(32))
    should_close: Mapped[bool] = mapped_column(Boolean, default=False)
    dome_shutter: Mapped[str | None] = mapped_column(String(32))
    doors: Mapped[str | None] = mapped_column(String(32))
    lights: Mapped[str | None] = mapped_column(String(32))
    inside_temp_c: Mapped[float | None] = mapped_column(Float)
    inside_humidity_percent: Mapped[float | None] = mapped_column(Float)
    intrusion: Mapped[bool | None] = mapped_column(Boolean)
    synthesis: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SiteWatchHistory(Base):
    """A change of the site's global status, with the reason."""

    __tablename__ = "site_watch_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    synthesis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
