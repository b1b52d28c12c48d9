"""Correct tool answers: schema constraints (Annotated + Constraints), enforced by check_arguments
before the tool runs and honoured by the forced-call grammar; tool results given to a template-less
model in a form it repeats; and the 17 x 23 acceptance question on the embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Annotated, Literal

import pytest

from voicecli.tools.builtin import calculate
from voicecli.tools.execution import ArgumentError, check_arguments
from voicecli.tools.registry import Constraints, Registry, make_tool


def limited(
    code: Annotated[str, Constraints(pattern=r"^[A-Z]{3}$")],
    count: Annotated[int, Constraints(minimum=1, maximum=10)] = 1,
    ratio: Annotated[float, Constraints(minimum=0.0)] = 0.5,
    tags: Annotated[list[str], Constraints(max_length=2)] | None = None,
    mode: Literal["fast", "slow"] = "fast",
) -> str:
    """A tool with constraints on every parameter."""
    return f"{code} {count}"


def test_constraints_go_into_the_schema():
    props = make_tool(limited).parameters["properties"]
    assert props["code"] == {"type": "string", "pattern": "^[A-Z]{3}$"}
    assert props["count"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 1}
    assert props["ratio"]["minimum"] == 0.0
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "maxItems": 2}
    assert props["mode"]["enum"] == ["fast", "slow"]


@pytest.mark.parametrize(
    ("arguments", "mentions"),
    [({"code": "usd"}, "code"), ({"code": "USDX"}, "code"), ({"code": "USD", "count": 0}, "at least 1"),
     ({"code": "USD", "count": 11}, "at most 10"), ({"code": "USD", "ratio": -0.1}, "at least 0"),
     ({"code": "USD", "tags": ["a", "b", "c"]}, "at most 2"), ({"code": "USD", "mode": "medium"}, "fast")],
)
def test_check_arguments_refuses_what_breaks_a_constraint(arguments, mentions):
    with pytest.raises(ArgumentError) as err:
        check_arguments(make_tool(limited), arguments)
    assert mentions in str(err.value)


def test_check_arguments_passes_what_fits():
    kwargs = check_arguments(make_tool(limited), {"code": "EUR", "count": 10, "ratio": 0, "tags": ["x"]})
    assert kwargs == {"code": "EUR", "count": 10, "ratio": 0, "tags": ["x"]}


def test_a_constraint_is_checked_before_any_side_effect():
    from voicecli.engine.types import ToolCall
    from voicecli.tools.execution import run_tool_calls

    ran = []

    def act(n: Annotated[int, Constraints(minimum=1)]) -> str:
        """Do something."""
        ran.append(n)
        return "done"

    (result,) = run_tool_calls([ToolCall("act", '{"n": 0}', "c1")], Registry([act]))
    assert result.error and "at least 1" in result.error
    assert ran == []


@pytest.mark.parametrize("pattern", ["[A-Z]+", "^(unclosed$"])
def test_a_bad_pattern_is_refused_when_the_tool_is_written(pattern):
    with pytest.raises(TypeError):
        Constraints(pattern=pattern)


@pytest.mark.parametrize("expression", ["17 * 23", "(2 + 3) ^ 2 / 4", "-5 + 3", "17 × 23", "17x23", "2**10", " 7 // 2 =", "12 % 5"])
def test_the_calculator_schema_accepts_what_the_calculator_reads(expression):
    assert check_arguments(make_tool(calculate), {"expression": expression}) == {"expression": expression}


@pytest.mark.parametrize("expression", [".17 * 23", "import os", "__import__('os')", "x", "", "17 * 23; rm"])
def test_the_calculator_schema_refuses_a_stray_dot_and_anything_but_arithmetic(expression):
    with pytest.raises(ArgumentError):
        check_arguments(make_tool(calculate), {"expression": expression})


def test_the_forced_call_grammar_carries_the_pattern():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(make_tool(calculate).parameters))
    assert '[+(0-9−-]' in gbnf  # the first character of the expression: never a dot


def test_a_template_without_tools_gets_results_as_plain_turns():
    from voicecli.llm.local import LlamaCppLLM

    llm = LlamaCppLLM.__new__(LlamaCppLLM)  # only _prepare, which reads the template flag
    llm.template_knows_tools = False
    history = [
        {"role": "user", "content": "What is 17 times 23?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calculate", "arguments": '{"expression": "17 * 23"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "calculate", "content": "391"},
    ]
    out = llm._prepare(history, None)
    assert out == [{"role": "user", "content": "What is 17 times 23?"},
                   {"role": "user", "content": "The calculate tool says: 391"}]
    assert not any("[" in m["content"] for m in out)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VOICECLI_NO_LOG": "1"}
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, timeout=240, env=env)


@pytest.mark.models
def test_17_times_23_is_computed_and_said_by_the_embedded_model():
    proc = _run("chat", "--once", "What is 17 times 23?", "--tool-choice", "calculate", "--no-audio", "--json", "--no-log")
    assert proc.returncode == 0, proc.stderr
    (rec,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    (call,) = rec["tool_calls"]
    assert call["name"] == "calculate" and call["error"] is None
    assert not call["arguments"]["expression"].lstrip().startswith(".")
    assert call["result"] == "391"
    shown = " ".join(c["text"] for c in rec["chunks"])
    assert "391" in shown
    said = rec["spoken"]
    speeches = [c["speech"] for c in rec["chunks"] if "speech" in c]
    for text in [said, *([" ".join(speeches)] if speeches else [])]:
        assert "391" in text or "three hundred ninety-one" in text.replace(" and ", " "), text
        assert "[" not in text and "]" not in text
