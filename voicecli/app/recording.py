"""The conversation recording (``talk --conversation-wav``): the ground truth for every latency claim.

Two channels at 16 kHz on one timeline, from the moment the input starts: channel 1 what the input
heard (the microphone, raw, or the ``--input`` file itself), channel 2 what the assistant played,
placed where the playback clock put it (plus the device's output latency for a real speaker; with
``--no-audio`` or ``--output`` it is what would have played). A reply cut short is cut there; a
reply held for the user (a barge-in that was only "uh-huh") has its hole.

``Timeline`` maps ``perf_counter`` times to that timeline. Live input (a microphone, ``--realtime``
files) runs on the wall clock. Files read as fast as possible run ahead of it: their own time counts
while they are read, the wall clock while the assistant answers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from voicecli.audio.files import write_wav
from voicecli.audio.signal import resample
from voicecli.engine.events import AudioScheduled, Event, Interrupted, PlaybackPaused, PlaybackResumed

RATE = 16000


class Timeline:
    """Seconds since the input started. ``jump_to(s)``: the input is at ``s`` now (it ran ahead)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Zero is now (the input starts)."""
        self.origin = time.perf_counter()
        self.skew = 0.0

    def now(self) -> float:
        return self.at(time.perf_counter())

    def at(self, perf_t: float) -> float:
        return perf_t - self.origin + self.skew

    def perf(self, timeline_s: float) -> float:
        return timeline_s + self.origin - self.skew

    def jump_to(self, timeline_s: float) -> None:
        """Input read faster than real time is at ``timeline_s`` now: the timeline follows it (never back)."""
        self.skew = max(self.skew, timeline_s - (time.perf_counter() - self.origin))

    @property
    def effective_origin(self) -> float:
        """The ``perf_counter`` time of the timeline's zero, as things stand now."""
        return self.origin - self.skew


class ConversationRecorder:
    """Collects both channels as the conversation goes; ``close()`` writes the WAV."""

    def __init__(self, path: str | Path, timeline: Timeline, latency: float = 0.0):
        self.path, self.timeline, self.latency = Path(path), timeline, latency
        self._input: list[tuple[int, np.ndarray]] = []  # (first sample, samples)
        self._played: list[list] = []  # [first sample, samples]: mutable, cut when stopped or held
        self._paused_at: int | None = None
        self._lock = threading.Lock()

    def _index(self, perf_t: float) -> int:
        return max(0, round((self.timeline.at(perf_t) + self.latency) * RATE))

    def input(self, samples: np.ndarray, timeline_s: float) -> None:
        with self._lock:
            self._input.append((max(0, round(timeline_s * RATE)), np.asarray(samples, np.float32)))

    def __call__(self, ev: Event) -> None:
        match ev:
            case AudioScheduled() if ev.audio is not None and len(ev.audio):
                audio = resample(np.asarray(ev.audio, np.float32), ev.rate, RATE)
                with self._lock:
                    self._played.append([self._index(ev.start), audio])
            case Interrupted():  # held, then stopped: nothing played after the hold
                at = self._index(ev.t)
                self._cut(at if self._paused_at is None else min(at, self._paused_at), None)
                self._paused_at = None
            case PlaybackResumed():
                self._cut(self._index(ev.paused_at), round(ev.paused_s * RATE))
                self._paused_at = None
            case PlaybackPaused():  # the hole is known when it ends (resumed) or becomes a stop (interrupted)
                self._paused_at = self._index(ev.t)

    def _cut(self, at: int, hole: int | None) -> None:
        """Nothing played after ``at``: dropped (``hole`` None) or played ``hole`` samples later."""
        with self._lock:
            kept: list[list] = []
            for start, audio in self._played:
                if start + len(audio) <= at:
                    kept.append([start, audio])
                elif start >= at:
                    if hole is not None:
                        kept.append([start + hole, audio])
                else:
                    kept.append([start, audio[: at - start]])
                    if hole is not None:
                        kept.append([at + hole, audio[at - start:]])
            self._played = kept

    def channels(self) -> np.ndarray:
        """The two channels so far, ``(samples, 2)``."""
        with self._lock:
            parts = [(0, s, a) for s, a in self._input] + [(1, s, a) for s, a in self._played]
        end = max((s + len(a) for _, s, a in parts), default=0)
        out = np.zeros((end, 2), np.float32)
        for ch, start, audio in parts:
            out[start:start + len(audio), ch] += audio
        return out

    def close(self) -> Path:
        return write_wav(self.path, self.channels(), RATE)
