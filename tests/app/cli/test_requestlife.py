"""``pyros request cancel/images/export`` and the history in ``request show`` (issue #23)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits
from sqlalchemy import func, select

from app.cli.main import main
from infra.db import session_scope
from infra.db.models import Image, JournalEntry, NrtAnalysis, Sequence, SequenceTransition
from infra.db.sequence_state import SequenceState, transition
from tests.support.requests import request_xml, sequence_xml

S = SequenceState


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def _submit(tmp_path: Path, capsys, user: str, names: list[str]) -> tuple[int, list[int]]:
    path = tmp_path / f"{user}-{'-'.join(names)}.xml"
    path.write_text(request_xml([sequence_xml(n) for n in names]), encoding="utf-8")
    assert main(["request", "submit", str(path), "--user", user, "--json"]) == 0
    result = _json(capsys)
    return result["request_id"], result["sequence_ids"]


def _people(capsys) -> None:
    for argv in (
        ["user", "add", "olga", "--program", "GRB", "--quota", "50"],
        ["user", "add", "ivo", "--program", "GRB", "--quota", "50"],
        ["user", "add", "otto", "--level", "operator", "--program", "GRB", "--quota", "50"],
        ["user", "add", "gone", "--level", "operator"],
        ["user", "disable", "gone"],
    ):
        assert main(argv) == 0, argv
    capsys.readouterr()


def _move(engine, sequence_id: int, *states: SequenceState) -> None:
    with session_scope(engine) as session:
        sequence = session.get(Sequence, sequence_id)
        for state in states:
            transition(session, sequence, state, f"test: {state}", datetime.now(UTC))


def _transitions(engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(SequenceTransition)) or 0


def test_who_may_cancel_and_what_a_cancellation_does(engine, sim_clock, tmp_path, capsys):
    _people(capsys)
    request_id, (planned, waiting, done) = _submit(tmp_path, capsys, "olga", ["a", "b", "c"])
    _move(engine, planned, S.PLANNED)
    _move(engine, done, S.PLANNED, S.EXECUTING, S.EXECUTED)
    before = _transitions(engine)
    for argv, message in [
        (["--as", "ivo"], "'ivo' is observer and may cancel only their own requests: request"),
        (["--as", "ghost"], "unknown user 'ghost'"),
        (["--as", "gone"], "inactive user 'gone'"),
    ]:
        assert main(["request", "cancel", str(request_id), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err
    assert main(["request", "cancel", "999"]) == 2
    assert "request 999: no such request" in capsys.readouterr().err
    assert _transitions(engine) == before  # no refusal wrote anything

    reason = ["--reason", "target set behind the moon"]
    assert main(["request", "cancel", str(request_id), "--as", "otto", *reason, "--json"]) == 0
    result = _json(capsys)
    assert sorted(result["cancelled"]) == sorted([planned, waiting])
    assert result["untouched"] == {str(done): "executed"}
    with session_scope(engine) as session:  # announced: pyros.request.cancelled, journaled
        events = [
            e.payload
            for e in session.scalars(select(JournalEntry).where(JournalEntry.kind == "event"))
            if e.payload["event"] == "pyros.request.cancelled"
        ]
    (event,) = events
    assert event["resource"]["prefect.resource.id"] == f"pyros.request.{request_id}"
    assert event["payload"]["user"] == "otto"
    assert sorted(event["payload"]["cancelled"]) == sorted([planned, waiting])

    assert main(["request", "show", str(request_id), "--json"]) == 0
    shown = _json(capsys)
    assert shown["cancelled_by"] == "otto"
    assert shown["cancel_reason"] == "cancelled by otto: target set behind the moon"
    states = {s["id"]: s["state"] for s in shown["sequences"]}
    assert states == {planned: "cancelled", waiting: "cancelled", done: "executed"}
    history = {s["id"]: [t["to"] for t in s["transitions"]] for s in shown["sequences"]}
    assert history[planned] == ["to-be-planned", "planned", "cancelled"]
    last = shown["sequences"][0]["transitions"][-1]
    assert last["reason"] == "cancelled by otto: target set behind the moon" and last["at"]
    assert main(["request", "show", str(request_id)]) == 0
    assert "planned -> cancelled: cancelled by otto: target set behind the moon" in (
        capsys.readouterr().out
    )

    assert main(["request", "cancel", str(request_id)]) == 2
    assert "was already cancelled by otto" in capsys.readouterr().err
    # an observer cancels their own
    own, _ = _submit(tmp_path, capsys, "ivo", ["d"])
    assert main(["request", "cancel", str(own), "--as", "ivo"]) == 0
    assert "1 sequence(s) cancelled" in capsys.readouterr().out
    assert main(["journal", "list", "--kind", "operator", "--json"]) == 0
    sources = [(e["source"], e["payload"]["command"]) for e in _json(capsys)]
    assert ("otto", "request cancel") in sources and ("ivo", "request cancel") in sources


def _fits_frame(path: Path, at: datetime, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = (1000 + rng.normal(0, 10, (32, 32))).astype(np.uint16)
    header = fits.Header()
    header.update(
        IMAGETYP="light",
        INSTRUME="Visible camera",
        EXPTIME=10.0,
        FILTER="r",
        **{"DATE-OBS": at.strftime("%Y-%m-%dT%H:%M:%S")},
    )
    fits.PrimaryHDU(data=data, header=header).writeto(path)


def _executed_with_frames(engine, sim_clock, tmp_path, capsys) -> tuple[int, list[str]]:
    request_id, (sequence_id,) = _submit(tmp_path, capsys, "pyros", ["a"])
    _move(engine, sequence_id, S.PLANNED, S.EXECUTING, S.EXECUTED)
    frames = tmp_path / "frames"
    frames.mkdir()
    ids = []
    with session_scope(engine) as session:
        plan = session.get(Sequence, sequence_id).albums[0].plans[0]
        for index in (1, 2):
            identifier = f"S{sequence_id:07d}-P{plan.id:07d}-I{index:04d}"
            at = sim_clock.now() + timedelta(seconds=30 * index)
            path = frames / f"{identifier}.fits"
            _fits_frame(path, at, index)
            session.add(
                Image(
                    id=identifier,
                    sequence_id=sequence_id,
                    plan_id=plan.id,
                    index=index,
                    instrument="Visible camera",
                    filter="r",
                    exposure_s=10.0,
                    path=str(path),
                    sha256="ab" * 32,
                    size_bytes=path.stat().st_size,
                    acquired_at=at,
                    wall_acquired_at=datetime.now(UTC),
                )
            )
            ids.append(identifier)
        session.flush()
        session.add(
            NrtAnalysis(
                image_id=ids[0], status="done", fwhm_arcsec=2.1, limiting_mag=19.5, n_sources=40
            )
        )
        session.add(NrtAnalysis(image_id=ids[1], status="failed", reason="astrometry: no match"))
    return request_id, ids


def test_images_are_listed_and_exported_with_their_provenance(engine, sim_clock, tmp_path, capsys):
    request_id, ids = _executed_with_frames(engine, sim_clock, tmp_path, capsys)
    assert main(["request", "images", str(request_id), "--json"]) == 0
    listed = _json(capsys)
    assert [i["id"] for i in listed] == ids
    assert listed[0]["nrt"]["status"] == "done" and listed[0]["nrt"]["fwhm_arcsec"] == 2.1
    assert listed[1]["nrt"]["reason"] == "astrometry: no match"
    assert (listed[0]["filter"], listed[0]["exposure_s"]) == ("r", 10.0)
    assert listed[0]["calibrated_file"] is None and listed[0]["file"].endswith(f"{ids[0]}.fits")
    assert main(["request", "images", str(request_id)]) == 0
    assert f"Images of request {request_id}" in capsys.readouterr().out

    out = tmp_path / "export"
    assert main(["request", "export", str(request_id), str(out), "--json"]) == 0
    exported = _json(capsys)
    assert exported["files"] == 2, (out / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["request_id"] == request_id and manifest["user"] == "pyros"
    assert [f["image_id"] for f in manifest["files"]] == ids
    for entry in manifest["files"]:
        with fits.open(out / entry["file"]) as hdul:
            header = hdul[0].header
            assert header["PYREQID"] == request_id and header["PYIMGID"] == entry["image_id"]
            assert header["PYPROG"] == "GRB" and header["PYRAWSHA"] == "ab" * 32
            assert "CALSTEPS" in header and "CALDATE" in header  # the calibration's provenance
            assert any("bias skipped" in str(h) for h in header["HISTORY"])
            assert hdul[0].data.shape == (32, 32) and hdul[0].data.dtype.kind == "f"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    assert main(["request", "export", str(request_id), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["request", "export", "999", str(tmp_path / "none")]) == 2
    assert not (tmp_path / "none").exists()


def test_a_request_without_images_lists_none_and_exports_nothing(
    engine, sim_clock, tmp_path, capsys
):
    request_id, _ = _submit(tmp_path, capsys, "pyros", ["a"])
    assert main(["request", "images", str(request_id), "--json"]) == 0
    assert _json(capsys) == []
    assert main(["request", "export", str(request_id), str(tmp_path / "x")]) == 2
    assert "no image to export" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) >= 1
