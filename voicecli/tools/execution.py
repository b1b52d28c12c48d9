"""Running one round of tool calls: in parallel, each with a timeout, every failure an error result.

``run_tool_calls`` never raises for a bad call. An unknown tool, arguments that are not JSON or do
not match the schema, a tool that raises and a tool that times out all become a :class:`ToolResult`
with ``error`` set, which the model reads as ``"error: ..."`` in the tool message and can react to.

Each call runs in its own daemon thread. Python cannot kill a thread, so a tool that times out keeps
running in the background until it returns (its result is then dropped); being a daemon thread, it
never keeps the program from exiting. A thread pool would join such threads at exit instead.

Bounds, since the calls come from a model (or a server) and not from the user: at most
``MAX_CALLS_PER_ROUND`` calls run in one round (the others get an error result saying so, and stay
in the record); arguments of at most ``MAX_ARGUMENT_CHARS`` characters, ``MAX_DEPTH`` levels of
nesting and ``MAX_ITEMS`` values, with no NaN or Infinity (not JSON, though Python's parser takes
them). Errors sent back to the model are one short line with no file paths and no Python exception
names: the model cannot use them, and they would show the user's directories to a remote server.
The full exception goes to the debug log.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from voicecli.engine.types import ToolCall, new_call_id  # noqa: F401 (re-exported)
from voicecli.errors import VoicecliError
from voicecli.tools.registry import Registry, Tool, ToolContext, ToolError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
MAX_RESULT_CHARS = 4000  # a tool's answer goes into the model's context: keep it bounded
MAX_CALLS_PER_ROUND = 8  # a model asking for more in one go is looping, or a server is hostile
MAX_ARGUMENT_CHARS = 16_000  # the longest built-in argument is a 2000-character note
MAX_DEPTH = 16  # nesting of the arguments object
MAX_ITEMS = 1000  # values in the arguments, all levels together
MAX_ERROR_CHARS = 300
_SHOWN_CHARS = 100  # of a bad name or bad arguments, quoted in an error


@dataclass
class ToolResult:
    """The outcome of one call. ``arguments`` is the parsed dict, or the raw text if it did not parse."""

    name: str
    arguments: dict[str, Any] | str
    result: str | None = None
    error: str | None = None
    ms: float = 0.0
    call_id: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def content(self) -> str:
        return self.result if self.error is None and self.result is not None else f"error: {self.error}"

    def as_message(self) -> dict[str, Any]:
        """The OpenAI ``tool`` message that carries this result back to the model."""
        return {"role": "tool", "tool_call_id": self.call_id, "name": self.name, "content": self.content}

    def as_record(self) -> dict[str, Any]:
        """The entry in the turn record's ``tool_calls``."""
        return {
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "error": self.error,
            "ms": round(self.ms, 1),
        }


def assistant_message(text: str, calls: list[ToolCall], *, parsed_arguments: bool = False) -> dict[str, Any]:
    """The assistant message that asked for ``calls``, to append to the history before the results.

    OpenAI-compatible servers want ``arguments`` as JSON text (the default); the Jinja chat templates
    of local models (Qwen, Hermes) expect a dict, which ``parsed_arguments=True`` gives where it parses.
    """
    tool_calls = []
    for call in calls:
        msg = call.as_message()
        if parsed_arguments:
            try:
                msg["function"]["arguments"] = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                pass
        tool_calls.append(msg)
    return {"role": "assistant", "content": text or None, "tool_calls": tool_calls}


# --- argument checking -----------------------------------------------------------------------

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


