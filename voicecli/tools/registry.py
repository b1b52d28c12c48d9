"""Tools as plain Python functions: their JSON schema, a registry, and loading user tools.

A tool is a function with type hints and a docstring::

    def convert(value: float, unit: Literal["km", "mi"] = "km") -> str:
        '''Convert a distance.

        Args:
            value: the distance to convert.
            unit: the unit of ``value``.
        '''

The schema (OpenAI function format) comes from the signature and the docstring: the first paragraph
is the description, the ``Args:`` section describes the parameters. Supported types: ``str``,
``int``, ``float``, ``bool``, ``list`` / ``list[X]``, ``dict``, ``Literal[...]`` and ``X | None``.
``Annotated[X, Constraints(pattern=..., minimum=..., maximum=..., ...)]`` adds JSON-schema
constraints: they go into the schema the model sees (a forced call's grammar honours ``pattern`` and
``enum``), and :func:`voicecli.tools.execution.check_arguments` enforces them all before the tool
runs, so a model that ignores them gets an error to read instead of a wrong side effect.
A parameter is required unless it has a default or is ``X | None`` (then it receives ``None``).
A parameter annotated with :class:`ToolContext` (any name) is not part of the schema: the executor
passes the runtime's context there (data directory, ``announce`` callback).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
import threading
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from voicecli.errors import VoicecliError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "voicecli.tools"
_MARK = "__voicecli_tool__"


class ToolError(Exception):
    """Raised by a tool for a failure the model should read as is (no exception type prefixed)."""


def _log_announce(text: str) -> None:
    log.warning("announce (no runtime callback): %s", text)


@dataclass
class ToolContext:
    """What the runtime lends to tools that ask for it (a parameter annotated ``ToolContext``).

    ``data_dir`` is the only directory built-in tools write to (the app passes the user data
    directory; tools never read the configuration); ``announce(text)`` speaks a sentence outside a
    turn (a timer that is due). ``timers`` keeps the timers started through this context,
    so the runtime can cancel them on exit (they are daemon threads, so they never block exit).
    """

    data_dir: Path
    announce: Callable[[str], None] = _log_announce
    timers: list[threading.Timer] = field(default_factory=list)

    def cancel_timers(self) -> None:
        for t in self.timers:
            t.cancel()
        self.timers.clear()


# --- schema derivation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Constraints:
    """JSON-schema constraints for one tool parameter, given as ``typing.Annotated`` metadata::

        def calculate(expression: Annotated[str, Constraints(pattern=r"^[0-9(]...$")]) -> str: ...

    Why ``Annotated``: the type hint stays the plain type for readers and type checkers, and the
    constraint sits next to the parameter it limits. ``pattern`` is a regular expression the whole
    value must match; write it anchored (``^...$``), as llama.cpp's grammar builder requires.
    ``minimum``/``maximum`` bound numbers (inclusive), ``min_length``/``max_length`` strings and lists.
    """

    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            if not (self.pattern.startswith("^") and self.pattern.endswith("$")):
                raise TypeError(f"pattern {self.pattern!r} must be anchored: ^...$")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise TypeError(f"pattern {self.pattern!r} is not a regular expression: {e}") from None

    def schema(self, kind: str | None) -> dict[str, Any]:
        """The JSON-schema keywords, named as the schema's type wants them."""
        out: dict[str, Any] = {}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        short, long = ("minItems", "maxItems") if kind == "array" else ("minLength", "maxLength")
        if self.min_length is not None:
            out[short] = self.min_length
        if self.max_length is not None:
            out[long] = self.max_length
        return out


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def _is_context(annotation: Any) -> bool:
    return annotation is ToolContext or annotation == "ToolContext"


