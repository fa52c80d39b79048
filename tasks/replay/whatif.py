"""What-if: configuration keys overridden for a replay (``--set section.key=value``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from infra.config import ConfigError, SiteConfig, parse_config


def _value(text: str) -> Any:
    """A value as JSON when it parses (numbers, booleans, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: SiteConfig, assignments: Iterable[str]) -> SiteConfig:
    """A copy of ``config`` with ``key=value`` assignments applied and validated again.

    Parameters
    ----------
    config : SiteConfig
        The configuration the night was recorded with (or the process's).
    assignments : iterable of str
        ``section.key=value`` (dotted; ``instruments.0.name`` indexes a list).

    Raises
    ------
    ConfigError
        Naming the assignment when its form, its key or its value is wrong.
    """
    data = config.model_dump(mode="json")
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {assignment!r}: expected key=value")
        *path, leaf = key.split(".")
        node: Any = data
        for part in path:
            node = _child(node, part, key)
        if isinstance(node, list) or not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"--set {key}: no such configuration key")
        if isinstance(node[leaf], dict | list):
            raise ConfigError(f"--set {key}: a section, not a key")
        node[leaf] = _value(text.strip())
    return parse_config(data, "--set")


def _child(node: Any, part: str, key: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise ConfigError(f"--set {key}: no such configuration key ({part!r})")
