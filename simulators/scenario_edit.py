"""Scenarios made from others: a scenario's items, some left out, others added, written elsewhere.

Written elsewhere, the base's relative file names (requests, notices) would no longer resolve:
every file name is made absolute, as the base resolved it. The base and the result are both
checked (a damaged base, or an added item that is not valid, is refused naming it, and nothing
is written).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from simulators.scenario import (
    ALERT,
    BUNDLED_REQUESTS,
    USER,
    load_scenario,
    parse_scenario,
    resolve_file,
)


def with_items(
    base: Path,
    extra: Iterable[dict[str, Any]],
    out: Path,
    *,
    keep: Callable[[dict[str, Any]], bool] = lambda item: True,
) -> Path:
    """Write to ``out`` the scenario ``base`` with the items ``keep`` accepts and ``extra``, in
    time order (the base's first among equal times); returns ``out``.

    Raises
    ------
    ScenarioError
        The base or the result is not a valid scenario (the message names the file and item).
    """
    load_scenario(base)
    data = json.loads(base.read_text(encoding="utf-8"))
    items = [_absolute(item, base.resolve().parent) for item in data[1:] if keep(item)]
    items += list(extra)
    items.sort(key=lambda item: float(item["time"]))
    edited = [data[0], *items]
    parse_scenario(edited, str(out), out.parent)  # checked before anything is written
    out.write_text(json.dumps(edited, indent=1), encoding="utf-8")
    return out


def _absolute(item: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``item`` with its file name (a request's, a notice's) made absolute."""
    for key, bundled in ((USER, BUNDLED_REQUESTS), (ALERT, None)):
        action = item.get(key)
        if isinstance(action, str):
            return {**item, key: str(resolve_file(action, key, base_dir, bundled=bundled))}
        if isinstance(action, dict) and "file" in action:
            file = resolve_file(action["file"], key, base_dir, bundled=bundled)
            return {**item, key: {**action, "file": str(file)}}
    return item
