"""Piper's output as the user hears it: no lead-in silence before the voice (``voicecli.tts.trim_lead``)."""

from __future__ import annotations

import numpy as np
import pytest

from voicecli.tts import LEAD_KEEP_MS, trim_lead

RATE = 22050


def tone(ms: float, level: float = 0.3) -> np.ndarray:
    return (level * np.sin(np.arange(int(RATE * ms / 1000)) * 0.2 + 1.0)).astype(np.float32)


def test_the_quiet_lead_in_is_cut_to_a_few_milliseconds_before_the_voice():
    lead = (np.random.default_rng(1).standard_normal(int(0.05 * RATE)) * 1e-5).astype(np.float32)  # -100 dBFS
    voice = tone(300)
    out = trim_lead(np.concatenate([lead, voice]), RATE)
    assert len(out) == len(voice) + int(RATE * LEAD_KEEP_MS / 1000)
    np.testing.assert_array_equal(out[-len(voice):], voice)  # the voice itself is untouched


def test_audio_that_sounds_from_its_start_or_never_is_kept_whole():
    voice = tone(100)
    np.testing.assert_array_equal(trim_lead(voice, RATE), voice)
    quiet = np.zeros(1000, np.float32)
    np.testing.assert_array_equal(trim_lead(quiet, RATE), quiet)


@pytest.mark.models
def test_a_piper_chunk_sounds_within_a_few_milliseconds_of_its_start():
    """Measured before the cut: the first sample above -50 dBFS 33-63 ms in (the embedded voice)."""
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require())
    for text in ("A week is approximately", "One hour is equal", "Five.", "Hello!"):
        audio = tts.synthesize(text)
        first = int(np.argmax(np.abs(audio) > 10 ** (-50 / 20)))
        assert first / tts.sample_rate * 1000 <= LEAD_KEEP_MS + 15, text
        assert len(audio) / tts.sample_rate >= 0.3  # the words are all there
