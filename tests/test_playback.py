"""The playback clock on constructed timelines, and the sinks' file/null behaviour."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from voicecli.audio.sinks import NullSink, TeeSink, WavSink
from voicecli.engine.clock import PlaybackClock


def test_back_to_back_chunks_have_no_gap():
    clock = PlaybackClock()
    clock.add(ready=1.0, duration=2.0)  # plays 1.0-3.0
    clock.add(ready=2.5, duration=1.0)  # ready while the first plays: starts at 3.0
    assert [s.start for s in clock.slots] == [1.0, 3.0]
    assert clock.underruns == 0 and clock.gap == 0.0
    assert clock.end == 4.0


def test_late_chunk_is_an_underrun_with_its_gap():
    clock = PlaybackClock()
    clock.add(ready=0.0, duration=1.0)
    clock.add(ready=1.5, duration=1.0)  # 0.5 s of silence
    clock.add(ready=2.5, duration=0.5)  # exactly at the end: no gap
    clock.add(ready=4.0, duration=0.1)  # 1.0 s of silence
    assert clock.underruns == 2
    assert clock.gap == pytest.approx(1.5)
    assert clock.longest_gap == pytest.approx(1.0)
    assert [s.start for s in clock.slots] == [0.0, 1.5, 2.5, 4.0]


def test_time_before_first_audio_is_not_a_gap():
    clock = PlaybackClock()
    clock.add(ready=5.0, duration=1.0)
    assert clock.underruns == 0 and clock.gap == 0.0 and clock.first_start == 5.0


def test_started_by_counts_what_was_heard():
    clock = PlaybackClock()
    for ready in (0.0, 0.1, 0.2):
        clock.add(ready, 1.0)  # starts at 0, 1, 2
    assert clock.started_by(-0.1) == 0
    assert clock.started_by(0.5) == 1
    assert clock.started_by(1.0) == 2
    assert clock.started_by(10.0) == 3


def test_wav_sink_writes_what_it_was_given(tmp_path):
    path = tmp_path / "say.wav"
    sink = WavSink(path, 22050)
    tone = (0.5 * np.sin(np.linspace(0, 100, 22050))).astype(np.float32)
    sink.play(tone)
    sink.play(tone[:1000])
    sink.close()
    with wave.open(str(path)) as w:
        assert w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32767.0
    assert len(data) == 23050
    assert np.allclose(data[:22050], tone, atol=1e-3)


def test_tee_sink_feeds_every_sink(tmp_path):
    a, b = WavSink(tmp_path / "a.wav", 8000), WavSink(tmp_path / "b.wav", 8000)
    tee = TeeSink(a, NullSink(8000), b)
    tee.play(np.ones(10, dtype=np.float32) * 0.1)
    tee.close()
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
