"""A GBM-like burst in the night (#26 item 3): ``pyros night --simulate --grb-error-deg 3`` puts a
Fermi GBM notice with a 3-degree error radius through the stack's broker and its afterglow in one
tile of the box, away from its centre. The bundled GBM strategy covers such a box partly (its 36
most probable tiles), observes the tiles in the strategy's order, and each tile's frames are
searched blindly by difference imaging: the afterglow is found in its tile, where the circle's
centre is more than a field away.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime

import pytest
from sqlalchemy import select

from app.cli.nightgrb import AFTERGLOW_TILE
from infra.db import session_scope
from infra.db.models import Image, NrtAnalysis, Sequence
from tasks.nrt.astrometry import separation_arcsec
from tests.support.artifacts import stack_artifacts
from tests.support.databases import only_on

pytestmark = pytest.mark.integration

#: The burst, minutes into the dark night: before the default scenario's rain (8,400 s after the
#: simulation's start, 30 minutes of evening before the dark).
GBM_AFTER_DARK_MIN = 5.0
ERROR_DEG = 3.0


def quick_gbm_tiles(site_file) -> None:
    """One 30 s frame per tile of the site's GBM strategy (two of 60 s bundled): the test is
    about the tiles, their order and their search, not the exposures."""
    site = site_file.read_text(encoding="utf-8")
    block = re.search(r'(?ms)^name = "gbm-gecam-wide".*?(?=^# The camera simulator)', site)
    assert block is not None, "the bundled site's gbm-gecam-wide strategy moved"
    quick = block.group(0).replace("exposure_s = 60.0\ncount = 2", "exposure_s = 30.0\ncount = 1")
    assert quick != block.group(0)
    site_file.write_text(site.replace(block.group(0), quick), encoding="utf-8")


def tiles_observed(engine, ivorn: str) -> list[tuple[int, str, datetime]]:
    """The follow-up's sequences that took frames: (id, name, first frame), by first frame."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Sequence.id, Sequence.name, Image.acquired_at)
            .join(Image, Image.sequence_id == Sequence.id)
            .where(Image.alert_ivorn == ivorn)
            .order_by(Image.acquired_at)
        ).all()
    first: dict[int, tuple[int, str, datetime]] = {}
    for sequence_id, name, at in rows:
        first.setdefault(sequence_id, (sequence_id, name, at))
    return list(first.values())


def candidates_near(engine, ivorn: str, ra: float, dec: float) -> list[tuple[str, dict]]:
    """The follow-up frames' candidates within 2 arcsec of (RA, Dec): (sequence name, it)."""
    found = []
    with session_scope(engine) as session:
        rows = session.execute(
            select(Sequence.name, NrtAnalysis.results)
            .join(Image, Image.sequence_id == Sequence.id)
            .join(NrtAnalysis, NrtAnalysis.image_id == Image.id)
            .where(Image.alert_ivorn == ivorn, NrtAnalysis.status == "done")
        ).all()
    for name, results in rows:
        for c in (results or {}).get("candidates") or []:
            if separation_arcsec(c["ra"], c["dec"], ra, dec) <= 2.0:
                found.append((name, c))
    return found


@only_on("postgresql")
@pytest.mark.site_frame_px(None)
@pytest.mark.timeout(1500)
def test_a_gbm_box_is_tiled_in_order_and_its_afterglow_found_blindly_in_its_tile(instance, engine):
    quick_gbm_tiles(instance.home / "site.toml")
    result = instance.pyros(
        "night", "--simulate", "--speed", "60", "--hours", "1", "--frame-px", "1024",
        "--grb-after-dark", f"{GBM_AFTER_DARK_MIN:.2f}", "--grb-error-deg", f"{ERROR_DEG}",
        "--json",
        timeout=1200,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print("alerts:", json.dumps(summary.get("alerts")), file=sys.stderr)
    assert summary["flow_runs_failed"] == 0 and summary["flow_runs_crashed"] == 0, summary
    assert summary["alerts_received"] == 1 and summary["alerts_followed"] == 1, summary
    report = json.loads((instance.home / "reports" / f"{summary['night']}.json").read_text())
    (line,) = report["alerts"]
    assert line["decision"] == "follow-up" and line["mission"] == "Fermi", line
    ivorn = line["ivorn"]

    # The tiles were observed in the request's order (the strategy's: by probability).
    tiles = tiles_observed(engine, ivorn)
    names = [name for _, name, _ in tiles]
    print("tiles observed:", len(tiles), names[:3], "...", file=sys.stderr)
    assert len(tiles) > AFTERGLOW_TILE, names
    assert [sid for sid, _, _ in tiles] == sorted(sid for sid, _, _ in tiles)
    total = re.search(r"tile 1/(\d+)$", names[0])
    assert total is not None and int(total.group(1)) == 36, names[0]  # the strategy's max_tiles
    assert names[: AFTERGLOW_TILE + 1] == [
        f"{names[0].rsplit(' tile ', 1)[0]} tile {k}/{total.group(1)}"
        for k in range(1, AFTERGLOW_TILE + 2)
    ]

    # The afterglow: found in its tile (the sixth), by the blind difference search only there.
    truth = next(
        item["afterglowSimulator"]
        for item in json.loads(
            next((instance.home / "run").rglob("night-with-grb.json")).read_text()
        )[1:]
        if "afterglowSimulator" in item
    )
    found = candidates_near(engine, ivorn, truth["ra_deg"], truth["dec_deg"])
    print("afterglow candidates:", found[:4], file=sys.stderr)
    assert found, "the afterglow was not found in any tile"
    assert {name for name, _ in found} == {names[AFTERGLOW_TILE - 1]}
    assert all(c["method"] == "difference" and c["alert_ivorn"] == ivorn for _, c in found)
    assert min(c["alert_distance_arcsec"] for _, c in found) > 0.25 * 3600  # far from the centre
    assert line["afterglow_found"] is True, line
    assert line["alert_to_afterglow_s"] > line["alert_to_first_frame_s"] > 0, line
    # The follow-up's artifact: the tiles done, and the afterglow's tile with its candidate.
    versions = stack_artifacts(instance, prefix="alert-follow-up-")  # one per update
    assert {a["key"] for a in versions} == {versions[0]["key"]}, versions
    print("artifact versions:", len(versions), file=sys.stderr)
    text = max(versions, key=lambda a: a["created"])["data"]
    assert re.search(r"## Tiles \(\d+ of 36 observed\)", text), text[:2000]
    # ... and how much of the box they cover (the most probable 36 of the 200-300 the circle needs).
    covered = re.search(r"- tiled: the most probable 36 of (\d+) tiles, (\d+)% of the burst", text)
    assert covered is not None and int(covered.group(1)) > 100, text[:2000]
    assert 10 <= int(covered.group(2)) <= 30, covered.group(0)
    row = next(r for r in text.splitlines() if r.startswith(f"| {AFTERGLOW_TILE}/"))
    print(row, file=sys.stderr)
    where = re.search(r"RA ([\d.]+)°, Dec ([+-][\d.]+)°", row)
    assert where is not None and "difference" in row, row
    best = (float(where.group(1)), float(where.group(2)))
    assert separation_arcsec(*best, truth["ra_deg"], truth["dec_deg"]) <= 2.0, row
