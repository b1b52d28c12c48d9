"""Where the user's speech comes from in ``talk``: 16 kHz blocks from the microphone or from files.

- ``MicInput``: the microphone, echo-cancelled when an ``EchoCanceller`` is given: the speaker's
  callback appends what it plays to ``tap`` (copies only); each block read here first hands those to
  the canceller as its reference, then has the echo taken out. ``Block.raw`` keeps what the
  microphone heard, for the conversation recording.
- ``FileInput``: ``--input`` files (repeatable), one after the other. ``realtime`` paces each at the
  speed it would be spoken, as a microphone would deliver it (the talk loop then takes turns exactly
  as with a microphone: a benchmark's ground truth); without it, a file is read at once.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecli.audio.aec import EchoCanceller, EchoPath
from voicecli.audio.files import read_audio
from voicecli.audio.mic import Microphone
from voicecli.audio.signal import resample

RATE = 16000


@dataclass(frozen=True)
class Block:
    """A block of input: ``samples`` what the endpointer hears, ``raw`` what the input heard, both at
    16 kHz; ``start_s``: its position in the stream (seconds since the input, or the file, started)."""

    samples: np.ndarray
    raw: np.ndarray
    start_s: float
    # with echo cancellation: the microphone frames the canceller took in this read and the reference
    # it paired them with (same length, up to 10 ms behind ``raw``); see ``voicecli.audio.overlap``
    near: np.ndarray | None = None
    far: np.ndarray | None = None

    @property
    def damped(self) -> bool:
        """``samples`` are the echo canceller's output (the speaker plays, an echo path is there), which
        damps a voice over the reply; not the raw microphone."""
        return self.near is not None and self.samples is not self.raw

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / RATE


class MicInput:
    """The microphone as blocks, with the echo of what the speaker plays taken out (when ``aec``).

    The raw microphone is passed on instead when there is no echo to take out: once the speaker has
    been silent for ``echo_tail_s`` (the reply ended, or was held or stopped for the user), and when
    ``EchoPath`` finds no echo path at all (a headset). Measured through the virtual devices with no
    echo path, AEC3 damped the user's speech over a reply by 10-40 dB and went on for over a second
    after the reply stopped, turning "Remind me to call my mother" into "I'm all out boarding".
    """

    LOUD = 1e-4  # a reference block above -80 dBFS (mean square 1e-8) is something the speaker plays

    def __init__(self, mic: Microphone, aec: EchoCanceller | None = None, tap: collections.deque | None = None,
                 echo_tail_s: float = 0.25):
        self.mic, self.aec, self.tap = mic, aec, tap
        self.position = 0  # samples delivered so far
        self.echo_tail = int(echo_tail_s * RATE)
        self._last_loud = -self.echo_tail - 1  # where the speaker last played something (samples)
        self.path = EchoPath(RATE)

    def start(self) -> MicInput:
        self.mic.start()
        return self

    def read(self, timeout: float = 0.1) -> Block | None:
        raw = self.mic.read(timeout=timeout)
        if raw is None or not len(raw):
            return None
        clean, near, far = raw, None, None
        if self.aec is not None:
            played = []
            while self.tap:  # what the speaker played until now: the reference, in order
                samples, rate = self.tap.popleft()
                self.aec.reference(samples, rate)
                played.append(resample(samples, rate, RATE))
                if len(samples) and float(np.mean(np.square(samples))) > self.LOUD ** 2:
                    self._last_loud = self.position
            clean = self.aec.process(raw)  # always: the canceller keeps learning the echo path
            near, far = self.aec.paired
            reference = np.concatenate(played) if played else np.zeros(0, np.float32)
            echo = self.path.add(_fit(reference, len(raw)), raw)
            if not echo or self.position - self._last_loud > self.echo_tail:
                clean = raw
        block = Block(clean, raw, self.position / RATE, near, far)
        self.position += len(raw)
        return block

    def close(self) -> None:
        try:
            self.mic.close()
        except Exception:
            pass


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or padded with silence to ``n`` samples (the reference of one microphone block)."""
    return x[:n] if len(x) >= n else np.concatenate([x, np.zeros(n - len(x), np.float32)])


class FileInput:
    """``--input`` files as blocks; ``check()`` fails before any model loads when one is unreadable."""

    def __init__(self, paths: Sequence[Path], realtime: bool = False, block_ms: float = 32.0):
        self.paths, self.realtime = list(paths), realtime
        self.step = max(1, int(RATE * block_ms / 1000))

    def check(self) -> None:
        for p in self.paths:
            read_audio(p)

    def samples(self, path: Path) -> np.ndarray:
        audio = read_audio(path)
        return resample(audio.samples, audio.rate, RATE)

    def blocks(self, samples: np.ndarray) -> Iterator[Block]:
        """One file's blocks; paced in real time from the first one when ``realtime``."""
        t0 = time.perf_counter()
        for i in range(0, len(samples), self.step):
            if self.realtime:
                time.sleep(max(0.0, t0 + i / RATE - time.perf_counter()))
            chunk = samples[i:i + self.step]
            yield Block(chunk, chunk, i / RATE)
