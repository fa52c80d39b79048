"""What the control room's artifacts say, as plain data and Markdown (pure: no Prefect)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from tasks.controlroom.preview_store import StoredPreview
from tasks.night.device_health import DeviceHealth

#: Stable key of the latest previews (Markdown with the images inline).
PREVIEWS_KEY = "pyros-previews"
#: Stable key of the newest frame's preview (an image artifact: its URL).
LATEST_PREVIEW_KEY = "pyros-preview-latest"


def previews_markdown(previews: list[StoredPreview], base_url: str) -> str:
    """The ``pyros-previews`` artifact: the latest previews, newest first, each linked to its
    PNG on the previews server at ``base_url`` (the candidates circled in red)."""
    lines = [
        f"## Latest frames ({len(previews)})",
        "",
        f"Served by the stack's previews server: {base_url}/ (loopback unless configured); "
        "NRT candidates circled in red.",
        "",
    ]
    if not previews:
        lines.append("No preview yet.")
    for preview in previews:
        when = datetime.fromtimestamp(preview.written, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        url = preview.url(base_url)
        lines += [
            f"### {preview.image_id} — {preview.candidates} candidate(s), {when}",
            "",
            f"[![{preview.image_id}]({url})]({url})",
            "",
        ]
    return "\n".join(lines)


#: Stable key of the devices' health (a table, updated when it changes).
DEVICE_HEALTH_KEY = "pyros-device-health"


def device_health_rows(health: Iterable[DeviceHealth]) -> list[dict[str, str]]:
    """One row per device as the night sees it: condition (ok, degraded, lost), the device's
    own state, since when, why, and who holds its lease."""
    return [
        {
            "device": h.device,
            "role": h.role.value,
            "instrument": h.instrument or "",
            "condition": h.condition.value,
            "state": h.state,
            "since (UTC)": h.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if h.since else "",
            "reason": h.reason,
            "lease holder": h.lease_holder,
        }
        for h in health
    ]


def device_health_description(rows: list[dict[str, str]]) -> str:
    """The devices' health in one line: the counts, then each device not ok."""
    counts = Counter(row["condition"] for row in rows)
    summary = ", ".join(f"{n} {condition}" for condition, n in sorted(counts.items()))
    trouble = [
        f"{row['instrument'] or row['device']}: {row['condition']} ({row['reason']})"
        for row in rows
        if row["condition"] != "ok"
    ]
    return f"**Device health**: {summary or 'no device'}" + (
        f"; {'; '.join(trouble)}." if trouble else "."
    )
