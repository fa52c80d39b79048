"""Safe VOEvent parsing: the gate, voevent-parse, the semantic checks, and what is extracted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tasks.alerts.parse import (
    FLAG_LOST_LOCK,
    FLAG_RETRACTION,
    FLAG_TEST,
    AlertRejected,
    issued_at_hint,
    parse_notice,
)
from tests.support.voevents import SWIFT, SWIFT_LOST_LOCK, variant

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CAP = 262144


def parse(raw: bytes, now: datetime = NOW):
    return parse_notice(raw, CAP, now, 300.0)


def rejected(raw: bytes, now: datetime = NOW) -> AlertRejected:
    with pytest.raises(AlertRejected) as info:
        parse(raw, now)
    return info.value


def test_every_real_notice_parses_with_its_mission_kind_and_trigger(voevents):
    expected = {
        SWIFT: ("Swift", "grb", "Swift:876016"),
        SWIFT_LOST_LOCK: ("Swift", "grb", "Swift:1209406"),
        "Fermi__624500874-GBM_FIN_POS-long_duration.xml": ("Fermi", "grb", "Fermi:624500874"),
        "Fermi__721646325-GBM_FIN_POS-no_duration.xml": ("Fermi", "grb", "Fermi:721646325"),
        "GECAM__260-FLT.xml": ("GECAM", "grb", "GECAM-B:260"),
        "SVOM__sb25030804-GRM_TRIGGER.xml": ("SVOM", "grb", "SVOM:sb25030804"),
        "SVOM__sb25031103-GRM_TRIGGER-no_coords.xml": ("SVOM", "grb", "SVOM:sb25031103"),
        "LVC__S190426c_1-PRELIMINARY.xml": ("LVK", "gw", "LVK:S190426c"),
        "LVC__MS181101ab3_5-RETRACTION.xml": ("LVK", "gw", "LVK:MS181101ab3"),
        "IceCube__13491280902176-CASCADE.xml": ("IceCube", "neutrino", "IceCube:13491280902176"),
    }
    assert set(voevents) == set(expected), "a new notice needs a row here and in docs/alerts.md"
    for name, raw in voevents.items():
        notice = parse(raw)
        assert (notice.mission, notice.kind, notice.trigger_key) == expected[name], name
        assert notice.issued_at == issued_at_hint(raw), name


def test_positions_errors_times_and_flags_are_read(voevents):
    swift = parse(voevents[SWIFT])
    assert (swift.ra_deg, swift.dec_deg, swift.error_radius_deg) == (248.2071, 78.5044, 0.05)
    assert swift.event_time == datetime(2018, 12, 13, 12, 57, 38, 430000, tzinfo=UTC)
    assert swift.issued_at == datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)
    assert swift.packet_type == 61 and swift.name == "GRB 181213" and not swift.flags
    assert FLAG_LOST_LOCK in parse(voevents[SWIFT_LOST_LOCK]).flags
    grm = parse(voevents["SVOM__sb25030804-GRM_TRIGGER.xml"])
    assert grm.error_radius_deg == -1.0 and not grm.error_known and grm.has_position
    assert not parse(voevents["SVOM__sb25031103-GRM_TRIGGER-no_coords.xml"]).has_position
    retraction = parse(voevents["LVC__MS181101ab3_5-RETRACTION.xml"])
    assert {FLAG_RETRACTION, FLAG_TEST} <= retraction.flags
    assert ("ivo://gwnet/LVC#MS181101ab3-4-Update", "supersedes") in retraction.citations
    fermi = parse(voevents["Fermi__624500874-GBM_FIN_POS-long_duration.xml"])
    assert fermi.citations[0][1] == "followup"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"", "empty packet"),
        (b"   \n", "empty packet"),
        (b"x" * (CAP + 1), "too large"),
        ("<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16"), "NUL byte"),
        (b"<?xml version='1.0' encoding='UTF-7'?>+ADw-!DOCTYPE", "encoding 'UTF-7' is refused"),
        (b"<?xml version='1.0'?><!DOCTYPE x><x/>", "<!DOCTYPE> is not allowed"),
        (b"<x><!ENTITY a 'b'></x>", "<!ENTITY> is not allowed"),
        (b"<x><!-- -->< !doctype x></x>", "not well-formed XML"),
        (b"not xml at all", "not well-formed XML"),
        (b"<VOEvent version='1.1' ivorn='ivo://a/b#c' role='observation'/>", "not a VOEvent 2.0"),
        (b"<VOEvent ivorn='ivo://a/b#c' role='observation'/>", "not a VOEvent 2.0"),
        (b"<Other version='2.0' ivorn='ivo://a/b#c' role='observation'/>", "root element"),
        (b"<VOEvent version='2.0' role='observation'/>", "no IVORN"),
        (b"<VOEvent version='2.0' ivorn='http://x' role='observation'/>", "must look like"),
        (b"<VOEvent version='2.0' ivorn='ivo://a/b#c' role='guess'/>", "unknown role 'guess'"),
    ],
)
def test_unsafe_or_malformed_packets_are_rejected_with_a_reason(packet, reason):
    assert reason in rejected(packet).reason


def test_semantic_checks_reject_impossible_values(voevents):
    raw = voevents[SWIFT]
    cases = [
        (variant(raw, ra=361.0), "RA 361 is outside"),
        (variant(raw, ra=-0.5), "RA -0.5 is outside"),
        (variant(raw, dec=91.0), "Dec 91 is outside"),
        (variant(raw, error=181.0), "larger than 180 degrees"),
        (variant(raw, params={"TrigID": "87x6"}), "TrigID '87x6' is not an integer"),
        (variant(raw, params={"Packet_Type": "sixty"}), "Packet_Type 'sixty'"),
        (raw.replace(b"<C1>248.2071</C1>", b"<C1>NaN</C1>"), "not a finite number"),
        (raw.replace(b"<C1>248.2071</C1>", b"<C1>east</C1>"), "malformed VOEvent (ValueError"),
        (raw.replace(b"2018-12-13T12:57:38.43", b"2018-13-45T99:00:00"), "event time"),
        (raw.replace(b"2018-12-13T12:58:42", b"yesterday"), "Who/Date 'yesterday'"),
        (raw.replace(b"2018-12-13T12:57:38.43", b"1066-10-14T09:00:00"), "not plausible"),
        (raw.replace(b'<Position2D unit="deg">', b'<Position2D unit="rad">'), "unit 'rad' is not"),
        (raw.replace(b"UTC-FK5-GEO", b"UTC-GALACTIC-GEO"), "not FK5 or ICRS"),
        (raw.replace(b"</Value2>", b"</Value2><Value2>", 1), "not well-formed XML"),
    ]
    for packet, reason in cases:
        problem = rejected(packet)
        assert reason in problem.reason, (reason, problem.reason)
        if "IVORN" not in reason:
            assert problem.ivorn in (None, "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475")


def test_times_after_reception_are_rejected_but_skew_is_tolerated(voevents):
    raw = voevents[SWIFT]
    issued = datetime(2018, 12, 13, 12, 58, 42, tzinfo=UTC)
    assert parse(raw, issued).ivorn  # judged when issued
    assert parse(raw, datetime(2018, 12, 13, 12, 54, 0, tzinfo=UTC)).ivorn  # within 300 s
    problem = rejected(raw, datetime(2018, 12, 13, 12, 50, 0, tzinfo=UTC))
    assert "after the reception time" in problem.reason
    assert problem.ivorn == "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_876016-475"


def test_issued_at_hint_needs_no_parser_and_survives_garbage():
    assert issued_at_hint(b"<Who><Date>2024-01-17T16:51:33</Date></Who>") == datetime(
        2024, 1, 17, 16, 51, 33, tzinfo=UTC
    )
    assert issued_at_hint(b"<Who><Date>soon</Date></Who>") is None
    assert issued_at_hint(b"\x00\xff" * 1000) is None
    assert issued_at_hint(b"<Date>2024-01-17T16:51:33</Date>") is None  # not in <Who>
