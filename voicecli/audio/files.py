"""Audio files: reading any common WAV, writing one atomically, checking an output path up front.

- ``read_audio(path)``: any common WAV (8-48 kHz, mono or stereo, 8/16/24/32-bit PCM or float)
  → mono float32 ``Audio``; what the stdlib ``wave`` module cannot read (float WAV, other containers)
  goes through soundfile-free fallbacks: a small RIFF parser for IEEE-float WAV.
- ``write_wav(path, samples, rate)``: 16-bit PCM mono, written to a temporary file and moved into
  place, so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import os
import struct
import tempfile
import wave
from pathlib import Path

import numpy as np

from voicecli.audio.signal import to_mono
from voicecli.engine.types import Audio
from voicecli.errors import AudioError

MAX_FILE_SECONDS = 30 * 60  # refuse absurdly long inputs before decoding them all


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8)
        b = b[: len(b) - len(b) % 3].reshape(-1, 3)
        ints = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{width * 8}-bit samples")
    usable = len(data) - len(data) % channels
    return data[:usable].reshape(-1, channels)


def _read_riff(path: Path, blob: bytes) -> tuple[np.ndarray, int]:
    """A minimal RIFF/WAVE reader for what ``wave`` refuses (IEEE float, WAVE_FORMAT_EXTENSIBLE float)."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise AudioError(f"{path} is not a WAV file", "convert it first, e.g. `sox IN.mp3 -r 16000 OUT.wav`")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(blob):
        cid, size = blob[pos:pos + 4], struct.unpack("<I", blob[pos + 4:pos + 8])[0]
        body = blob[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None or len(fmt) < 16:
        raise AudioError(f"{path} is a truncated or damaged WAV file (no fmt/data chunk)", "re-export the recording")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag is in the sub-format GUID
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels < 1 or rate <= 0:
        raise AudioError(f"{path} has an invalid WAV header", "re-export the recording")
    if tag == 3 and bits in (32, 64):
        arr = np.frombuffer(data[: len(data) - len(data) % (bits // 8)], dtype="<f4" if bits == 32 else "<f8")
        arr = arr.astype(np.float32)
        arr = arr[: len(arr) - len(arr) % channels].reshape(-1, channels)
        return arr, rate
    if tag == 1:
        return _pcm_to_float(data, bits // 8, channels), rate
    raise AudioError(
        f"{path} uses WAV encoding {tag:#x}, which voicecli does not read",
        "convert it to 16-bit PCM, e.g. `sox IN.wav -b 16 OUT.wav`",
    )


def read_audio(path: str | os.PathLike[str]) -> Audio:
    """Read a WAV file as mono float32 at its own rate. Raises ``AudioError`` with a fix for bad input."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"no such file: {path}", "check the path")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file", "pass a .wav file")
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise AudioError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from None
    if not blob:
        raise AudioError(f"{path} is empty (0 bytes)", "record or export the audio again")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if n / max(rate, 1) > MAX_FILE_SECONDS:
                raise AudioError(f"{path} is {n / rate / 60:.0f} minutes long", "split it into parts under 30 minutes")
            frames = _pcm_to_float(w.readframes(n), width, channels)
    except AudioError:
        raise
    except (wave.Error, EOFError, ValueError, struct.error):
        frames, rate = _read_riff(path, blob)
    if rate < 4000 or rate > 192000:
        raise AudioError(f"{path} has an unusual sample rate ({rate} Hz)", "resample it to 16000 Hz, e.g. with sox")
    if len(frames) / rate > MAX_FILE_SECONDS:
        raise AudioError(f"{path} is {len(frames) / rate / 60:.0f} minutes long", "split it into parts under 30 minutes")
    return Audio(to_mono(frames), rate)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, rate: int) -> Path:
    """Write mono 16-bit PCM atomically. Raises ``AudioError`` when the place is not writable."""
    path = Path(path)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    except OSError as e:
        raise AudioError(f"cannot write {path}: {e.strerror}", "choose a writable --output path") from None
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a WAV is an ordinary file
        os.replace(tmp, path)
    except OSError as e:
        raise AudioError(f"cannot write {path}: {e.strerror}", "choose a writable --output path") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_writable(path: str | os.PathLike[str], what: str = "--output") -> Path:
    """Fail early (before any model loads) when a file the program will write cannot be created.

    ``what`` names the option in the message ("--output", "--record", "--log").
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise AudioError(f"{what} {path} is a directory", "give a file name")
    if path.exists() and not path.is_file():
        raise AudioError(f"{what} {path} is not a regular file (a device or a pipe?)", "give a file name")
    if not parent.is_dir():
        raise AudioError(f"cannot write {path}: folder {parent} does not exist", f"create it or choose another {what}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AudioError(f"cannot write {path}: permission denied", f"choose a writable {what} path")
    return path
