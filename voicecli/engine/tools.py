"""One round of tool calls inside a turn: run in parallel in a worker, a short phrase said if they are slow.

The phrases ("One moment.") are synthesised ahead of time, in the background, so saying one costs
nothing when it is needed; a phrase goes through the turn's speaker like any other audio (it is on
the playback clock, in the record's ``feedback``, never over other speech).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from voicecli.engine.events import EventBus, ToolFinished
from voicecli.engine.speaker import Speaker
from voicecli.engine.types import TTS, ToolCall
from voicecli.tools import FEEDBACK_PHRASES, FeedbackPicker, Registry, ToolContext, ToolResult, run_tool_calls


class ToolRunner:
    """The tools of a conversation, and the phrases said while they run."""

    def __init__(self, registry: Registry, context: ToolContext | None, tts: TTS, bus: EventBus, *,
                 timeout_s: float = 10.0, feedback_after_ms: float = 400.0,
                 phrases: Sequence[str] | None = None):
        self.registry, self.context, self.tts, self.bus = registry, context, tts, bus
        self.timeout_s = timeout_s
        self.feedback_after_ms = feedback_after_ms
        self._picker = FeedbackPicker(FEEDBACK_PHRASES if phrases is None else phrases)
        self._audio: dict[str, np.ndarray] = {}
        self._prepared = threading.Thread(target=self._prepare, name="voicecli-feedback", daemon=True)
        self._prepared.start()

    def schemas(self) -> list[dict]:
        return self.registry.schemas()

    def _prepare(self) -> None:
        """Synthesise the phrases ahead of time so they play with no delay."""
        for phrase in self._picker.phrases:
            try:
                self._audio[phrase] = self.tts.synthesize(phrase)
            except Exception:  # the phrase is synthesised when needed instead
                return

    def run(self, calls: list[ToolCall], speaker: Speaker, stop: threading.Event) -> list[ToolResult]:
        """Run one round; say a phrase unless the tools finish within ``feedback_after_ms`` (0: always)."""
        box: dict[str, list[ToolResult]] = {}
        worker = threading.Thread(target=lambda: box.setdefault("results", run_tool_calls(
            calls, self.registry, timeout_s=self.timeout_s, context=self.context)), name="voicecli-tools", daemon=True)
        worker.start()
        always = self.feedback_after_ms <= 0
        if not always:
            worker.join(self.feedback_after_ms / 1000.0)
        if (always or worker.is_alive()) and not stop.is_set():
            self._say_phrase(speaker)
        while worker.is_alive():
            worker.join(0.05)
            if stop.is_set():
                return []
        results = box.get("results", [])
        for r in results:
            self.bus.emit(ToolFinished(**r.as_record()))
        return results

    def _say_phrase(self, speaker: Speaker) -> None:
        phrase = self._picker.pick()
        if phrase is None:
            return
        audio = self._audio.get(phrase)
        speaker.play(phrase, audio if audio is not None else self.tts.synthesize(phrase), "feedback")

    def close(self) -> None:
        """Let background synthesis finish: a process that exits while onnxruntime runs in a thread aborts."""
        self._prepared.join(timeout=5.0)
        if self.context is not None:
            self.context.cancel_timers()
