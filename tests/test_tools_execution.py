"""Running a round of tool calls: parallel, timeouts, and every bad call as an error result."""

from __future__ import annotations

import json
import threading
import time

import pytest

from voicecli.engine.types import ToolCall
from voicecli.tools import Registry, ToolContext, assistant_message, run_tool_calls

SPANS: dict[str, list[float]] = {}  # tool name -> [start, end] on perf_counter(), for order checks


def _sleep(name: str, seconds: float) -> None:
    span = SPANS[name] = [time.perf_counter()]
    time.sleep(seconds)
    span.append(time.perf_counter())  # this call's own span, even if a later test cleared SPANS


def slow_a(seconds: float) -> str:
    """Sleep, then answer a."""
    _sleep("slow_a", seconds)
    return "a"


def slow_b(seconds: float) -> str:
    """Sleep, then answer b."""
    _sleep("slow_b", seconds)
    return "b"


def add(x: int, y: int = 0) -> int:
    """Add two integers."""
    return x + y


def pick(colour: str | None, sizes: list[int] | None = None) -> dict:
    """Echo the arguments."""
    return {"colour": colour, "sizes": sizes}


def explode() -> str:
    """Always fails."""
    raise RuntimeError("the sensor is unplugged")


def where(ctx: ToolContext) -> str:
    """Report the data directory."""
    return str(ctx.data_dir)


@pytest.fixture
def registry() -> Registry:
    return Registry([slow_a, slow_b, add, pick, explode, where])


def call(name: str, args: object = None, cid: str = "c1") -> ToolCall:
    text = args if isinstance(args, str) else json.dumps(args or {})
    return ToolCall(name, text, cid)


def test_two_slow_tools_take_the_time_of_one(registry):
    SPANS.clear()
    results = run_tool_calls(
        [call("slow_a", {"seconds": 0.5}, "1"), call("slow_b", {"seconds": 0.5}, "2")], registry
    )
    assert [r.result for r in results] == ["a", "b"]
    assert [r.call_id for r in results] == ["1", "2"]
    (a_start, a_end), (b_start, b_end) = SPANS["slow_a"], SPANS["slow_b"]
    assert a_start < b_end and b_start < a_end, f"the calls ran one after the other: {SPANS}"  # they overlapped
    assert all(r.ms >= 450 for r in results)  # each is timed by itself, not as a share of the round


def test_timeout_gives_an_error_and_does_not_wait(registry):
    SPANS.clear()
    slow, fast = run_tool_calls(
        [call("slow_a", {"seconds": 2.0}), call("add", {"x": 1, "y": 2})], registry, timeout_s=0.2
    )
    assert len(SPANS["slow_a"]) == 1, "the round waited for the slow tool to finish"  # it is still sleeping
    assert slow.result is None and "timed out after 0.2 s" in slow.error
    assert fast.result == "3" and fast.error is None


def test_results_and_messages(registry):
    (r,) = run_tool_calls([call("add", {"x": 17, "y": 23}, "call_7")], registry)
    assert r.ok and r.result == "40" and r.arguments == {"x": 17, "y": 23}
    assert r.as_message() == {"role": "tool", "tool_call_id": "call_7", "name": "add", "content": "40"}
    rec = r.as_record()
    assert set(rec) == {"name", "arguments", "result", "error", "ms"}
    assert rec["name"] == "add" and rec["result"] == "40" and rec["error"] is None and rec["ms"] >= 0


def test_non_string_results_are_json(registry):
    (r,) = run_tool_calls([call("pick", {"colour": "red", "sizes": [1, 2]})], registry)
    assert json.loads(r.result) == {"colour": "red", "sizes": [1, 2]}


def test_optional_without_default_receives_none(registry):
    (r,) = run_tool_calls([call("pick", {})], registry)
    assert json.loads(r.result) == {"colour": None, "sizes": None}


@pytest.mark.parametrize(
    "the_call, expected",
    [
        (call("weather", {"city": "Oslo"}), "unknown tool 'weather'; known tools: slow_a, slow_b, add"),
        (call("add", '{"x": 1,'), "arguments are not valid JSON"),
        (call("add", "[1, 2]"), "arguments must be a JSON object"),
        (call("add", {"y": 2}), "missing required argument 'x'"),
        (call("add", {"x": "one"}), "argument 'x' must be an integer, got string"),
        (call("add", {"x": 1.5}), "argument 'x' must be an integer, got number"),
        (call("add", {"x": True}), "argument 'x' must be an integer, got boolean"),
        (call("add", {"x": 1, "z": 3}), "unknown argument 'z' (accepted: x, y)"),
        (call("pick", {"colour": "red", "sizes": [1, "2"]}), "argument 'sizes[1]' must be an integer"),
        (call("explode", {}), "the tool failed: the sensor is unplugged"),
        (ToolCall("", '{"oops": 1}', "c"), "names no tool"),
    ],
)
def test_bad_calls_become_error_results(registry, the_call, expected):
    (r,) = run_tool_calls([the_call], registry)
    assert r.result is None
    assert expected in r.error
    assert r.as_message()["content"] == f"error: {r.error}"
    assert r.as_record()["error"] == r.error


def test_a_bad_call_does_not_spoil_the_others(registry):
    results = run_tool_calls([call("nope"), call("add", {"x": 2}), call("explode")], registry)
    assert [r.ok for r in results] == [False, True, False]
    assert results[1].result == "2"


def test_integral_float_passes_as_integer_and_empty_arguments_mean_none(registry):
    (r,) = run_tool_calls([call("add", {"x": 4.0})], registry)
    assert r.result == "4"
    (r,) = run_tool_calls([ToolCall("where", "", "c")], registry, context=ToolContext(data_dir="/tmp/x"))
    assert r.result == "/tmp/x"


def test_a_tool_needing_the_context_fails_cleanly_without_one(registry):
    (r,) = run_tool_calls([call("where")], registry)
    assert r.result is None and "not available here" in r.error


def test_late_finish_after_timeout_changes_nothing(registry):
    (r,) = run_tool_calls([call("slow_a", {"seconds": 0.3})], registry, timeout_s=0.05)
    time.sleep(0.4)  # the thread has now returned "a"
    assert r.result is None and "timed out" in r.error


def test_timed_out_tools_run_in_daemon_threads(registry):
    gate = threading.Event()

    def wait_forever() -> str:
        """Blocks."""
        gate.wait()
        return "never"

    reg = Registry([wait_forever])
    (r,) = run_tool_calls([call("wait_forever")], reg, timeout_s=0.05)
    assert "timed out" in r.error
    stuck = [t for t in threading.enumerate() if t.name == "tool-wait_forever"]
    assert stuck and all(t.daemon for t in stuck)
    gate.set()


def test_assistant_message_shape():
    calls = [ToolCall("add", '{"x": 1}', "c1")]
    msg = assistant_message("", calls)
    assert msg == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"x": 1}'}}
        ],
    }
    assert assistant_message("ok", calls, parsed_arguments=True)["tool_calls"][0]["function"][
        "arguments"
    ] == {"x": 1}
