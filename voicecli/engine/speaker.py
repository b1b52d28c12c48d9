"""The speaking stage of one turn: a thread that synthesises queued chunks in order and hands the audio
to the sink, placing each piece on the turn's playback clock.

    turn thread ─ say(chunk) / play(phrase audio) ─▶ [bounded queue] ─▶ speaker thread
                                                                         │ tts.synthesize
                                                                         ▼
                                                       clock slot → AudioScheduled event → sink.play

While chunk N plays, the speaker synthesises chunk N+1 and the LLM keeps generating. The stop event
(Ctrl-C, barge-in) is checked between chunks; on it, what is queued is dropped. ``heard(t)`` says
which chunks had started playing by time ``t``: what the user heard, for the history.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from voicecli.engine.clock import PlaybackClock
from voicecli.engine.events import (
    AudioScheduled,
    EventBus,
    PlaybackPaused,
    PlaybackResumed,
    SynthesisDone,
    SynthesisStarted,
)
from voicecli.engine.types import TTS, AudioSink, Heard


@dataclass(frozen=True)
class _Text:
    index: int
    text: str
    speech: str


@dataclass(frozen=True)
class _Audio:
    text: str
    audio: np.ndarray
    kind: str


_DONE = object()


class Gate:
    """Playback held until a speculative turn is confirmed: ``open()`` lets it play, ``discard()`` drops it.

    The talk loop starts a turn on a short silence, before it is sure the user has finished; the
    turn generates and synthesises behind the gate, and nothing is heard (and no tool runs) until
    the loop opens it. ``opened_at``: when it opened (``perf_counter``), the earliest audio can start.
    """

    def __init__(self) -> None:
        self._decided = threading.Event()
        self.opened = False
        self.opened_at: float | None = None
        self.heard: Heard | None = None

    def open(self, heard: Heard | None = None) -> None:
        """Confirm the turn; ``heard``: what the user said and how the turn ended, known only now."""
        if not self._decided.is_set():
            self.opened, self.opened_at, self.heard = True, time.perf_counter(), heard
            self._decided.set()

    def discard(self) -> None:
        if not self._decided.is_set():
            self._decided.set()

    @property
    def decided(self) -> bool:
        return self._decided.is_set()

    def wait(self, stop: threading.Event) -> bool:
        """Block until decided (True: opened) or the turn stops (False)."""
        while not self._decided.wait(0.01):
            if stop.is_set():
                return False
        return self.opened


class Speaker:
    """Use as a context manager around one turn: ``with Speaker(...) as speaker: speaker.say(...)``.

    ``finish()`` waits until everything queued has played (or the turn is stopped). Leaving the
    block stops playback if the turn was stopped, and re-raises a failure of the speaker thread.
    """

    def __init__(self, tts: TTS, sink: AudioSink, bus: EventBus, stop: threading.Event, maxsize: int = 16,
                 not_before: float = 0.0, gate: Gate | None = None, on_open: Callable[[float], None] | None = None):
        self.tts, self.sink, self.bus, self.stop = tts, sink, bus, stop
        self.clock = PlaybackClock(not_before)
        self.gate, self._on_open = gate, on_open
        self._pause_lock = threading.Lock()
        self._paused_at: float | None = None
        self.first_audio = threading.Event()
        self.error: BaseException | None = None
        self._spoken: list[tuple[str, float]] = []  # (text, start on the clock) of each chunk scheduled
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name="voicecli-speaker", daemon=True)

    # -- the turn's side
    def __enter__(self) -> Speaker:
        self.sink.start()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.stop.set()
        if self.stop.is_set():
            self.sink.stop()
        self._put(_DONE, force=True)
        self._thread.join(0.5 if self.stop.is_set() else None)
        if self.error is not None and exc is None and not isinstance(self.error, KeyboardInterrupt):
            raise self.error

    def say(self, index: int, text: str, speech: str) -> None:
        """Queue a chunk: ``text`` as shown, ``speech`` as it will be synthesised."""
        self._put(_Text(index, text, speech))

    def play(self, text: str, audio: np.ndarray, kind: str) -> None:
        """Queue audio made ahead of time (a feedback phrase)."""
        self._put(_Audio(text, audio, kind))

    def wait_first_audio(self) -> None:
        """Block until the first audio is ready (or the turn stops, or the speaker died)."""
        while not self.first_audio.wait(0.01) and not self.stop.is_set() and self._thread.is_alive():
            pass

    def finish(self) -> None:
        """Wait until everything queued has been handed over and has played, unless the turn stops."""
        self._put(_DONE)
        while self._thread.is_alive() and not self.stop.is_set():
            self._thread.join(0.05)

    def pause(self) -> None:
        """Hold playback (someone speaks over the reply); what is queued stays queued."""
        with self._pause_lock:
            if self._paused_at is None:
                self._paused_at = time.perf_counter()
                self.sink.pause()
                self.bus.emit(PlaybackPaused(t=self._paused_at))

    def resume(self) -> None:
        """Go on from where playback held: every piece not yet heard plays that much later."""
        with self._pause_lock:
            if self._paused_at is None:
                return
            at, self._paused_at = self._paused_at, None
            by = time.perf_counter() - at
            self.clock.shift(at, by)
            self._spoken = [(text, start + by if start >= at else start) for text, start in self._spoken]
            self.sink.resume()
            self.bus.emit(PlaybackResumed(paused_at=at, paused_s=by))

    def join(self, timeout: float | None = None) -> None:
        """Wait for the speaker thread (a synthesis under way) to end."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def heard(self, until: float | None = None) -> list[str]:
        """The chunks that had started playing by ``until`` (all scheduled ones when None)."""
        return [text for text, start in self._spoken if until is None or start <= until]

    def _put(self, item: object, force: bool = False) -> None:
        while force or not self.stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if force:
                    self._drop_queued()

    def _drop_queued(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    # -- the speaker thread
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    if not self.stop.is_set():
                        self.sink.drain()
                    return
                if self.stop.is_set():
                    continue
                if isinstance(item, _Audio):
                    self._schedule(item.text, item.audio, item.kind, -1, time.perf_counter())
                elif item.speech.strip():  # a chunk with nothing speakable (an emoji, a code fence) is skipped
                    self._synthesize(item)
        except BaseException as e:  # surfaced by the turn when it leaves the block, never lost in a thread
            self.error = e
            self.stop.set()

    def _synthesize(self, item: _Text) -> None:
        self.bus.emit(SynthesisStarted(index=item.index))
        audio = self.tts.synthesize(item.speech)
        if self.stop.is_set():
            return
        ready = time.perf_counter()
        self.bus.emit(SynthesisDone(index=item.index, text=item.text,
                                    audio_ms=len(audio) / self.tts.sample_rate * 1000.0, t=ready))
        self.first_audio.set()  # ready: generation may go on (audio first), whether or not it may play yet
        start = self._schedule(item.text, audio, "chunk", item.index, ready)
        if start is not None:
            self._spoken.append((item.text, start))

    def _schedule(self, text: str, audio: np.ndarray, kind: str, index: int, ready: float) -> float | None:
        """Put ``audio`` on the clock and hand it to the sink; returns its start (None: discarded)."""
        if self.gate is not None and not self.clock.slots:  # the first audio of a speculative turn
            if not self.gate.wait(self.stop):
                self.stop.set()  # discarded: nothing of this turn is ever heard
                return None
            ready = max(ready, self.gate.opened_at or ready)
            if self._on_open is not None:
                self._on_open(ready)
        slot = self.clock.add(ready, len(audio) / self.tts.sample_rate)
        self.first_audio.set()
        self.bus.emit(AudioScheduled(index=index, text=text, start=slot.start, end=slot.end, kind=kind,
                                     wait=slot.wait, t=slot.start, audio=audio, rate=self.tts.sample_rate))
        self.sink.play(audio)
        return slot.start
