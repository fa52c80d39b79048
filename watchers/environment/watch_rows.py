"""The monitor's rows: one WeatherWatch and one SiteWatch per reading (the original tables,
matched on ``global_status``), and a history row whenever a global status changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from infra.db.models import SiteWatch, SiteWatchHistory, WeatherWatch, WeatherWatchHistory
from infra.journal import to_json_payload
from tasks.environment.elements import ElementState
from tasks.environment.synthesis import GlobalStatus, Synthesis

#: One write for the monitor's write-behind queue.
Write = Callable[[Session], None]


def _number(synthesis: Synthesis, element: str) -> float | None:
    record = synthesis.record(element)
    return record.value if record is not None and isinstance(record.value, float) else None


def _text(synthesis: Synthesis, element: str) -> str | None:
    record = synthesis.record(element)
    return None if record is None or record.value is None else str(record.value)


def weather_row(synthesis: Synthesis) -> WeatherWatch:
    """The WeatherWatch row of one synthesis (the full synthesis lives in the history rows)."""
    rain = synthesis.record("rain")
    rain_detected = None if rain is None or rain.value is None else rain.state is ElementState.BAD
    margin = _number(synthesis, "dew point margin")
    temperature = _number(synthesis, "outside temperature")
    return WeatherWatch(
        updated_at=synthesis.at,
        wall_updated_at=datetime.now(UTC),
        global_status=synthesis.weather_status,
        should_close=synthesis.should_close,
        rain_rate_mm_h=_number(synthesis, "rain"),
        rain_detected=rain_detected,
        wind_speed_m_s=_number(synthesis, "wind"),
        humidity_percent=_number(synthesis, "humidity"),
        dew_point_c=None if margin is None or temperature is None else temperature - margin,
        outside_temp_c=temperature,
        sky_temp_c=_number(synthesis, "sky temperature"),
        pressure_mbar=_number(synthesis, "pressure"),
        synthesis={"reasons": list(synthesis.reasons), "overrides": list(synthesis.overrides)}
        if synthesis.reasons or synthesis.overrides
        else None,
    )


def site_row(synthesis: Synthesis) -> SiteWatch:
    """The SiteWatch row of one synthesis."""
    intrusion = _text(synthesis, "intrusion")
    return SiteWatch(
        updated_at=synthesis.at,
        wall_updated_at=datetime.now(UTC),
        global_status=synthesis.site_status,
        should_close=any(r.should_close for r in synthesis.site),
        dome_shutter=_text(synthesis, "shutter"),
        doors=_text(synthesis, "doors"),
        lights=_text(synthesis, "lights"),
        inside_temp_c=_number(synthesis, "inside temperature"),
        inside_humidity_percent=_number(synthesis, "inside humidity"),
        intrusion=None if intrusion is None else intrusion == "yes",
    )


class StatusTracker:
    """Remembers the last global statuses, to write history rows on changes only."""

    def __init__(self) -> None:
        self.weather: GlobalStatus | None = None
        self.site: GlobalStatus | None = None

    def writes(self, synthesis: Synthesis) -> list[Write]:
        """Functions (for a write-behind queue) storing this synthesis."""
        rows: list[WeatherWatch | SiteWatch | WeatherWatchHistory | SiteWatchHistory] = [
            weather_row(synthesis),
            site_row(synthesis),
        ]
        details = to_json_payload(synthesis.as_dict())
        if synthesis.weather_status != self.weather:
            rows.append(
                WeatherWatchHistory(
                    at=synthesis.at,
                    from_status=self.weather,
                    to_status=synthesis.weather_status,
                    reason="; ".join(synthesis.reasons) or "every element good",
                    synthesis=details,
                )
            )
            self.weather = synthesis.weather_status
        if synthesis.site_status != self.site:
            rows.append(
                SiteWatchHistory(
                    at=synthesis.at,
                    from_status=self.site,
                    to_status=synthesis.site_status,
                    reason="; ".join(
                        r.line() for r in synthesis.site if r.state is not ElementState.GOOD
                    )
                    or "every site element good",
                    synthesis=details,
                )
            )
            self.site = synthesis.site_status
        return [_adder(row) for row in rows]


def _adder(row: WeatherWatch | SiteWatch | WeatherWatchHistory | SiteWatchHistory) -> Write:
    def add(session: Session) -> None:
        session.add(row)

    return add
