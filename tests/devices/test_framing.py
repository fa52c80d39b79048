"""NDJSON framing: split and coalesced reads, oversized lines, encoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LINE_TOO_LONG, ProtocolError
from devices.framing import LineFramer, OversizedLine, decode, encode


def feed_all(framer: LineFramer, chunks: list[bytes]) -> list:
    out = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def test_a_line_split_byte_by_byte_comes_out_whole():
    line = encode({"command": [{"name": "STATUS"}], "id": "é-1"})
    framer = LineFramer()
    assert feed_all(framer, [line[i : i + 1] for i in range(len(line))]) == [line[:-1]]
    assert framer.pending == 0


def test_coalesced_lines_come_out_one_by_one_and_a_tail_waits():
    lines = [encode({"n": i}) for i in range(5)]
    framer = LineFramer()
    out = framer.feed(b"".join(lines) + b'{"n": 5')
    assert [json.loads(x)["n"] for x in out] == [0, 1, 2, 3, 4]
    assert framer.pending == len(b'{"n": 5')
    assert [json.loads(x)["n"] for x in framer.feed(b"}\r\n")] == [5]


def test_empty_lines_are_dropped_and_crlf_is_accepted():
    assert LineFramer().feed(b'\n\r\n{"a":1}\r\n  \n') == [b'{"a":1}']


def test_an_oversized_line_is_refused_as_soon_as_it_crosses_the_limit_then_skipped():
    framer = LineFramer(max_line=100)
    out = framer.feed(b"x" * 150)
    assert out == [OversizedLine(100, 150)]
    # The rest of that line is skipped up to its newline; the next line is intact.
    assert framer.feed(b"y" * 1000) == []
    assert framer.feed(b'yyy\n{"ok":true}\n') == [b'{"ok":true}']
    assert framer.pending == 0


def test_an_oversized_line_ending_in_the_same_chunk_does_not_eat_the_next():
    framer = LineFramer(max_line=10)
    assert framer.feed(b"0123456789ABC\nnext\n") == [OversizedLine(10, 13), b"next"]


def test_a_line_of_exactly_the_limit_is_accepted():
    framer = LineFramer(max_line=10)
    assert framer.feed(b"0123456789\n") == [b"0123456789"]


def test_the_default_limit_is_one_mebibyte():
    framer = LineFramer()
    assert framer.feed(b"a" * (1 << 20) + b"\n") == [b"a" * (1 << 20)]
    out = framer.feed(b"b" * ((1 << 20) + 1))
    assert isinstance(out[0], OversizedLine)
    error = out[0].error("reply line")
    assert error.code == LINE_TOO_LONG and "1048576 bytes" in error.message


@given(
    messages=st.lists(
        st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=20), max_size=4),
        min_size=1,
        max_size=8,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_split_of_a_stream_gives_back_every_message(messages, cuts):
    stream = b"".join(encode(m) for m in messages)
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    out = feed_all(LineFramer(), chunks)
    assert [json.loads(x) for x in out] == messages


def test_decode_names_the_problem_with_an_excerpt():
    with pytest.raises(ProtocolError) as caught:
        decode(b"\x00\x01 not json {{{")
    assert caught.value.code == "bad_json"
    assert "not JSON" in caught.value.message and "not json" in caught.value.message


def test_encode_refuses_nan():
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


def test_deeply_nested_json_is_a_protocol_error_not_a_crash():
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode(b"[" * 100_000 + b"]" * 100_000)
