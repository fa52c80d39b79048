"""The night report as Markdown and JSON files (the figures come from
:func:`tasks.night.report.night_report`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.files import write_atomic
from tasks.night.report import NightReport


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(cell).replace("|", "\\|").replace("\n", " ") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


#: Figures of the run shown in the Markdown when the summary has them.
RUN_FIGURES = (
    "flow_runs_failed",
    "flow_runs_crashed",
    "flow_runs_completed",
    "wall_seconds",
    "simulated_seconds",
)


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f} %"


def _per_frame(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _frames_line(total: dict[str, Any]) -> str:
    taken, analysed = total.get("frames_taken", 0), total.get("frames_analysed", 0)
    failed, pending = total.get("frames_failed", 0), total.get("frames_pending", 0)
    share = _fraction(total.get("analysed_fraction"))
    return (
        f"- science frames: {taken} taken, **{analysed} analysed** ({share}), {failed} failed, "
        f"{pending} not analysed yet"
    )


def _orchestration_lines(o: dict[str, Any]) -> list[str]:
    if not o.get("executions"):
        return []
    loss = o["orchestration_loss_fraction"]
    return [
        f"- orchestration: {o['executions']} execution(s), lateness p95 "
        f"{o['lateness_p95_sim_s']} s (max {o['lateness_max_sim_s']} s) simulated, dark time "
        f"lost {'-' if loss is None else f'{100.0 * loss:.2f} %'}, Prefect overhead per "
        f"sequence {o['prefect_overhead_per_sequence_s']} s (p95 {o['prefect_overhead_p95_s']} s)"
        " wall"
    ]


def _frames_section(cameras: dict[str, dict[str, Any]]) -> list[str]:
    """The frames of each camera, then why frames could not be analysed."""
    out = ["", "## Frames per camera", ""]
    if not cameras:
        return [*out, "No science frame."]
    out += _table(
        ["camera", "taken", "analysed", "failed", "pending", "analysed %", "candidates",
         "false candidates per frame"],
        [
            [name, f["frames_taken"], f["frames_analysed"], f["frames_failed"],
             f["frames_pending"], _fraction(f["analysed_fraction"]), f["candidates"],
             _per_frame(f["false_candidates_per_frame"])]
            for name, f in cameras.items()
        ],
    )  # fmt: skip
    reasons = [
        [name, reason["reason"], reason["count"], reason["example"]]
        for name, f in cameras.items()
        for reason in f["failure_reasons"]
    ]
    if reasons:
        out += ["", "### Why frames could not be analysed", ""]
        out += _table(["camera", "reason", "frames", "for example"], reasons)
    return out


def render_markdown(report: NightReport) -> str:
    """The report as the operator reads it (the Prefect artifact and the ``.md`` file)."""
    s = report.summary
    out = [
        f"# Night {report.night}",
        "",
        f"Dark night {s.get('night_start')} → {s.get('night_end')} (UTC).",
        "",
        f"- plannable sequences: **{s['sequences_plannable']}** "
        f"(planned at some point: {s['sequences_planned']}); executed "
        f"**{s['sequences_executed']}**, interrupted {s['sequences_interrupted']}, not executed "
        f"{s['sequences_not_executed']}",
        f"- dropped since planned: {s['sequences_dropped']}; unplannable: "
        f"{s['sequences_unplannable']}",
        f"- images: **{s['images']}**",
        _frames_line(s.get("frames") or {}),
        f"- weather closures: {s['weather_closures']}",
    ]
    for key in RUN_FIGURES:
        if key in s:
            out.append(f"- {key.replace('_', ' ')}: {s[key]}")
    out += _orchestration_lines(s.get("orchestration") or {})
    out += _frames_section(s.get("cameras") or {})
    out += ["", "## Sequences", ""]
    out += _table(
        ["id", "name", "program", "state", "images", "why"],
        [[q.sequence_id, q.name, q.program, q.state, q.images, q.reason] for q in report.sequences],
    )
    if report.dropped:
        out += ["", "## Planned earlier, dropped since", ""]
        out += _table(
            ["id", "name", "program", "state", "why"],
            [[q.sequence_id, q.name, q.program, q.state, q.reason] for q in report.dropped],
        )
    if report.unplannable:
        out += ["", "## Not plannable tonight", ""]
        out += _table(
            ["id", "name", "program", "why"],
            [[q.sequence_id, q.name, q.program, q.reason] for q in report.unplannable],
        )
    out += _alerts_section(report)
    out += ["", "## Weather", ""]
    if report.weather:
        out += _table(
            ["at (UTC)", "verdict", "reason"],
            [
                [w.at.strftime("%Y-%m-%d %H:%M:%S"), "safe" if w.safe else "UNSAFE", w.reason]
                for w in report.weather
            ],
        )
    else:
        out.append("No change of the weather verdict.")
    out += ["", "## Time use per program", ""]
    out += _table(
        ["program", "hours executing", "images", "tonight", "share", "used / quota (h)"],
        [
            [
                name,
                f"{hours:.3f}",
                report.images_per_program.get(name, 0),
                *_share_cells(report, name),
            ]
            for name, hours in sorted(report.hours_per_program.items())
        ],
    )
    return "\n".join(out) + "\n"


#: The columns of the report's alerts table.
ALERT_COLUMNS = [
    "received (UTC)",
    "mission",
    "alert",
    "decision",
    "analysed / frames",
    "position found",
    "afterglow",
    "to slew (s)",
    "to first frame (s)",
    "to afterglow (s)",
]


def _alerts_section(report: NightReport) -> list[str]:
    """One row per alert received: its follow-up's frames, the position found, how fast."""
    if not report.alerts:
        return []

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def found(value: bool | None) -> str:
        return "no truth" if value is None else "yes" if value else "no"

    rows: list[list[object]] = [
        [
            a.received_at.strftime("%H:%M:%S"),
            a.mission or "-",
            a.ivorn,
            a.decision,
            f"{a.analysed} / {a.frames}",
            "-"
            if a.position is None
            else f"{a.position[0]:.5f} {a.position[1]:+.5f} (SNR {a.position_snr:.0f})",
            found(a.afterglow_found),
            seconds(a.alert_to_slew_s),
            seconds(a.alert_to_first_frame_s),
            seconds(a.alert_to_afterglow_s),
        ]
        for a in report.alerts
    ]
    return [
        "",
        "## Alerts",
        "",
        "Slew: wall seconds from the alert's reception (the reflex); first frame and afterglow:"
        " simulated seconds (the sky's time).",
        "",
        *_table(ALERT_COLUMNS, rows),
    ]


