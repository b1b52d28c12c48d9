"""Typed events with monotonic timestamps: the engine emits them, observers (metrics, view, log) watch.

One small frozen dataclass per kind; observers dispatch on the type (``match event: case Token():``).
Observers never sit in the data path: the engine runs the same with or without them. Times are
``time.perf_counter()`` seconds; the bus stamps ``t`` when an event is emitted without one.

What one turn emits, in order (tool rounds repeat the middle part)::

    TurnStarted ─ [UserSpeechEnded, Transcribed] ─ LLMRequested ─ Token… ─ ChunkReady ─ SynthesisStarted
      ─ SynthesisDone ─ AudioScheduled … ─ [ToolFinished…, AudioScheduled(kind="feedback")] ─ LLMFinished
      ─ [Interrupted] ─ [TurnFailed] ─ TurnDone

Wherever a silence runs long (a slow first token, a stall, slow tools), a holding phrase may come in:
``AudioScheduled(kind="holding" or "feedback")`` then ``HoldingSpoken``.

A speculative turn emits ``TurnConfirmed`` before its first ``AudioScheduled``, or ends with
``TurnDone(kind="discarded")``: then nothing of it was heard, kept or logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from voicecli.engine.metrics import TurnRecord

Clock = Callable[[], float]


@dataclass(frozen=True)
class Event:
    t: float = field(default=None, kw_only=True)  # type: ignore[assignment]  # None: stamped by the bus on emit


@dataclass(frozen=True)
class TurnStarted(Event):
    """A turn begins. ``kind``: "turn" (the model answers ``user``), "speculative" (the same, held
    behind a gate until the talk loop is sure the user has finished: ``TurnConfirmed`` follows, or
    it is discarded), "say" (``user`` is spoken as is, the farewell too), or "announcement" (a timer)."""

    user: str | None
    kind: str = "turn"


@dataclass(frozen=True)
class TurnConfirmed(Event):
    """A speculative turn may be heard: the user had finished (``t``: when its audio may start)."""


@dataclass(frozen=True)
class UserSpeechEnded(Event):
    """``talk``: the user's turn is over (``t``: when that was decided).

    ``last_word``: when the user's last word ended, as the VAD saw it; ``origin``: when the input
    started (the conversation timeline's zero), both ``perf_counter`` seconds; ``turn_end``: what
    decided it ("silence", "semantic", "max_silence", "end_of_input"); ``discarded_starts``:
    speculative starts thrown away in this turn.
    """

    last_word: float | None = None
    origin: float | None = None
    turn_end: str | None = None
    discarded_starts: int = 0


@dataclass(frozen=True)
class Transcribed(Event):
    text: str
    stt_ms: float


@dataclass(frozen=True)
class LLMRequested(Event):
    round: int  # 0 for the first call, 1.. after tool rounds


@dataclass(frozen=True)
class Token(Event):
    text: str


@dataclass(frozen=True)
class ChunkReady(Event):
    """A piece of the reply is ready for the voice: ``text`` as shown, ``speech`` as it will be said."""

    index: int
    text: str
    speech: str


@dataclass(frozen=True)
class SynthesisStarted(Event):
    index: int


@dataclass(frozen=True)
class SynthesisDone(Event):
    index: int
    text: str
    audio_ms: float


@dataclass(frozen=True)
class AudioScheduled(Event):
    """A piece of audio got its slot on the turn's playback clock (the one clock every sink shares).

    ``start``/``end``: when it plays; ``wait``: the silence before it, after the first audio of the
    turn (an underrun when > 0). ``kind``: "chunk" (``index`` is the chunk's), "feedback" (a phrase
    said while tools run), "holding" (a phrase said so the user is not left in silence) or "announcement".
    ``quiet_head``/``quiet_tail``: seconds of the voice's own silence at its start and end (the sound
    is heard from ``start + quiet_head`` to ``end - quiet_tail``).
    """

    index: int
    text: str
    start: float
    end: float
    wait: float = 0.0
    kind: str = "chunk"
    audio: Any = field(default=None, repr=False, compare=False)  # the samples (for the conversation recording)
    rate: int = 0
    quiet_head: float = 0.0
    quiet_tail: float = 0.0


@dataclass(frozen=True)
class PlaybackPaused(Event):
    """The user started speaking over the reply: playback holds (``t``) until resumed or stopped."""


@dataclass(frozen=True)
class PlaybackResumed(Event):
    """What the user said over the reply was nothing, or an acknowledgement: it goes on (``paused_s`` later)."""

    paused_at: float
    paused_s: float


@dataclass(frozen=True)
class HoldingSpoken(Event):
    """A holding phrase got its place on the clock (``voicecli.engine.holding``).

    ``reason``: "wait" (nothing said yet), "stall" (the reply stopped), "still" (the second phrase of
    one silence) or "tool" (tools are running); ``start``/``end``: when it plays; ``due``: when the
    watch meant it to be placed (how late it acted is ``start - due`` when nothing was playing).
    """

    text: str
    reason: str
    start: float
    end: float
    due: float


@dataclass(frozen=True)
class ToolFinished(Event):
    name: str
    arguments: Any
    result: str | None
    error: str | None
    ms: float


@dataclass(frozen=True)
class Interrupted(Event):
    reason: str
    spoken_chunks: int


@dataclass(frozen=True)
class LLMFinished(Event):
    backend: str


@dataclass(frozen=True)
class TurnFailed(Event):
    message: str


@dataclass(frozen=True)
class TurnDone(Event):
    record: TurnRecord
    kind: str = "turn"


E = TypeVar("E", bound=Event)
Observer = Callable[[Event], None]


class EventBus:
    """Fan events out to observers. Thread-safe; an observer that raises is skipped for that event only."""

    def __init__(self, clock: Clock = time.perf_counter):
        self.clock = clock
        self._observers: list[Observer] = []
        self._lock = threading.Lock()

    def subscribe(self, observer: Observer) -> Observer:
        with self._lock:
            self._observers.append(observer)
        return observer

    def unsubscribe(self, observer: Observer) -> None:
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def emit(self, event: E) -> E:
        if event.t is None:
            event = replace(event, t=self.clock())
        with self._lock:
            observers = list(self._observers)
        for obs in observers:
            try:
                obs(event)
            except Exception:  # an observer must never break the pipeline
                pass
        return event


class Recorder:
    """An observer that keeps every event (tests, the bench)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]
