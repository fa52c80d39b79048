"""Printing helpers shared by CLI commands (JSON on stdout, tables through rich)."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """Write ``data`` as one JSON document on stdout."""
    # Imported at use: the journal brings SQLAlchemy and the configuration, which commands that
    # print no JSON (and `pyros --help`) must not pay for.
    from infra.journal import to_json_payload

    sys.stdout.write(json.dumps(to_json_payload(data), ensure_ascii=False) + "\n")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table for humans; a cell too wide for the terminal folds onto more lines, never
    loses characters (off a terminal rich assumes 80 columns)."""
    # Rich is imported at use, for the same reason.
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)
