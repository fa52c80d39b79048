"""Request ingestion: the seed ingests unchanged; bad input is refused with a one-line error that
names the file, the line and the field, and leaves every table exactly as it was."""

from __future__ import annotations

import json
import random
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli.main import main
from infra.db import session_scope
from infra.db.models import Base, JournalEntry, Plan, Request, ScientificProgram, Sequence
from tasks.requests.ingest import ingest_request_bytes, ingest_request_file
from tasks.requests.parse import RequestError
from tests.support.requests import plan_xml, request_xml, sequence_xml


def table_counts(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            name: session.scalar(select(func.count()).select_from(table))
            for name, table in Base.metadata.tables.items()
        }


def test_the_seed_request_ingests_unchanged(engine, sim_clock, seed_dir):
    result = ingest_request_file(seed_dir / "routine_request_01.xml")
    with session_scope(engine) as session:
        request = session.get(Request, result.request_id)
        (sequence,) = request.sequences
        assert (request.name, request.target_type) == ("RequestSimulator", "test")
        assert sequence.state == "to-be-planned"
        assert sequence.window_start == sim_clock.now() + timedelta(seconds=15)
        assert sequence.window_end == sim_clock.now() + timedelta(seconds=60000)
        (album,) = sequence.albums
        (plan,) = album.plans
        assert (album.instrument, plan.filter, plan.exposure_s, plan.nb_images) == (
            "Visible camera",
            "First infrared filter",
            10.0,
            5,
        )
        journal = session.get(JournalEntry, result.journal_id)
        assert journal.raw == (seed_dir / "routine_request_01.xml").read_bytes()
        assert journal.kind == "request"


def test_sidereal_targets_absolute_windows_and_priorities(engine, sim_clock):
    xml = request_xml(
        [
            sequence_xml(
                "m31",
                coords="00:42:44.3 +41:16:09",
                jd1="2461368.5",
                jd2="2461369.5",
                extra='priority="7" max_airmass="1.5"',
            ),
            sequence_xml("deg", coords="83.82 -5.39", jd1="2461368.5", jd2="2461369.0"),
        ],
        target_type="sidereal",
        relative="0",
    )
    result = ingest_request_bytes(xml.encode(), "sidereal.xml")
    with session_scope(engine) as session:
        first, second = session.get(Request, result.request_id).sequences
        assert first.ra_deg == pytest.approx(10.6846, abs=1e-3)
        assert first.dec_deg == pytest.approx(41.2692, abs=1e-3)
        assert (first.priority, first.max_airmass) == (7, 1.5)
        assert second.priority == 1  # the configured default
        assert first.window_start.isoformat() == "2026-11-24T00:00:00+00:00"


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


SEQ = sequence_xml
GOOD = request_xml([SEQ("a")])

