"""Where the assistant's speech goes (the timing of it is ``voicecli.engine.clock``'s business).

Sinks:
- ``NullSink`` (``--no-audio``): nothing plays.
- ``WavSink`` (``--output FILE.wav``): collects the audio and writes it at ``close()``.
- ``DeviceSink``: one long-lived sounddevice output stream fed from a bounded queue by the
  callback, which only copies samples (silence when the queue is dry, counted). Resamples when the
  device does not take the voice's rate.
- ``TeeSink``: several at once (``--output`` with ``--play``).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import numpy as np

from voicecli.audio.devices import resolve_device, sounddevice, supported_rate
from voicecli.audio.files import write_wav
from voicecli.audio.signal import resample
from voicecli.errors import AudioError


class NullSink:
    """``--no-audio``: plays nothing, instantly (no time passes: the playback clock says what would have)."""

    latency = 0.0  # seconds between handing audio over and it being heard

    def __init__(self, sample_rate: int = 22050):
        self.sample_rate = sample_rate

    def play(self, samples: np.ndarray) -> None:
        pass

    def start(self) -> None: ...
    def drain(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


class WavSink(NullSink):
    """``--output FILE.wav``: everything the assistant said, written when the sink closes.

    ``stop()`` (an interruption) drops nothing already handed over: the file holds what was
    synthesised up to the interruption.
    """

    def __init__(self, path: str | Path, sample_rate: int):
        super().__init__(sample_rate)
        self.path = Path(path)
        self._parts: list[np.ndarray] = []

    def play(self, samples: np.ndarray) -> None:
        self._parts.append(np.asarray(samples, dtype=np.float32))

    @property
    def samples(self) -> np.ndarray:
        return np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        write_wav(self.path, self.samples, self.sample_rate)


class TeeSink:
    def __init__(self, *sinks):
        self.sinks = sinks
        self.sample_rate = sinks[0].sample_rate

    def start(self) -> None:
        for s in self.sinks:
            s.start()

    def play(self, samples: np.ndarray) -> None:
        for s in self.sinks:
            s.play(samples)

    def drain(self) -> None:
        for s in self.sinks:
            s.drain()

    def pause(self) -> None:
        for s in self.sinks:
            s.pause()

    def resume(self) -> None:
        for s in self.sinks:
            s.resume()

    @property
    def latency(self) -> float:
        return max(s.latency for s in self.sinks)

    def stop(self) -> None:
        for s in self.sinks:
            s.stop()

    def close(self) -> None:
        for s in self.sinks:
            s.close()


class DeviceSink:
    """A speaker through sounddevice: one output stream for the whole session.

    ``play`` blocks while more than ``max_queued_s`` of audio is waiting (backpressure); the
    callback copies from a deque of arrays and writes silence when it runs dry while audio is
    expected (``underruns`` counts those callbacks). ``stop`` empties the queue and aborts the
    stream so buffered audio stops at once; the next ``play`` restarts it. ``pause`` keeps the
    queue and plays silence until ``resume`` (a barge-in that may turn out to be nothing).

    ``tap``: when set (echo cancellation), the callback appends ``(a copy of every block it wrote,
    silence included, the device rate)`` to it: the exact reference of what the device plays, in order.
    """

    def __init__(self, sample_rate: int, device: str | int | None = None, max_queued_s: float = 30.0,
                 latency: str | float = "high", tap: collections.deque | None = None):
        sd = sounddevice()
        self.sample_rate = sample_rate  # what callers hand us
        self.device = resolve_device(device, "output")
        self.device_rate = supported_rate(self.device, "output", sample_rate)
        self.max_queued = int(max_queued_s * self.device_rate)
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # position inside the first array of the queue
        self._queued = 0
        self._cond = threading.Condition()
        self._expecting = False
        self._paused = False
        self.tap = tap
        self.underruns = 0
        self.played_samples = 0
        try:
            self._stream = sd.OutputStream(samplerate=self.device_rate, channels=1, dtype="float32",
                                           device=self.device, latency=latency, callback=self._callback)
        except Exception as e:
            raise AudioError(f"cannot open the output device: {e}", "pick another with --output-device, or use --output FILE.wav") from None

    def _callback(self, outdata, frames, time_info, status) -> None:  # audio thread: copy only
        out = outdata[:, 0]
        filled = 0
        with self._cond:
            while filled < frames and self._queue and not self._paused:
                head = self._queue[0]
                take = min(frames - filled, len(head) - self._offset)
                out[filled:filled + take] = head[self._offset:self._offset + take]
                filled += take
                self._offset += take
                if self._offset >= len(head):
                    self._queue.popleft()
                    self._offset = 0
            self._queued -= filled
            self.played_samples += filled
            if filled < frames:
                out[filled:] = 0.0
                if self._expecting and filled == 0 and not self._paused:
                    self.underruns += 1
            self._cond.notify_all()
        if self.tap is not None:
            self.tap.append((out.copy(), self.device_rate))

    def start(self) -> None:
        if not self._stream.active:
            self._stream.start()

    def play(self, samples: np.ndarray) -> None:
        data = resample(np.asarray(samples, dtype=np.float32), self.sample_rate, self.device_rate)
        with self._cond:
            while self._queued > self.max_queued:
                self._cond.wait(0.05)
            self._queue.append(data)
            self._queued += len(data)
            self._expecting = True
        self.start()

    def drain(self) -> None:
        """Wait until the queue has played out, plus the device's own buffer."""
        with self._cond:
            self._expecting = False
            while self._queued > 0 and self._stream.active:
                self._cond.wait(0.05)
        time.sleep(float(self._stream.latency or 0.0))

    @property
    def latency(self) -> float:
        """Seconds between a sample handed to the device and it being heard (PortAudio's estimate)."""
        return float(self._stream.latency or 0.0)

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False

    def stop(self) -> None:
        with self._cond:
            self._queue.clear()
            self._queued = 0
            self._offset = 0
            self._expecting = False
            self._paused = False
            self._cond.notify_all()
        if self._stream.active:
            self._stream.abort()

    def close(self) -> None:
        try:
            self.stop()
            self._stream.close()
        except Exception:
            pass


def make_sink(sample_rate: int, *, output: str | Path | None = None, play: bool | None = None,
              no_audio: bool = False, device: str | int | None = None, tap: collections.deque | None = None):
    """The sink the options ask for: ``--no-audio`` > ``--output`` (+ ``--play``) > the speaker.

    ``tap`` goes to the speaker (the echo canceller's reference).
    """
    if no_audio:
        return NullSink(sample_rate)
    sinks = []
    if output is not None:
        sinks.append(WavSink(output, sample_rate))
    if output is None or play:
        sinks.append(DeviceSink(sample_rate, device, tap=tap))
    return sinks[0] if len(sinks) == 1 else TeeSink(*sinks)
