"""Running one round of tool calls: in parallel, each with a timeout, every failure an error result.

``run_tool_calls`` never raises for a bad call. An unknown tool, arguments that are not JSON or do
not match the schema, a tool that raises and a tool that times out all become a :class:`ToolResult`
with ``error`` set, which the model reads as ``"error: ..."`` in the tool message and can react to.

Each call runs in its own daemon thread. Python cannot kill a thread, so a tool that times out keeps
running in the background until it returns (its result is then dropped); being a daemon thread, it
never keeps the program from exiting. A thread pool would join such threads at exit instead.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from voicecli.engine.types import ToolCall
from voicecli.errors import VoicecliError
from voicecli.tools.registry import Registry, Tool, ToolContext, ToolError

DEFAULT_TIMEOUT_S = 10.0
MAX_RESULT_CHARS = 4000  # a tool's answer goes into the model's context: keep it bounded


def new_call_id() -> str:
    """An id for a tool call whose backend gave none (OpenAI style: ``call_`` + 24 hex digits)."""
    return f"call_{uuid.uuid4().hex[:24]}"


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


def check_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    """The keyword arguments for ``tool.fn``, or :class:`ArgumentError` saying what does not match."""
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


def _error_text(e: BaseException) -> str:
    if isinstance(e, ToolError):
        return str(e)
    if isinstance(e, VoicecliError):
        return e.one_line()
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


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
        parsed: Any = None
        bad_json: str | None = None
        try:
            parsed = json.loads(raw) if raw else {}  # an empty string means no arguments
            self.result.arguments = parsed
        except (json.JSONDecodeError, TypeError) as e:
            bad_json = f"arguments are not valid JSON ({getattr(e, 'msg', e)}): {str(raw)[:200]}"
        known = ", ".join(registry.names()) or "none"
        if not call.name:
            self._fail(f"the tool call names no tool (known tools: {known}); it was: {str(raw)[:200]}")
            return
        if self.tool is None:
            self._fail(f"unknown tool '{call.name}'; known tools: {known}")
            return
        if bad_json is not None:
            self._fail(bad_json)
            return
        try:
            self.kwargs = check_arguments(self.tool, parsed)
        except ArgumentError as e:
            self._fail(str(e))
            return
        if self.tool.context_param:
            self.kwargs[self.tool.context_param] = context if context is not None else ToolContext()

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
            result, error = None, _error_text(e)
        self.finish(result, error, (time.perf_counter() - t0) * 1000.0)


def run_tool_calls(
    calls: list[ToolCall],
    registry: Registry,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    context: ToolContext | None = None,
) -> list[ToolResult]:
    """Run one round of calls in parallel; results in the order of ``calls``. Never raises for a bad call.

    ``timeout_s`` bounds each call (they all start together, so it also bounds the round).
    ``context`` goes to tools that ask for a :class:`ToolContext`; without one, a default context
    (the configured data directory, announcements logged) is made when a tool needs it.
    """
    if context is None and any((t := registry.get(c.name)) and t.context_param for c in calls):
        context = ToolContext()
    jobs = [_Job(call, registry, context) for call in calls]
    t0 = time.perf_counter()
    for job in jobs:
        job.start()
    deadline = t0 + timeout_s
    for job in jobs:
        if not job.done.wait(max(0.0, deadline - time.perf_counter())):
            job.finish(
                None, f"{job.call.name} timed out after {timeout_s:g} s", (time.perf_counter() - t0) * 1000.0
            )
    return [job.result for job in jobs]