BAD_INPUTS: list[tuple[str, bytes | str, str]] = [
    ("malformed", "<request><sequence></request>", ":1: XML: not well-formed"),
    ("truncated", GOOD[: len(GOOD) // 2], "XML: not well-formed"),
    (
        "wrong_root",
        request_xml([SEQ("a")], root="requests"),
        ":2: <requests>: the root element must be <request>",
    ),
    ("garbage", random.Random(7).randbytes(4096), "not UTF-8 text"),
    ("empty", b"", "file: empty file"),
    ("blank", b"  \n\t\n", "file: empty file"),
    (
        "unknown_detector",
        request_xml([SEQ("a", detector="Radio dish")]),
        ":4: /request/sequence[1]/album[1]@detector: unknown detector 'Radio dish'",
    ),
    (
        "unknown_filter",
        request_xml([SEQ("a", plans=plan_xml("Hα"))]),
        ":5: /request/sequence[1]/album[1]/plan[1]@filter: 'Hα' is not in the wheel",
    ),
    (
        "filter_of_other_camera",
        request_xml([SEQ("a", plans=plan_xml("J"))]),
        "@filter: 'J' is not in the wheel of 'Visible camera'",
    ),
    (
        "jd2_before_jd1",
        request_xml([SEQ("a", jd1="500", jd2="100")]),
        ":3: /request/sequence[1]@jd2: must be greater than jd1",
    ),
    (
        "zero_length_window",
        request_xml([SEQ("a", jd1="500", jd2="500")]),
        "@jd2: must be greater than jd1",
    ),
    (
        "non_numeric_duration",
        request_xml([SEQ("a", duration="ten")]),
        ":3: /request/sequence@duration: 'ten' is not a valid value",
    ),
    (
        "non_numeric_images",
        request_xml([SEQ("a", plans=plan_xml(nb_images="many"))]),
        "@nb_images: 'many' is not a valid value",
    ),
    (
        "negative_images",
        request_xml([SEQ("a", plans=plan_xml(nb_images="-3"))]),
        ":5: /request/sequence/album/plan@nb_images: '-3' is not a valid value",
    ),
    ("zero_images", request_xml([SEQ("a", plans=plan_xml(nb_images="0"))]), "@nb_images"),
    (
        "negative_exposure",
        request_xml([SEQ("a", plans=plan_xml(duration="-10"))]),
        "@duration: [facet 'minExclusive'] The value '-10' must be greater than '0'",
    ),
    ("negative_jd", request_xml([SEQ("a", jd1="-5")]), "@jd1"),
    (
        "infinite_duration",
        request_xml([SEQ("a", duration="INF")]),
        "@duration: must be a finite number",
    ),
    (
        "one_bad_among_good",
        request_xml([SEQ("a"), SEQ("b", plans=plan_xml("Y")), SEQ("c")]),
        ":10: /request/sequence[2]/album[1]/plan[1]@filter: 'Y' is not in the wheel",
    ),
    (
        "absolute_jd_out_of_range",
        request_xml([SEQ("a", jd1="15", jd2="100")], relative="0"),
        "@jd1: 15 is not a Julian date",
    ),
    (
        "bad_coordinates",
        request_xml([SEQ("a", coords="north star")], target_type="sidereal"),
        "@target_coords: 'north star' is not a sky position",
    ),
    (
        "missing_coordinates",
        request_xml([SEQ("a", coords="")], target_type="sidereal"),
        "@target_coords: is empty",
    ),
    ("unknown_target_type", request_xml([SEQ("a")], target_type="planet"), "/request@target_type"),
    (
        "unknown_program",
        request_xml([SEQ("a")], program="Exoplanets"),
        "/request@scientific_program: unknown scientific program 'Exoplanets'",
    ),
    (
        "same_camera_twice",
        request_xml(
            [
                SEQ("a", plans=plan_xml()).replace(
                    "</album>",
                    '</album>\n    <album detector="Visible camera" name="again">'
                    + plan_xml()
                    + "</album>",
                )
            ]
        ),
        "is already used by album",
    ),
    (
        "priority_of_alerts",
        request_xml([SEQ("a", extra='priority="100"')]),
        "@priority: 100 is above the highest allowed priority 99",
    ),
    (
        "xxe_file",
        '<?xml version="1.0"?>\n<!DOCTYPE request [<!ENTITY x SYSTEM '
        '"file:///etc/hostname">]>\n' + request_xml([SEQ("&x;")]).split("\n", 1)[1],
        ":2: DOCTYPE: <!DOCTYPE> is not allowed",
    ),
    (
        "billion_laughs",
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
            for i in range(1, 10)
        )
        + "]>\n"
        + request_xml([SEQ("&lol9;")]).split("\n", 1)[1],
        "DOCTYPE: <!DOCTYPE> is not allowed",
    ),
    ("utf16", GOOD.encode("utf-16"), "not UTF-8 text"),
]


@pytest.mark.parametrize(
    ("case", "content", "expected"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_stored(
    case, content, expected, engine, sim_clock, tmp_path, capsys
):
    path = _write(tmp_path, f"{case}.xml", content)
    before = table_counts(engine)
    code = main(["request", "submit", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"pyros: {path}")
    assert expected in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert table_counts(engine) == before


def test_a_file_of_tens_of_megabytes_is_refused_before_it_is_read(engine, tmp_path, capsys):
    path = tmp_path / "huge.xml"
    sequence = SEQ("x")
    with path.open("w", encoding="utf-8") as handle:
        handle.write(
            '<?xml version="1.0"?>\n<request name="big" scientific_program="GRB" '
            'target_type="test" relative="1">\n'
        )
        for _ in range(30 * 1024 * 1024 // len(sequence)):
            handle.write(sequence)
        handle.write("</request>\n")
    before = table_counts(engine)
    assert main(["request", "submit", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "file: too large" in captured.err and str(path) in captured.err
    assert '"ok": false' in captured.out
    assert table_counts(engine) == before


def test_unknown_user_and_exhausted_quota_are_refused(engine, sim_clock, tmp_path, capsys):
    path = _write(tmp_path, "ok.xml", GOOD)
    before = table_counts(engine)
    assert main(["request", "submit", str(path), "--user", "nobody"]) == 2
    assert "user: unknown user 'nobody'" in capsys.readouterr().err
    with session_scope(engine) as session:
        program = session.scalar(select(ScientificProgram).where(ScientificProgram.name == "GRB"))
        program.used_hours = program.quota_hours - 0.001
    before = table_counts(engine)
    assert main(["request", "submit", str(path)]) == 2
    err = capsys.readouterr().err
    assert "quota: the request needs" in err and "program 'GRB' has 0.001 h left" in err
    assert table_counts(engine) == before


def test_external_entities_are_never_fetched_nor_read(engine, tmp_path):
    """Even past the DOCTYPE gate, the parser resolves nothing: no file read, no connection."""
    from lxml import etree

    from tasks.requests.parse import _parser

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY f SYSTEM "file://{secret}">'
        f'<!ENTITY n SYSTEM "http://127.0.0.1:{port}/x">]><r>&f;&n;</r>'
    ).encode()
    root = etree.fromstring(xml, _parser())
    assert "TOP-SECRET" not in etree.tostring(root).decode()
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    listener.close()
    with pytest.raises(RequestError, match="DOCTYPE"):
        ingest_request_bytes(xml, "xxe.xml")


def test_a_refused_request_can_be_fixed_and_resubmitted(engine, sim_clock):
    with pytest.raises(RequestError):
        ingest_request_bytes(request_xml([SEQ("a", plans=plan_xml("Y"))]).encode(), "r.xml")
    result = ingest_request_bytes(request_xml([SEQ("a", plans=plan_xml("r"))]).encode(), "r.xml")
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Sequence)) == 1
        assert session.scalar(select(func.count()).select_from(Plan)) == 1
        assert session.get(Request, result.request_id) is not None


DUPLICATE = request_xml([sequence_xml("a"), sequence_xml("b", jd1="100", jd2="70000")])


def _other_user(engine, name: str = "astronomer") -> None:
    from infra.db.models import User

    with session_scope(engine) as session:
        pyros = session.scalar(select(User).where(User.username == "pyros"))
        other = User(
            username=name,
            first_name="A",
            last_name="Stronomer",
            email="",
            country_id=pyros.country_id,
            user_level_id=pyros.user_level_id,
            quota_hours=100.0,
            used_hours=0.0,
            is_active=True,
        )
        other.programs = list(pyros.programs)
        session.add(other)


def test_the_same_request_again_is_refused_naming_the_first_unless_again(engine, sim_clock):
    first = ingest_request_bytes(DUPLICATE.encode(), "first.xml")
    before = table_counts(engine)
    # Another file name, other layout and a comment: the same request all the same.
    relaid = DUPLICATE.replace("\n  <sequence", "\n<!-- again -->\n    <sequence").encode()
    with pytest.raises(RequestError) as refused:
        ingest_request_bytes(relaid, "copy.xml")
    message = str(refused.value)
    assert message.startswith("copy.xml: duplicate: the same request was already submitted")
    assert f"by pyros as request {first.request_id} ('test request'," in message
    assert "--again" in message
    assert table_counts(engine) == before  # nothing stored, nothing journaled

    again = ingest_request_bytes(relaid, "copy.xml", again=True)
    assert again.request_id != first.request_id
    # A third copy still names the first request.
    with pytest.raises(RequestError, match=f"as request {first.request_id} "):
        ingest_request_bytes(DUPLICATE.encode(), "third.xml")
    with session_scope(engine) as session:
        hashes = session.scalars(select(Request.content_sha256).order_by(Request.id)).all()
    assert len(hashes) == 2 and hashes[0] == hashes[1] and len(hashes[0]) == 64


def test_other_content_or_another_user_is_not_a_duplicate(engine, sim_clock):
    ingest_request_bytes(DUPLICATE.encode(), "first.xml")
    # One number changed: another request.
    ingest_request_bytes(DUPLICATE.replace('jd1="100"', 'jd1="101"').encode(), "changed.xml")
    _other_user(engine)
    ingest_request_bytes(DUPLICATE.encode(), "theirs.xml", user="astronomer")
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 3


def test_the_cli_refuses_a_duplicate_in_one_line_and_submits_it_with_again(
    engine, sim_clock, tmp_path, capsys
):
    path = _write(tmp_path, "twice.xml", DUPLICATE)
    assert main(["request", "submit", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["request_id"]
    assert main(["request", "submit", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and f"as request {first} " in err
    assert json.loads(captured.out)["ok"] is False
    assert main(["request", "submit", str(path), "--again", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["request_id"] != first
