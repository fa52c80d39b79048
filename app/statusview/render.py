"""Draw :class:`~app.statusview.model.ObservatoryStatus` for a terminal (rich)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from app.statusview.model import (
    CameraStatus,
    DeviceLink,
    ObservatoryStatus,
    SequenceStatus,
    WeatherStatus,
)


def _time(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s ago"


def _link(device: DeviceLink) -> Text:
    if not device.reachable:
        return Text(f"UNREACHABLE: {device.error or 'no answer'}", style="bold red")
    return Text(device.state or "?", style="green" if device.state != "fault" else "bold red")


def _holder(device: DeviceLink) -> str:
    return f"lease: {device.lease}" if device.lease else "lease: free"


def _devices(status: ObservatoryStatus) -> Table:
    table = Table(title="Devices", expand=True)
    for column in ("device", "state", "details", "lease"):
        table.add_column(column, overflow="fold")
    if status.dome is not None:
        dome = status.dome
        shutter = "" if dome.open_percent is None else f"shutter {dome.open_percent:.0f} % open"
        table.add_row("dome", _link(dome.device), shutter, _holder(dome.device))
    if status.mount is not None:
        mount = status.mount
        where = ""
        if mount.ra_deg is not None and mount.dec_deg is not None:
            where = f"RA {mount.ra_deg:.4f}° Dec {mount.dec_deg:+.4f}°"
            if mount.alt_deg is not None:
                where += f" alt {mount.alt_deg:.1f}°"
            where += ", tracking" if mount.tracking else ", not tracking"
        table.add_row("mount", _link(mount.device), where, _holder(mount.device))
    for camera in status.cameras:
        table.add_row(
            f"{camera.device.name} ({camera.instrument})",
            _link(camera.device),
            _camera_details(camera),
            _holder(camera.device),
        )
    return table


def _camera_details(camera: CameraStatus) -> RenderableType:
    filter_text = f"filter {camera.filter}" if camera.filter else ""
    exposure = camera.exposure
    if exposure is None:
        return filter_text
    line = Text(
        f"{filter_text}, {exposure.image_type} {exposure.frame_id}: "
        f"{exposure.elapsed_s:.1f} / {exposure.exposure_s:g} s"
    )
    return Group(line, ProgressBar(total=1.0, completed=exposure.fraction, width=30))


def _weather(weather: WeatherStatus) -> Text:
    if weather.error is not None:
        return Text(f"weather: unknown ({weather.error})", style="bold red")
    if weather.safe is None:
        verdict = Text("weather: no verdict from the monitor yet", style="yellow")
    else:
        verdict = Text(
            f"weather: {'SAFE' if weather.safe else 'UNSAFE'}",
            style="bold green" if weather.safe else "bold red",
        )
    reason = f" — {weather.reason}" if weather.safe is not None else ""
    verdict.append(
        f"{reason}; weather {weather.weather_status or '?'}, site "
        f"{weather.site_status or '?'}; monitor's last word {_age(weather.age_s)} "
        f"(simulated); dome requested {weather.dome_request}"
    )
    for override in weather.overrides:
        verdict.append(f"\n  override in force: {override}", style="bold yellow")
    return verdict


def _sequence(label: str, sequence: SequenceStatus | None) -> str:
    if sequence is None:
        return f"{label}: none"
    done, total = sequence.images
    when = (
        f", planned {_time(sequence.planned_start)}"
        if sequence.planned_start
        else f" since {_time(sequence.since)}"
    )
    plans = "; ".join(f"{p.plan} {p.filter} {p.done}/{p.total}" for p in sequence.plans)
    return (
        f"{label}: #{sequence.id} {sequence.name} ({sequence.state}{when}), "
        f"images {done}/{total}" + (f" [{plans}]" if plans else "")
    )


def _alert(status: ObservatoryStatus) -> str:
    alert = status.last_alert
    if alert is None:
        return "last alert: none"
    follow = f", follow-up {alert.follow_up}" if alert.follow_up else ""
    return (
        f"last alert: {alert.mission or '?'} {alert.ivorn or ''} at {_time(alert.received_at)}: "
        f"{alert.decision} (action {alert.action}{follow}) — {alert.reason}"
    )


def _watchers(status: ObservatoryStatus) -> Table:
    table = Table(title="Watchers and processes", expand=True)
    for column in ("process", "state", "pid", "restarts", "last heartbeat (wall)"):
        table.add_column(column, overflow="fold")
    beats = {w.name: w for w in status.watchers}
    for process in status.processes:
        watcher = beats.pop(process.name, None)
        table.add_row(
            process.name,
            process.state + ("" if process.ready else " (not ready)"),
            str(process.pid or ""),
            str(process.restarts),
            "" if watcher is None else _age(watcher.heartbeat_age_s),
        )
    for watcher in beats.values():
        table.add_row(
            watcher.name, watcher.process or "not supervised", "", "", _age(watcher.heartbeat_age_s)
        )
    return table


def render_status(status: ObservatoryStatus) -> RenderableType:
    """The whole screen."""
    head = Text(f"PyROS observatory at {_time(status.at)} UTC — mode ", style="bold")
    head.append(status.mode or "unknown", style="bold magenta")
    lines: list[RenderableType] = [head]
    if status.database_error:
        lines.append(Text(f"database does not answer: {status.database_error}", style="bold red"))
    lines += [
        _weather(status.weather),
        _devices(status),
        Text(_sequence("current sequence", status.current)),
        Text(_sequence("next sequence", status.next)),
        Text(_alert(status)),
        _watchers(status),
    ]
    return Group(*lines)
