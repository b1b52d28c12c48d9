"""The turn record, computed only by watching events (see ``voicecli.engine.events``).

Times in the record are milliseconds from the turn's first LLM request, except ``stt_ms`` and
``endpoint_to_audio_ms`` (from the end of the user's speech). ``longest_silence_ms`` is the longest
stretch without audio from the end of the user's turn (the request, in ``chat``) to the end of the
reply: before the first audio, between two pieces, and after the last one while the turn went on. Playback times are the speaker's own
playback clock, read from ``AudioScheduled`` events: the metrics never recompute the schedule.
``TurnRecord.as_dict()`` is the ``--json`` contract (``../shared/design/cli.md``): the names never
change, and a number that is not finite becomes ``null`` (NaN is not JSON).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from voicecli.engine.events import (
    AudioScheduled,
    ChunkReady,
    Event,
    HoldingSpoken,
    Interrupted,
    LLMFinished,
    LLMRequested,
    SynthesisDone,
    SynthesisStarted,
    Token,
    ToolFinished,
    Transcribed,
    TurnFailed,
    TurnStarted,
    UserSpeechEnded,
)


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000.0, 1)


def _s(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 3)


def clean(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively: what JSON can carry."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


@dataclass
class ChunkRecord:
    """One chunk of a turn; every time in ms since the LLM request (None: it never got that far)."""

    index: int
    text: str
    speech: str
    ready_ms: float | None
    synth_start_ms: float | None = None
    synth_end_ms: float | None = None
    play_start_ms: float | None = None
    play_end_ms: float | None = None
    audio_ms: float | None = None

    @property
    def synth_ms(self) -> float | None:
        if self.synth_start_ms is None or self.synth_end_ms is None:
            return None
        return round(self.synth_end_ms - self.synth_start_ms, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "speech": self.speech, "ready_ms": self.ready_ms, "synth_ms": self.synth_ms,
                "audio_ms": self.audio_ms}


@dataclass
class TurnRecord:
    """One turn, as ``--json`` prints it and the log keeps it (``as_dict``), and as the bench reads it."""

    strategy: str
    transcript: str | None = None
    response: str = ""
    chunks: list[ChunkRecord] = field(default_factory=list)
    ttft_ms: float | None = None
    ttfc_ms: float | None = None
    ttfa_ms: float | None = None
    stt_ms: float | None = None
    endpoint_to_audio_ms: float | None = None
    underruns: int = 0
    gap_ms: float = 0.0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    # beyond the contract: where the rest of the time went
    backend: str | None = None
    tokens: int = 0
    tokens_per_s: float | None = None
    llm_ms: float | None = None
    synth_total_ms: float = 0.0
    audio_total_ms: float = 0.0
    rtf: float | None = None
    longest_gap_ms: float = 0.0
    speech_end_ms: float | None = None
    last_token_to_speech_end_ms: float | None = None
    feedback: list[str] = field(default_factory=list)
    error: str | None = None
    spoken: str = ""
    user: str | None = None
    # talk: the conversation timeline (seconds from when the input started) and how the turn was taken
    user_speech_end_s: float | None = None
    first_audio_s: float | None = None
    voice_to_voice_ms: float | None = None
    turn_end: str | None = None
    discarded_starts: int | None = None
    # the silence budget: the phrases said to fill silences (text, reason, start_ms, end_ms,
    # silence_before_ms), the tools' ones included (their text is in ``feedback`` too), and the longest silence
    holding: list[dict[str, Any]] = field(default_factory=list)
    longest_silence_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = [c.as_dict() for c in value] if name == "chunks" else value
        return clean(out)

    @property
    def first_spoken(self) -> ChunkRecord | None:
        """The chunk whose audio came first (chunks with nothing speakable are never synthesised)."""
        return next((c for c in self.chunks if c.synth_end_ms is not None), None)


class TurnMetrics:
    """Observer: feed it one turn's events, then ask for ``record()``."""

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.reset()

    def reset(self, started: TurnStarted | None = None) -> None:
        self.kind = started.kind if started is not None else "turn"
        self.t_started = started.t if started is not None else None
        self.t_last: float | None = None  # the latest event seen: the turn was still going then
        self.holding: list[HoldingSpoken] = []
        self.t_request: float | None = None
        self.t_first_token: float | None = None
        self.t_last_token: float | None = None
        self.t_first_chunk: float | None = None
        self.t_speech_end: float | None = None
        self.speech_ended: UserSpeechEnded | None = None
        self.transcript: str | None = None
        self.stt_ms: float | None = None
        self.tokens = 0
        self.text: list[str] = []
        self.chunks: dict[int, ChunkRecord] = {}
        self.slots: list[AudioScheduled] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.feedback: list[str] = []
        self.interrupted = False
        self.backend: str | None = None
        self.error: str | None = None

    def _since_request(self, t: float) -> float | None:
        return _ms(self.t_request, t)

    def __call__(self, ev: Event) -> None:
        self.t_last = ev.t if self.t_last is None or ev.t is None else max(self.t_last, ev.t)
        match ev:
            case TurnStarted():
                self.reset(ev)
                self.t_last = ev.t
            case UserSpeechEnded():
                self.t_speech_end, self.speech_ended = ev.t, ev
            case Transcribed():
                self.transcript, self.stt_ms = ev.text, round(ev.stt_ms, 1)
            case LLMRequested():
                self.t_request = self.t_request if self.t_request is not None else ev.t
            case Token():
                self.tokens += 1
                self.text.append(ev.text)
                self.t_first_token = self.t_first_token or ev.t
                self.t_last_token = ev.t
            case ChunkReady():
                self.t_first_chunk = self.t_first_chunk or ev.t
                self.chunks[ev.index] = ChunkRecord(ev.index, ev.text, ev.speech, self._since_request(ev.t))
            case SynthesisStarted() if ev.index in self.chunks:
                self.chunks[ev.index].synth_start_ms = self._since_request(ev.t)
            case SynthesisDone() if ev.index in self.chunks:
                chunk = self.chunks[ev.index]
                chunk.synth_end_ms = self._since_request(ev.t)
                chunk.audio_ms = round(ev.audio_ms, 1)
            case AudioScheduled():
                self.slots.append(ev)
                if ev.kind == "chunk" and ev.index in self.chunks:
                    chunk = self.chunks[ev.index]
                    chunk.play_start_ms, chunk.play_end_ms = self._since_request(ev.start), self._since_request(ev.end)
                elif ev.kind == "feedback":
                    self.feedback.append(ev.text)
            case HoldingSpoken():
                self.holding.append(ev)
            case ToolFinished():
                self.tool_calls.append({"name": ev.name, "arguments": ev.arguments, "result": ev.result,
                                        "error": ev.error, "ms": ev.ms})
            case Interrupted():
                self.interrupted = True
            case LLMFinished():
                self.backend = ev.backend
            case TurnFailed():
                self.error = ev.message

    def record(self, *, spoken: str = "", user: str | None = None, backend: str | None = None) -> TurnRecord:
        chunks = [self.chunks[i] for i in sorted(self.chunks)]
        llm_s = (self.t_last_token - self.t_first_token) if self.t_first_token and self.t_last_token else 0.0
        synth_total = sum(c.synth_ms or 0.0 for c in chunks)
        audio_total = sum(c.audio_ms or 0.0 for c in chunks)
        waits = [s.wait for s in self.slots if s.wait > 0]
        first_audio = self.slots[0].start if self.slots else None
        speech_end = max((s.end for s in self.slots), default=None)
        heard = self.speech_ended
        origin = heard.origin if heard is not None else None
        last_word = heard.last_word if heard is not None else None
        longest, before = self._silences()
        return TurnRecord(
            strategy=self.strategy,
            transcript=self.transcript,
            response="".join(self.text),
            chunks=chunks,
            ttft_ms=_ms(self.t_request, self.t_first_token),
            ttfc_ms=_ms(self.t_request, self.t_first_chunk),
            ttfa_ms=_ms(self.t_request, first_audio),
            stt_ms=self.stt_ms,
            endpoint_to_audio_ms=_ms(self.t_speech_end, first_audio),
            underruns=len(waits),
            gap_ms=round(sum(waits) * 1000.0, 1),
            tool_calls=self.tool_calls,
            interrupted=self.interrupted,
            backend=backend or self.backend,
            tokens=self.tokens,
            tokens_per_s=round((self.tokens - 1) / llm_s, 1) if llm_s > 0 and self.tokens > 1 else None,
            llm_ms=_ms(self.t_request, self.t_last_token),
            synth_total_ms=round(synth_total, 1),
            audio_total_ms=round(audio_total, 1),
            rtf=round(synth_total / audio_total, 3) if audio_total else None,
            longest_gap_ms=round(max(waits, default=0.0) * 1000.0, 1),
            speech_end_ms=_ms(self.t_request, speech_end),
            last_token_to_speech_end_ms=_ms(self.t_last_token, speech_end),
            feedback=self.feedback,
            error=self.error,
            spoken=spoken,
            user=user,
            user_speech_end_s=_s(origin, last_word),
            first_audio_s=_s(origin, first_audio),
            voice_to_voice_ms=_ms(last_word, first_audio),
            turn_end=heard.turn_end if heard is not None else None,
            discarded_starts=heard.discarded_starts if heard is not None else None,
            holding=[{"text": h.text, "reason": h.reason, "start_ms": self._since_request(h.start),
                      "end_ms": self._since_request(h.end),
                      "silence_before_ms": _ms(0.0, before[h.start]) if h.start in before else None}
                     for h in self.holding],
            longest_silence_ms=longest,
        )

    def _silences(self) -> tuple[float | None, dict[float, float]]:
        """The longest silence (ms) and the silence before each piece's sound (keyed by its start, seconds).

        From the end of the user's turn (``UserSpeechEnded``; else the turn's start; an announcement,
        which waits for the reply playing before it, from its own first audio) to the end of the
        reply: the last audio's end, or the last event if the turn went on after it (a stall that
        ended in a failure or an interruption).
        """
        ref = self.t_speech_end if self.t_speech_end is not None else self.t_started
        slots = sorted(self.slots, key=lambda s: s.start)
        if self.kind == "announcement" or ref is None:
            ref = slots[0].start + slots[0].quiet_head if slots else None
        if ref is None:
            return None, {}
        before: dict[float, float] = {}
        heard_until = ref
        for s in slots:  # the voice's padding at either end of a piece is silence to the user
            before[s.start] = max(0.0, s.start + s.quiet_head - heard_until)
            heard_until = max(heard_until, s.end - s.quiet_tail, s.start + s.quiet_head)
        longest = max([*before.values(), (self.t_last or heard_until) - heard_until, 0.0])
        return round(longest * 1000.0, 1), before
