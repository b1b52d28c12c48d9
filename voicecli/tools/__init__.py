"""Tools the assistant can call: registry and schemas, built-ins, parallel execution.

The pieces, for the pipeline and the CLI:

- :func:`build_registry` gathers the built-in tools, the user's ``--tools`` modules and the
  ``voicecli.tools`` entry points into a :class:`Registry`; ``registry.schemas()`` is the ``tools``
  list for the LLM, :func:`describe_tools` what ``voicecli tools --json`` prints.
- :func:`run_tool_calls` runs one round of :class:`~voicecli.engine.types.ToolCall` in parallel and
  returns :class:`ToolResult` objects (``as_message()`` for the history, ``as_record()`` for the turn
  record); :func:`assistant_message` is the assistant message that asked for them.
- :class:`FeedbackPicker` and ``FEEDBACK_PHRASES``: the "One moment." phrases.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from voicecli.tools.builtin import BUILTIN_TOOLS
from voicecli.tools.execution import (
    DEFAULT_TIMEOUT_S,
    ToolResult,
    assistant_message,
    check_arguments,
    new_call_id,
    run_tool_calls,
)
from voicecli.tools.feedback import FEEDBACK_PHRASES, FeedbackPicker
from voicecli.tools.registry import (
    ENTRY_POINT_GROUP,
    Constraints,
    Registry,
    Tool,
    ToolContext,
    ToolError,
    describe_tools,
    load_entry_point_tools,
    load_module_tools,
    tool,
)


def build_registry(
    *, builtins: bool = True, modules: Iterable[str | Path] = (), entry_points: bool = True
) -> Registry:
    """The tools of a session: built-ins, then entry-point tools, then each ``--tools`` module.

    Raises VoicecliError for a module or entry point that cannot be loaded, or a name used twice.
    """
    registry = Registry(BUILTIN_TOOLS if builtins else [])
    functions = load_entry_point_tools() if entry_points else []
    for spec in modules:
        functions += load_module_tools(spec)
    for fn in functions:
        registry.register(fn)
    return registry


__all__ = [
    "BUILTIN_TOOLS",
    "Constraints",
    "DEFAULT_TIMEOUT_S",
    "ENTRY_POINT_GROUP",
    "FEEDBACK_PHRASES",
    "FeedbackPicker",
    "Registry",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "assistant_message",
    "build_registry",
    "check_arguments",
    "describe_tools",
    "load_entry_point_tools",
    "load_module_tools",
    "new_call_id",
    "run_tool_calls",
    "tool",
]
