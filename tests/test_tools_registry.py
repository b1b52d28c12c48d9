"""Schemas derived from signatures and docstrings; the registry; loading user tools."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Literal

import pytest

from voicecli.errors import VoicecliError
from voicecli.tools import (
    Registry,
    ToolContext,
    build_registry,
    describe_tools,
    load_entry_point_tools,
    load_module_tools,
)
from voicecli.tools.registry import make_tool, parse_docstring

DATA = Path(__file__).parent / "data"


def book(
    city: str,
    nights: int,
    budget: float | None = None,
    breakfast: bool = False,
    tags: list[str] | None = None,
    room: Literal["single", "double"] = "double",
    note: str | None = None,
) -> str:
    """Book a hotel room.

    This second paragraph is not part of the description.

    Args:
        city: where to stay.
        nights (int): how many nights,
            counted from tonight.
        budget: the most to pay per night.

    Returns:
        a confirmation.
    """
    return city


def test_schema_from_signature_and_docstring():
    schema = make_tool(book).schema()
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "book"
    assert fn["description"] == "Book a hotel room."
    params = fn["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["city", "nights"]  # defaults and X | None are not required
    props = params["properties"]
    assert props["city"] == {"type": "string", "description": "where to stay."}
    assert props["nights"] == {"type": "integer", "description": "how many nights, counted from tonight."}
    assert props["budget"] == {"type": "number", "description": "the most to pay per night."}
    assert props["breakfast"] == {"type": "boolean", "default": False}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["room"] == {"type": "string", "enum": ["single", "double"], "default": "double"}
    assert "a confirmation" not in json.dumps(schema)  # the Returns: section is not a parameter


def test_context_parameter_is_hidden_from_the_schema():
    def remember(ctx: ToolContext, text: str) -> str:
        """Remember text."""
        return text

    t = make_tool(remember)
    assert t.context_param == "ctx"
    assert list(t.parameters["properties"]) == ["text"]


def test_docstring_without_blank_line_before_args():
    desc, params = parse_docstring("Do a thing.\nArgs:\n    x: the x.\n")
    assert desc == "Do a thing."
    assert params == {"x": "the x."}


@pytest.mark.parametrize(
    "source, problem",
    [
        ("def f(x):\n    '''No hints.'''", "no type hint"),
        ("def f(x: object) -> str:\n    '''Odd type.'''", "unsupported type"),
        ("def f(*args: int) -> str:\n    '''Varargs.'''", "*args"),
        ("def f(x: int | str) -> str:\n    '''Union.'''", "unions"),
    ],
)
def test_unsupported_signatures_are_user_errors(source, problem):
    ns: dict = {}
    exec(source, ns)  # building test functions from source; not tool input
    with pytest.raises(VoicecliError) as err:
        Registry().register(ns["f"])
    assert problem in err.value.message
    assert err.value.hint


def test_registry_lookup_order_and_duplicates():
    def a() -> str:
        """A."""
        return "a"

    def b() -> str:
        """B."""
        return "b"

    reg = Registry([b, a])
    assert reg.names() == ["b", "a"]
    assert reg.get("a").fn is a
    assert reg.get("missing") is None
    assert [s["function"]["name"] for s in reg.schemas()] == ["b", "a"]
    with pytest.raises(VoicecliError, match="two tools are named 'a'"):
        reg.register(a)
    reg.register(b, name="a", replace=True)
    assert reg.get("a").fn is b


def test_describe_tools_lists_name_description_parameters():
    desc = describe_tools(build_registry(entry_points=False))
    names = [d["name"] for d in desc]
    assert {
        "get_time",
        "calculate",
        "convert_units",
        "set_timer",
        "add_note",
        "list_notes",
        "search_notes",
    } <= set(names)
    calc = next(d for d in desc if d["name"] == "calculate")
    assert set(calc) == {"name", "description", "parameters"}
    assert calc["parameters"]["required"] == ["expression"]
    json.dumps(desc)  # serialisable for --json


def test_no_builtins():
    assert len(build_registry(builtins=False, entry_points=False)) == 0


# --- user modules --------------------------------------------------------------------------


def test_load_module_by_path_takes_public_functions():
    fns = load_module_tools(DATA / "tools_user_module.py")
    assert [f.__name__ for f in fns] == ["greet"]
    reg = build_registry(builtins=False, entry_points=False, modules=[str(DATA / "tools_user_module.py")])
    assert reg.get("greet").parameters["properties"]["style"]["enum"] == ["short", "long"]


def test_marked_functions_only_when_any_are_marked():
    reg = Registry(load_module_tools(DATA / "tools_marked_module.py"))
    assert reg.names() == ["roll", "shout"]


def test_load_module_by_dotted_name(monkeypatch):
    monkeypatch.syspath_prepend(str(DATA))
    assert [f.__name__ for f in load_module_tools("tools_user_module")] == ["greet"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("def broken(:\n    pass\n", "SyntaxError"),
        ("raise RuntimeError('boom at import')\n", "boom at import"),
        ("import no_such_package_xyz\n", "no_such_package_xyz"),
        ("X = 1\n", "no tools found"),
    ],
)
def test_broken_module_is_one_line_error(tmp_path, body, expected):
    path = tmp_path / "mytools.py"
    path.write_text(body)
    with pytest.raises(VoicecliError) as err:
        load_module_tools(path)
    line = err.value.one_line()
    assert expected in line
    assert "\n" not in line
    assert "Fix:" in line


def test_missing_module_is_one_line_error(tmp_path):
    with pytest.raises(VoicecliError, match="tool module not found"):
        load_module_tools(tmp_path / "nope.py")
    with pytest.raises(VoicecliError, match="tool module not found"):
        load_module_tools("no_such_module_xyz")


def _install_entry_point(tmp_path: Path, monkeypatch, module_source: str, value: str) -> None:
    """A fake installed distribution on sys.path declaring a voicecli.tools entry point."""
    (tmp_path / "ep_tools_mod.py").write_text(textwrap.dedent(module_source))
    dist = tmp_path / "ep_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[voicecli.tools]\nmine = {value}\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_entry_point_with_a_list_of_functions(tmp_path, monkeypatch):
    _install_entry_point(
        tmp_path,
        monkeypatch,
        '''
        def ping() -> str:
            """Answer pong."""
            return "pong"

        def echo(text: str) -> str:
            """Echo text."""
            return text

        TOOLS = [ping, echo]
        ''',
        "ep_tools_mod:TOOLS",
    )
    names = [f.__name__ for f in load_entry_point_tools()]
    assert {"ping", "echo"} <= set(names)
    assert {"ping", "echo"} <= set(build_registry(builtins=False).names())
    assert "ping" not in build_registry(builtins=False, entry_points=False).names()


def test_broken_entry_point_is_one_line_error(tmp_path, monkeypatch):
    _install_entry_point(
        tmp_path, monkeypatch, "def ok() -> str:\n    return ''\n", "ep_tools_mod:missing_name"
    )
    with pytest.raises(VoicecliError) as err:
        load_entry_point_tools()
    assert "'mine'" in err.value.message and "ep-tools" in err.value.message
    assert "--no-tools" in err.value.hint
