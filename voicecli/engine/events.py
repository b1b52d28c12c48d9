"""Typed events with monotonic timestamps: the engine emits them, observers (metrics, view, log) watch.

One small frozen dataclass per kind; observers dispatch on the type (``match event: case Token():``).
Observers never sit in the data path: the engine runs the same with or without them. Times are
``time.perf_counter()`` seconds; the bus stamps ``t`` when an event is emitted without one.

What one turn emits, in order (tool rounds repeat the middle part)::

    TurnStarted ─ [UserSpeechEnded, Transcribed] ─ LLMRequested ─ Token… ─ ChunkReady ─ SynthesisStarted
      ─ SynthesisDone ─ AudioScheduled … ─ [ToolFinished…, AudioScheduled(kind="feedback")] ─ LLMFinished
      ─ [Interrupted] ─ [TurnFailed] ─ TurnDone
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
    """A turn begins. ``kind``: "turn" (the model answers ``user``), "say" (``user`` is spoken as is,
    the farewell too), or "announcement" (a timer that came due)."""

    user: str | None
    kind: str = "turn"


@dataclass(frozen=True)
class UserSpeechEnded(Event):
    """``talk``: the endpointer decided the user had finished (``t`` is when)."""


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
    said while tools run) or "announcement".
    """

    index: int
    text: str
    start: float
    end: float
    wait: float = 0.0
    kind: str = "chunk"


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
