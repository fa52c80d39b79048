"""``pyros gateways``: run the device gateways in the foreground, or show their state."""

from __future__ import annotations

import logging
from typing import Any

import typer

from app.cli.errors import EXIT_NOT_READY, CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table
from devices.client import NdjsonClient
from devices.errors import DeviceDisconnected, DeviceProblem

# The gateways and the configuration are imported inside the commands: every command module is
# imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("Device gateways (one per device, holding its lease).")


@app.command()
def start(
    device: list[str] | None = typer.Option(
        None, "--device", "-d", help="Device to serve (repeatable; default: every device)."
    ),
) -> None:
    """Run the gateways in the foreground until Ctrl-C or SIGTERM, then stop them cleanly."""
    from devices.gateway.fleet import GatewayStartError, run_gateways

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run_gateways(device or None, announce=lambda line: typer.echo(line))
    except GatewayStartError as exc:
        raise CliError(str(exc)) from None


@app.command()
def status(
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
    timeout_s: float = typer.Option(1.0, "--timeout", min=0.05, help="Per gateway (seconds)."),
) -> None:
    """Ask every configured gateway for its device's health and lease."""
    from devices.gateway.fleet import device_names
    from infra.config import get_config

    config = get_config()
    rows = []
    for name in device_names(config):
        port = getattr(config.gateways.ports, name)
        row: dict[str, Any] = {
            "device": name,
            "gateway": f"{config.gateways.host}:{port}",
            "running": False,
        }
        client = NdjsonClient(config.gateways.host, port, name=name, timeout_s=timeout_s)
        try:
            reply = client.call("HEALTH", timeout=timeout_s)
            row.update(running=True, health=reply["health"], lease=reply["lease"])
        except DeviceDisconnected:
            row["error"] = "gateway not running"
        except DeviceProblem as problem:
            row["error"] = problem.message
        finally:
            client.close()
        rows.append(row)
    if json_output:
        print_json(rows)
    else:
        _print_gateways(rows)
    if not any(row["running"] for row in rows):
        typer.echo("pyros: no gateway answers: is the stack running? (`pyros up`)", err=True)
        raise typer.Exit(EXIT_NOT_READY)


def _print_gateways(rows: list[dict[str, Any]]) -> None:
    table = []
    for row in rows:
        health, lease = row.get("health") or {}, row.get("lease") or {}
        holder = f"{lease['owner']} ({lease['priority']})" if lease.get("owner") else ""
        table.append(
            [
                row["device"],
                row["gateway"],
                "up" if row["running"] else "down",
                health.get("state", ""),
                health.get("last_error") or row.get("error", ""),
                holder,
            ]
        )
    columns = ["device", "address", "gateway", "device link", "last error", "lease"]
    print_table("gateways", columns, table)
