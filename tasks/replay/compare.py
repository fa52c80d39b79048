"""The replayed decisions against the recorded ones, and the report that says how they differ.

"Identical" (docs/replay.md): for every outcome (schedules, sequence transitions, dome
actions) the same decisions in the same order, each at most ``tolerance_s`` simulated seconds
from its recorded instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.replay.decisions import OUTCOMES, Decision

#: Default time tolerance (simulated s): the monitor's poll and the dome's motion, a sequence's
#: simulated duration against the devices' (docs/replay.md).
DEFAULT_TOLERANCE_S = 120.0


@dataclass
class Comparison:
    """How a replay compares with the recording."""

    tolerance_s: float
    compared: dict[str, int] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """No difference in any outcome."""
        return not self.differences

    @property
    def decisions_compared(self) -> int:
        """Decisions looked at, over every outcome."""
        return sum(self.compared.values())


def _at(instant: datetime) -> str:
    return f"{instant:%H:%M:%S}"


def compare(
    recorded: dict[str, list[Decision]],
    replayed: dict[str, list[Decision]],
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Comparison:
    """Compare two nights' decisions outcome by outcome, in order, within ``tolerance_s``."""
    result = Comparison(tolerance_s)
    for outcome in OUTCOMES:
        ours, theirs = recorded.get(outcome, []), replayed.get(outcome, [])
        result.compared[outcome] = max(len(ours), len(theirs))
        for index in range(max(len(ours), len(theirs))):
            was = ours[index] if index < len(ours) else None
            now = theirs[index] if index < len(theirs) else None
            where = f"{outcome} #{index + 1}"
            if was is None and now is not None:
                result.differences.append(f"{where}: replay adds {now.what!r} at {_at(now.at)}")
            elif now is None and was is not None:
                result.differences.append(
                    f"{where}: replay lacks {was.what!r} (recorded at {_at(was.at)})"
                )
            elif was is not None and now is not None:
                if was.what != now.what:
                    result.differences.append(
                        f"{where}: recorded {was.what!r} at {_at(was.at)}, "
                        f"replayed {now.what!r} at {_at(now.at)}"
                    )
                    continue
                apart = abs((now.at - was.at).total_seconds())
                if apart > tolerance_s:
                    result.differences.append(
                        f"{where}: {was.what!r} recorded at {_at(was.at)}, replayed at "
                        f"{_at(now.at)} ({apart:.0f} s apart, tolerance {tolerance_s:g} s)"
                    )
    return result


def report_markdown(
    night: str, comparison: Comparison, warnings: list[str], overrides: list[str]
) -> str:
    """The comparison report (deterministic: no wall time in it)."""
    lines = [f"# Replay of night {night}", ""]
    if overrides:
        lines += ["What-if: " + ", ".join(f"`{o}`" for o in overrides), ""]
    verdict = "identical" if comparison.identical else "different"
    lines += [
        f"**{verdict}** ({comparison.decisions_compared} decisions compared, "
        f"tolerance {comparison.tolerance_s:g} s)",
        "",
        "| outcome | decisions compared |",
        "| --- | --- |",
    ]
    lines += [f"| {outcome} | {count} |" for outcome, count in comparison.compared.items()]
    if comparison.differences:
        lines += ["", "## Differences", ""]
        lines += [f"- {difference}" for difference in comparison.differences]
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {warning}" for warning in warnings]
    return "\n".join(lines) + "\n"


def summary_json(
    comparison: Comparison, warnings: list[str], wall_s: float, simulated_s: float
) -> dict[str, Any]:
    """The ``--json`` line."""
    return {
        "identical": comparison.identical,
        "differences": comparison.differences,
        "decisions_compared": comparison.decisions_compared,
        "compared": comparison.compared,
        "tolerance_s": comparison.tolerance_s,
        "warnings": warnings,
        "wall_seconds": round(wall_s, 3),
        "simulated_seconds": round(simulated_s, 3),
        "speed_factor": round(simulated_s / wall_s, 1) if wall_s > 0 else None,
    }
