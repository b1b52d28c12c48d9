"""Properties of the server-stream parser on anything a stranger can send: only ``LLMServerError`` or
a result, lines split exactly as SSE says, the key never shown, all within a deadline."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from voicecli.engine.types import ToolCall
from voicecli.llm.sse import (
    MASK,
    ChunkReader,
    LLMServerError,
    SecretFilter,
    iter_lines,
    iter_sse_data,
    mask_secret,
    quote,
    read_events,
)

FAST = settings(max_examples=400, deadline=2000)


@FAST
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_lines_are_split_as_the_whole_stream_would_be(chunks):
    """CR, LF and CRLF end a line wherever the chunks are cut, a CRLF split over two chunks included."""
    joined = b"".join(chunks)
    expected = [line.decode("utf-8", "replace") for line in joined.splitlines()]
    if expected:
        expected[0] = expected[0].removeprefix("\ufeff")
    assert list(iter_lines(chunks)) == expected


@FAST
@given(st.lists(st.binary(max_size=64), max_size=20), st.integers(1, 64))
def test_a_line_over_the_cap_is_one_error(chunks, cap):
    joined = b"".join(chunks)
    try:
        lines = list(iter_lines(chunks, max_line_bytes=cap))
    except LLMServerError as e:
        assert "longer than" in e.message
        assert any(len(line) > cap for line in joined.splitlines())
        return
    assert all(len(line) <= cap for line in lines)  # characters never outnumber bytes


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=25,
)
_field = st.one_of(_json, st.sampled_from([None, 0, 1, "0", "stop", "tool_calls", "get_time", "{}", '{"a": 1}']))
_fragment = st.fixed_dictionaries({}, optional={
    "index": _field, "id": _field, "type": _field,
    "function": st.one_of(_field, st.fixed_dictionaries({}, optional={"name": _field, "arguments": _field})),
})
_delta = st.one_of(_field, st.fixed_dictionaries({}, optional={
    "role": _field, "content": _field, "tool_calls": st.one_of(_field, st.lists(st.one_of(_fragment, _field), max_size=3)),
}))
_chunk = st.one_of(_json, st.fixed_dictionaries({}, optional={
    "choices": st.one_of(_field, st.lists(st.one_of(_field, st.fixed_dictionaries({}, optional={
        "index": _field, "delta": _delta, "finish_reason": _field})), max_size=2)),
    "error": _field, "usage": _field,
}))


@FAST
@given(st.lists(_chunk, min_size=1, max_size=8), st.booleans())
def test_any_chunks_give_items_or_one_server_error(chunks, done):
    reader = ChunkReader("sk-test-abcdefgh")
    lines = []
    for c in chunks:
        lines += [f"data: {json.dumps(c)}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    try:
        for items in read_events(reader, lines):
            for item in items:
                assert isinstance(item, str) and item or isinstance(item, ToolCall) and item.name
    except LLMServerError as e:
        assert e.message and "\n" not in e.one_line()


@FAST
@given(st.lists(st.text(max_size=30), max_size=30))
def test_any_lines_give_events_or_one_server_error(lines):
    reader = ChunkReader()
    try:
        for items in read_events(reader, lines):
            assert all(isinstance(i, (str, ToolCall)) for i in items)
    except LLMServerError as e:
        assert "\n" not in e.one_line()


@FAST
@given(st.lists(st.text(alphabet="ab:data \n", max_size=20), max_size=20), st.integers(1, 50))
def test_an_event_over_the_cap_is_one_error(lines, cap):
    try:
        events = list(iter_sse_data(lines, max_event_bytes=cap))
    except LLMServerError as e:
        assert "event larger than" in e.message
        return
    assert all(len(e) <= cap for e in events)


# --- the key --------------------------------------------------------------------------------------

_key = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=8, max_size=60)
_other = st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,:;'\"{}[]\\/\n\t", max_size=400)


def _pieces(key: str) -> list[str]:
    return [key[i:i + 8] for i in range(len(key) - 7)]


@FAST
@given(_key, _other, _other, st.integers(0, 1000))
def test_quoted_server_text_never_shows_a_piece_of_the_key(key, before, after, cut):
    """Masked before it is shortened, and a body cut at a read limit leaves no start of the key."""
    body = (before + key + after + key)[:cut]
    shown = quote(mask_secret(body, key, cut=True), key)
    assert not any(p in shown for p in _pieces(key)), shown
    assert len(shown) <= 160


@FAST
@given(_key, st.lists(st.one_of(_other, st.just("KEY")), max_size=10), st.data())
def test_the_key_split_over_deltas_is_masked_exactly_as_in_the_whole_text(key, parts, data):
    text = "".join(key if p == "KEY" else p for p in parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    f = SecretFilter(key)
    out = "".join(f.feed(d) for d in deltas) + f.flush()
    assert out == text.replace(key, MASK)
