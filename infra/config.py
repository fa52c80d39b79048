"""The site configuration: one TOML file, validated at start-up.

Errors name the key and the problem (``site.latitude_deg: must be <= 90 (got 123)``). Unknown keys
are errors, so a typo never silently falls back to a default. :func:`config_hash` gives a stable
hash of the effective configuration, journaled once per night.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.config_calibration import CalibrationSection
from infra.config_controlroom import ControlRoomSection
from infra.config_intake import AlertIntakeSection
from infra.config_nrt import NrtSection
from infra.config_security import SecuritySection
from infra.config_simulators import SimulatorsSection, check_endpoints
from infra.config_sky import SkySection
from infra.settings import load_settings

DEFAULT_CONFIG_PATH = Path(__file__).with_name("site_default.toml")

Degrees = Annotated[float, Field(ge=-360.0, le=360.0)]
Seconds = Annotated[float, Field(ge=0.0)]
Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(ValueError):
    """The site configuration is unreadable or invalid; the message names the key and problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSection(_Section):
    """Where the observatory is."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    long_name: str = ""
    latitude_deg: float = Field(ge=-90.0, le=90.0)
    longitude_deg: float = Field(ge=-180.0, le=180.0)
    elevation_m: float = Field(ge=-500.0, le=9000.0)
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class LimitsSection(_Section):
    """Pointing limits and default observing constraints."""

    horizon_deg: float = Field(ge=0.0, le=89.0)
    min_altitude_deg: float = Field(ge=0.0, le=89.0)
    max_airmass: float = Field(ge=1.0, le=40.0)
    min_moon_distance_deg: float = Field(ge=0.0, le=180.0)

    @model_validator(mode="after")
    def _altitude_above_horizon(self) -> LimitsSection:
        if self.min_altitude_deg < self.horizon_deg:
            raise ValueError(
                f"min_altitude_deg ({self.min_altitude_deg}) is below horizon_deg "
                f"({self.horizon_deg})"
            )
        return self


class NightSection(_Section):
    """Which sun altitudes bound the night and the twilight-flat windows, and how the night
    flows pace themselves (simulated seconds unless said otherwise)."""

    sun_altitude_deg: float = Field(ge=-18.0, le=0.0)
    flat_sun_altitude_high_deg: float = Field(ge=-18.0, le=0.0)
    flat_sun_altitude_low_deg: float = Field(ge=-18.0, le=0.0)
    #: ``plan-night`` runs daily at this local hour (site time zone), in daytime.
    plan_hour_local: int = Field(default=14, ge=0, le=23)
    #: ``start-of-night`` starts this long before sunset (evening bias and darks).
    evening_lead_s: float = Field(default=3600.0, ge=0.0)
    #: ``execute-night`` runs in blocks of this length, not one run all night.
    block_s: float = Field(default=3600.0, ge=300.0)
    #: How often the night looks again while waiting (weather, dome, the next sequence).
    poll_s: float = Field(default=30.0, gt=0.0)
    #: Shortest wall time between two looks (fast simulated clocks).
    min_poll_wall_s: float = Field(default=0.2, gt=0.0)
    #: A sequence may start this much before its planned start.
    early_start_s: float = Field(default=60.0, ge=0.0)
    #: The next block is scheduled this many wall seconds before the current one ends (it waits
    #: for the ``telescope`` limit), hiding a flow run's start-up.
    block_lead_wall_s: float = Field(default=10.0, ge=0.0)
    #: Lease of the ``telescope`` concurrency slot (wall seconds, renewed while held): a crashed
    #: run's slot frees this long after it died (Prefect's server accepts 60 s at least).
    telescope_lease_wall_s: float = Field(default=60.0, ge=60.0)
    #: Evening calibrations (bias and darks) and flats at dusk and dawn.
    evening_calibrations: bool = True
    twilight_flats: bool = True

    @model_validator(mode="after")
    def _flat_window_ordered(self) -> NightSection:
        if self.flat_sun_altitude_low_deg >= self.flat_sun_altitude_high_deg:
            raise ValueError("flat_sun_altitude_low_deg must be below flat_sun_altitude_high_deg")
        return self


class Endpoint(_Section):
    """A device endpoint (defaults: the seed's ``socket_config.ini``).

    ``driver`` says what the gateway speaks to the device: ``pyros`` (the JSON device protocol of
    the simulators and the COLIBRI hardware) or ``indi`` (an INDI server at ``host``:``port``,
    device ``indi_device``; docs/devices.md). The ``indi_*`` keys apply to INDI devices only.
    """

    host: str = "127.0.0.1"
    port: Port
    timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)
    driver: Literal["pyros", "indi"] = "pyros"
    #: The INDI device behind this PyROS device (``"Telescope Simulator"``...).
    indi_device: str | None = Field(default=None, min_length=1, max_length=128)
    #: A camera's filter wheel when it is a separate INDI device (None: the CCD's own
    #: ``FILTER_SLOT``, if it has one). Slot ``i`` holds the instrument's ``filters[i - 1]``.
    indi_wheel: str | None = Field(default=None, min_length=1, max_length=128)
    #: A camera's binning (both axes), set on connection with the full frame.
    indi_binning: int = Field(default=1, ge=1, le=16)
    #: A camera's cooler set point (None: leave the cooler alone).
    indi_temperature_c: float | None = Field(default=None, ge=-100.0, le=50.0)
    #: The station name a weather device's readings carry in the PLC ``STATUS``.
    indi_station: str = Field(default="INDI-weather", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _indi_device_named(self) -> Endpoint:
        if self.driver == "indi" and self.indi_device is None:
            raise ValueError('driver "indi" needs indi_device (the INDI device name)')
        return self


#: Largest intensity ``[devices.lamp] intensity`` may ask (a panel's own range may be smaller).
MAX_LAMP_INTENSITY = 65535.0


class LampEndpoint(Endpoint):
    """The dome-flat lamp when it is a device of its own: an INDI light panel (``[devices.lamp]``,
    docs/devices.md). Without it the lamp is the PLC's ``calibration_lamp`` switch."""

    driver: Literal["indi"]
    #: ``FLAT_LIGHT_INTENSITY`` set before the panel is switched on (None: left as it is).
    intensity: float | None = Field(default=None, ge=0.0, le=MAX_LAMP_INTENSITY)


class WeatherEndpoint(Endpoint):
    """A weather station of its own, a second source for the environment synthesis beside the
    PLC (``[devices.weather]``, docs/devices.md, docs/environment.md): an INDI weather device
    (``WEATHER_PARAMETERS``, ``WEATHER_STATUS``). Without it the PLC is the only source."""

    driver: Literal["indi"]


class DevicesSection(_Section):
    """Endpoints of every device (``lamp`` and ``weather`` are optional)."""

    mount: Endpoint
    camera_vis: Endpoint
    camera_nir: Endpoint
    plc: Endpoint
    dome: Endpoint
    lamp: LampEndpoint | None = None
    weather: WeatherEndpoint | None = None

    def configured(self) -> dict[str, Endpoint]:
        """The configured devices and their endpoints, in configuration order (an optional
        device left out is not there)."""
        found = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: endpoint for name, endpoint in found.items() if endpoint is not None}

    @model_validator(mode="after")
    def _distinct_ports(self) -> DevicesSection:
        seen: dict[tuple[str, int], str] = {}
        indi: dict[tuple[str, int, str], str] = {}
        for name, endpoint in self.configured().items():
            if endpoint.driver == "indi":
                # One INDI server fronts many devices: they share host and port, not the device.
                device = (endpoint.host, endpoint.port, str(endpoint.indi_device))
                if device in indi:
                    raise ValueError(
                        f"{name} and {indi[device]} are both INDI device {endpoint.indi_device!r}"
                    )
                indi[device] = name
                continue
            key = (endpoint.host, endpoint.port)
            if key in seen:
                raise ValueError(f"{name} and {seen[key]} share {endpoint.host}:{endpoint.port}")
            seen[key] = name
        return self


