"""One round of tool calls inside a turn: run in parallel in a worker, a short phrase said if they are slow.

The phrase ("One moment.") is one case of the turn's silence watch (``voicecli.engine.holding``): the
round tells the watch that tools are running and after how long a phrase is due; the watch says it
when the user would otherwise hear silence (after what is playing, never over it), and only if the
tools are still running then. The phrases are synthesised ahead of time, with the other holding
phrases; they are in the record's ``feedback`` (and ``holding``).
"""

from __future__ import annotations

import contextlib
import threading

from voicecli.engine.events import EventBus, ToolFinished
from voicecli.engine.holding import SilenceWatch
from voicecli.engine.types import ToolCall
from voicecli.tools import Registry, ToolContext, ToolResult, run_tool_calls


class ToolRunner:
    """The tools of a conversation, and when their phrase is due (``feedback_after_ms``; 0: always)."""

    def __init__(self, registry: Registry, context: ToolContext | None, bus: EventBus, *,
                 timeout_s: float = 10.0, feedback_after_ms: float = 400.0):
        self.registry, self.context, self.bus = registry, context, bus
        self.timeout_s = timeout_s
        self.feedback_after_ms = feedback_after_ms

    def schemas(self) -> list[dict]:
        return self.registry.schemas()

    def run(self, calls: list[ToolCall], stop: threading.Event, watch: SilenceWatch | None = None
            ) -> list[ToolResult]:
        """Run one round; ``watch`` says a phrase unless the tools finish within ``feedback_after_ms``."""
        box: dict[str, list[ToolResult]] = {}
        worker = threading.Thread(target=lambda: box.setdefault("results", run_tool_calls(
            calls, self.registry, timeout_s=self.timeout_s, context=self.context)), name="voicecli-tools", daemon=True)
        worker.start()
        waiting = watch.tools(self.feedback_after_ms / 1000.0) if watch is not None else contextlib.nullcontext()
        with waiting:
            while worker.is_alive():
                worker.join(0.05)
                if stop.is_set():
                    return []
        results = box.get("results", [])
        for r in results:
            self.bus.emit(ToolFinished(**r.as_record()))
        return results

    def close(self) -> None:
        """Cancel the timers the tools set."""
        if self.context is not None:
            self.context.cancel_timers()
