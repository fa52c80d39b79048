"""``pyros config``: check and show the site configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.cli.groups import command_group
from app.cli.output import print_json

if TYPE_CHECKING:
    from infra.config import SiteConfig

# The configuration (pydantic) is imported inside the commands: every command module
# is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("The site configuration.")


def _load(path: Path | None) -> SiteConfig:
    from infra.config import get_config, load_config

    return load_config(path) if path is not None else get_config()


@app.command()
def check(
    path: Path | None = typer.Argument(None, help="File to check (default: in use)."),
) -> None:
    """Validate a site configuration file; print its hash."""
    from infra.config import config_hash

    config = _load(path)
    typer.echo(
        f"ok: site {config.site.name}, {len(config.instruments)} instruments, "
        f"hash {config_hash(config)}"
    )


@app.command()
def show(
    path: Path | None = typer.Argument(None, help="File to show (default: in use)."),
    json_output: bool = typer.Option(False, "--json", help="JSON instead of TOML-ish."),
) -> None:
    """Print the effective configuration (defaults included)."""
    config = _load(path)
    data = config.model_dump(mode="json")
    if json_output:
        print_json(data)
    else:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("hash")
def hash_command(path: Path | None = typer.Argument(None)) -> None:
    """Print the stable hash of the effective configuration."""
    from infra.config import config_hash

    typer.echo(config_hash(_load(path)))