def _type_schema(annotation: Any) -> tuple[dict[str, Any], bool]:
    """(JSON schema, optional) for one annotation; raises TypeError if it is not supported."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        schema, optional = _type_schema(args[0])
        for extra in annotation.__metadata__:
            if isinstance(extra, Constraints):
                schema.update(extra.schema(schema.get("type")))
        return schema, optional
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return _type_schema(rest[0])[0], True
        raise TypeError(f"unions other than X | None are not supported: {annotation}")
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}, False
    if annotation is list or origin is list:
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _type_schema(args[0])[0]
        return schema, False
    if origin is dict:
        return {"type": "object"}, False
    if origin is Literal:
        kinds = {type(a) for a in args}
        if len(kinds) != 1 or next(iter(kinds)) not in (str, int):
            raise TypeError(f"Literal values must all be str or all int: {annotation}")
        return {"type": _SIMPLE[next(iter(kinds))], "enum": list(args)}, False
    raise TypeError(f"unsupported type {annotation!r}")


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns?|Raises|Yields|Examples?|Notes?):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {param: description}) from a Google-style docstring.

    The description is the first paragraph joined into one line. Lines in the ``Args:`` section read
    ``name: text`` or ``name (type): text``; more-indented lines continue the previous parameter.
    """
    text = inspect.cleandoc(doc or "")
    first: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _SECTION.match(line.strip()):
            break
        first.append(line.strip())
    description = " ".join(first)
    params: dict[str, str] = {}
    in_args, arg_indent, current = False, None, None
    for line in text.splitlines():
        stripped = line.strip()
        header = _SECTION.match(stripped)
        if header:
            in_args = header.group(1) in ("Args", "Arguments", "Parameters")
            arg_indent, current = None, None
            continue
        if not in_args or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if arg_indent is None:
            arg_indent = indent
        m = _ARG_LINE.match(stripped)
        if indent <= arg_indent and m:
            current = m.group(1).lstrip("*")
            params[current] = m.group(2).strip()
        elif indent > arg_indent and current:
            params[current] = f"{params[current]} {stripped}".strip()
        else:  # dedented below the section: the section ended
            in_args = False
    return description, params


