"""`voicecli talk`: listen → endpoint → transcribe → answer by voice → listen again.

Where the user's speech comes from:
- ``FileSource``: ``--input FILE.wav`` (repeatable, one turn per file). The file runs through the same
  endpointer as the microphone, block by block; the end of speech is the moment the endpointer
  decides it, so ``endpoint_to_audio_ms`` means the same in both modes.
- ``MicSource``: the microphone, read by a thread that feeds the endpointer and hands finished
  utterances to the main loop. While the assistant speaks, its behaviour depends on ``barge_in``:
  - off (the default: with speakers, the microphone hears the assistant), what the microphone hears
    while the assistant speaks is discarded;
  - on (a headset), speech from the user stops the reply (generation, synthesis and playback) and the
    new utterance becomes the next turn.
  Either way, a transcript that matches what the assistant just said is treated as echo and ignored.

The conversation ends on Ctrl-C, at the end of the input files, or when the user says goodbye.
"""

from __future__ import annotations

import queue
import re
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
from voicecli.text.wer import normalize, wer

GOODBYE = re.compile(r"^\W*(ok(ay)?\W+)?((good\s?bye|bye|see you( later)?|that'?s all|stop listening|exit|quit)\W*)+"
                     r"(\W+(now|for now|thanks?|thank you))*\W*$", re.IGNORECASE)
FAREWELL = "Goodbye."


def is_goodbye(text: str) -> bool:
    return bool(GOODBYE.match(text.strip()))


def is_echo(transcript: str, last_spoken: str, max_wer: float = 0.4) -> bool:
    """Did the microphone just hear the assistant? True when the transcript matches (part of) what it said."""
    heard, said = normalize(transcript), normalize(last_spoken)
    if not heard or not said:
        return False
    if " ".join(heard) in " ".join(said):
        return True
    # compare with the stretch of the reply of the same length that fits best
    n = len(heard)
    best = min(wer(" ".join(said[i:i + n]), " ".join(heard)) for i in range(max(1, len(said) - n + 1)))
    return best <= max_wer


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
        self.speaking = threading.Event()  # set by the main loop while a reply plays
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


def run_talk(conv, stt, source, *, console=None, status=None) -> dict[str, int]:
    """The conversation loop. ``conv`` is a ``session.Conversation``; returns counts for the summary."""
    from voicecli.app.view import print_error
    from voicecli.errors import LLMError

    counts = {"turns": 0, "empty": 0, "echo": 0}
    last_spoken = ""
    mic = source if isinstance(source, MicSource) else None
    for utt in source:
        result = stt.transcribe_result(utt.audio)
        text = result.text.strip()
        if not text:
            counts["empty"] += 1
            if console is not None:
                console.print(f"[dim]({utt.source}: heard nothing I could transcribe)[/]")
            continue
        if last_spoken and is_echo(text, last_spoken):
            counts["echo"] += 1
            if console is not None:
                console.print(f"[dim](ignored my own echo: “{text}”)[/]")
            continue
        if console is not None:
            console.print(f"[bold cyan]you ›[/] {text}")
        stop = threading.Event()
        if mic is not None:
            mic.turn_stop = stop
            mic.speaking.set()
        try:
            if is_goodbye(text):
                conv.turn(text, speech_end=utt.end_t, transcript=text, stt_ms=result.stt_ms, stop=stop,
                          reply=FAREWELL)
                counts["turns"] += 1
                break
            record = conv.turn(text, speech_end=utt.end_t, transcript=text, stt_ms=result.stt_ms, stop=stop)
            last_spoken = record.get("spoken") or ""
            counts["turns"] += 1
        except LLMError as e:  # the conversation goes on
            if console is not None:
                print_error(e, console)
        finally:
            if mic is not None:
                mic.speaking.clear()
                mic.turn_stop = None
    return counts