def _share_cells(report: NightReport, name: str) -> list[str]:
    row = report.shares.get(name)
    if row is None:
        return ["-", "-", "-"]
    used = f"{row['used_hours']:.2f} / {row['quota_hours']:g}"
    return [
        f"{row['used_pct']:.1f} %",
        f"{row['share_pct']:.1f} %",
        used + (" (overdrawn)" if row["overdrawn"] else ""),
    ]


def write_report_files(report: NightReport, directory: Path) -> tuple[Path, Path]:
    """Write ``<night>.md`` and ``<night>.json`` atomically (a reader never sees half a file)."""
    written = []
    for suffix, text in (
        (".md", render_markdown(report)),
        (".json", json.dumps(report_as_dict(report), indent=2, default=str) + "\n"),
    ):
        path = directory / f"{report.night}{suffix}"
        write_atomic(path, text.encode("utf-8"))
        written.append(path)
    return written[0], written[1]


def report_as_dict(report: NightReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "summary": report.summary,
        "sequences": [vars(q) for q in report.sequences],
        "unplannable": [vars(q) for q in report.unplannable],
        "dropped": [vars(q) for q in report.dropped],
        "weather": [
            {"at": w.at.isoformat(), "safe": w.safe, "reason": w.reason} for w in report.weather
        ],
        "hours_per_program": report.hours_per_program,
        "images_per_program": report.images_per_program,
        "shares": report.shares,
        "alerts": [a.as_dict() for a in report.alerts],
    }