class ArgumentError(ValueError):
    pass


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _coerce(value: Any, schema: dict[str, Any], where: str) -> Any:
    """``value`` checked against a derived schema; an integral float passes as an integer."""
    kind = schema.get("type")
    actual = _json_type(value)
    if kind == "integer" and actual == "number" and float(value).is_integer():
        value, actual = int(value), "integer"
    ok = actual == kind or (kind == "number" and actual == "integer")
    if not ok:
        raise ArgumentError(f"argument '{where}' must be {_TYPE_NAMES.get(kind, kind)}, got {actual}")
    if "enum" in schema and value not in schema["enum"]:
        raise ArgumentError(
            f"argument '{where}' must be one of {', '.join(map(str, schema['enum']))}, got {value!r}"
        )
    if kind == "array" and "items" in schema:
        value = [_coerce(v, schema["items"], f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def shape_error(arguments: Any) -> str | None:
    """What makes ``arguments`` too deep or too big to check, or ``None`` (iterative: no recursion)."""
    stack, items = [(arguments, 1)], 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"arguments are nested too deeply (at most {MAX_DEPTH} levels)"
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            items += 1
            if items > MAX_ITEMS:
                return f"arguments hold too many values (at most {MAX_ITEMS})"
            stack.append((child, depth + 1))
    return None


def check_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    """The keyword arguments for ``tool.fn``, or :class:`ArgumentError` saying what does not match."""
    if (problem := shape_error(arguments)) is not None:
        raise ArgumentError(problem)
    if not isinstance(arguments, dict):
        raise ArgumentError(f"arguments must be a JSON object, got {_json_type(arguments)}")
    props = tool.parameters["properties"]
    unknown = [k for k in arguments if k not in props]
    if unknown:
        accepted = ", ".join(props) or "none"
        raise ArgumentError(f"unknown argument '{unknown[0]}' (accepted: {accepted})")
    missing = [k for k in tool.parameters["required"] if k not in arguments]
    if missing:
        raise ArgumentError(f"missing required argument '{missing[0]}'")
    kwargs: dict[str, Any] = {}
    for key, value in arguments.items():
        if value is None and key in tool.nullable:
            kwargs[key] = None
        else:
            kwargs[key] = _check_constraints(_coerce(value, props[key], key), props[key], key)
    for key in tool.none_if_missing:
        kwargs.setdefault(key, None)
    return kwargs


def _check_constraints(value: Any, schema: dict[str, Any], where: str) -> Any:
    """``value`` (already of the schema's type) checked against the schema's constraints
    (:class:`voicecli.tools.registry.Constraints`): pattern, minimum/maximum, lengths."""
    pattern = schema.get("pattern")
    if pattern is not None and isinstance(value, str) and re.search(pattern, value) is None:
        wanted = schema.get("description") or f"text matching {pattern}"
        raise ArgumentError(f"argument '{where}' has the wrong form ({value[:40]!r}); expected {wanted}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ArgumentError(f"argument '{where}' must be at least {schema['minimum']:g}, got {value:g}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ArgumentError(f"argument '{where}' must be at most {schema['maximum']:g}, got {value:g}")
    if isinstance(value, (str, list)):
        unit = "characters" if isinstance(value, str) else "items"
        least = schema.get("minLength", schema.get("minItems"))
        most = schema.get("maxLength", schema.get("maxItems"))
        if least is not None and len(value) < least:
            raise ArgumentError(f"argument '{where}' needs at least {least} {unit}, got {len(value)}")
        if most is not None and len(value) > most:
            raise ArgumentError(f"argument '{where}' allows at most {most} {unit}, got {len(value)}")
    return value


# --- running ---------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "done"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + " ... (truncated)"
    return text


_PATH = re.compile(r"""(?:[A-Za-z]:\\|\\\\|~/|(?<![\w.:/])/(?=[\w.~-]))[^\s'"]*""")  # C:\.., \\host, ~/.., /..


def _clean(text: str) -> str:
    """One short line, file paths replaced by <path>."""
    text = _PATH.sub("<path>", " ".join(text.split()))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _error_text(e: BaseException) -> str:
    """What the model reads when a tool raised: the tool's own words, never Python's internals."""
    if isinstance(e, ToolError):
        return _clean(str(e)) or "the tool failed"
    if isinstance(e, VoicecliError):
        return _clean(e.one_line())
    if isinstance(e, OSError):
        why = (e.strerror or "an input/output error").lower()
        return f"the tool could not use a file or device ({why})"
    if isinstance(e, (RecursionError, MemoryError)):
        return "the tool ran out of room (the input is too big or too deeply nested)"
    detail = _clean(str(e))
    return f"the tool failed: {detail}" if detail else "the tool failed"


def _shown(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


class _NotJSON(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON")


def _parse_arguments(raw: Any) -> tuple[Any, str | None]:
    """(parsed arguments, None) or (None, why they cannot be used)."""
    if not isinstance(raw, str):
        return None, f"arguments must be JSON text, got {_json_type(raw)}"
    if len(raw) > MAX_ARGUMENT_CHARS:
        return None, f"arguments are too long ({len(raw)} characters, at most {MAX_ARGUMENT_CHARS})"
    if not raw:
        return {}, None  # an empty string means no arguments
    try:
        parsed = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        return None, f"arguments are not valid JSON ({e.msg}): {_shown(raw)}"
    except RecursionError:
        return None, f"arguments are nested too deeply (at most {MAX_DEPTH} levels)"
    except _NotJSON as e:  # NaN, Infinity: Python's parser takes them, JSON has no such thing
        return None, f"arguments are not valid JSON ({e})"
    except ValueError:  # an integer of thousands of digits
        return None, "arguments hold a number too long to read"
    return parsed, shape_error(parsed)


def _record_text(raw: Any) -> str:
    """The raw arguments as kept in the record when they could not be used: bounded."""
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 1000 else f"{text[:1000]}… ({len(text)} characters)"


class _Job:
    """One call: checked up front, then run in a daemon thread."""

    def __init__(self, call: ToolCall, registry: Registry, context: ToolContext | None):
        self.call = call
        self.result = ToolResult(call.name, call.arguments, call_id=call.id)
        self.done = threading.Event()
        self._lock = threading.Lock()
        self.kwargs: dict[str, Any] | None = None
        self.tool = registry.get(call.name)
        raw = call.arguments.strip() if isinstance(call.arguments, str) else call.arguments
        parsed, problem = _parse_arguments(raw)
        self.result.arguments = parsed if problem is None else _record_text(raw)
        known = ", ".join(registry.names()) or "none"
        if not call.name:
            self._fail(f"the tool call names no tool (known tools: {known}); it was: {_shown(raw)}")
            return
        if self.tool is None:
            self._fail(f"unknown tool '{_shown(call.name)}'; known tools: {known}")
            return
        if problem is not None:
            self._fail(problem)
            return
        try:
            self.kwargs = check_arguments(self.tool, parsed)
        except ArgumentError as e:
            self._fail(_clean(str(e)))
            return
        if self.tool.context_param:
            if context is None:
                self._fail(f"{call.name} is not available here (it needs the assistant's data directory)")
                return
            self.kwargs[self.tool.context_param] = context

    def finish(self, result: str | None, error: str | None, ms: float = 0.0) -> None:
        """Record the outcome once: a tool finishing after its timeout changes nothing."""
        with self._lock:
            if not self.done.is_set():
                self.result.result, self.result.error, self.result.ms = result, error, ms
                self.done.set()

    def _fail(self, error: str) -> None:
        self.finish(None, error)

    def start(self) -> None:
        if self.kwargs is not None:
            threading.Thread(target=self._run, name=f"tool-{self.call.name}", daemon=True).start()

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            value = self.tool.fn(**self.kwargs)  # type: ignore[union-attr]
            result, error = _as_text(value), None
        except BaseException as e:  # a tool must never take the conversation down
            log.debug("tool %s raised", self.call.name, exc_info=e)
            result, error = None, _error_text(e)
        self.finish(result, error, (time.perf_counter() - t0) * 1000.0)


def run_tool_calls(
    calls: list[ToolCall],
    registry: Registry,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    context: ToolContext | None = None,
) -> list[ToolResult]:
    """Run one round of calls in parallel; results in the order of ``calls``. Never raises for a bad call.

    ``timeout_s`` bounds each call (they all start together, so it also bounds the round). Calls
    after the first ``MAX_CALLS_PER_ROUND`` are not run: each gets an error result saying why.
    ``context`` goes to tools that ask for a :class:`ToolContext`; without one, such a call fails
    with an error result.
    """
    run, extra = calls[:MAX_CALLS_PER_ROUND], calls[MAX_CALLS_PER_ROUND:]
    jobs = [_Job(call, registry, context) for call in run]
    t0 = time.perf_counter()
    for job in jobs:
        job.start()
    deadline = t0 + timeout_s
    for job in jobs:
        if not job.done.wait(max(0.0, deadline - time.perf_counter())):
            job.finish(
                None, f"{job.call.name} timed out after {timeout_s:g} s", (time.perf_counter() - t0) * 1000.0
            )
    too_many = (f"not run: at most {MAX_CALLS_PER_ROUND} tool calls are run in one round; "
                "ask for this one again after reading the results of the others")
    skipped = [ToolResult(c.name, _record_text(c.arguments), error=too_many, call_id=c.id) for c in extra]
    return [job.result for job in jobs] + skipped
