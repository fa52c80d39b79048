"""The monitor's rows: one WeatherWatch and one SiteWatch per reading (the original tables,
matched on ``global_status``), and a history row whenever a global status changes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from infra.db.models import SiteWatch, SiteWatchHistory, WeatherWatch, WeatherWatchHistory
from infra.journal import to_json_payload
from tasks.environment.synthesis import Synthesis


def _number(synthesis: Synthesis, element: str) -> float | None:
    record = synthesis.record(element)
    return record.value if record is not None and isinstance(record.value, float) else None


def _text(synthesis: Synthesis, element: str) -> str | None:
    record = synthesis.record(element)
    return None if record is None or record.value is None else str(record.value)


def weather_row(synthesis: Synthesis) -> WeatherWatch:
    """The WeatherWatch row of one synthesis (the full synthesis lives in the history rows)."""
    rain = synthesis.record("rain")
    margin = _number(synthesis, "dew point margin")
    temperature = _number(synthesis, "outside temperature")
    return WeatherWatch(
        updated_at=synthesis.at,
        wall_updated_at=datetime.now(UTC),
        global_status=synthesis.weather_status,
        should_close=synthesis.should_close,
        rain_rate_mm_h=_number(synthesis, "rain"),
        rain_detected=None if rain is None or rain.value is None else rain.state == "bad",
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
        self.weather: str | None = None
        self.site: str | None = None

    def writes(self, synthesis: Synthesis) -> list:
        """Functions (for a write-behind queue) storing this synthesis."""
        weather, site = weather_row(synthesis), site_row(synthesis)
        writes = [lambda s, w=weather: s.add(w), lambda s, w=site: s.add(w)]
        details = to_json_payload(synthesis.as_dict())
        if synthesis.weather_status != self.weather:
            history = WeatherWatchHistory(
                at=synthesis.at,
                from_status=self.weather,
                to_status=synthesis.weather_status,
                reason="; ".join(synthesis.reasons) or "every element good",
                synthesis=details,
            )
            writes.append(lambda s, h=history: s.add(h))
            self.weather = synthesis.weather_status
        if synthesis.site_status != self.site:
            history = SiteWatchHistory(
                at=synthesis.at,
                from_status=self.site,
                to_status=synthesis.site_status,
                reason="; ".join(r.line() for r in synthesis.site if r.state != "good")
                or "every site element good",
                synthesis=details,
            )
            writes.append(lambda s, h=history: s.add(h))
            self.site = synthesis.site_status
        return writes


def add_all(session: Session, writes: list) -> None:
    """Apply writes directly (tests, one-shot commands)."""
    for write in writes:
        write(session)
