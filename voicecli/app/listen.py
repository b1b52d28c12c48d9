"""Where the user's speech comes from in ``talk``: utterances from files or the microphone.

- ``FileSource``: ``--input FILE.wav`` (repeatable, one turn per file). The file runs through the same
  endpointer as the microphone, block by block; the end of speech is the moment the endpointer
  decides it, so ``endpoint_to_audio_ms`` means the same in both modes.
- ``MicSource``: the microphone, read by a thread that feeds the endpointer and hands finished
  utterances to the talk loop. While the assistant speaks, its behaviour depends on ``barge_in``:
  - off (the default: with speakers, the microphone hears the assistant), what the microphone hears
    while the assistant speaks is discarded;
  - on (a headset), speech from the user stops the reply (generation, synthesis and playback) and the
    new utterance becomes the next turn.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecli.audio.files import read_audio
from voicecli.audio.signal import resample
from voicecli.audio.vad import Endpointer
from voicecli.engine.types import Audio


@dataclass(frozen=True)
class Utterance:
    audio: Audio
    end_t: float  # perf_counter() when the endpointer decided the speech had ended
    source: str


class FileSource:
    """One utterance per file: from the first speech start to the last speech end the endpointer finds."""

    def __init__(self, paths: Sequence[Path], endpointer: Endpointer, block_ms: float = 32.0, realtime: bool = False):
        """``realtime`` feeds each file at the pace it would take to say it, as a microphone would
        (what happens between turns, such as the prompt-cache prefetch, then has the time it has in
        a real conversation)."""
        self.paths, self.endpointer, self.block_ms, self.realtime = list(paths), endpointer, block_ms, realtime
        self.skipped: list[str] = []

    def check(self) -> None:
        """Fail before any model loads when a file is missing or unreadable."""
        for p in self.paths:
            read_audio(p)

    def __iter__(self) -> Iterator[Utterance]:
        ep = self.endpointer
        for path in self.paths:
            audio = read_audio(path)
            samples = resample(audio.samples, audio.rate, ep.rate)
            ep.reset()
            step = max(1, int(ep.rate * self.block_ms / 1000))
            parts: list[np.ndarray] = []
            end_t = None
            t0 = time.perf_counter()
            for i in range(0, len(samples) + step, step):
                if self.realtime:
                    time.sleep(max(0.0, t0 + i / ep.rate - time.perf_counter()))
                events = ep.feed(samples[i:i + step]) if i < len(samples) else ep.flush()
                for ev in events:
                    if ev.kind == "speech_end" and ev.audio is not None:
                        parts.append(ev.audio.samples)
                        end_t = time.perf_counter()
                        if self.realtime:  # as from a microphone: each utterance is a turn, at once
                            yield Utterance(ev.audio, end_t, str(path))
            if not parts or end_t is None:
                self.skipped.append(f"{path}: no speech found")
                continue
            if self.realtime:
                continue
            gap = np.zeros(int(0.2 * ep.rate), dtype=np.float32)
            joined = np.concatenate([x for p in parts for x in (p, gap)][:-1])
            yield Utterance(Audio(joined, ep.rate), end_t, str(path))


class MicSource:
    """Utterances from the microphone, with barge-in detection while the assistant speaks."""

    BARGE_IN_MS = 120.0  # this much continuous speech while the assistant talks stops it

    def __init__(self, mic, endpointer: Endpointer, *, barge_in: bool = False):
        self.mic, self.endpointer, self.barge_in = mic, endpointer, barge_in
        self.utterances: queue.Queue[Utterance] = queue.Queue()
        self.speaking = threading.Event()  # set by the talk loop while a reply plays
        self.turn_stop: threading.Event | None = None  # the current turn's stop event
        self.state = "listening"
        self.closed = threading.Event()
        self.barge_ins = 0
        self._thread = threading.Thread(target=self._run, name="voicecli-mic", daemon=True)

    def start(self) -> MicSource:
        self.mic.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        was_speaking = False
        voiced_ms = 0.0  # continuous speech heard while the assistant speaks
        while not self.closed.is_set():
            block = self.mic.read(timeout=0.1)
            if block is None or not len(block):
                continue
            speaking = self.speaking.is_set()
            if speaking and not self.barge_in:
                was_speaking = True
                continue  # muted while the assistant speaks: its own voice is not the user's
            if was_speaking and not speaking:
                self.endpointer.reset()  # start clean after the reply
                was_speaking = False
            events = self.endpointer.feed(block)
            # Barge-in reacts to the speech probability directly: waiting for the endpointer's
            # speech_start (min_speech_ms, 250 ms) would let the reply run on for too long.
            voiced_ms = voiced_ms + len(block) / 16.0 if self.endpointer.probability >= self.endpointer.threshold else 0.0
            if speaking and voiced_ms >= self.BARGE_IN_MS and self.turn_stop is not None and not self.turn_stop.is_set():
                self.barge_ins += 1
                self.turn_stop.set()  # stop generation, synthesis and playback now
            for ev in events:
                if ev.kind == "speech_start":
                    self.state = "hearing you"
                elif ev.kind == "speech_end" and ev.audio is not None:
                    self.state = "thinking"
                    self.utterances.put(Utterance(ev.audio, time.perf_counter(), "microphone"))

    def speaking_turn(self, stop: threading.Event) -> None:
        """A reply starts: mute (or listen for barge-in, which sets ``stop``)."""
        self.turn_stop = stop
        self.speaking.set()

    def listening(self) -> None:
        """The reply is over: the next utterance is the user's turn."""
        self.speaking.clear()
        self.turn_stop = None

    def level(self) -> float:
        return self.mic.level()

    def __iter__(self) -> Iterator[Utterance]:
        while not self.closed.is_set():
            try:
                utt = self.utterances.get(timeout=0.1)
            except queue.Empty:
                continue
            yield utt
            self.state = "listening"

    def close(self) -> None:
        self.closed.set()
        try:
            self.mic.close()
        except Exception:
            pass
