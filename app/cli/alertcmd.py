"""``pyros alert``: handle one VOEvent as if it had just arrived, run the alert listener, send a
notice to the stack's broker or a Kafka topic, and list the alerts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from app.cli.common import ready_engine
from app.cli.errors import EXIT_BAD_INPUT, EXIT_NOT_READY, CliError
from app.cli.groups import command_group
from app.cli.output import print_json, print_table
from infra.clock import ClockError, DiscreteEventClock, get_clock, parse_instant
from tasks.alerts.decision import AlertDecision, DecisionKind, FollowUpAction

# The database, the configuration and the alert pipeline are imported inside the commands: every
# command module is imported by `pyros --help`, and each command answers within the CLI's 2 s.

app = command_group("GRB alerts (VOEvents) and their decisions.")


def _read(file: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The packet bytes, or why the file cannot be a packet (never reads more than the cap)."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            return None, f"too large ({size} bytes; the limit is {max_bytes})"
        with file.open("rb") as handle:
            return handle.read(max_bytes + 1), None
    except FileNotFoundError:
        return None, "no such file"
    except IsADirectoryError:
        return None, "is a directory, not a VOEvent file"
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"


@app.command()
def ingest(
    file: Path = typer.Argument(..., help="VOEvent file (one packet)."),
    at: str | None = typer.Option(
        None, "--at", help="Reception instant, ISO 8601 (default: the packet's own Who/Date)."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print the decision as one JSON object."
    ),
) -> None:
    """Decide on one packet as if it had just arrived: journal, parse, identify, decide, store.

    Exit 0 for every decision except ``rejected`` (exit 2).
    """
    from infra.config import get_config

    when = None
    if at is not None:
        try:
            when = parse_instant(at)
        except ClockError as exc:
            raise CliError(f"--at: {exc}") from None
    engine = ready_engine()
    config = get_config()
    raw, problem = _read(file, config.alerts.max_packet_bytes)
    if raw is None:
        decision = AlertDecision(None, DecisionKind.REJECTED, f"{file}: {problem}")
    else:
        from tasks.alerts.handle import handle_packet
        from tasks.alerts.parse import issued_at_hint

        when = when or issued_at_hint(raw) or get_clock().now()
        decision = handle_packet(
            raw,
            when,
            source=f"cli:{file.name}"[:256],
            engine=engine,
            config=config,
            clock=DiscreteEventClock(when),
        )
    if json_output:
        print_json(
            {
                "ok": decision.error is None and decision.decision != DecisionKind.REJECTED,
                **decision.as_dict(),
            }
        )
    else:
        _echo(decision)
    if decision.decision == DecisionKind.REJECTED:
        sys.stderr.write(f"pyros: {file}: rejected: {decision.reason}\n")
        raise typer.Exit(EXIT_BAD_INPUT)
    if decision.error is not None and not decision.stored:
        sys.stderr.write(f"pyros: {file}: {decision.error}\n")
        raise typer.Exit(EXIT_NOT_READY)


def _echo(decision: AlertDecision) -> None:
    head = f"{decision.decision}"
    if decision.action != FollowUpAction.NONE:
        head += f" ({decision.action})"
    typer.echo(f"{head}: {decision.reason}")
    typer.echo(f"  ivorn: {decision.ivorn or '-'}")
    if decision.request_id is not None:
        typer.echo(f"  follow-up request: {decision.request_id}")
    if decision.cancelled_request_id is not None:
        typer.echo(f"  cancelled request: {decision.cancelled_request_id}")


@app.command()
def listen() -> None:
    """Run the alert listener in the foreground (one instance per PYROS_HOME) until Ctrl-C."""
    import logging

    from watchers.alerts.process import run_listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise typer.Exit(run_listener())


@app.command()
def send(
    file: Path = typer.Argument(..., help="VOEvent file (one packet)."),
    kafka: str | None = typer.Option(
        None, "--kafka", help="Produce to this Kafka topic instead of the Comet broker."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Publish a notice to the stack's Comet broker (as comet-sendvo does) or to a Kafka topic.

    The broker and the topic are those of the site configuration ([alert_intake]); the alert
    listener then decides on it (`pyros alert list`). Exit 3 when no broker takes it.
    """
    from infra.config import get_config
    from simulators.outside import send_to_stack
    from watchers.alerts.kafka_road import produce

    config = get_config()
    raw, problem = _read(file, config.alerts.max_packet_bytes)
    if raw is None:
        raise CliError(f"{file}: {problem}")
    intake = config.alert_intake
    if kafka is not None:
        try:
            produce(intake.kafka, kafka, raw)
        except (RuntimeError, ValueError) as exc:
            raise CliError(str(exc), EXIT_NOT_READY) from None
        except Exception as exc:  # librdkafka's errors (a bad topic name...)
            raise CliError(f"Kafka topic {kafka}: {exc}", EXIT_BAD_INPUT) from None
        where = f"Kafka topic {kafka} at {intake.kafka.bootstrap() or 'GCN'}"
    else:
        result = send_to_stack(file, config)
        if not result.ok:
            raise CliError(result.detail, EXIT_NOT_READY)
        where = f"the Comet broker at 127.0.0.1:{intake.comet.receive_port}"
    if json_output:
        print_json({"ok": True, "file": str(file), "to": where, "bytes": len(raw)})
    else:
        typer.echo(f"sent {file.name} to {where}")


def _latency_ms(row: Any) -> float | None:
    if row.wall_decided_at is None or row.wall_received_at is None:
        return None
    return round(float((row.wall_decided_at - row.wall_received_at).total_seconds()) * 1e3, 1)


@app.command("list")
def list_alerts(
    limit: int = typer.Option(50, "--limit", min=1, help="Most recent N alerts."),
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the most recent alerts: the road each came by, the wall latency from its reception to
    its decision, the decision, action and reason."""
    from sqlalchemy import select

    from infra.db import session_scope
    from infra.db.models import Alert

    with session_scope(ready_engine()) as session:
        rows = session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)).all()
        items: list[dict[str, Any]] = [
            {
                "id": a.id,
                "ivorn": a.ivorn,
                "received_at": a.received_at,
                "mission": a.mission,
                "burst_key": a.burst_key,
                "event_time": a.event_time,
                "ra_deg": a.ra_deg,
                "dec_deg": a.dec_deg,
                "error_radius_deg": a.error_radius_deg,
                "decision": a.decision,
                "action": a.action,
                "reason": a.reason,
                "strategy": a.strategy,
                "request_id": a.request_id,
                "journal_id": a.journal_id,
                "road": a.road,
                "wall_received_at": a.wall_received_at,
                "wall_decided_at": a.wall_decided_at,
                "latency_ms": _latency_ms(a),
            }
            for a in rows
        ]
    if json_output:
        print_json(items)
        return
    print_table(
        "Alerts",
        [
            "id",
            "received (UTC)",
            "road",
            "latency ms",
            "mission",
            "burst",
            "decision",
            "action",
            "request",
            "reason",
        ],
        [
            [
                i["id"],
                f"{i['received_at']:%Y-%m-%d %H:%M:%S}",
                i["road"] or "-",
                "-" if i["latency_ms"] is None else f"{i['latency_ms']:.1f}",
                i["mission"] or "-",
                i["burst_key"] or "-",
                i["decision"],
                i["action"],
                i["request_id"] or "",
                i["reason"][:70],
            ]
            for i in items
        ],
    )
