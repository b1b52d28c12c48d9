"""Tool calls from a model or a hostile server: bounded in number, arguments checked before any side
effect, errors short and free of paths and Python names, calculator right or refused, notes private."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecli.engine.types import ToolCall
from voicecli.tools import (
    Registry,
    ToolContext,
    ToolError,
    build_registry,
    builtin,
    check_arguments,
    run_tool_calls,
)
from voicecli.tools.calc import CalcError, evaluate
from voicecli.tools.execution import MAX_CALLS_PER_ROUND, MAX_ERROR_CHARS

PYTHON_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback|Errno")


@pytest.fixture
def ctx(tmp_path):
    context = ToolContext(data_dir=tmp_path / "data", announce=lambda text: None)
    yield context
    context.cancel_timers()


@pytest.fixture(scope="module")
def registry():
    return build_registry(entry_points=False)


def run(registry, name, arguments, ctx, n=1):
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return run_tool_calls([ToolCall(name, text, f"c{i}") for i in range(n)], registry, 5.0, ctx)


# --- how many ---------------------------------------------------------------------------------------


def test_calls_beyond_the_cap_get_an_error_result_and_start_no_thread(registry, ctx):
    before = threading.active_count()
    started = []
    real_start = threading.Thread.start

    def counting_start(self):
        started.append(self.name)
        real_start(self)

    threading.Thread.start = counting_start
    try:
        results = run(registry, "get_time", {}, ctx, n=1000)
    finally:
        threading.Thread.start = real_start
    assert len(results) == 1000 and [r.call_id for r in results] == [f"c{i}" for i in range(1000)]
    assert all(r.ok for r in results[:MAX_CALLS_PER_ROUND])
    assert not any(r.ok for r in results[MAX_CALLS_PER_ROUND:])
    assert f"at most {MAX_CALLS_PER_ROUND} tool calls" in results[-1].error
    assert len([n for n in started if n.startswith("tool-")]) == MAX_CALLS_PER_ROUND
    assert threading.active_count() <= before + MAX_CALLS_PER_ROUND
    assert json.dumps([r.as_record() for r in results])  # every call is in the record


def test_pending_timers_are_capped(registry, ctx):
    results = run(registry, "set_timer", {"minutes": 5}, ctx, n=8)
    results += run(registry, "set_timer", {"minutes": 5}, ctx, n=8)
    results += run(registry, "set_timer", {"minutes": 5}, ctx, n=8)
    assert sum(r.ok for r in results) == builtin.MAX_PENDING_TIMERS == len(ctx.timers)
    assert "20 timers are already waiting" in results[-1].error
    ctx.cancel_timers()
    assert run(registry, "set_timer", {"minutes": 5}, ctx)[0].ok  # room again


def test_finished_timers_do_not_count(ctx):
    for _ in range(builtin.MAX_PENDING_TIMERS):
        builtin.set_timer(ctx, seconds=0.01)
    time.sleep(0.2)
    builtin.set_timer(ctx, minutes=1)
    assert len(ctx.timers) == 1


# --- arguments checked before any side effect -------------------------------------------------------


@pytest.mark.parametrize("arguments", ['{"seconds": NaN, "label": "tea"}', '{"minutes": Infinity}',
                                       '{"seconds": -Infinity}', '{"seconds": 1e400}'])
def test_a_timer_with_a_non_finite_duration_is_refused_before_it_starts(registry, arguments, tmp_path):
    said = []
    context = ToolContext(data_dir=tmp_path, announce=said.append)
    (r,) = run(registry, "set_timer", arguments, context)
    time.sleep(0.1)
    assert not r.ok and not context.timers and not said


def test_set_timer_checks_everything_before_starting(ctx):
    for kwargs in ({"seconds": float("nan"), "label": "tea"}, {"minutes": float("inf")},
                   {"seconds": 10, "label": "x" * 101}):
        with pytest.raises(ToolError):
            builtin.set_timer(ctx, **kwargs)
    assert not ctx.timers


@pytest.mark.parametrize("arguments, needle", [
    ("[" * 100_000 + "]" * 100_000, "too long"),
    ('{"expression": ' + "[" * 400 + "]" * 400 + "}", "nested too deeply"),
    ('{"expression": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    (json.dumps({"expression": [0] * 2000}), "too many values"),
    ('{"expression": 1' + "0" * 5000 + "}", "number too long"),
    ('{"value": NaN, "from_unit": "km", "to_unit": "mi"}', "NaN is not JSON"),
])
def test_oversized_arguments_are_an_error_result_that_stays_in_the_record(registry, ctx, arguments, needle):
    (r,) = run(registry, "calculate", arguments, ctx)
    assert not r.ok and needle in r.error
    record = r.as_record()
    assert record["name"] == "calculate" and record["error"] == r.error
    assert isinstance(record["arguments"], str) and len(record["arguments"]) <= 1100
    json.dumps(record)


def test_check_arguments_refuses_deep_structures_without_recursing():
    tool = build_registry(entry_points=False).get("calculate")
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        check_arguments(tool, {"expression": deep})


# --- what the model reads ---------------------------------------------------------------------------


def failing_tools():
    def reads_a_file() -> str:
        """Reads a file."""
        return open("/nonexistent/dir/secret.txt").read()

    def bad_value() -> str:
        """Raises ValueError with a path."""
        raise ValueError("cannot parse /home/alice/.config/voicecli/tools.py line 3")

    def bad_key() -> str:
        """Raises KeyError."""
        return {}["missing"]

    def type_error() -> str:
        """Raises TypeError."""
        return len(5)  # type: ignore[arg-type]

    def recursion() -> str:
        """Recurses forever."""
        return recursion()

    def long_message() -> str:
        """A long message."""
        raise ToolError("word " * 500)

    return [reads_a_file, bad_value, bad_key, type_error, recursion, long_message]


def test_errors_to_the_model_carry_no_paths_or_python_names(ctx):
    reg = Registry(failing_tools())
    results = run_tool_calls([ToolCall(n, "{}", n) for n in reg.names()], reg, 5.0, ctx)
    for r in results:
        assert not r.ok, r.name
        assert not PYTHON_NAME.search(r.error), r.error
        assert "/nonexistent" not in r.error and "/home/alice" not in r.error and ".py" not in r.error, r.error
        assert len(r.error) <= MAX_ERROR_CHARS and "\n" not in r.error
    by_name = {r.name: r.error for r in results}
    assert "no such file or directory" in by_name["reads_a_file"]
    assert by_name["bad_value"] == "the tool failed: cannot parse <path> line 3"


@pytest.mark.parametrize("zone", ["Europe", "a" * 300, "../../etc/passwd", "/etc/localtime", "Europe/../../x"])
def test_odd_time_zones_are_unknown_zones(registry, ctx, zone):
    (r,) = run(registry, "get_time", {"timezone": zone}, ctx)
    assert r.error.startswith("unknown time zone") and ".venv" not in r.error and "zoneinfo" not in r.error


# --- the calculator is right or refuses -------------------------------------------------------------


@pytest.mark.parametrize("expression, value", [("1_000 + 1", 1001), ("0b101", 5), ("0o17", 15), ("10x10", 100),
                                               ("0 x 10", 0), ("1.0x10", 10), ("2 ** -10", 0.0009765625),
                                               ("10**100", 10**100)])
def test_calculator_literals_are_read_right(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression, reason", [
    ("0x10", "hexadecimal"), ("(0XfF)", "hexadecimal"), ("1e400", "too large"), ("1j", "complex"),
    ("2**1000", "too large"), ("9**9**9", "exponent"), ("1e-400", "too small"), ("1e-200 * 1e-200", "too small"),
    ("10 ** -400", "too small"), ("1,000", "not allowed"),
])
def test_calculator_refuses_what_it_cannot_get_right(expression, reason):
    with pytest.raises(CalcError, match=reason):
        evaluate(expression)


# --- notes are private ------------------------------------------------------------------------------


def test_notes_are_created_0600_in_a_0700_folder_whatever_the_umask(ctx):
    old = os.umask(0)
    try:
        builtin.add_note(ctx, "the door code is 1234")
    finally:
        os.umask(old)
    path = ctx.data_dir / builtin.NOTES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ctx.data_dir.stat().st_mode) == 0o700


def test_a_notes_file_found_readable_by_others_is_tightened(ctx):
    ctx.data_dir.mkdir()
    path = ctx.data_dir / builtin.NOTES_FILE
    path.write_text('{"id": 1, "text": "old"}\n')
    path.chmod(0o644)
    assert "old" in builtin.list_notes(ctx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o666)
    builtin.add_note(ctx, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_fifo_in_place_of_the_notes_is_refused_without_blocking(ctx):
    ctx.data_dir.mkdir()
    os.mkfifo(ctx.data_dir / builtin.NOTES_FILE)
    for action in (lambda: builtin.list_notes(ctx), lambda: builtin.add_note(ctx, "x")):
        box = {}
        thread = threading.Thread(target=lambda a=action, b=box: b.setdefault("r", _catch(a)), daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
        assert isinstance(box["r"], ToolError) and "not a regular file" in str(box["r"])


def _catch(action):
    try:
        return action()
    except Exception as e:  # noqa: BLE001 - the test asserts which
        return e


# --- property: any arguments, any tool ----------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
    max_leaves=30,
)
_names = st.sampled_from(["get_time", "calculate", "convert_units", "set_timer", "add_note", "list_notes",
                          "search_notes", "nope", ""])
_arguments = st.one_of(
    _json.map(json.dumps),
    st.dictionaries(st.sampled_from(["expression", "timezone", "value", "from_unit", "to_unit", "seconds",
                                     "minutes", "label", "text", "limit", "query", "x"]), _json,
                    max_size=4).map(json.dumps),
    st.text(max_size=60),
)


@settings(max_examples=250, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_names, _arguments), min_size=1, max_size=10))
def test_any_calls_give_one_result_each_and_never_raise(registry, tmp_path, calls):
    context = ToolContext(data_dir=tmp_path / "fuzz", announce=lambda text: None)
    try:
        results = run_tool_calls([ToolCall(n, a, f"c{i}") for i, (n, a) in enumerate(calls)], registry, 5.0, context)
    finally:
        context.cancel_timers()
    assert [r.call_id for r in results] == [f"c{i}" for i in range(len(calls))]
    for r in results:
        assert r.ok or (r.error and not PYTHON_NAME.search(r.error) and len(r.error) <= MAX_ERROR_CHARS + 60)
        json.dumps(r.as_record())
        json.dumps(r.as_message())


@settings(max_examples=300, deadline=2000)
@given(st.sampled_from(["get_time", "calculate", "convert_units", "set_timer", "add_note", "list_notes"]), _json)
def test_check_arguments_raises_only_argument_errors(name, arguments):
    tool = build_registry(entry_points=False).get(name)
    try:
        kwargs = check_arguments(tool, arguments)
    except ValueError as e:
        assert type(e).__name__ == "ArgumentError"
        return
    assert isinstance(kwargs, dict)
