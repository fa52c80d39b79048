"""Who observes: countries (quota), user levels, users and scientific programs."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from infra.db.models.base import Base

program_members = Table(
    "program_members",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "program_id", ForeignKey("scientific_programs.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Country(Base):
    """A partner country and its share of observing time (hours)."""

    __tablename__ = "countries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    quota_hours: Mapped[float] = mapped_column(Float, default=0.0)
    used_hours: Mapped[float] = mapped_column(Float, default=0.0)


class UserLevel(Base):
    """A class of users (admin, operator, observer...) with its default priority."""

    __tablename__ = "user_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """An astronomer or an automatic submitter (``pyros``)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(256), default="")
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str] = mapped_column(String(128), default="")
    country_id: Mapped[int | None] = mapped_column(ForeignKey("countries.id"))
    user_level_id: Mapped[int | None] = mapped_column(ForeignKey("user_levels.id"))
    quota_hours: Mapped[float] = mapped_column(Float, default=0.0)
    used_hours: Mapped[float] = mapped_column(Float, default=0.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    country: Mapped[Country | None] = relationship()
    level: Mapped[UserLevel | None] = relationship()
    programs: Mapped[list[ScientificProgram]] = relationship(
        secondary=program_members, back_populates="members"
    )


class ScientificProgram(Base):
    """A scientific program (``GRB`` by default) and its quota in hours."""

    __tablename__ = "scientific_programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    quota_hours: Mapped[float] = mapped_column(Float, default=0.0)
    used_hours: Mapped[float] = mapped_column(Float, default=0.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    members: Mapped[list[User]] = relationship(secondary=program_members, back_populates="programs")
