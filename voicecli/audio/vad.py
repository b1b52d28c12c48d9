"""Endpointing: where an utterance starts and ends, from audio blocks of any size, with Silero VAD.

faster-whisper ships Silero VAD v6 as ONNX and loads it once per process (``get_vad_model()``, one
intra-op thread); we reuse that loader and its session, and keep our own recurrent state, so several
endpointers (the microphone's, a file's) can share the model.

How the model is run (the same way faster-whisper runs it, but streaming): at 16 kHz it takes windows
of 512 samples (32 ms), each preceded by the last 64 samples of the previous window as context, and an
LSTM state ``(h, c)`` carried from window to window. The ONNX graph treats its batch axis as time, so a
run over N windows with one state equals N runs of one window; ``feed()`` therefore runs every complete
window it has in one call, and the result does not depend on how the audio was cut into blocks
(a test checks both facts).

The endpointing rule, per 32 ms window with speech probability ``p``:

- idle → *pending* when ``p >= threshold``. Pending → *speaking* (emit ``speech_start``) once
  ``min_speech_ms`` of windows with ``p >= neg_threshold`` have accumulated, so clicks and coughs do
  not start an utterance; pending → idle if ``end_silence_ms`` of silence comes first.
- speaking → idle (emit ``speech_end`` with the utterance) after ``end_silence_ms`` of windows below
  ``neg_threshold`` (hysteresis: ``threshold - 0.15``, as Silero's own code does), or when the
  utterance reaches ``max_utterance_s`` (a forced end, so a stuck-open microphone cannot grow a buffer
  forever).
- The utterance's audio starts ``pre_roll_ms`` before the first speech window (the onset of a word is
  often below threshold) and ends where the end was detected (so it carries the trailing silence).

Blocks at another rate than 16 kHz are resampled as a stream (soxr), so block boundaries leave no seams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from voicecli.audio.signal import resample
from voicecli.engine.types import Audio

VAD_RATE = 16000
WINDOW = 512  # samples per Silero window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each window
WINDOW_MS = WINDOW * 1000 / VAD_RATE


def _session():
    """The shared onnxruntime session for Silero VAD (loaded once, by faster-whisper's own loader)."""
    from faster_whisper.vad import get_vad_model

    return get_vad_model().session


class SileroVAD:
    """Streaming Silero VAD at 16 kHz: ``process(windows) -> probabilities``, state kept across calls."""

    def __init__(self) -> None:
        self.session = _session()
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def process(self, windows: np.ndarray) -> np.ndarray:
        """Speech probabilities for ``windows`` (shape ``(n, 512)``, float32, consecutive in time)."""
        if len(windows) == 0:
            return np.zeros(0, dtype=np.float32)
        contexts = np.vstack([self._context[None, :], windows[:-1, -CONTEXT:]])
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1), dtype=np.float32)
        probs, self._h, self._c = self.session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)


