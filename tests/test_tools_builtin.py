"""The built-in tools: calculator, unit conversion, time, timers and notes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from voicecli.engine.types import ToolCall
from voicecli.tools import ToolContext, ToolError, build_registry, builtin, run_tool_calls
from voicecli.tools.calc import CalcError, evaluate

# --- calculator ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, value",
    [
        ("17*23", 391),
        ("17 × 23", 391),
        ("17 x 23", 391),
        ("17x23", 391),
        ("(2 + 3) ^ 2", 25),
        ("2 ** 10", 1024),
        ("10 ÷ 4", 2.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("-(3 − 5)", 2),
        ("+4", 4),
        ("1.5 * 4 =", 6.0),
        ("2+2?", 4),
    ],
)
def test_calculator_computes(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression, reason",
    [
        ("__import__('os').system('true')", "function calls are not allowed"),
        ("x + 1", "names are not allowed"),
        ("(1).real", "attributes are not allowed"),
        ("[1, 2][0]", "not allowed"),
        ("'a' * 3", "only numbers are allowed"),
        ("9 ** 9999", "exponent"),
        ("2 ** 1001", "exponent"),
        ("10 ** 101", "too large"),
        ("99999999999 ** 99", "too large"),
        ("1e308 * 10", "too large"),
        ("1 / 0", "division by zero"),
        ("(-8) ** 0.5", "no real result"),
        ("1 < 2", "comparisons are not allowed"),
        ("lambda: 1", "lambdas are not allowed"),
        ("1 +", "not an arithmetic expression"),
        ("", "empty"),
        ("1+" * 200 + "1", "too long"),
        ("True + 1", "only numbers"),
    ],
)
def test_calculator_refuses(expression, reason):
    with pytest.raises(CalcError) as err:
        evaluate(expression)
    assert reason in str(err.value)


def test_calculator_through_the_executor_gives_391():
    (r,) = run_tool_calls(
        [ToolCall("calculate", json.dumps({"expression": "17 × 23"}), "c")],
        build_registry(entry_points=False),
    )
    assert r.result == "391" and r.error is None


def test_calculator_error_reaches_the_model_without_a_type_prefix():
    (r,) = run_tool_calls(
        [ToolCall("calculate", '{"expression": "1 / 0"}', "c")], build_registry(entry_points=False)
    )
    assert r.error == "division by zero"


def test_float_results_are_rounded_for_speech():
    assert builtin.calculate("0.1 + 0.2") == "0.3"
    assert builtin.calculate("10 / 4") == "2.5"
    assert builtin.calculate("6 / 3") == "2"


# --- unit conversion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, src, dst, expected",
    [
        (5, "km", "miles", "5 km = 3.106856 mi"),
        (1, "mile", "feet", "1 mi = 5280 ft"),
        (100, "°C", "F", "100 °C = 212 °F"),
        (32, "degrees Fahrenheit", "celsius", "32 °F = 0 °C"),
        (0, "C", "kelvin", "0 °C = 273.15 K"),
        (2, "lbs", "grams", "2 lb = 907.1847 g"),
        (1, "gallon", "litres", "1 gal = 3.785412 l"),
        (100, "km/h", "m/s", "100 km/h = 27.77778 m/s"),
        (90, "minutes", "hours", "90 min = 1.5 h"),
        (3, "cups", "ml", "3 cup = 709.7647 ml"),
    ],
)
def test_convert_units(value, src, dst, expected):
    assert builtin.convert_units(value, src, dst) == expected


def test_convert_units_errors():
    with pytest.raises(ToolError, match="unknown unit 'furlongs'.*length: m, km"):
        builtin.convert_units(1, "furlongs", "m")
    with pytest.raises(ToolError, match=r"cannot convert length \(km\) to mass \(kg\)"):
        builtin.convert_units(1, "km", "kg")
    with pytest.raises(ToolError, match="below absolute zero"):
        builtin.convert_units(-300, "C", "F")


# --- time ------------------------------------------------------------------------------------


def test_get_time_in_a_zone(monkeypatch):
    fixed = datetime(2025, 3, 4, 14, 5, tzinfo=ZoneInfo("UTC"))
    monkeypatch.setattr(builtin, "_now", lambda tz=None: fixed.astimezone(tz) if tz else fixed)
    assert builtin.get_time("Asia/Tokyo") == "Tuesday 04 March 2025, 23:05 (Asia/Tokyo, UTC+09:00)"
    assert (
        builtin.get_time("America/New_York") == "Tuesday 04 March 2025, 09:05 (America/New_York, UTC-05:00)"
    )
    assert builtin.get_time().startswith("Tuesday 04 March 2025, 14:05")


def test_get_time_really_reads_the_clock():
    text = builtin.get_time("UTC")
    now = datetime.now(ZoneInfo("UTC"))
    assert f"{now:%Y}" in text and "(UTC, UTC+00:00)" in text


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime"])
def test_get_time_unknown_zone_is_an_error_result(zone):
    (r,) = run_tool_calls(
        [ToolCall("get_time", json.dumps({"timezone": zone}), "c")], build_registry(entry_points=False)
    )
    assert r.result is None and "unknown time zone" in r.error


# --- timers ----------------------------------------------------------------------------------


def test_timer_announces_through_the_callback(tmp_path):
    said: list[str] = []
    done = threading.Event()
    ctx = ToolContext(data_dir=tmp_path, announce=lambda text: (said.append(text), done.set()))
    (r,) = run_tool_calls(
        [ToolCall("set_timer", '{"seconds": 0.15, "label": "tea"}', "c")],
        build_registry(entry_points=False),
        context=ctx,
    )
    assert r.error is None and "tea" in r.result
    assert said == []  # not yet due
    assert done.wait(2.0)
    assert said == ["Your tea timer is done."]
    assert ctx.timers and all(t.daemon for t in ctx.timers)


def test_timer_can_be_cancelled(tmp_path):
    said: list[str] = []
    ctx = ToolContext(data_dir=tmp_path, announce=said.append)
    builtin.set_timer(ctx, seconds=0.1)
    ctx.cancel_timers()
    threading.Event().wait(0.3)
    assert said == []


@pytest.mark.parametrize("args", [{}, {"seconds": -5}, {"minutes": 60 * 25}])
def test_timer_needs_a_sensible_duration(tmp_path, args):
    ctx = ToolContext(data_dir=tmp_path, announce=lambda t: None)
    (r,) = run_tool_calls(
        [ToolCall("set_timer", json.dumps(args), "c")], build_registry(entry_points=False), context=ctx
    )
    assert r.error and not ctx.timers


def test_no_threads_started_at_import():
    code = (
        "import threading; n = threading.active_count(); import voicecli.tools; "
        "voicecli.tools.build_registry(entry_points=False); print(threading.active_count() - n)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# --- notes -----------------------------------------------------------------------------------


def _run(name: str, data_dir=None, **args):
    context = ToolContext(data_dir=data_dir) if data_dir is not None else None
    (r,) = run_tool_calls([ToolCall(name, json.dumps(args), "c")], build_registry(entry_points=False), context=context)
    return r


def test_notes_persist_across_registries(tmp_path):
    data = tmp_path / "data"

    def _run(name: str, **args):  # a fresh registry each call: a new run reads the same file
        (r,) = run_tool_calls([ToolCall(name, json.dumps(args), "c")], build_registry(entry_points=False),
                              context=ToolContext(data_dir=data))
        return r

    assert _run("list_notes").result == "There are no notes yet."
    assert _run("add_note", text="Buy oat milk").result == "Saved note #1."
    assert _run("add_note", text="Call the dentist on Friday").result == "Saved note #2."
    # a fresh registry (a new run) reads the same file
    listed = _run("list_notes").result
    assert "Buy oat milk" in listed and "Call the dentist" in listed
    found = _run("search_notes", query="DENTIST friday").result
    assert "Call the dentist" in found and "oat milk" not in found
    assert "No notes match" in _run("search_notes", query="bananas").result
    lines = (tmp_path / "data" / "notes.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Buy oat milk", "Call the dentist on Friday"]


def test_parallel_note_adds_get_distinct_ids(tmp_path):
    calls = [ToolCall("add_note", json.dumps({"text": f"note {i}"}), str(i)) for i in range(8)]
    results = run_tool_calls(calls, build_registry(entry_points=False), context=ToolContext(data_dir=tmp_path))
    assert all(r.ok for r in results)
    ids = [json.loads(line)["id"] for line in (tmp_path / "notes.jsonl").read_text().splitlines()]
    assert sorted(ids) == list(range(1, 9))


def test_list_notes_limit_and_corrupt_lines(tmp_path):
    for i in range(3):
        _run("add_note", tmp_path, text=f"item {i}")
    with (tmp_path / "notes.jsonl").open("a") as f:
        f.write("this line is not json\n")
    listed = _run("list_notes", tmp_path, limit=2).result
    assert listed.startswith("3 notes, the last 2")
    assert "item 0" not in listed and "item 2" in listed


def test_empty_note_is_an_error(tmp_path):
    assert _run("add_note", tmp_path, text="   ").error == "the note is empty"
    assert not (tmp_path / "notes.jsonl").exists()


def test_builtins_write_only_in_the_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    ctx = ToolContext(data_dir=data, announce=lambda t: None)
    reg = build_registry(entry_points=False)
    calls = [
        ToolCall("add_note", '{"text": "../../escape"}', "1"),
        ToolCall("calculate", '{"expression": "2*3"}', "2"),
        ToolCall("convert_units", '{"value": 1, "from_unit": "m", "to_unit": "cm"}', "3"),
        ToolCall("get_time", "{}", "4"),
        ToolCall("set_timer", '{"seconds": 30}', "5"),
    ]
    assert all(r.ok for r in run_tool_calls(calls, reg, context=ctx))
    ctx.cancel_timers()
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == ["data", "data/notes.jsonl"]
