"""The spoken turn-taking set's generator: the manifest's timings agree with the audio it wrote.

The end of speech is checked by an independent measure (10 ms frames whose RMS level is above
-55 dBFS), not by the generator's own threshold, and must agree within 20 ms.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voicecli.audio.files import read_audio

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_turn_set.py"
FRAME = 160  # 10 ms at 16 kHz

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing: make test installs it")


def load_generator():
    spec = importlib.util.spec_from_file_location("make_turn_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def speech_frames(samples: np.ndarray, db: float = -55.0) -> np.ndarray:
    """Indices of 10 ms frames louder than ``db`` dBFS (RMS)."""
    n = len(samples) // FRAME
    frames = samples[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return np.flatnonzero(rms > 10 ** (db / 20))


def test_a_paused_utterance_made_on_the_fly_has_exact_timings():
    gen = load_generator()
    samples, rate, entry = gen.make_utterance(["Set a timer for", "ten minutes please."], "en-us", 160, 0.8)
    assert rate == 16000 and samples.dtype == np.float32
    assert entry["kind"] == "paused" and entry["parts"] == ["Set a timer for", "ten minutes please."]
    assert entry["text"] == "Set a timer for ten minutes please."
    assert entry["pause_end_s"] - entry["pause_start_s"] == pytest.approx(0.8, abs=1e-3)
    loud = speech_frames(samples)
    assert abs((loud[-1] + 1) * FRAME / rate - entry["speech_end_s"]) <= 0.020
    assert abs(loud[0] * FRAME / rate - entry["speech_start_s"]) <= 0.020
    # speech on both sides of the pause, digital silence inside it
    start, end = round(entry["pause_start_s"] * rate), round(entry["pause_end_s"] * rate)
    assert not np.any(samples[start:end])
    assert np.max(np.abs(samples[start - FRAME:start])) > 0.005 and np.max(np.abs(samples[end:end + FRAME])) > 0.005
    # silence around it: lead and a tail that leaves an endpointer room to decide
    assert entry["speech_start_s"] == pytest.approx(gen.LEAD_S, abs=1e-3)
    assert entry["duration_s"] - entry["speech_end_s"] == pytest.approx(gen.TAIL_S, abs=1e-3)
    again = gen.make_utterance(["Set a timer for", "ten minutes please."], "en-us", 160, 0.8)[0]
    np.testing.assert_array_equal(samples, again)  # deterministic


def test_a_complete_utterance_has_no_pause():
    gen = load_generator()
    samples, _, entry = gen.make_utterance(["What is two plus two?"], "en-gb", 175)
    assert entry["kind"] == "complete" and entry["pause_start_s"] is None and entry["pause_s"] is None
    assert abs((speech_frames(samples)[-1] + 1) * FRAME / 16000 - entry["speech_end_s"]) <= 0.020
    with pytest.raises(ValueError):
        gen.make_utterance(["", "x"])


def test_the_generated_set_and_its_manifest(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--no-piper"], check=True,
                   capture_output=True, timeout=300)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["files"]
    kinds = [f["kind"] for f in files]
    assert kinds.count("complete") >= 24 and kinds.count("paused") >= 24
    assert len({f["voice"] for f in files}) >= 4 and len({f["rate_wpm"] for f in files}) >= 4
    for f in files:
        path = tmp_path / f["file"]
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        audio = read_audio(path)
        loud = speech_frames(audio.samples)
        assert abs((loud[-1] + 1) * FRAME / 16000 - f["speech_end_s"]) <= 0.020, f["file"]
        assert f["text"].startswith(f["parts"][0])
        if f["kind"] == "paused":
            assert len(f["parts"]) == 2 and 0.5 <= f["pause_s"] <= 1.0
            assert f["pause_end_s"] - f["pause_start_s"] == pytest.approx(f["pause_s"], abs=1e-3)
            inside = audio.samples[round(f["pause_start_s"] * 16000) + 1:round(f["pause_end_s"] * 16000) - 1]
            assert np.max(np.abs(inside)) < 1e-4, f["file"]
