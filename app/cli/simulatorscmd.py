"""``pyros simulators``: run the device simulators, inject faults and afterglows, show them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from app.cli.errors import EXIT_NOT_READY, CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table
from infra.oslock import AlreadyRunning
from infra.settings import load_settings
from simulators.control import SimulatorsUnavailable, call
from simulators.scenario import ItemStatus, ScenarioError

# The simulators themselves (the sky renderer brings numpy and astropy) are imported inside
# `start`: every command module is imported by `pyros --help`, and each command answers within
# the CLI's 2 s.

app = command_group("Device simulators (mount, dome, PLC, cameras) and scenarios.")


def _call(command: str, **arguments: Any) -> dict[str, Any]:
    try:
        reply = call(load_settings().run_dir, command, **arguments)
    except SimulatorsUnavailable as exc:
        raise CliError(str(exc), EXIT_NOT_READY) from None
    if not reply.get("ok"):
        raise CliError(f"simulators: {reply.get('error')}")
    return reply


@app.command()
def start(
    scenario: Path | None = typer.Option(
        None, "--scenario", "-s", help="Scenario file to play (seed format)."
    ),
    stop_at_end: bool = typer.Option(
        False, "--stop-at-end", help="Stop when the scenario's length has passed."
    ),
) -> None:
    """Run every simulator in the foreground until Ctrl-C or SIGTERM, then stop them cleanly."""
    from simulators.observatory import SimulatorStartError
    from simulators.simulator_run import run_simulators

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run_simulators(scenario, stop_at_end=stop_at_end, announce=typer.echo)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    except (SimulatorStartError, AlreadyRunning) as exc:
        raise CliError(str(exc), EXIT_NOT_READY) from None


@app.command()
def fault(
    device: str = typer.Argument(..., help="mount, dome, plc, camera_vis, camera_nir."),
    kind: str = typer.Argument(
        ..., help="silent, garbage, disconnect, slow, fault; or clear to end the fault."
    ),
    for_s: float | None = typer.Option(
        None, "--for", min=0.0, help="Simulated seconds (default: until cleared)."
    ),
    delay_s: float | None = typer.Option(
        None, "--delay", min=0.0, help="slow: wall seconds per reply (default: timeout + 1)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the reply as JSON."),
) -> None:
    """Make a running simulator misbehave now (or end its fault with KIND clear)."""
    if kind.strip().lower() in ("clear", "none", "end"):
        reply = _call("clear", device=device)
        message = f"{device}: fault cleared" if reply["cleared"] else f"{device}: had no fault"
    else:
        if for_s is not None and for_s <= 0:
            raise CliError("--for must be > 0 simulated seconds")
        reply = _call("fault", device=device, kind=kind, duration_s=for_s, delay_s=delay_s)
        info = reply["fault"]
        until = f" until {info['until']}" if info["until"] else " until cleared"
        message = f"{device}: {info['kind']}{until}"
    if json_output:
        print_json(reply)
    else:
        typer.echo(message)


@app.command()
def afterglow(
    ra_deg: float = typer.Argument(..., help="Right ascension (degrees)."),
    dec_deg: float = typer.Argument(..., min=-90.0, max=90.0, help="Declination (degrees)."),
    magnitude: float = typer.Argument(..., help="Reference-filter magnitude at t0."),
    decay_index: float = typer.Option(1.0, "--decay", help="Power-law decay index alpha."),
    t0_s: float = typer.Option(60.0, "--t0", min=0.001, help="Seconds after trigger of MAG."),
    name: str = typer.Option("afterglow", "--name", help="Name in the truth files."),
) -> None:
    """Add a fading afterglow, triggered now, to every frame that covers it."""
    reply = _call(
        "afterglow",
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        magnitude=magnitude,
        decay_index=decay_index,
        t0_s=t0_s,
        name=name,
    )
    typer.echo(f"afterglow {name} added ({reply['afterglows']} in the sky)")


def _fault_cell(fault: dict[str, Any] | None) -> str:
    if not fault:
        return ""
    if fault["left_s"] is None:
        return f"{fault['kind']} (until cleared)"
    return f"{fault['kind']} ({fault['left_s']:g} s left)"


@app.command()
def status(json_output: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Show the running simulators: devices, faults, afterglows, the scenario's progress."""
    reply = _call("status")
    if json_output:
        print_json(reply)
        return
    faults = {f["device"]: f for f in reply["faults"]}
    rows = []
    for name, device in reply["devices"].items():
        fault_info = faults.get(name)
        rows.append(
            [
                name,
                device["address"],
                "yes" if device["listening"] else "no",
                device["clients"],
                device.get("state", ""),
                _fault_cell(fault_info),
            ]
        )
    print_table(
        f"simulators at {reply['now']}",
        ["device", "address", "listening", "clients", "state", "fault"],
        rows,
    )
    scenario = reply.get("scenario")
    if scenario:
        done = sum(1 for o in scenario["outcomes"] if o["status"] != ItemStatus.RUNNING)
        typer.echo(
            f"scenario {scenario['source']}: {scenario['elapsed_s']:g}/{scenario['length_s']:g} s, "
            f"{done}/{scenario['items']} item(s) done"
            + (" (finished)" if scenario["finished"] else "")
        )
        for outcome in scenario["outcomes"]:
            if outcome["status"] == ItemStatus.FAILED:
                typer.echo(f"  t={outcome['time_s']:g} {outcome['key']}: {outcome['detail']}")
