"""read_audio against files a stranger made: one AudioError line for every bad one, never a hang,
never another exception; streaming writers' placeholder sizes read; memory bounded by the result."""

from __future__ import annotations

import os
import struct
import threading
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecli.audio.files import MAX_FILE_SECONDS, read_audio, write_wav
from voicecli.errors import AudioError

SPEECH = Path(__file__).parent / "data" / "speech"


def riff(tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, data: bytes = b"\x00\x10" * 100,
         data_size: int | None = None, riff_size: int | None = None, fmt_extra: bytes = b"",
         before_data: bytes = b"") -> bytes:
    align = channels * max(1, (bits + 7) // 8)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits) + fmt_extra
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data
            + b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def write(tmp_path: Path, blob: bytes, name: str = "x.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def read_within(path: Path | str, seconds: float = 5.0):
    """read_audio in a thread: (result or exception), failing the test if it does not return in time."""
    box: dict = {}

    def go():
        try:
            box["result"] = read_audio(path)
        except BaseException as e:  # noqa: BLE001 - the caller asserts which
            box["result"] = e

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"read_audio({path}) still running after {seconds} s"
    return box["result"]


# --- not regular files ----------------------------------------------------------------------------


def test_a_device_is_refused_without_reading_it():
    error = read_within("/dev/zero")
    assert isinstance(error, AudioError) and "not a regular file" in error.message


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "in.wav"
    os.mkfifo(fifo)
    error = read_within(fifo)
    assert isinstance(error, AudioError) and "not a regular file" in error.message


def test_a_directory_and_a_missing_file(tmp_path):
    assert "is a directory" in read_within(tmp_path).message
    assert "no such file" in read_within(tmp_path / "nope.wav").message
    assert "no such file" in read_within(tmp_path / "nope" / "x.wav").message


# --- placeholders, long files ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_placeholder_sizes_from_streaming_writers_are_read_to_the_end(tmp_path, size):
    samples = (np.sin(np.arange(1600) / 5.0) * 12000).astype("<i2")
    audio = read_within(write(tmp_path, riff(data=samples.tobytes(), data_size=size, riff_size=size)))
    assert not isinstance(audio, Exception), audio
    assert audio.rate == 16000
    np.testing.assert_allclose(audio.samples, samples / 32768.0, atol=1e-6)


def test_a_file_cut_short_gives_the_samples_that_are_there(tmp_path):
    blob = riff(data=b"\x00\x10" * 100)
    audio = read_within(write(tmp_path, blob[:-51]))  # 74.5 frames: the half frame is dropped
    assert len(audio.samples) == 74 and audio.samples[0] == pytest.approx(0x1000 / 32768)


def test_the_duration_is_checked_before_reading(tmp_path):
    """A 4 GB file (sparse: no disk used) says it is too long at once, reading a few bytes."""
    path = write(tmp_path, riff(data=b"", data_size=0xFFFFFFFF))
    with path.open("r+b") as f:
        f.truncate(4 << 30)
    tracemalloc.start()
    try:
        error = read_within(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, AudioError) and "minutes long" in error.message and "30 minutes" in error.hint
    assert peak < 1 << 20


def test_a_long_file_is_read_in_blocks(tmp_path):
    """Ten minutes of 16 kHz stereo: the peak is the mono result plus about a block, not the file
    several times over (the whole file, its float copy and the mix-down, as on main)."""
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        minute = np.full(16000 * 60 * 2, 3277, dtype="<i2").tobytes()
        for _ in range(10):
            w.writeframes(minute)
    tracemalloc.start()
    try:
        audio = read_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = audio.samples.nbytes
    assert len(audio.samples) == 16000 * 600 and audio.samples[-1] == pytest.approx(0.1, abs=1e-4)
    assert peak < result + (12 << 20), f"peak {peak >> 20} MiB for a {result >> 20} MiB result"


def test_exactly_the_limit_is_allowed_and_one_frame_more_is_not(tmp_path):
    rate = 4000
    limit_bytes = MAX_FILE_SECONDS * rate
    ok = write(tmp_path, riff(rate=rate, bits=8, data=b"\x80" * limit_bytes), "ok.wav")
    assert len(read_audio(ok).samples) == limit_bytes
    over = write(tmp_path, riff(rate=rate, bits=8, data=b"\x80" * (limit_bytes + rate * 60)), "over.wav")
    assert "31 minutes long" in read_within(over).message


# --- bad headers: one line each -------------------------------------------------------------------

BAD = {
    "40-bit PCM": (riff(bits=40, data=b"\0" * 500), "40-bit integer PCM"),
    "0-bit PCM": (riff(bits=0), "0-bit integer PCM"),
    "64-bit PCM": (riff(bits=64, data=b"\0" * 800), "64-bit integer PCM"),
    "16-bit float": (riff(tag=3, bits=16), "16-bit float"),
    "mu-law": (riff(tag=7, bits=8), "encoding 0x7"),
    "header cut short": (riff()[:30], "truncated or damaged"),
    "RIFF only": (b"RIFF", "truncated or damaged"),
    "fmt chunk of 4 bytes": (b"RIFF\x20\0\0\0WAVEfmt \x04\0\0\0\x01\0\x01\0data\x04\0\0\0\0\0\0\0", "fmt chunk of 4"),
    "fmt chunk of 4 GB": (b"RIFF\x20\0\0\0WAVEfmt \xff\xff\xff\xff" + b"\0" * 20, "fmt chunk of 4294967295"),
    "no data chunk": (riff()[:36], "no data chunk"),
    "data before fmt": (b"RIFF\x20\0\0\0WAVEdata\x02\0\0\0\0\0", "no fmt chunk before the data"),
    "extensible fmt too short": (riff(tag=0xFFFE, fmt_extra=b"\0\0"), "extensible"),
    "zero channels": (riff(channels=0), "0 channels"),
    "65535 channels": (riff(channels=65535), "65535 channels"),
    "zero rate": (riff(rate=0), "unusual sample rate"),
    "300 junk chunks before the data": (riff(before_data=b"junk\0\0\0\0" * 300), "more than 256 chunks"),
    "not RIFF": (b"ID3\x03" + b"\0" * 100, "not a WAV file"),
    "text": (b"this is not audio at all\n" * 10, "not a WAV file"),
    "empty": (b"", "empty"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_are_one_audio_error_line(tmp_path, name):
    blob, needle = BAD[name]
    path = write(tmp_path, blob)
    error = read_within(path)
    assert isinstance(error, AudioError), f"{name}: {error!r}"
    assert needle in error.message and str(path) in error.message
    assert error.hint and "\n" not in error.one_line()


def test_every_format_it_reads(tmp_path):
    ramp = np.linspace(-0.5, 0.5, 400)
    cases = {
        "u8": riff(bits=8, data=(ramp * 128 + 128).astype(np.uint8).tobytes()),
        "s16": riff(bits=16, data=(ramp * 32768).astype("<i2").tobytes()),
        "s24": riff(bits=24, data=b"".join(int(v * (1 << 23)).to_bytes(3, "little", signed=True) for v in ramp)),
        "s32": riff(bits=32, data=(ramp * 2**31).astype("<i4").tobytes()),
        "f32": riff(tag=3, bits=32, data=ramp.astype("<f4").tobytes()),
        "f64": riff(tag=3, bits=64, data=ramp.astype("<f8").tobytes()),
        "f32 stereo": riff(tag=3, bits=32, channels=2, data=np.repeat(ramp, 2).astype("<f4").tobytes()),
        "extensible s16": riff(tag=0xFFFE, bits=16, fmt_extra=struct.pack("<HHIH", 22, 16, 4, 1) + b"\0" * 14,
                               data=(ramp * 32768).astype("<i2").tobytes()),
    }
    for name, blob in cases.items():
        audio = read_audio(write(tmp_path, blob, f"{name}.wav"))
        np.testing.assert_allclose(audio.samples, ramp, atol=1 / 120, err_msg=name)


def test_non_finite_float_samples_read_as_silence(tmp_path):
    data = np.array([0.5, np.nan, np.inf, -np.inf, -0.5], dtype="<f4").tobytes()
    audio = read_audio(write(tmp_path, riff(tag=3, bits=32, data=data)))
    assert audio.samples.tolist() == [0.5, 0.0, 0.0, 0.0, -0.5]


def test_the_test_recordings_still_read(tmp_path):
    for path in sorted(SPEECH.glob("*.wav")):
        audio = read_audio(path)
        assert audio.samples.dtype == np.float32 and audio.seconds > 0.5, path.name
    back = read_audio(write_wav(tmp_path / "round.wav", np.full(800, 0.25, dtype=np.float32), 8000))
    assert back.rate == 8000 and back.samples == pytest.approx(np.full(800, 0.25), abs=1e-4)


# --- property: any bytes, any mutation of a header ------------------------------------------------

GOOD = riff(channels=2, data=b"\x01\x02\x03\x04" * 64)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda blob, cut: blob[:cut], st.just(GOOD), st.integers(0, len(GOOD))),
    st.builds(lambda blob, edits: _mutate(blob, edits), st.just(GOOD),
              st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), min_size=1, max_size=6)),
))
def test_any_bytes_read_or_give_one_audio_error(tmp_path, blob):
    path = write(tmp_path, blob, "fuzz.wav")
    try:
        audio = read_audio(path)
    except AudioError as e:
        assert e.message and "\n" not in e.one_line()
        return
    assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()
    assert len(audio.samples) <= len(blob)


def _mutate(blob: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(blob)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out)
