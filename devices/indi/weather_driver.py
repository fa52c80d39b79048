"""An INDI weather station as a second source for the environment synthesis
(``[devices.weather] driver = "indi"``).

INDI's weather interface (``indi_simulator_weather``, and every station driver: Vantage, AAG
CloudWatcher, OpenWeatherMap...): the numbers ``WEATHER_PARAMETERS`` (``WEATHER_RAIN_HOUR``,
``WEATHER_WIND_SPEED``, ``WEATHER_TEMPERATURE``...) and the lights ``WEATHER_STATUS``, one per
parameter the station judges (Ok, Busy: a warning, Alert: out of its safe range). ``STATUS`` is a
round trip (the base class's ``CONNECTION`` ping) before the copy of both properties is read, so
a station driver that stops answering fails the command instead of giving an old reading; its
``date`` is the PyROS clock at that round trip (a station re-publishes its parameters only every
``WEATHER_UPDATE`` period: a minute by default).
"""

from __future__ import annotations

from typing import Any

from devices.indi import translate
from devices.indi.drivers import IndiDriver


class StationDriver(IndiDriver):
    """An INDI weather station: ``STATUS`` only (a station is read, never moved)."""

    main = "WEATHER_STATUS"

    def needs(self) -> list[tuple[str, str]]:
        return [(self.indi, "WEATHER_STATUS"), (self.indi, "WEATHER_PARAMETERS")]

    def status(self) -> dict[str, Any]:
        return translate.station_status(self.vectors(), self.indi, self.clock.now())
