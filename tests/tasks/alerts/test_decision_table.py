"""docs/alerts.md's decision table, row by row, through ``pyros alert ingest --json`` on both
databases: every real notice gets the decision, action and reason the table gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from app.cli.main import main
from infra.db import session_scope
from infra.db.models import Alert, Request, User
from tests.support.voevents import SWIFT, VOEVENT_DIR

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerts.md"


def table_rows() -> list[tuple[str, str, str, str]]:
    """(file, decision, action, reason fragment) of the documented table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Decision table of the real notices", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append((cells[0].strip("`"), cells[1], cells[2], cells[3]))
    return rows


def test_the_table_has_one_row_per_real_notice(voevents):
    assert sorted(name for name, *_ in table_rows()) == sorted(voevents)


def test_every_real_notice_gets_the_documented_decision(engine, voevents, capsys):
    for name, decision, action, reason in table_rows():
        code = main(["alert", "ingest", "--json", str(VOEVENT_DIR / name)])
        out = capsys.readouterr().out
        assert out.count("\n") == 1, out  # exactly one JSON object
        result = json.loads(out)
        assert code == 0, (name, result)
        assert (result["decision"], result["action"]) == (decision, action), (name, result)
        assert reason in result["reason"], (name, result["reason"])
        assert result["ivorn"] and result["stored"] is True and result["error"] is None
    with session_scope(engine) as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        assert len(alerts) == len(table_rows())
        (followed,) = [a for a in alerts if a.request_id is not None]
        assert followed.ivorn == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475"
        request = session.get(Request, followed.request_id)
        assert request.is_alert and request.source == f"alert:{followed.ivorn}"
        assert session.get(User, request.user_id).username == "pyros"
        (sequence,) = request.sequences
        assert sequence.priority == 100 and sequence.state == "to-be-planned"
        assert (sequence.ra_deg, sequence.dec_deg) == (248.2071, 78.5044)
        assert sequence.window_start == datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)
        assert sequence.window_end == datetime(
            2018, 12, 13, 12, 57, 38, 430000, tzinfo=UTC
        ) + timedelta(hours=12)
        plans = {
            (album.instrument, plan.filter, plan.exposure_s, plan.nb_images)
            for album in sequence.albums
            for plan in album.plans
        }
        assert plans == {("Visible camera", "r", 30.0, 10), ("Infrared camera", "J", 30.0, 10)}
        assert followed.strategy == "swift-bat" and followed.details["tiles"] == 1


def test_list_shows_what_was_decided(engine, voevents, capsys):
    assert main(["alert", "ingest", str(VOEVENT_DIR / SWIFT)]) == 0
    assert capsys.readouterr().out.startswith("follow-up: observable now")
    assert main(["alert", "list", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert (item["decision"], item["mission"], item["request_id"]) == ("follow-up", "Swift", 1)
    assert main(["alert", "list"]) == 0
    assert "Swift" in capsys.readouterr().out
