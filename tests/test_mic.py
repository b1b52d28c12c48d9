"""Microphone capture without hardware: a fake sounddevice module drives the real ``Microphone`` code.

The fake stands in for PortAudio: it lists devices, accepts or refuses sample rates and channel counts
like a real device would, and hands the test the stream's callback so blocks can be "recorded".
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from voicecli.audio import devices as audio
from voicecli.audio.mic import Microphone
from voicecli.audio.signal import dbfs
from voicecli.errors import AudioError


class FakeStream:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.closed = False

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True

    def record(self, block: np.ndarray, status: int = 0) -> None:
        """What PortAudio does: call back with its own buffer, then reuse that buffer."""
        buffer = np.array(block, dtype=np.float32, copy=True)
        self.callback(buffer, len(buffer), None, status)
        buffer[:] = 99.0  # PortAudio overwrites its buffer after the callback returns


class FakeSoundDevice:
    """A device table like ``sounddevice.query_devices()``; ``rates``/``channels`` are what the input accepts."""

    def __init__(self, devices, default_input=0, rates=(16000,), channels=(1, 2), fail_open=None):
        self.devices = devices
        self.default = types.SimpleNamespace(device=(default_input, -1))
        self.rates, self.channels, self.fail_open = rates, channels, fail_open
        self.streams: list[FakeStream] = []

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return self.devices
        return self.devices[self.default.device[0] if device is None else device]

    def check_input_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        if samplerate not in self.rates or channels not in self.channels:
            raise ValueError("Invalid sample rate" if samplerate not in self.rates else "Invalid number of channels")

    def InputStream(self, **kwargs):  # noqa: N802 - the sounddevice name
        if self.fail_open:
            raise RuntimeError(self.fail_open)
        stream = FakeStream(**kwargs)
        self.streams.append(stream)
        return stream


def device(name, inputs, outputs, rate=48000.0):
    return {"name": name, "max_input_channels": inputs, "max_output_channels": outputs, "default_samplerate": rate}


@pytest.fixture
def fake_sd(monkeypatch):
    def install(**kwargs) -> FakeSoundDevice:
        sd = FakeSoundDevice(**kwargs)
        monkeypatch.setattr(audio, "sounddevice", lambda: sd)
        return sd
    return install


def sine(freq, seconds, rate, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_no_input_device_says_so_lists_devices_and_suggests_input_file(monkeypatch):
    sd = audio.sounddevice()  # the real module, with its device query replaced
    monkeypatch.setattr(sd, "query_devices", lambda *a, **k: [device("HDMI speakers", 0, 2)])
    monkeypatch.setattr(sd.default, "device", (-1, 0))
    with pytest.raises(AudioError) as e:
        Microphone()
    line = e.value.one_line()
    assert "no microphone" in line and "HDMI speakers" in line and "--input FILE.wav" in line
    assert "\n" not in line


def test_no_devices_at_all(monkeypatch):
    sd = audio.sounddevice()
    monkeypatch.setattr(sd, "query_devices", lambda *a, **k: [])
    with pytest.raises(AudioError, match="none at all"):
        Microphone()


def test_16k_mono_device_passes_blocks_through_unchanged(fake_sd):
    sd = fake_sd(devices=[device("USB mic", 1, 0, 16000.0)], rates=(16000,), channels=(1,))
    with Microphone(block_ms=30) as mic:
        stream = sd.streams[0]
        assert stream.started
        assert stream.kwargs["samplerate"] == 16000 and stream.kwargs["channels"] == 1
        assert stream.kwargs["blocksize"] == 480
        assert "latency" not in stream.kwargs  # sounddevice's default ('high')
        block = sine(440, 0.03, 16000)[:, None]
        stream.record(block)
        got = mic.read(timeout=1)
        np.testing.assert_array_equal(got, block[:, 0])  # a copy: the buffer's later overwrite is not seen
        assert mic.read(timeout=0.01) is None
    assert not stream.started and stream.closed


def test_48k_stereo_only_device_is_resampled_and_mixed_down(fake_sd):
    sd = fake_sd(devices=[device("Webcam mic", 2, 0, 48000.0)], rates=(44100, 48000), channels=(2,))
    mic = Microphone(rate=16000, block_ms=30).start()
    stream = sd.streams[0]
    assert mic.device_rate == 48000 and mic.channels == 2
    assert stream.kwargs["samplerate"] == 48000 and stream.kwargs["blocksize"] == 1440
    left = sine(440, 2.0, 48000, amp=0.6)
    right = 0.2 * left  # the channels differ: only a mix-down gives (0.6 + 0.12) / 2 = 0.36
    stereo = np.stack([left, right], axis=1)
    for i in range(0, len(stereo), 1440):
        stream.record(stereo[i:i + 1440])
    out = []
    while (block := mic.read(timeout=0.01)) is not None:
        out.append(block)
    mono = np.concatenate(out)
    assert abs(len(mono) - 32000) <= 500  # 2 s at 16 kHz, less what the resampler still holds
    steady = mono[2000:-2000]
    assert np.max(np.abs(steady)) == pytest.approx(0.36, abs=0.02)
    spectrum = np.abs(np.fft.rfft(steady))
    assert np.argmax(spectrum) * 16000 / len(steady) == pytest.approx(440, abs=5)
    assert mic.level() == pytest.approx(dbfs([b for b in out if len(b)][-1]), abs=1e-6)
    assert mic.level() == pytest.approx(20 * np.log10(0.36 / np.sqrt(2)), abs=1.0)
    mic.stop()


def test_slow_consumer_drops_and_counts_blocks(fake_sd):
    sd = fake_sd(devices=[device("mic", 1, 0, 16000.0)])
    mic = Microphone(max_blocks=3).start()
    stream = sd.streams[0]
    for i in range(5):
        stream.record(np.full((480, 1), i / 10, np.float32), status=1 if i == 0 else 0)
    assert mic.dropped == 2 and mic.overflows == 1
    firsts = [float(mic.read(timeout=0.01)[0]) for _ in range(3)]
    assert firsts == pytest.approx([0.0, 0.1, 0.2])  # the oldest blocks were kept, the newest dropped
    assert mic.read(timeout=0.01) is None
    stream.record(np.zeros((480, 1), np.float32))
    assert mic.clear() == 1 and mic.read(timeout=0.01) is None
    mic.stop()


def test_device_selection_by_name_and_bad_name(fake_sd):
    sd = fake_sd(devices=[device("Speakers", 0, 2), device("Blue Yeti", 1, 0, 16000.0)], default_input=1)
    with Microphone(device="yeti"):
        assert sd.streams[0].kwargs["device"] == 1
    with pytest.raises(AudioError, match="no input device matches"):
        Microphone(device="nonexistent")


def test_open_failure_is_one_line(fake_sd):
    fake_sd(devices=[device("mic", 1, 0, 16000.0)], fail_open="Error opening InputStream: Device unavailable [PaErrorCode -9985]\nmore")
    mic = Microphone()
    with pytest.raises(AudioError) as e:
        mic.start()
    line = e.value.one_line()
    assert "Device unavailable" in line and "--input FILE.wav" in line and "\n" not in line


def test_dbfs():
    assert dbfs(np.zeros(10, np.float32)) == -120.0
    assert dbfs(np.zeros(0, np.float32)) == -120.0
    assert dbfs(np.ones(10, np.float32)) == pytest.approx(0.0)
    assert dbfs(sine(1000, 0.1, 16000, amp=0.1)) == pytest.approx(-23.0, abs=0.1)
