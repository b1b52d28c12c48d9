"""Tool-call markup filtered out of a text stream, however the stream is cut; format detection; feedback."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicecli.engine.types import ToolCall
from voicecli.llm.markup import FORMATS, ToolMarkupFilter, detect_tool_format, tool_prompt
from voicecli.tools import FEEDBACK_PHRASES, FeedbackPicker

OPEN, CLOSE = "<tool_call>", "</tool_call>"


def ids():
    counter = itertools.count(1)
    return lambda: f"id{next(counter)}"


def run(pieces: list[str], fmt: str = "hermes") -> tuple[str, list[ToolCall], list[str]]:
    """(text passed on, calls, the text items one by one) for a stream fed in ``pieces``."""
    f = ToolMarkupFilter(fmt, new_id=ids())
    items = [item for piece in pieces for item in f.feed(piece)] + f.flush()
    texts = [i for i in items if isinstance(i, str)]
    return "".join(texts), [i for i in items if isinstance(i, ToolCall)], texts


def cut(text: str, points: list[int]) -> list[str]:
    bounds = [0, *sorted(set(points)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


STREAM = (
    "Sure, let me work that out. "
    '<tool_call>\n{"name": "calculate", "arguments": {"expression": "17 * 23"}}\n</tool_call>\n'
    '<tool_call>{"name": "get_time", "arguments": {}}</tool_call> Done <b>.'
)


def test_hermes_calls_and_text():
    text, calls, _ = run([STREAM])
    assert text == "Sure, let me work that out. \n Done <b>."
    assert calls == [
        ToolCall("calculate", '{"expression": "17 * 23"}', "id1"),
        ToolCall("get_time", "{}", "id2"),
    ]


@pytest.mark.parametrize("a", range(len(STREAM) + 1))
def test_every_single_cut_position(a):
    assert run([STREAM[:a], STREAM[a:]])[:2] == run([STREAM])[:2]


def test_one_character_at_a_time():
    assert run(list(STREAM))[:2] == run([STREAM])[:2]


def test_text_passes_as_soon_as_it_cannot_be_a_tag():
    f = ToolMarkupFilter("hermes")
    assert f.feed("Hello") == ["Hello"]
    assert f.feed(" <to") == [" "]  # "<to" could still become <tool_call>
    assert f.feed("day") == ["<today"]
    assert f.feed(" 3 < 4") == [" 3 < 4"]
    assert f.feed(" <") == [" "]
    assert f.flush() == ["<"]


def test_stray_closing_tag_is_dropped():
    assert run(["All done.</tool_call> Bye."])[0] == "All done. Bye."


def test_malformed_json_becomes_a_call_with_raw_arguments():
    _, calls, _ = run(['<tool_call>{"name": "calculate", "arguments": {"expression": 17*23}</tool_call>'])
    assert len(calls) == 1
    assert calls[0].name == "calculate"
    assert '"expression": 17*23' in calls[0].arguments
    with pytest.raises(json.JSONDecodeError):
        json.loads(calls[0].arguments)


def test_unterminated_call_at_end_of_stream_is_still_a_call():
    text, calls, _ = run(['Ok. <tool_call>{"name": "get_time", "arguments": {"timezone": "UTC"}}'])
    assert text == "Ok. "
    assert calls == [ToolCall("get_time", '{"timezone": "UTC"}', "id1")]


def test_arguments_given_as_a_json_string_are_kept():
    _, calls, _ = run(['<tool_call>{"name": "add", "arguments": "{\\"x\\": 1}"}</tool_call>'])
    assert calls[0].arguments == '{"x": 1}'


def test_a_list_inside_one_tag_gives_several_calls():
    _, calls, _ = run(
        ['<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]</tool_call>']
    )
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("a", {}), ("b", {"x": 1})]


def test_empty_tags_give_nothing():
    assert run(["Hi <tool_call>  </tool_call>there"])[:2] == ("Hi there", [])


def test_ids_are_unique_by_default():
    f = ToolMarkupFilter()
    items = f.feed(f'{OPEN}{{"name": "a"}}{CLOSE}{OPEN}{{"name": "a"}}{CLOSE}') + f.flush()
    assert len({c.id for c in items}) == 2 and all(c.id.startswith("call_") for c in items)


# --- property test: any text, any calls, cut anywhere -----------------------------------------

_text = st.text(alphabet='ab <>/_tolc{}"\n.', max_size=30).filter(lambda t: OPEN not in t and CLOSE not in t)
_call = st.tuples(
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    st.dictionaries(
        st.from_regex(r"[a-z]{1,6}", fullmatch=True),
        st.one_of(st.integers(), st.text(max_size=10).filter(lambda t: "<" not in t)),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(st.tuples(_text, _call), max_size=4),
    tail=_text,
    data=st.data(),
)
def test_any_split_gives_the_same_text_and_calls(segments, tail, data):
    stream = (
        "".join(t + OPEN + json.dumps({"name": n, "arguments": a}) + CLOSE for t, (n, a) in segments) + tail
    )
    expected_text = "".join(t for t, _ in segments) + tail
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    text, calls, texts = run(cut(stream, points))
    assert text == expected_text
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [(n, a) for _, (n, a) in segments]
    assert all(OPEN not in t and CLOSE not in t for t in texts)
    assert all(texts)  # no empty strings handed on


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab <_tolc>", max_size=40).filter(lambda t: OPEN not in t and CLOSE not in t))
def test_text_is_held_back_only_while_it_could_be_a_tag(text):
    f = ToolMarkupFilter("hermes")
    emitted = ""
    for i, ch in enumerate(text, 1):
        emitted += "".join(f.feed(ch))
        held = text[len(emitted) : i]
        assert text[:i].startswith(emitted)
        assert held == "" or OPEN.startswith(held) or CLOSE.startswith(held)


def test_format_none_passes_everything_through():
    stream = 'Hi <tool_call>{"name": "a"}</tool_call>'
    assert run(list(stream), "none")[:2] == (stream, [])
    with pytest.raises(ValueError, match="unknown tool-call format"):
        ToolMarkupFilter("xml")


# --- other formats ---------------------------------------------------------------------------


def test_mistral_list_to_the_end_of_the_stream():
    stream = 'Checking.[TOOL_CALLS][{"name": "get_time", "arguments": {}}, {"name": "calculate", "arguments": {"expression": "1+1"}}]'
    for pieces in ([stream], list(stream)):
        text, calls, _ = run(pieces, "mistral")
        assert text == "Checking."
        assert [c.name for c in calls] == ["get_time", "calculate"]


def test_mistral_name_args_form():
    text, calls, _ = run(
        ['[TOOL_CALLS]get_time[ARGS]{"timezone": "UTC"}[TOOL_CALLS]calculate[ARGS]{"expression": "2"}'],
        "mistral",
    )
    assert text == ""
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_time", '{"timezone": "UTC"}'),
        ("calculate", '{"expression": "2"}'),
    ]


def test_llama3_python_tag_and_bare_json():
    _, calls, _ = run(
        ['<|python_tag|>{"name": "get_time", "parameters": {"timezone": "UTC"}}<|eom_id|>'], "llama3"
    )
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_time", {"timezone": "UTC"})]
    bare = ' {"name": "calculate", "parameters": {"expression": "17*23"}}'
    text, calls, _ = run(list(bare), "llama3")
    assert (
        text == ""
        and calls[0].name == "calculate"
        and json.loads(calls[0].arguments) == {"expression": "17*23"}
    )


def test_llama3_json_that_is_not_a_call_is_text():
    assert run(['{"answer": 42} is the JSON.'], "llama3")[:2] == ('{"answer": 42} is the JSON.', [])
    assert run(["Plain ", "answer."], "llama3")[:2] == ("Plain answer.", [])


@pytest.mark.parametrize(
    "template, fmt",
    [
        ("{%- if tools %}...<tool_call>\\n{{ tool_call | tojson }}\\n</tool_call>{% endif %}", "hermes"),
        ("{{ '[TOOL_CALLS]' }}{{ tool_calls | tojson }}", "mistral"),
        ("{{- '<|python_tag|>' + tool_call.name + '.call(' }}", "llama3"),
        ("<|im_start|>{{ message['role'] }}\\n{{ message['content'] }}<|im_end|>", "none"),
        (None, "none"),
        ("", "none"),
    ],
)
def test_detect_tool_format(template, fmt):
    assert detect_tool_format(template) == fmt
    assert fmt == "none" or fmt in FORMATS


def test_tool_prompt_teaches_the_hermes_markup():
    schema = {"type": "function", "function": {"name": "get_time", "description": "Time.", "parameters": {}}}
    prompt = tool_prompt([schema])
    assert json.dumps(schema) in prompt and OPEN in prompt and CLOSE in prompt


# --- feedback phrases ------------------------------------------------------------------------


def test_feedback_never_repeats_back_to_back_and_varies():
    picker = FeedbackPicker(rng=random.Random(7))
    picks = [picker.pick() for _ in range(200)]
    assert all(a != b for a, b in itertools.pairwise(picks))
    assert set(picks) == set(FEEDBACK_PHRASES)
    assert "One moment." in FEEDBACK_PHRASES


def test_feedback_configurable_single_and_empty():
    assert [FeedbackPicker(["Hang on."]).pick() for _ in range(3)] == ["Hang on."] * 3
    assert FeedbackPicker([]).pick() is None
