"""Events with monotonic timestamps: the pipeline emits them, observers (metrics, view, log) watch.

Observers never sit in the data path: the pipeline runs the same with or without them.

Event kinds and their data (times are ``time.perf_counter()`` seconds):

    turn_start       user: str | None
    speech_end       (talk) the endpointer decided the user finished
    stt_done         transcript: str, stt_ms: float
    llm_request      round: int (0 for the first call, 1.. after tool rounds)
    token            text: str
    chunk_ready      index: int, text: str, spoken: str
    synth_start      index
    synth_end        index, audio_ms: float
    audio_start      index             (the chunk began playing on the sink's clock)
    audio_end        index
    tool_call        name, arguments, result, error, ms
    tool_feedback    text              (the "one moment" phrase)
    underrun         gap_ms
    interrupted      reason: str
    llm_done         backend: str
    turn_done        record: dict      (the turn record)
    error            message: str
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class Event:
    kind: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


Observer = Callable[[Event], None]


class EventBus:
    """Fan events out to observers. Thread-safe; an observer that raises is dropped from that event only."""

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

    def emit(self, kind: str, t: float | None = None, **data: Any) -> Event:
        ev = Event(kind, self.clock() if t is None else t, data)
        with self._lock:
            observers = list(self._observers)
        for obs in observers:
            try:
                obs(ev)
            except Exception:  # an observer must never break the pipeline
                pass
        return ev


class Recorder:
    """An observer that keeps every event (tests, traces, the bench)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
