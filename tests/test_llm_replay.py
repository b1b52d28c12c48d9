"""Replay traces from a stranger: every bad file or line is one LLMError naming it, never a traceback
or a hang (an infinite time would wait forever; a FIFO would block; a huge file would fill memory)."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecli.engine.types import ToolCall
from voicecli.errors import LLMError
from voicecli.llm.replay import MAX_T_MS, MAX_TRACE_BYTES, ReplayLLM, Trace, load_traces


def load_within(path: Path, seconds: float = 5.0):
    box: dict = {}

    def go():
        try:
            llm = ReplayLLM(load_traces(path), speed=1.0)  # replayed in real time, as `--llm replay:` does
            box["result"] = [list(llm.stream([])) for _ in llm.traces]
        except BaseException as e:  # noqa: BLE001 - the caller asserts which
            box["result"] = e

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading/replaying {path} still running after {seconds} s"
    return box["result"]


def line(deltas, **extra) -> str:
    return json.dumps({"voicecli_trace": 1, **extra, "deltas": deltas})


BAD = {
    "infinite time": ('{"deltas": [{"t_ms": Infinity, "text": "a"}]}', "t_ms must be from 0"),
    "NaN time": ('{"deltas": [{"t_ms": NaN, "text": "a"}]}', "t_ms must be from 0"),
    "negative time": (line([{"t_ms": -5, "text": "a"}]), "t_ms must be from 0"),
    "a time of 31 years": (line([{"t_ms": 1e12, "text": "a"}]), "t_ms must be from 0"),
    "a 400-digit time": ('{"deltas": [{"t_ms": 1' + "0" * 400 + ', "text": "a"}]}', "t_ms must be from 0"),
    "time goes back": (line([{"t_ms": 5, "text": "a"}, {"t_ms": 4, "text": "b"}]), "goes backwards"),
    "time true": (line([{"t_ms": True, "text": "a"}]), 'numeric "t_ms"'),
    "time a string": (line([{"t_ms": "5", "text": "a"}]), 'numeric "t_ms"'),
    "delta a list": (line([[5, "a"]]), 'numeric "t_ms"'),
    "no text or call": (line([{"t_ms": 1}]), '"text" or "tool_call"'),
    "prompt a number": (line([{"t_ms": 1, "text": "a"}], prompt=5), '"prompt" must be a string'),
    "call without name": (line([{"t_ms": 1, "tool_call": {"arguments": "{}"}}]), '"name"'),
    "call arguments a number": (line([{"t_ms": 1, "tool_call": {"name": "f", "arguments": 5}}]), '"arguments"'),
    "call id an object": (line([{"t_ms": 1, "tool_call": {"name": "f", "id": {}}}]), '"id"'),
    "deeply nested": ('{"deltas": ' + "[" * 50_000 + "]" * 50_000 + "}", "too deeply nested"),
    "a 5000-digit number": ('{"n": ' + "9" * 5000 + ', "deltas": []}', "number too long"),
    "not JSON": ("{deltas: []}", "invalid JSON"),
    "not an object": ("[1, 2]", "not a voicecli trace line"),
    "not UTF-8": (b'\xff\xfe{"deltas": []}', "not UTF-8"),
    "empty": ("\n\n", "holds no responses"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_traces_are_one_llm_error_line(tmp_path, name):
    text, needle = BAD[name]
    path = tmp_path / "t.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    error = load_within(path)
    assert isinstance(error, LLMError), f"{name}: {error!r}"
    assert needle in error.message and str(path) in error.message and "\n" not in error.one_line()


def test_a_fifo_a_device_and_a_directory_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "t.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        error = load_within(path)
        assert isinstance(error, LLMError) and "not a regular file" in error.message, path
    assert "not found" in load_within(tmp_path / "missing.jsonl").message


def test_a_huge_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.truncate(MAX_TRACE_BYTES + 1)  # sparse: no disk used
    error = load_within(path)
    assert isinstance(error, LLMError) and "MiB" in error.message and "split" in error.hint


def test_good_traces_still_load_and_replay(tmp_path):
    call = {"name": "calculate", "arguments": {"expression": "2+2"}, "id": 7}
    path = tmp_path / "t.jsonl"
    path.write_text(line([{"t_ms": 0, "text": "Hi"}, {"t_ms": MAX_T_MS, "tool_call": call}], prompt="q", model="m")
                    + "\n\n" + line([{"t_ms": 1.5, "text": "there"}]) + "\n")
    (first, second) = load_traces(path)
    assert first.prompt == "q" and first.meta == {"model": "m"}
    assert first.deltas[1].item == ToolCall("calculate", '{"expression": "2+2"}', "7")
    assert [d.item for d in second.deltas] == ["there"]
    llm = ReplayLLM([first, second], speed=0)
    assert [list(llm.stream([])) for _ in range(2)] == [["Hi", first.deltas[1].item], ["there"]]


def test_a_recorded_trace_round_trips(tmp_path):
    trace = Trace.from_items(["a", " b", ToolCall("f", "{}", "c1")], prompt="p")
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(trace.as_dict()) + "\n")
    assert load_traces(path)[0].deltas == trace.deltas


# --- property: any JSON line ----------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)
_delta = st.fixed_dictionaries({}, optional={
    "t_ms": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**20), _json),
    "text": st.one_of(st.text(max_size=5), _json),
    "tool_call": st.one_of(st.fixed_dictionaries({}, optional={"name": _json | st.text(max_size=5),
                                                               "arguments": _json, "id": _json}), _json),
})
_line = st.one_of(
    _json,
    st.fixed_dictionaries({"deltas": st.lists(_delta | _json, max_size=5)}, optional={"prompt": _json}),
)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_line, min_size=1, max_size=3))
def test_any_json_lines_load_or_give_one_llm_error(tmp_path, objs):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in objs))  # NaN/Infinity written as JSON allows it
    try:
        traces = load_traces(path)
    except LLMError as e:
        assert "\n" not in e.one_line()
        return
    for trace in traces:
        times = [d.t_ms for d in trace.deltas]
        assert all(math.isfinite(t) and 0 <= t <= MAX_T_MS for t in times) and times == sorted(times)
        assert all(isinstance(d.item, (str, ToolCall)) for d in trace.deltas)
        json.dumps(trace.as_dict())  # what was loaded can be written back
