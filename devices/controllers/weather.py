"""A weather station of its own (``[devices.weather]``): a second source for the environment
synthesis beside the PLC.

:class:`WeatherStation` is the capability (read only: the environment monitor polls it, no lease
is needed); :class:`GatewayWeatherStation` reads it through its gateway. :class:`WeatherState` is
the typed ``STATUS``: every parameter the station reports with its number and its light
(``OK``, ``WARNING``, ``ALERT``, or ``IDLE`` when the station judges nothing of it), the worst
light, and the station's ``date`` (the PyROS clock when the gateway last had the station answer,
on which staleness is judged).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from devices.controllers.base import Controller, GatewayController, GatewayView
from devices.errors import ProtocolError


class WeatherLight(StrEnum):
    """A station's judgement of one parameter (INDI: Ok, Busy, Alert, Idle)."""

    OK = "OK"
    WARNING = "WARNING"
    ALERT = "ALERT"
    IDLE = "IDLE"


#: Lights from best to worst (the station's overall light is the worst of its parameters').
LIGHT_ORDER = (WeatherLight.IDLE, WeatherLight.OK, WeatherLight.WARNING, WeatherLight.ALERT)


def worst(lights: list[WeatherLight]) -> WeatherLight:
    """The worst of ``lights`` (``IDLE`` for none)."""
    return max(lights, key=LIGHT_ORDER.index, default=WeatherLight.IDLE)


@dataclass(frozen=True)
class WeatherParameter:
    """One parameter of the station: its value (None: reported as a light only) and light."""

    name: str
    value: float | None
    light: WeatherLight


@dataclass(frozen=True)
class WeatherState:
    """The station's ``STATUS``.

    Attributes
    ----------
    station : str
        The station's own name (the INDI device).
    date : datetime
        When the gateway last had the station answer (UTC, PyROS clock).
    parameters : tuple of WeatherParameter
        Every parameter, in the station's order.
    light : WeatherLight
        The worst light of the parameters.
    """

    station: str
    date: datetime
    parameters: tuple[WeatherParameter, ...] = field(default_factory=tuple)
    light: WeatherLight = WeatherLight.IDLE
    gateway: GatewayView | None = None

    def parameter(self, name: str) -> WeatherParameter | None:
        """The parameter ``name`` (e.g. ``"WEATHER_RAIN_HOUR"``), None when not reported."""
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def alerts(self) -> tuple[WeatherParameter, ...]:
        """The parameters in ``ALERT``."""
        return tuple(p for p in self.parameters if p.light is WeatherLight.ALERT)

    @classmethod
    def from_fields(cls, fields: dict[str, Any], device: str = "weather") -> WeatherState:
        """Parse the ``STATUS`` reply fields.

        Raises
        ------
        ProtocolError
            A reply without a station, a valid date or valid parameters.
        """
        try:
            date = datetime.fromisoformat(str(fields["date"]))
            parameters = tuple(
                WeatherParameter(
                    str(item["name"]),
                    float(item["value"]) if isinstance(item.get("value"), int | float) else None,
                    WeatherLight(item["light"]),
                )
                for item in fields["parameters"]
            )
            station = str(fields["station"])
        except (KeyError, TypeError, ValueError) as error:
            raise ProtocolError(
                f"{device}: malformed weather STATUS ({error!r})", device=device
            ) from None
        return cls(
            station=station,
            date=date if date.tzinfo is not None else date.replace(tzinfo=UTC),
            parameters=parameters,
            light=worst([p.light for p in parameters]),
            gateway=GatewayView.from_fields(fields.get("gateway")),
        )


class WeatherStation(Controller):
    """A weather station (read only)."""

    @abstractmethod
    def status(self) -> WeatherState:
        """The station's parameters and lights (no lease needed).

        Raises
        ------
        DeviceProblem
            Unreachable, not answering in time, or a malformed reply.
        """


class GatewayWeatherStation(GatewayController, WeatherStation):
    """The weather station through its gateway."""

    def status(self) -> WeatherState:
        return WeatherState.from_fields(self._status_fields(), self.device)