@dataclass(frozen=True)
class Tool:
    """A registered tool: the function and what the model sees of it."""

    name: str
    fn: Callable[..., Any]
    description: str
    parameters: dict[str, Any]  # a JSON schema of type "object"
    context_param: str | None = None  # where the ToolContext goes, if the function asks for it
    nullable: frozenset[str] = frozenset()  # X | None parameters: they accept null
    none_if_missing: frozenset[str] = frozenset()  # X | None without a default: omitted means None

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def make_tool(fn: Callable[..., Any], name: str | None = None, description: str | None = None) -> Tool:
    """Derive a :class:`Tool` from a function; raises ``TypeError`` naming what is not supported."""
    name = name or getattr(fn, _MARK, {}).get("name") or getattr(fn, "__name__", "")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", name):
        raise TypeError(f"tool name {name!r} must be letters, digits, _ or - (at most 64)")
    doc_description, arg_docs = parse_docstring(fn.__doc__)
    description = description or getattr(fn, _MARK, {}).get("description") or doc_description
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as e:  # an annotation that does not resolve
        raise TypeError(f"cannot read the type hints: {e}") from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    nullable: set[str] = set()
    none_if_missing: set[str] = set()
    context_param = None
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise TypeError(
                f"parameter {p.name!r}: *args, **kwargs and positional-only parameters are not supported"
            )
        annotation = hints.get(p.name, p.annotation)
        if _is_context(annotation):
            context_param = p.name
            continue
        if annotation is inspect.Parameter.empty:
            raise TypeError(f"parameter {p.name!r} has no type hint")
        try:
            schema, optional = _type_schema(annotation)
        except TypeError as e:
            raise TypeError(f"parameter {p.name!r}: {e}") from None
        if p.name in arg_docs and arg_docs[p.name]:
            schema["description"] = arg_docs[p.name]
        if optional:
            nullable.add(p.name)
        if p.default is not inspect.Parameter.empty:
            if p.default is not None:
                schema["default"] = p.default
        elif optional:
            none_if_missing.add(p.name)
        else:
            required.append(p.name)
        properties[p.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    return Tool(
        name,
        fn,
        description or name.replace("_", " "),
        parameters,
        context_param,
        frozenset(nullable),
        frozenset(none_if_missing),
    )


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None):
    """Mark a function as a tool (``@tool`` or ``@tool(name=..., description=...)``).

    In a module loaded with ``--tools``, once any function is marked, only marked functions are
    loaded; without marks, every public function defined in the module is a tool.
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        setattr(f, _MARK, {"name": name, "description": description})
        return f

    return mark(fn) if fn is not None else mark


# --- the registry ----------------------------------------------------------------------------


class Registry:
    """Tools by name, in registration order."""

    def __init__(self, tools: list[Callable[..., Any]] | None = None):
        self._tools: dict[str, Tool] = {}
        for fn in tools or []:
            self.register(fn)

    def register(self, fn: Callable[..., Any], *, name: str | None = None, replace: bool = False) -> Tool:
        """Add a function as a tool. A bad signature or a taken name is a user mistake (VoicecliError)."""
        where = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        try:
            t = make_tool(fn, name)
        except TypeError as e:
            raise VoicecliError(
                f"tool {where} cannot be used: {e}",
                "give every parameter a type hint of str, int, float, bool, list, dict, Literal or X | None",
            ) from None
        if t.name in self._tools and not replace:
            other = self._tools[t.name].fn
            raise VoicecliError(
                f"two tools are named {t.name!r}: {other.__module__}.{other.__qualname__} and {where}",
                "rename one of them, or mark the one to keep with @tool(name=...)",
            )
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)


def describe_tools(registry: Registry) -> list[dict[str, Any]]:
    """What ``voicecli tools --json`` prints: ``name``, ``description``, ``parameters`` (JSON schema)."""
    return [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in registry]


# --- loading user tools ----------------------------------------------------------------------


def _module_functions(module: types.ModuleType) -> list[Callable[..., Any]]:
    """The tools of a module: the ``@tool``-marked functions if there are any, else its public functions."""
    functions = [v for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_")]
    marked = [f for f in functions if hasattr(f, _MARK)]
    if marked:
        return marked
    return [f for f in functions if f.__module__ == module.__name__]


def load_module_tools(spec: str | Path) -> list[Callable[..., Any]]:
    """Import a user's tool module, by file path (``tools/home.py``) or dotted name (``mypkg.tools``).

    Every public function defined in the module is a tool, unless some are marked with ``@tool``:
    then only those. The module runs with the user's permissions, which is why it is loaded only when
    the user names it.
    """
    text = str(spec)
    hint = "check the path given to --tools (a .py file or an importable module name)"
    is_path = text.endswith(".py") or "/" in text or "\\" in text or Path(text).exists()
    try:
        if is_path:
            path = Path(text).expanduser()
            if not path.is_file():
                raise VoicecliError(f"tool module not found: {path}", hint)
            mod_name = f"voicecli_user_tools_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{abs(hash(str(path.resolve()))):x}"
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            if module_spec is None or module_spec.loader is None:
                raise VoicecliError(f"cannot load {path} as a Python module", hint)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
        else:
            module = importlib.import_module(text)
    except VoicecliError:
        raise
    except ModuleNotFoundError as e:
        if not is_path and e.name and (text == e.name or text.startswith(e.name + ".")):
            raise VoicecliError(f"tool module not found: {text}", hint) from None
        raise VoicecliError(
            f"tool module {text} failed to import: {e}", "install what it imports, or fix the import"
        ) from None
    except (Exception, SystemExit) as e:
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise VoicecliError(
            f"tool module {text} failed to load{where}: {type(e).__name__}: {e}",
            "fix the error in the module, or run without --tools",
        ) from None
    functions = _module_functions(module)
    if not functions:
        raise VoicecliError(
            f"no tools found in {text}",
            "define a public function with type hints and a docstring (or mark functions with @voicecli.tools.tool)",
        )
    return functions


def load_entry_point_tools(group: str = ENTRY_POINT_GROUP) -> list[Callable[..., Any]]:
    """Tools installed by packages under the entry-point group ``voicecli.tools``.

    Each entry point names a function or a list of functions.
    """
    functions: list[Callable[..., Any]] = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        try:
            obj = ep.load()
        except Exception as e:
            raise VoicecliError(
                f"tool entry point {ep.name!r} ({ep.value}, from {dist}) failed to load: {type(e).__name__}: {e}",
                f"reinstall or uninstall {dist}, or run with --no-tools",
            ) from None
        items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        for item in items:
            if not callable(item):
                raise VoicecliError(
                    f"tool entry point {ep.name!r} ({ep.value}, from {dist}) is not a function or a list of functions",
                    f"report it to the authors of {dist}, or run with --no-tools",
                )
            functions.append(item)
    return functions
