"""Text chunk → audio: Piper in-process, plus a tone "voice" for fast tests.

Decisions:
- Piper normalises each sentence it synthesises to full scale by default. With sub-sentence chunks
  that would make every chunk equally loud whatever its content (a one-word chunk as loud as a
  sentence), so we turn per-chunk normalisation off and apply one fixed gain instead.
- Chunks that end a sentence get a short pause after them, so sentences do not run into each other
  (Piper adds none between separate calls).
- The first synthesis after loading is about twice as slow (onnxruntime warms up), so ``warm_up()``
  synthesises one short phrase at start-up, before the user is waiting.
- Piper begins every synthesis with 25-60 ms of near silence (the embedded voice: under -70 dBFS
  until the first phoneme). Before the first chunk of a reply that is latency the user hears as
  silence, and between chunks it lengthens the gap, so it is cut (``trim_lead``) to ``LEAD_KEEP_MS``
  before the first sample above ``QUIET``: nothing audible is lost, and no click (the kept lead
  is below -60 dBFS).
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np

from voicecli.errors import ModelMissing, VoicecliError

_SENTENCE_END = re.compile(r"""[.!?。！？…]["'”’)\]]*$""")
QUIET = 10 ** (-60 / 20)  # below this (-60 dBFS) a synthesis has not begun to sound
LEAD_KEEP_MS = 10.0  # kept before the first sample that sounds


def trim_lead(audio: np.ndarray, rate: int, *, keep_ms: float = LEAD_KEEP_MS, quiet: float = QUIET) -> np.ndarray:
    """``audio`` from ``keep_ms`` before its first sample above ``quiet`` (all of it if none is)."""
    loud = np.flatnonzero(np.abs(audio) > quiet)
    if not len(loud):
        return audio
    return audio[max(0, int(loud[0]) - int(rate * keep_ms / 1000.0)):]


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
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            parts = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=self._syn)]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        audio = trim_lead(np.concatenate(parts) * self.gain, self.sample_rate)
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

