"""Endpointing with Silero VAD: streaming equals batch, boundaries, block-size independence, edge cases.

These use only the Silero model that ships inside faster-whisper (no embedded models needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voicecli.audio.files import read_audio
from voicecli.audio.signal import resample
from voicecli.audio.vad import WINDOW, Endpointer, SileroVAD, VadEvent, has_speech, speech_probabilities
from voicecli.engine.types import Audio

SPEECH = Path(__file__).parent / "data" / "speech"
LEAD_S, TAIL_S = 0.3, 0.5  # the silence make_speech_set.py puts around every utterance
RATE = 16000


def clip(name: str) -> np.ndarray:
    a = read_audio(SPEECH / name)
    return resample(a.samples, a.rate, RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def run(endpointer: Endpointer, samples: np.ndarray, sizes: list[int]) -> list[VadEvent]:
    """Feed ``samples`` in blocks whose sizes cycle through ``sizes``, then flush."""
    events: list[VadEvent] = []
    i = k = 0
    while i < len(samples):
        n = sizes[k % len(sizes)]
        events += endpointer.feed(samples[i:i + n])
        i, k = i + n, k + 1
    return events + endpointer.flush()


def test_streaming_probabilities_equal_the_librarys_batch_run():
    from faster_whisper.vad import get_vad_model

    x = clip("weather_london.wav")
    x = np.pad(x, (0, -len(x) % WINDOW))
    batch = np.asarray(get_vad_model()(x)).reshape(-1)
    vad = SileroVAD()
    windows = x.reshape(-1, WINDOW)
    streamed = np.concatenate([vad.process(windows[i:i + 5]) for i in range(0, len(windows), 5)])
    assert streamed.shape == batch.shape
    np.testing.assert_allclose(streamed, batch, atol=1e-6)
    assert batch.max() > 0.9 and batch[:5].max() < 0.2  # speech in the middle, silence first


@pytest.mark.parametrize("name", ["question.wav", "weather_london.wav", "christmas.wav"])
def test_finds_start_and_end_of_speech_padded_with_silence(name):
    x = clip(name)
    pad = 1.5
    samples = np.concatenate([silence(pad), x, silence(2.0)])
    onset, offset = pad + LEAD_S, pad + len(x) / RATE - TAIL_S  # where the voice really is
    ep = Endpointer(pre_roll_ms=300, end_silence_ms=500, min_speech_ms=250)
    events = run(ep, samples, [480])
    assert [e.kind for e in events] == ["speech_start", "speech_end"]
    start, end = events
    assert start.start_s == pytest.approx(onset - 0.3, abs=0.1)  # pre-roll before the first speech window
    assert onset + 0.2 <= start.at_s <= onset + 0.45  # decided after min_speech_ms of speech
    assert offset <= end.at_s <= offset + 0.5 + 0.2  # end_silence_ms after the voice stops
    assert not end.forced
    utterance = end.audio
    assert utterance is not None and utterance.rate == RATE
    assert utterance.seconds == pytest.approx(end.end_s - end.start_s, abs=1e-6)
    first = int(round(end.start_s * RATE))
    np.testing.assert_array_equal(utterance.samples, samples[first:first + len(utterance.samples)])


def test_block_size_does_not_change_the_segments():
    x = clip("remind_mother.wav")
    samples = np.concatenate([silence(0.7), x, silence(1.0), clip("moon.wav"), silence(0.8)])
    rng = np.random.default_rng(3)
    plans = [[1, 7, 513], [160], [480], [512], [4096], list(rng.integers(1, 3000, size=50))]
    results = [run(Endpointer(), samples, plan) for plan in plans]
    reference = [(e.kind, e.at_s, e.start_s, e.end_s) for e in results[0]]
    assert [k for k, *_ in reference] == ["speech_start", "speech_end"] * 2
    for events in results[1:]:
        assert [(e.kind, e.at_s, e.start_s, e.end_s) for e in events] == reference
        for a, b in zip(events, results[0], strict=True):
            if a.audio is not None:
                np.testing.assert_array_equal(a.audio.samples, b.audio.samples)


def test_a_reused_input_buffer_does_not_corrupt_the_utterance():
    x = clip("moon.wav")
    samples = np.concatenate([silence(0.5), x, silence(1.0)])
    samples = samples[: len(samples) - len(samples) % 1024]
    expected = run(Endpointer(), samples, [1024])
    ep, buffer, events = Endpointer(), np.zeros(1024, np.float32), []
    for i in range(0, len(samples), 1024):
        buffer[:] = samples[i:i + 1024]  # like an audio API handing out the same buffer every time
        events += ep.feed(buffer)
    events += ep.flush()
    assert [e.kind for e in events] == [e.kind for e in expected] == ["speech_start", "speech_end"]
    np.testing.assert_array_equal(events[1].audio.samples, expected[1].audio.samples)


def test_segments_is_the_streaming_path_and_resamples():
    x = clip("tokyo_time.wav")
    samples = np.concatenate([silence(1.0), x, silence(1.0), x, silence(1.0)])
    ep = Endpointer()
    streamed = [e.audio for e in run(ep, samples, [333]) if e.kind == "speech_end"]
    whole = ep.segments(Audio(samples, RATE))
    assert len(whole) == 2
    for a, b in zip(whole, streamed, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
    # the same recording at 48 kHz: resampled on the way in, same utterances within a window or two
    at48 = ep.segments(Audio(resample(samples, RATE, 48000), 48000))
    assert [s.seconds for s in at48] == pytest.approx([s.seconds for s in whole], abs=0.07)


def test_endpointer_at_another_rate_resamples_the_stream():
    x = clip("shopping.wav")
    samples = np.concatenate([silence(1.0), x, silence(1.0)])
    ep16 = run(Endpointer(), samples, [480])
    ep8 = run(Endpointer(rate=8000), resample(samples, RATE, 8000), [240])
    assert [e.kind for e in ep8] == [e.kind for e in ep16] == ["speech_start", "speech_end"]
    assert ep8[1].audio.rate == RATE
    assert ep8[0].start_s == pytest.approx(ep16[0].start_s, abs=0.07)
    assert ep8[1].at_s == pytest.approx(ep16[1].at_s, abs=0.1)


def test_a_short_gap_keeps_one_utterance_and_a_long_gap_splits():
    x = clip("novel.wav")
    voice = x[int(LEAD_S * RATE): len(x) - int(TAIL_S * RATE)]
    short_gap = np.concatenate([silence(0.5), voice, silence(0.2), voice, silence(1.0)])
    long_gap = np.concatenate([silence(0.5), voice, silence(1.5), voice, silence(1.0)])
    assert len(Endpointer(end_silence_ms=500).segments(Audio(short_gap, RATE))) == 1
    assert len(Endpointer(end_silence_ms=500).segments(Audio(long_gap, RATE))) == 2


def test_min_speech_filters_a_short_burst():
    x = clip("weather_london.wav")
    burst = x[int(0.55 * RATE): int(0.71 * RATE)]  # 160 ms of voice
    samples = np.concatenate([silence(1.0), burst, silence(1.5)])
    assert Endpointer(min_speech_ms=250).segments(Audio(samples, RATE)) == []
    assert len(Endpointer(min_speech_ms=32).segments(Audio(samples, RATE))) == 1


def test_silence_and_quiet_noise_give_no_events():
    noise = (np.random.default_rng(0).standard_normal(5 * RATE) * 0.003).astype(np.float32)
    for samples in (silence(5.0), noise):
        ep = Endpointer()
        assert run(ep, samples, [480]) == []
        assert not ep.speaking
        assert not has_speech(samples)


def test_speech_running_into_the_end_of_the_stream_is_flushed():
    x = clip("spanish.wav")
    samples = np.concatenate([silence(1.0), x[: len(x) - int(1.2 * RATE)]])  # cut mid-sentence
    events = run(Endpointer(), samples, [480])
    assert [e.kind for e in events] == ["speech_start", "speech_end"]
    assert events[1].forced
    assert events[1].end_s == pytest.approx(len(samples) / RATE, abs=WINDOW / RATE)


def test_max_utterance_forces_an_end():
    voices = [clip(n) for n in ("remind_mother.wav", "lights.wav", "music.wav")]
    run_on = np.concatenate([v[int(LEAD_S * RATE): len(v) - int(TAIL_S * RATE)] for v in voices])
    ep = Endpointer(max_utterance_s=2.0, end_silence_ms=500)
    ends = [e for e in run(ep, np.concatenate([silence(0.5), run_on, silence(1.0)]), [480]) if e.kind == "speech_end"]
    assert len(ends) >= 2
    assert ends[0].forced
    assert all(e.audio.seconds <= 2.0 + 0.3 + 0.05 for e in ends)  # max + pre-roll


def test_meter_probability_and_level():
    ep = Endpointer()
    ep.feed(silence(0.5))
    assert ep.probability < 0.1
    assert ep.level_db <= -100
    tone = (0.5 * np.sin(2 * np.pi * 300 * np.arange(RATE // 2) / RATE)).astype(np.float32)
    ep.feed(tone)
    assert ep.level_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)
    x = clip("question.wav")
    probs = []
    for i in range(0, len(x), 512):
        ep.feed(x[i:i + 512])
        probs.append(ep.probability)
    assert max(probs) > 0.9


def test_reset_forgets_a_pending_utterance():
    x = clip("recipe.wav")
    ep = Endpointer()
    ep.feed(np.concatenate([silence(0.5), x[: int(1.5 * RATE)]]))
    assert ep.speaking
    ep.reset()
    assert not ep.speaking
    assert ep.flush() == []


def test_probabilities_and_has_speech_on_the_set():
    refs = json.loads((SPEECH / "references.json").read_text())
    for name in refs:
        assert has_speech(clip(name)), name
    assert speech_probabilities(np.zeros(0, np.float32)).shape == (0,)


def test_a_long_signal_is_scored_in_batches_with_the_same_result(monkeypatch):
    """A 30-minute file is scored a batch of windows at a time (memory); the state carries over."""
    from voicecli.audio import vad

    x = np.concatenate([silence(0.7), clip("question.wav"), silence(0.4), clip("recipe.wav")])
    whole = SileroVAD().process(np.pad(x, (0, -len(x) % WINDOW)).reshape(-1, WINDOW))
    monkeypatch.setattr(vad, "BATCH_WINDOWS", 7)
    batched = speech_probabilities(x)
    assert len(batched) == len(whole) > 7 * 10
    np.testing.assert_allclose(batched, whole, atol=1e-4)


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2])
def test_bad_threshold_is_refused(threshold):
    with pytest.raises(ValueError):
        Endpointer(threshold=threshold)