BATCH_WINDOWS = 1024  # 33 s of audio per model call: one call over a 30-minute file took 800 MB


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """Per-window (32 ms) speech probabilities of a whole 16 kHz signal, from a fresh state."""
    samples = np.asarray(samples, dtype=np.float32)
    windows = np.pad(samples, (0, -len(samples) % WINDOW)).reshape(-1, WINDOW)
    vad = SileroVAD()
    parts = [vad.process(windows[i:i + BATCH_WINDOWS]) for i in range(0, len(windows), BATCH_WINDOWS)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def has_speech(samples: np.ndarray, *, threshold: float = 0.5, min_ms: float = 2 * WINDOW_MS) -> bool:
    """Whether a 16 kHz signal holds at least ``min_ms`` of windows Silero calls speech.

    Used by the STT as a guard against Whisper "hearing" words in silence or noise.
    """
    probs = speech_probabilities(samples)
    return int(np.count_nonzero(probs >= threshold)) * WINDOW_MS >= min_ms


@dataclass(frozen=True)
class VadEvent:
    """``speech_start`` (``audio`` is None) or ``speech_end`` (``audio`` is the utterance at 16 kHz).

    ``at_s`` is the position in the stream (seconds since the last ``reset()``) where the event was
    decided: for ``speech_start``, ``min_speech_ms`` after the first speech window; for ``speech_end``,
    ``end_silence_ms`` after the last one. ``start_s``/``end_s`` bound the utterance's audio (pre-roll
    included). ``forced`` marks an end caused by ``max_utterance_s`` or ``flush()``.
    """

    kind: Literal["speech_start", "speech_end"]
    at_s: float
    start_s: float
    end_s: float
    audio: Audio | None = None
    forced: bool = False


class Endpointer:
    """Turns a stream of audio blocks into ``speech_start`` / ``speech_end`` events.

    ``feed(block)`` accepts float32 mono blocks of any length at ``rate`` Hz and returns the events this
    block completed. ``probability`` and ``level_db`` describe the latest 32 ms window (for a meter).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_speech_ms: float = 250,
        end_silence_ms: float = 500,
        pre_roll_ms: float = 300,
        rate: int = VAD_RATE,
        *,
        neg_threshold: float | None = None,
        max_utterance_s: float = 30.0,
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"VAD threshold must be between 0 and 1, not {threshold}")
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, not {rate}")
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01) if neg_threshold is None else neg_threshold
        self.min_speech_windows = max(1, round(min_speech_ms / WINDOW_MS))
        self.end_silence_windows = max(1, round(end_silence_ms / WINDOW_MS))
        self.pre_roll_windows = max(0, round(pre_roll_ms / WINDOW_MS))
        self.max_utterance_windows = max(1, round(max_utterance_s * 1000 / WINDOW_MS))
        self.rate = rate
        self._vad = SileroVAD()
        self._resampler = None
        if rate != VAD_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32")
        self.reset()

    # --- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything: model state, buffered audio, the current utterance and the clock."""
        self._vad.reset()
        if self._resampler is not None:
            self._resampler.clear()
        self._pending = np.zeros(0, dtype=np.float32)  # samples not yet a full window
        self._windows: list[np.ndarray] = []  # recent windows: pre-roll while idle, the utterance after
        self._first_window = 0  # stream index of self._windows[0]
        self._index = 0  # stream index of the next window to process
        self._state: Literal["idle", "pending", "speaking"] = "idle"
        self._start = 0  # stream index of the first speech window of the candidate/utterance
        self._speech_windows = 0
        self._silence_run = 0
        self.probability = 0.0
        self.level_db = -120.0

    @property
    def speaking(self) -> bool:
        """True between ``speech_start`` and ``speech_end``."""
        return self._state == "speaking"

    @property
    def now_s(self) -> float:
        """How much of the stream has been judged (seconds since the last ``reset()``)."""
        return self._t(self._index)

    @property
    def silence_ms(self) -> float:
        """While speaking: the silence since the last speech window (what a turn-taker waits on)."""
        return self._silence_run * WINDOW_MS if self._state == "speaking" else 0.0

    @property
    def last_speech_s(self) -> float | None:
        """While speaking: where the last speech window of the utterance ends (the end of the last word)."""
        return self._t(self._index - self._silence_run) if self._state == "speaking" else None

    def current(self) -> Audio | None:
        """While speaking: the utterance so far (pre-roll included), up to what has been judged."""
        if self._state != "speaking":
            return None
        start = max(self._first_window, self._start - self.pre_roll_windows)
        kept = self._windows[start - self._first_window:]
        return Audio(np.concatenate(kept) if kept else np.zeros(0, np.float32), VAD_RATE)

    def end_now(self) -> VadEvent | None:
        """End the utterance here (the caller decided the turn is over before ``end_silence_ms``)."""
        return self._end(forced=False) if self._state == "speaking" else None

    # --- input -------------------------------------------------------------------------------

    def feed(self, block: np.ndarray) -> list[VadEvent]:
        """Process a block of samples; return the events it completed (often none)."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block, last=False)
        return self._feed_16k(block)

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open utterance (or a pending one long enough to count)."""
        tail = np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(tail, last=True)
        if len(self._pending) or len(tail):  # complete the last window with silence
            tail = np.concatenate([tail, np.zeros(-(len(self._pending) + len(tail)) % WINDOW, np.float32)])
        events = self._feed_16k(tail)
        if self._state == "pending" and self._speech_windows >= self.min_speech_windows:
            self._state = "speaking"
        if self._state == "speaking":
            events.append(self._end(forced=True))
        self._state = "idle"
        return events

    def _feed_16k(self, block: np.ndarray) -> list[VadEvent]:
        data = np.concatenate([self._pending, block])  # a copy: callers may reuse their buffer
        n = len(data) // WINDOW
        self._pending = data[n * WINDOW:].copy()
        if n == 0:
            return []
        windows = data[: n * WINDOW].reshape(n, WINDOW)
        probs = self._vad.process(windows)
        events: list[VadEvent] = []
        for window, p in zip(windows, probs, strict=True):
            event = self._step(window, float(p))
            if event is not None:
                events.append(event)
        last = windows[-1]
        self.level_db = float(20 * np.log10(max(float(np.sqrt(np.mean(last * last))), 1e-6)))
        return events

    def segments(self, audio: Audio, block_ms: float = 100.0) -> list[Audio]:
        """The utterances in a whole recording, found by the same streaming path as the microphone's."""
        self.reset()
        samples = audio.samples
        if audio.rate != self.rate:
            samples = resample(samples, audio.rate, self.rate)
        step = max(1, int(self.rate * block_ms / 1000))
        events: list[VadEvent] = []
        for i in range(0, len(samples), step):
            events += self.feed(samples[i:i + step])
        events += self.flush()
        return [e.audio for e in events if e.kind == "speech_end" and e.audio is not None]

    # --- the state machine -------------------------------------------------------------------

    def _t(self, index: int) -> float:
        return index * WINDOW / VAD_RATE

    def _step(self, window: np.ndarray, p: float) -> VadEvent | None:
        index = self._index
        self._index += 1
        self._windows.append(window)
        self.probability = p
        event = None
        if self._state == "idle":
            if p >= self.threshold:
                self._state, self._start = "pending", index
                self._speech_windows, self._silence_run = 1, 0
        else:
            if p >= self.neg_threshold:
                self._speech_windows += 1
                self._silence_run = 0
            else:
                self._silence_run += 1
            if self._state == "pending":
                if self._speech_windows >= self.min_speech_windows:
                    self._state = "speaking"
                    start = max(self._first_window, self._start - self.pre_roll_windows)
                    now = self._t(self._index)
                    event = VadEvent("speech_start", now, self._t(start), now)
                elif self._silence_run >= self.end_silence_windows:
                    self._state = "idle"
            elif self._silence_run >= self.end_silence_windows:
                event = self._end(forced=False)
            elif self._index - self._start >= self.max_utterance_windows:
                event = self._end(forced=True)
        if self._state == "idle":  # keep only the pre-roll
            excess = len(self._windows) - self.pre_roll_windows
            if excess > 0:
                del self._windows[:excess]
                self._first_window += excess
        return event

    def _end(self, *, forced: bool) -> VadEvent:
        start = max(self._first_window, self._start - self.pre_roll_windows)
        kept = self._windows[start - self._first_window:]
        samples = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)
        event = VadEvent("speech_end", self._t(self._index), self._t(start), self._t(self._index),
                         Audio(samples, VAD_RATE), forced)
        self._state = "idle"
        self._speech_windows = self._silence_run = 0
        return event

