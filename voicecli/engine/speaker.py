"""The speaking stage of one turn: a thread that synthesises queued chunks in order and hands the audio
to the sink, placing each piece on the turn's playback clock.

    turn thread ─ say(chunk) / play(phrase audio) ─▶ [bounded queue] ─▶ speaker thread
                                                                         │ tts.synthesize
                                                                         ▼
    holding watch ─ hold(phrase audio) ─────────────────────▶ clock slot → AudioScheduled event → sink.play

A holding phrase (``voicecli.engine.holding``) takes the next free place on the clock at once, even
while a chunk is being synthesised (``hold``); one lock keeps the clock and the sink in the same
order, so two pieces never overlap. ``in_hand`` and ``chunks_scheduled`` tell the watch whether a
piece of the reply is on its way and whether new content has played.

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

from voicecli.engine.clock import PlaybackClock, Slot, quiet_edges
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
    on_slot: Callable[[Slot], None] | None = None


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
        self.first_audio = threading.Event()  # the first piece of the reply is synthesised (not a phrase)
        self.error: BaseException | None = None
        self._spoken: list[tuple[str, float]] = []  # (text, start on the clock) of each chunk scheduled
        self._slot_lock = threading.Lock()  # the clock and the sink, in one order, from two threads
        self._confirmed = False  # a speculative turn's first audio was placed (after the gate opened)
        self._in_hand = 0  # speakable chunks queued or being synthesised
        self.sound_end: float | None = None  # when the sound of the last piece placed ends (its padding excluded)
        self.at_gate = False  # a synthesised piece waits only for the gate: it plays the moment it opens
        self._count_lock = threading.Lock()
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
        if speech.strip():
            self._count(+1)
        self._put(_Text(index, text, speech))

    def play(self, text: str, audio: np.ndarray, kind: str, on_slot: Callable[[Slot], None] | None = None) -> None:
        """Queue audio made ahead of time, to play after what is queued; ``on_slot`` gets its place."""
        self._put(_Audio(text, audio, kind, on_slot))

    def hold(self, text: str, audio: np.ndarray, kind: str, *, if_chunks: int | None = None) -> Slot | None:
        """Place audio made ahead of time on the clock now, ahead of what is still being synthesised.

        It plays at the next free moment, never over other audio. None (nothing placed) when the turn
        stopped, a speculative turn is not confirmed yet, or more than ``if_chunks`` chunks have been
        placed by now (new content came first: the phrase has no silence left to fill).
        """
        if self.stop.is_set() or (self.gate is not None and not self.gate.opened):
            return None
        with self._slot_lock:
            if self.stop.is_set() or (if_chunks is not None and len(self._spoken) != if_chunks):
                return None
            return self._place(text, audio, kind, -1, time.perf_counter())

    @property
    def in_hand(self) -> int:
        """Chunks of the reply queued or being synthesised: audio on its way."""
        return self._in_hand

    @property
    def chunks_scheduled(self) -> int:
        """Chunks of the reply placed on the clock so far."""
        return len(self._spoken)

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

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def resume(self) -> None:
        """Go on from where playback held: every piece not yet heard plays that much later."""
        with self._pause_lock, self._slot_lock:
            if self._paused_at is None:
                return
            at, self._paused_at = self._paused_at, None
            by = time.perf_counter() - at
            self.clock.shift(at, by)
            self._spoken = [(text, start + by if start >= at else start) for text, start in self._spoken]
            if self.sound_end is not None and self.sound_end > at:
                self.sound_end += by
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
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Text) and item.speech.strip():
                self._count(-1)

    def _count(self, n: int) -> None:
        with self._count_lock:
            self._in_hand += n

    # -- the speaker thread
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    if not self.stop.is_set():
                        self.sink.drain()
                    return
                if isinstance(item, _Audio):
                    slot = None if self.stop.is_set() else self._schedule(item.text, item.audio, item.kind, -1,
                                                                          time.perf_counter())
                    if slot is not None and item.on_slot is not None:
                        item.on_slot(slot)
                elif item.speech.strip():  # a chunk with nothing speakable (an emoji, a code fence) is skipped
                    try:
                        if not self.stop.is_set():
                            self._synthesize(item)
                    finally:
                        self._count(-1)
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
        self._schedule(item.text, audio, "chunk", item.index, ready)

    def _schedule(self, text: str, audio: np.ndarray, kind: str, index: int, ready: float) -> Slot | None:
        """Put ``audio`` on the clock and hand it to the sink; returns its slot (None: discarded)."""
        if self.gate is not None and not self._confirmed:
            self.at_gate = True
            try:
                if not self.gate.wait(self.stop):
                    self.stop.set()  # discarded: nothing of this turn is ever heard
                    return None
            finally:
                self.at_gate = False
        with self._slot_lock:
            if self.stop.is_set():
                return None
            slot = self._place(text, audio, kind, index, ready)
            if kind == "chunk":
                self._spoken.append((text, slot.start))
            return slot

    def _place(self, text: str, audio: np.ndarray, kind: str, index: int, ready: float) -> Slot:
        """The clock slot, the event, the sink (under ``_slot_lock``); a speculative turn is confirmed first."""
        if self.gate is not None and not self._confirmed:  # the first audio of a speculative turn
            ready = max(ready, self.gate.opened_at or ready)
            self._confirmed = True
            if self._on_open is not None:
                self._on_open(ready)
        slot = self.clock.add(ready, len(audio) / self.tts.sample_rate)
        head, tail = quiet_edges(audio, self.tts.sample_rate)
        self.sound_end = max(slot.start + head, slot.end - tail)
        self.bus.emit(AudioScheduled(index=index, text=text, start=slot.start, end=slot.end, kind=kind,
                                     wait=slot.wait, t=slot.start, audio=audio, rate=self.tts.sample_rate,
                                     quiet_head=head, quiet_tail=tail))
        self.sink.play(audio)
        return slot