#: Prefect's default API port: no gateway may listen there.
PREFECT_DEFAULT_PORT = 4200


class GatewayPorts(_Section):
    """Where each device's gateway listens (one port per device)."""

    mount: Port = 5100
    camera_vis: Port = 5101
    camera_nir: Port = 5102
    plc: Port = 5103
    dome: Port = 5104
    lamp: Port = 5105  # used only when [devices.lamp] is configured
    weather: Port = 5106  # used only when [devices.weather] is configured


class GatewaysSection(_Section):
    """The device gateways (docs/devices.md). Lease and client timings are **wall** seconds."""

    host: str = "127.0.0.1"
    ports: GatewayPorts = Field(default_factory=GatewayPorts)
    lease_ttl_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    heartbeat_s: float = Field(default=2.0, gt=0.0, le=600.0)
    claim_wait_s: float = Field(default=5.0, ge=0.0, le=3600.0)
    request_margin_s: float = Field(default=1.0, gt=0.0, le=60.0)
    reconnect_initial_s: float = Field(default=0.05, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(default=2.0, gt=0.0, le=300.0)
    health_poll_s: float = Field(default=5.0, ge=0.0, le=3600.0)
    poll_interval_s: float = Field(default=0.05, gt=0.0, le=10.0)
    min_wait_s: float = Field(default=2.0, ge=0.0, le=600.0)

    @model_validator(mode="after")
    def _consistent(self) -> GatewaysSection:
        if self.heartbeat_s * 2 > self.lease_ttl_s:
            raise ValueError(
                f"heartbeat_s ({self.heartbeat_s}) must be at most half of lease_ttl_s "
                f"({self.lease_ttl_s}), or one late heartbeat loses the lease"
            )
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        seen: dict[int, str] = {}
        for name in type(self.ports).model_fields:
            port = getattr(self.ports, name)
            if port == PREFECT_DEFAULT_PORT:
                raise ValueError(f"ports.{name}: {port} is Prefect's API port")
            if port in seen:
                raise ValueError(f"ports.{name} and ports.{seen[port]} share port {port}")
            seen[port] = name
        return self


class MountSection(_Section):
    """Mount kinematics used by the planner and the simulator."""

    slew_rate_deg_s: float = Field(gt=0.0, le=100.0)
    settle_s: Seconds
    park_alt_deg: float = Field(ge=0.0, le=90.0)
    park_az_deg: float = Field(ge=0.0, lt=360.0)


class DomeSection(_Section):
    """Dome shutter timings."""

    open_s: Seconds
    close_s: Seconds


class InstrumentSection(_Section):
    """A camera and its filter wheel."""

    name: str = Field(min_length=1)
    device: str
    width: int = Field(gt=0, le=20000)
    height: int = Field(gt=0, le=20000)
    pixel_scale_arcsec: float = Field(gt=0.0, le=60.0)
    gain_e_per_adu: float = Field(gt=0.0)
    read_noise_e: float = Field(ge=0.0)
    readout_s: Seconds
    filter_move_s: Seconds
    dark_current_e_s: float = Field(ge=0.0)
    bias_adu: float = Field(ge=0.0)
    saturation_adu: float = Field(gt=0.0)
    #: Up-the-ramp sampling (infrared arrays): the detector is read every ``ramp_read_s`` during
    #: the exposure and the frame is the fitted slope times the exposure, so a pixel saturates
    #: only when it fills within one read. None: one read at the end (a CCD).
    ramp_read_s: float | None = Field(default=None, gt=0.0)
    filters: list[str] = Field(min_length=1)

    @field_validator("filters")
    @classmethod
    def _unique_filters(cls, value: list[str]) -> list[str]:
        duplicates = sorted({f for f in value if value.count(f) > 1})
        if duplicates:
            raise ValueError(f"duplicate filter names {duplicates}")
        if any(not f.strip() for f in value):
            raise ValueError("a filter name is empty")
        return value

    @property
    def field_of_view_deg(self) -> tuple[float, float]:
        """Field of view (width, height) in degrees."""
        return (
            self.width * self.pixel_scale_arcsec / 3600.0,
            self.height * self.pixel_scale_arcsec / 3600.0,
        )


class SafetySection(_Section):
    """Thresholds of the environment synthesis (DESIGN §5)."""

    poll_interval_s: float = Field(gt=0.0, le=60.0)
    stale_after_s: float = Field(gt=0.0)
    hold_good_s: Seconds
    rain_rate_threshold_mm_h: float = Field(ge=0.0)
    wind_max_m_s: float = Field(gt=0.0)
    humidity_max_percent: float = Field(gt=0.0, le=100.0)
    dew_point_margin_min_c: float = Field(ge=0.0)
    sky_temperature_cloudy_c: float
    outside_temperature_min_c: float
    outside_temperature_max_c: float
    pressure_min_mbar: float = Field(gt=0.0)
    pressure_max_mbar: float = Field(gt=0.0)
    #: Shortest wall time between two polls: at high simulation speeds the simulated interval
    #: would shrink to milliseconds of wall time.
    min_poll_wall_s: float = Field(default=0.05, gt=0.0, le=10.0)
    #: Wall seconds between two ``pyros.watcher.heartbeat`` events of the monitor (the
    #: watcher-silent automation fires after 20 s without one: keep this well under that).
    heartbeat_wall_s: float = Field(default=5.0, gt=0.0, le=15.0)
    #: Most writes the monitor queues while the database is slow or away.
    write_queue_max: int = Field(default=20000, ge=100)
    #: The night trusts the monitor's verdict only while the monitor's last word (its verdict or
    #: its latest synthesis) is at most this old (simulated seconds): older is unsafe.
    verdict_max_age_s: float = Field(default=60.0, gt=0.0)
    #: ...and never less than this much wall time: at high simulation speeds the write-behind's
    #: normal lag (wall) would otherwise read as simulated minutes of silence.
    verdict_max_age_wall_min_s: float = Field(default=5.0, gt=0.0)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> SafetySection:
        if self.outside_temperature_min_c >= self.outside_temperature_max_c:
            raise ValueError("outside_temperature_min_c must be below outside_temperature_max_c")
        if self.pressure_min_mbar >= self.pressure_max_mbar:
            raise ValueError("pressure_min_mbar must be below pressure_max_mbar")
        return self


class RequestsSection(_Section):
    """Limits of request ingestion."""

    max_file_bytes: int = Field(gt=0, le=512 * 1024 * 1024)
    default_priority: int = Field(ge=0)
    max_priority: int = Field(ge=1)

    @model_validator(mode="after")
    def _default_in_range(self) -> RequestsSection:
        if self.default_priority > self.max_priority:
            raise ValueError("default_priority is above max_priority")
        return self


class StrategyPlan(_Section):
    """One plan of an alert follow-up strategy."""

    instrument: str
    filter: str
    exposure_s: float = Field(gt=0.0)
    count: int = Field(gt=0, le=10000)


class AlertStrategy(_Section):
    """How to follow a burst from some missions, up to some error-box size (StrategyObs)."""

    name: str = Field(min_length=1)
    missions: list[str] = Field(min_length=1)
    max_error_radius_deg: float = Field(gt=0.0, le=180.0)
    allow_tiling: bool = False
    max_tiles: int = Field(default=1, ge=1, le=1000)
    #: The fraction of the burst's probability inside a notice's error radius (the circle read as
    #: a circular Gaussian's): 0.9 for Swift BAT and SVOM ECLAIRs, 0.68 for Fermi GBM.
    error_containment: float = Field(default=0.9, gt=0.0, lt=1.0)
    #: None: a circle needing more than ``max_tiles`` tiles is not followed. A fraction: the
    #: ``max_tiles`` most probable tiles are observed when they hold at least this much of the
    #: burst's probability (a GBM box of degrees, partly covered).
    min_probability: float | None = Field(default=None, gt=0.0, le=1.0)
    plans: list[StrategyPlan] = Field(min_length=1)

    @model_validator(mode="after")
    def _partial_needs_tiling(self) -> AlertStrategy:
        if self.min_probability is not None and not self.allow_tiling:
            raise ValueError(
                f"strategy {self.name}: min_probability (partial tiling) needs allow_tiling = true"
            )
        return self


#: Event kinds the alert parser recognises (docs/alerts.md).
ALERT_KINDS = ("grb", "gw", "neutrino", "other")


class AlertsSection(_Section):
    """Alert policy knobs and follow-up strategies (docs/alerts.md)."""

    test_mode: bool = False
    validity_s: Seconds
    repoint_threshold_arcmin: float = Field(ge=0.0)
    priority: int = Field(ge=0)
    max_packet_bytes: int = Field(default=262144, ge=1024, le=16 * 1024 * 1024)
    followed_kinds: list[str] = Field(default_factory=lambda: ["grb"])
    match_window_s: float = Field(default=120.0, ge=0.0, le=86400.0)
    lookback_s: float = Field(default=259200.0, gt=0.0)
    max_clock_skew_s: float = Field(default=300.0, ge=0.0, le=86400.0)
    window_step_s: float = Field(default=300.0, ge=10.0, le=3600.0)
    min_window_s: float = Field(default=300.0, ge=0.0)
    tile_overlap: float = Field(default=0.1, ge=0.0, lt=0.9)
    strategies: list[AlertStrategy] = Field(default_factory=list)

    @field_validator("followed_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ALERT_KINDS))
        if unknown:
            raise ValueError(f"unknown event kinds {unknown} (known: {', '.join(ALERT_KINDS)})")
        return value

    @field_validator("strategies")
    @classmethod
    def _unique_strategy_names(cls, value: list[AlertStrategy]) -> list[AlertStrategy]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate strategy names {duplicates}")
        return value


class StackSection(_Section):
    """How ``pyros up`` runs the stack on this machine."""

    prefect_port: Port = 4200
    #: Where the stack's own Prefect server listens (loopback unless listed in [security]
    #: bind_hosts; ``0.0.0.0`` for every interface).
    prefect_host: str = "127.0.0.1"
    worker_poll_s: float = Field(default=1.0, gt=0.0, le=60.0)
    startup_timeout_s: float = Field(default=180.0, gt=0.0)


class SiteConfig(_Section):
    """The whole site configuration."""

    site: SiteSection
    limits: LimitsSection
    night: NightSection
    devices: DevicesSection
    mount: MountSection
    dome: DomeSection
    instruments: list[InstrumentSection] = Field(min_length=1)
    safety: SafetySection
    requests: RequestsSection
    alerts: AlertsSection
    sky: SkySection
    stack: StackSection = Field(default_factory=StackSection)
    gateways: GatewaysSection = Field(default_factory=GatewaysSection)
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)
    simulators: SimulatorsSection = Field(default_factory=SimulatorsSection)
    nrt: NrtSection = Field(default_factory=NrtSection)
    controlroom: ControlRoomSection = Field(default_factory=ControlRoomSection)
    alert_intake: AlertIntakeSection = Field(default_factory=AlertIntakeSection)
    security: SecuritySection = Field(default_factory=SecuritySection)

    @model_validator(mode="after")
    def _cross_checks(self) -> SiteConfig:
        self.security.check_bind("gateways.host", self.gateways.host)
        self.security.check_bind("stack.prefect_host", self.stack.prefect_host)
        self.security.check_bind("alert_intake.comet.host", self.alert_intake.comet.host)
        self.security.check_bind("controlroom.previews_host", self.controlroom.previews_host)
        names = [i.name for i in self.instruments]
        if len(set(names)) != len(names):
            raise ValueError(f"instruments: duplicate instrument names {names}")
        device_names = set(DevicesSection.model_fields)
        for index, instrument in enumerate(self.instruments):
            if instrument.device not in device_names or not instrument.device.startswith("camera"):
                raise ValueError(
                    f"instruments[{index}].device: {instrument.device!r} is not a camera device "
                    f"({', '.join(sorted(d for d in device_names if d.startswith('camera')))})"
                )
            for f_name in instrument.filters:
                if f_name not in self.sky.filters:
                    raise ValueError(
                        f"instruments[{index}].filters: {f_name!r} has no [sky.filters] entry "
                        "(the camera simulator needs its photometry)"
                    )
        for name, endpoint in self.devices.configured().items():
            for gateway in GatewayPorts.model_fields:
                port = getattr(self.gateways.ports, gateway)
                if port == endpoint.port and endpoint.host == self.gateways.host:
                    raise ValueError(
                        f"gateways.ports.{gateway}: {self.gateways.host}:{port} is the endpoint "
                        f"of device {name}"
                    )
        check_endpoints(  # (an INDI device is never one of PyROS's simulators)
            self.simulators,
            {
                name: endpoint.host
                for name, endpoint in self.devices.configured().items()
                if endpoint.driver == "pyros"
            },
        )
        if self.alerts.priority > self.requests.max_priority:
            raise ValueError("alerts.priority is above requests.max_priority")
        for s_index, strategy in enumerate(self.alerts.strategies):
            for p_index, plan in enumerate(strategy.plans):
                where = f"alerts.strategies[{s_index}].plans[{p_index}]"
                plan_instrument = self.instrument(plan.instrument)
                if plan_instrument is None:
                    raise ValueError(f"{where}.instrument: unknown instrument {plan.instrument!r}")
                if plan.filter not in plan_instrument.filters:
                    raise ValueError(
                        f"{where}.filter: {plan.filter!r} is not in the wheel of "
                        f"{plan_instrument.name!r}"
                    )
        return self

    def instrument(self, name: str) -> InstrumentSection | None:
        """Return the instrument called ``name`` (exact match), or None."""
        for instrument in self.instruments:
            if instrument.name == name:
                return instrument
        return None


def _format_error(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(
            f"[{part}]" if isinstance(part, int) else str(part) for part in item["loc"]
        ).replace(".[", "[")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif "input" in item and item["type"] != "missing" and not isinstance(item["input"], dict):
            message = f"{message} (got {item['input']!r})"
        problems.append(f"{location or '<top>'}: {message}")
    return f"{source}: invalid site configuration: " + "; ".join(problems)


def parse_config(data: dict[str, Any], source: str = "<config>") -> SiteConfig:
    """Validate a configuration mapping.

    Parameters
    ----------
    data : dict
        The parsed TOML document.
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    SiteConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        Naming every invalid key and its problem.
    """
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None


def load_config(path: Path | str | None = None) -> SiteConfig:
    """Load and validate the site configuration file.

    Parameters
    ----------
    path : Path or str, optional
        TOML file; default the bundled ``site_default.toml``.

    Raises
    ------
    ConfigError
        The file is missing, is not TOML, or does not validate.
    """
    file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read site configuration: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: site configuration is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, str(file))


def config_hash(config: SiteConfig) -> str:
    """Stable SHA-256 of the effective configuration (key order and formatting do not matter)."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@lru_cache(maxsize=8)
def _cached(path: str | None) -> SiteConfig:
    return load_config(path)


def get_config() -> SiteConfig:
    """The configuration of this process, from ``PYROS_SITE_CONFIG`` or the defaults (cached)."""
    site_config = load_settings().site_config
    return _cached(str(site_config) if site_config else None)
