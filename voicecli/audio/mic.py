"""Microphone capture: a sounddevice input stream whose callback only copies blocks into a queue.

Decisions:
- The PortAudio callback runs on a real-time thread. It does the least possible: copy the block
  (PortAudio reuses its buffer) and ``put_nowait`` it on a bounded queue; when the consumer falls
  behind, the block is dropped and counted (``dropped``) rather than blocking the audio thread or
  growing memory. Mixing down, resampling and the level meter happen in ``read()``, on the consumer's
  thread.
- Many USB microphones refuse 16 kHz ("Invalid sample rate"). The stream opens at ``rate`` when the
  device accepts it, else at the device's default rate, and ``read()`` resamples to ``rate`` with a
  streaming soxr resampler (no seams at block boundaries).
- Mono is requested; a device that only offers stereo is opened with two channels and mixed down.
- Latency stays at sounddevice's default ('high'): 'low' gave underruns and garbage audio on the
  PulseAudio virtual devices the end-to-end tests use (facts.md).
"""

from __future__ import annotations

import queue
from types import TracebackType
from typing import Any

import numpy as np

from voicecli.audio import devices as _audio
from voicecli.audio.signal import SILENCE_DB, dbfs
from voicecli.errors import AudioError


def input_device(spec: str | int | None) -> int | None:
    """Resolve ``--input-device`` (index, part of a name, or None for the default).

    With no input device at all, the error says so, lists the devices that do exist, and suggests
    reading the speech from a file instead.
    """
    devices = _audio.list_devices()
    if not any(d.inputs > 0 for d in devices):
        present = "; ".join(f"{d.index}: {d.name} ({d.outputs} out)" for d in devices) or "none at all"
        raise AudioError(
            f"no microphone found: there is no audio input device (devices present: {present})",
            "connect a microphone, or read the speech from a file with --input FILE.wav",
        )
    return _audio.resolve_device(spec, "input")


class Microphone:
    """Mono float32 blocks at ``rate`` Hz from an input device. Use as a context manager.

    ``read(timeout)`` returns the next block (about ``block_ms`` long), or None when none arrived in
    time. ``level()`` is the RMS level (dBFS) of the last block read, for a meter. ``dropped`` counts
    blocks lost because the consumer fell behind, ``overflows`` the blocks PortAudio flagged.
    """

    def __init__(self, device: str | int | None = None, rate: int = 16000, block_ms: float = 30.0, *,
                 max_blocks: int = 200):
        self._sd = _audio.sounddevice()
        self.device = input_device(device)
        self.rate = rate
        self.block_ms = block_ms
        self.device_rate = _audio.supported_rate(self.device, "input", rate)
        self.channels = self._channels()
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=max_blocks)
        self._resampler = None
        if self.device_rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.device_rate, rate, 1, dtype="float32")
        self._stream: Any = None
        self._level = SILENCE_DB
        self.dropped = 0
        self.overflows = 0

    def _channels(self) -> int:
        """1 when the device takes mono at our rate, else its channel count (at most 2, mixed down)."""
        try:
            self._sd.check_input_settings(device=self.device, samplerate=self.device_rate, channels=1,
                                          dtype="float32")
            return 1
        except Exception:
            info = self._sd.query_devices(self.device, "input")
            return max(1, min(2, int(info["max_input_channels"])))

    # --- the real-time side: copy and hand over, nothing else --------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        try:
            self._queue.put_nowait(indata.copy())
        except queue.Full:
            self.dropped += 1

    # --- the consumer side ---------------------------------------------------------------------

    def start(self) -> Microphone:
        if self._stream is not None:
            return self
        try:
            self._stream = self._sd.InputStream(
                samplerate=self.device_rate,
                blocksize=max(1, int(self.device_rate * self.block_ms / 1000)),
                device=self.device,
                channels=self.channels,
                dtype="float32",
                callback=self._callback,
            )
            self._stream.start()
        except Exception as e:  # PortAudioError and friends: one line, with the device named
            self._stream = None
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise AudioError(
                f"cannot open the microphone (device {self.device if self.device is not None else 'default'}, "
                f"{self.device_rate} Hz): {first}",
                "pick another one with --input-device (see `voicecli devices`), or use --input FILE.wav",
            ) from None
        return self

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """The next block as mono float32 at ``rate`` Hz (may be empty while the resampler primes)."""
        try:
            block = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if len(mono):
            self._level = dbfs(mono)
        return mono

    def level(self) -> float:
        return self._level

    def clear(self) -> int:
        """Discard the blocks waiting in the queue (e.g. what was heard while the assistant spoke)."""
        n = 0
        while True:
            try:
                self._queue.get_nowait()
                n += 1
            except queue.Empty:
                return n

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    close = stop

    def __enter__(self) -> Microphone:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
