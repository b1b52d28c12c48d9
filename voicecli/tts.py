"""Text chunk → audio: Piper in-process, plus a tone "voice" for fast tests.

Decisions:
- Piper normalises each sentence it synthesises to full scale by default. With sub-sentence chunks
  that would make every chunk equally loud whatever its content (a one-word chunk as loud as a
  sentence), so we turn per-chunk normalisation off and apply one fixed gain instead.
- Chunks that end a sentence get a short pause after them (``sentence_pause_ms``), on top of the
  trailing silence kept below.
- The first synthesis after loading is about twice as slow (onnxruntime warms up), so ``warm_up()``
  synthesises one short phrase at start-up, before the user is waiting.
- Piper begins every synthesis with 30-60 ms of near silence (the embedded voice: under -60 dBFS
  until the first phoneme) and ends it with 95-250 ms more, as if each chunk were a whole utterance.
  Before a reply's first chunk the lead is latency the user hears as silence; between chunks lead and
  tail add up to ~170 ms inside a phrase, where a chunk was cut between two words ("A week is
  approximately | 7 days."), ~220 ms at a comma, ~310 ms between sentences (with the sentence
  pause). So each synthesis is cut (``trim``) to ``LEAD_KEEP_MS`` before its first sample above
  ``QUIET`` and to ``TAIL_KEEP_MS`` after its last where the chunk ends on punctuation, or
  ``SEAM_KEEP_MS`` where it was cut between words: ~70, ~160 and ~280 ms. Nothing audible is lost
  (what is cut is under -60 dBFS), and a shorter chunk never makes the next one later: it plays as
  soon as it is ready, or when the silence kept runs out (medians over six chunks of each kind, two
  takes each).
- Except when the user may cut in over an echo canceller (``voicecli talk`` on speakers: ``trim_silence``
  False). There the pauses between chunks are where a voice over the reply gets through the
  canceller whole: AEC3 damps a voice while the reply sounds, and the endpointer hears it in the next
  pause. ``scripts/bench_duplex.py --only barge --barge-repeats 2``, pooled over the runs of one day
  (before the echo's drift was undone in ``voicecli.audio.overlap``, which has lowered both since):
  with the silences kept (four runs), the speaker quiet 267 ms after the user's onset (median) and
  the interrupting words' WER 2.44x that without echo; with them cut (two runs), 365 ms and 4.0x, as
  the reference ran with ~70 ms gaps instead of ~170-310 ms (README, "Full duplex on speakers").
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np

from voicecli.errors import ModelMissing, VoicecliError

_CLOSERS = r"""["'”’)\]]*$"""  # quotes and brackets that may follow the last punctuation mark
_SENTENCE_END = re.compile(r"[.!?。！？…]" + _CLOSERS)
_PUNCTUATED = re.compile(r"[.!?。！？…,;:，；：]" + _CLOSERS)  # a sentence or a clause ends here
QUIET = 10 ** (-60 / 20)  # below this (-60 dBFS) a synthesis is not sounding
LEAD_KEEP_MS = 10.0  # kept before the first sample that sounds
TAIL_KEEP_MS = 150.0  # kept after the last one, where the chunk ends a clause or a sentence
SEAM_KEEP_MS = 60.0  # ... where the chunk was cut between two words


def trim(audio: np.ndarray, rate: int, *, lead_ms: float = LEAD_KEEP_MS, tail_ms: float = TAIL_KEEP_MS,
         quiet: float = QUIET) -> np.ndarray:
    """``audio`` from ``lead_ms`` before its first sample above ``quiet`` to ``tail_ms`` after its last
    (all of it if none is)."""
    loud = np.flatnonzero(np.abs(audio) > quiet)
    if not len(loud):
        return audio
    start = max(0, int(loud[0]) - int(rate * lead_ms / 1000.0))
    return audio[start:int(loud[-1]) + 1 + int(rate * tail_ms / 1000.0)]


class PiperTTS:
    """A Piper voice (``.onnx`` + ``.onnx.json``). Thread-safe: one synthesis at a time."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        gain: float = 0.9,
        length_scale: float | None = None,
        sentence_pause_ms: float = 140.0,
        threads: int | None = None,
        trim_silence: bool = True,
    ):
        model_path = Path(model_path)
        config_path = Path(str(model_path) + ".json")
        if not model_path.is_file():
            raise ModelMissing(f"Piper voice not found: {model_path}", "run `voicecli fetch` or pass --voice PATH.onnx")
        if not config_path.is_file():
            raise ModelMissing(
                f"Piper voice config not found: {config_path}",
                "put the voice's .onnx.json next to the .onnx file",
            )
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig, SynthesisConfig

        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            opts = onnxruntime.SessionOptions()
            if threads:
                opts.intra_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a broken file
            raise VoicecliError(
                f"cannot load the Piper voice {model_path}: {str(e).splitlines()[0][:160]}",
                "check that the file is a Piper .onnx voice and its .onnx.json matches",
            ) from None
        self.voice = PiperVoice(session=session, config=config)
        self.sample_rate: int = config.sample_rate
        self._syn = SynthesisConfig(normalize_audio=False, length_scale=length_scale)
        self.gain = gain
        self.sentence_pause = np.zeros(int(self.sample_rate * sentence_pause_ms / 1000.0), dtype=np.float32)
        self.path = model_path
        self.trim_silence = trim_silence  # Piper's own silences cut (see the module docstring)
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            parts = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=self._syn)]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(parts) * self.gain
        if self.trim_silence:
            audio = trim(audio, self.sample_rate, tail_ms=TAIL_KEEP_MS if _PUNCTUATED.search(text) else SEAM_KEEP_MS)
        np.clip(audio, -1.0, 1.0, out=audio)
        if _SENTENCE_END.search(text):
            audio = np.concatenate([audio, self.sentence_pause])
        return audio.astype(np.float32, copy=False)

    def warm_up(self) -> float:
        """Synthesise a short phrase once; returns the milliseconds it took."""
        t0 = time.perf_counter()
        self.synthesize("Hello.")
        return (time.perf_counter() - t0) * 1000.0


class ToneTTS:
    """A fake voice for tests: a tone whose length is proportional to the text, and a fixed cost.

    ``ms_per_char`` sets how long the audio sounds; ``synth_s_per_char`` how long "synthesis" takes.
    """

    def __init__(self, sample_rate: int = 16000, ms_per_char: float = 60.0, synth_s_per_char: float = 0.0,
                 freq: float = 440.0):
        self.sample_rate = sample_rate
        self.ms_per_char = ms_per_char
        self.synth_s_per_char = synth_s_per_char
        self.freq = freq
        self.calls: list[str] = []

    def warm_up(self) -> None:
        pass

    def synthesize(self, text: str) -> np.ndarray:
        self.calls.append(text)
        if self.synth_s_per_char:
            time.sleep(self.synth_s_per_char * len(text))
        n = int(self.sample_rate * self.ms_per_char * len(text) / 1000.0)
        t = np.arange(n, dtype=np.float32) / self.sample_rate
        return (0.3 * np.sin(2 * np.pi * self.freq * t)).astype(np.float32)

