"""Devices as seen by their gateways, their status history, and the lease mirror (display only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.models.base import Base, UTCDateTime


class Device(Base):
    """A device (mount, dome, camera, PLC) and its last known health."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(256), default="")
    port: Mapped[int | None] = mapped_column(Integer)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    last_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceStatusHistory(Base):
    """A notable change of a device: lost, back, fault, or a status snapshot."""

    __tablename__ = "device_status_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(32))
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DeviceLease(Base):
    """Mirror of a gateway's lease, for display: the gateway's memory is the authority."""

    __tablename__ = "device_leases"

    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[str | None] = mapped_column(String(16))
    #: Gateways start epochs at wall milliseconds (never reused across restarts): 64 bits.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
