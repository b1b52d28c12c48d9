"""Per-turn figures, computed only by watching events (see ``voicecli.engine.events``).

All times in the record are milliseconds from the turn's first LLM request, except ``stt_ms`` and
``endpoint_to_audio_ms`` (from the end of the user's speech). The playback side uses the same
``PlaybackClock`` as the sinks and the benchmark: a chunk plays from when its audio is ready, or when
the previous chunk ends, whichever is later.
"""

from __future__ import annotations

from typing import Any

from voicecli.engine.clock import PlaybackClock
from voicecli.engine.events import Event


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000.0, 1)


class TurnMetrics:
    """Observer: feed it one turn's events, then ask for ``record()``."""

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.reset()

    def reset(self) -> None:
        self.t_request: float | None = None
        self.t_first_token: float | None = None
        self.t_last_token: float | None = None
        self.t_first_chunk: float | None = None
        self.t_first_audio: float | None = None
        self.t_speech_end: float | None = None
        self.transcript: str | None = None
        self.stt_ms: float | None = None
        self.tokens = 0
        self.text: list[str] = []
        self.chunks: dict[int, dict[str, Any]] = {}
        self._synth_start: dict[int, float] = {}
        self.clock = PlaybackClock()
        self.tool_calls: list[dict[str, Any]] = []
        self.feedback: list[str] = []
        self.interrupted = False
        self.backend: str | None = None
        self.spoken_count: int | None = None
        self.error: str | None = None

    def __call__(self, ev: Event) -> None:
        k = ev.kind
        if k == "turn_start":
            self.reset()
        elif k == "speech_end":
            self.t_speech_end = ev.t
        elif k == "stt_done":
            self.transcript = ev["transcript"]
            self.stt_ms = round(ev["stt_ms"], 1)
        elif k == "llm_request":
            if self.t_request is None:
                self.t_request = ev.t
        elif k == "token":
            self.tokens += 1
            self.text.append(ev["text"])
            self.t_first_token = self.t_first_token or ev.t
            self.t_last_token = ev.t
        elif k == "chunk_ready":
            self.t_first_chunk = self.t_first_chunk or ev.t
            self.chunks[ev["index"]] = {"text": ev["text"], "ready_ms": _ms(self.t_request, ev.t),
                                        "synth_ms": None, "audio_ms": None}
        elif k == "synth_start":
            self._synth_start[ev["index"]] = ev.t
        elif k == "synth_end":
            self.t_first_audio = self.t_first_audio or ev.t
            c = self.chunks.setdefault(ev["index"], {"text": ev.get("text", ""), "ready_ms": None})
            c["synth_ms"] = _ms(self._synth_start.get(ev["index"]), ev.t)
            c["audio_ms"] = round(ev["audio_ms"], 1)
            self.clock.add(ev.t, ev["audio_ms"] / 1000.0)
        elif k == "tool_call":
            self.tool_calls.append({key: ev.get(key) for key in ("name", "arguments", "result", "error", "ms")})
        elif k == "tool_feedback":
            self.feedback.append(ev["text"])
            self.clock.add(ev.t, ev.get("audio_ms", 0.0) / 1000.0)
        elif k == "interrupted":
            self.interrupted = True
            self.spoken_count = ev.get("spoken_chunks")
        elif k == "llm_done":
            self.backend = ev.get("backend")
        elif k == "error":
            self.error = ev.get("message")

    def record(self, **extra: Any) -> dict[str, Any]:
        chunks = [self.chunks[i] for i in sorted(self.chunks)]
        llm_s = (self.t_last_token - self.t_first_token) if self.t_first_token and self.t_last_token else 0.0
        synth_total = sum(c["synth_ms"] or 0.0 for c in chunks)
        audio_total = sum(c["audio_ms"] or 0.0 for c in chunks)
        rec: dict[str, Any] = {
            "strategy": self.strategy,
            "transcript": self.transcript,
            "response": "".join(self.text),
            "chunks": chunks,
            "ttft_ms": _ms(self.t_request, self.t_first_token),
            "ttfc_ms": _ms(self.t_request, self.t_first_chunk),
            "ttfa_ms": _ms(self.t_request, self.t_first_audio),
            "stt_ms": self.stt_ms,
            "endpoint_to_audio_ms": _ms(self.t_speech_end, self.t_first_audio),
            "underruns": self.clock.underruns,
            "gap_ms": round(self.clock.gap * 1000.0, 1),
            "tool_calls": self.tool_calls,
            "interrupted": self.interrupted,
            # beyond the contract: where the rest of the time went
            "backend": self.backend,
            "tokens": self.tokens,
            "tokens_per_s": round((self.tokens - 1) / llm_s, 1) if llm_s > 0 and self.tokens > 1 else None,
            "llm_ms": _ms(self.t_request, self.t_last_token),
            "synth_total_ms": round(synth_total, 1),
            "audio_total_ms": round(audio_total, 1),
            "rtf": round(synth_total / audio_total, 3) if audio_total else None,
            "longest_gap_ms": round(self.clock.longest_gap * 1000.0, 1),
            "speech_end_ms": _ms(self.t_request, self.clock.end),
            "last_token_to_speech_end_ms": _ms(self.t_last_token, self.clock.end),
            "feedback": self.feedback,
            "error": self.error,
        }
        rec.update(extra)
        return rec
