"""Audio files: reading any common WAV, writing one atomically, checking an output path up front.

- ``read_audio(path)``: a WAV file (8-48 kHz and more, mono to 32 channels, 8/16/24/32-bit PCM or
  32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE) → mono float32 ``Audio``. Its own small RIFF
  parser, not the stdlib ``wave`` module, because an input file may come from anywhere:

  * only a regular file is opened for reading (opened non-blocking, then checked with ``fstat``):
    ``/dev/zero`` would never end, a FIFO would block forever;
  * the header is read first and the duration it implies is checked against ``MAX_FILE_SECONDS``
    before any sample is read; chunks other than ``fmt``/``data`` are skipped with a seek, and at
    most ``MAX_CHUNKS`` of them;
  * the samples are read in blocks of about 1 MiB and mixed down into one preallocated float32
    array, so the peak memory is the result plus a block (a 30-minute 16 kHz file: ~115 MB);
  * a ``data`` size of 0 or 0xFFFFFFFF (what streaming writers leave when they cannot seek back)
    or larger than the file means "up to the end of the file": such files are read, as is a file
    cut short (what is there is read); a trailing partial frame is dropped;
  * anything else wrong (not RIFF/WAVE, a header cut short, a bad ``fmt`` chunk, 0/40/64-bit
    integer PCM, an unknown encoding, an odd rate or channel count) is one ``AudioError`` with a fix.
    Non-finite float samples are read as silence.
- ``write_wav(path, samples, rate)``: 16-bit PCM mono, written to a temporary file and moved into
  place, so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voicecli.engine.types import Audio
from voicecli.errors import AudioError

MAX_FILE_SECONDS = 30 * 60  # refuse absurdly long inputs before decoding them all
MAX_CHUNKS = 256  # RIFF chunks before the data chunk; real files have a handful
MAX_FMT_BYTES = 1024  # a fmt chunk is 16 to 40 bytes
MAX_CHANNELS = 32
BLOCK_BYTES = 1 << 20  # read and converted at a time
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF)
_REEXPORT = "re-export the recording, or convert it with `sox IN -b 16 OUT.wav`"


@dataclass(frozen=True)
class _Format:
    tag: int  # 1 PCM, 3 IEEE float
    channels: int
    rate: int
    width: int  # bytes per sample
    data_offset: int
    data_bytes: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.width


def _open_regular(path: Path) -> BinaryIO:
    """The file opened for reading, if it is a regular file; else one ``AudioError`` (never blocks)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO with no writer returns instead of waiting
    except (FileNotFoundError, NotADirectoryError):
        raise AudioError(f"no such file: {path}", "check the path") from None
    except IsADirectoryError:
        raise AudioError(f"{path} is a directory, not an audio file", "pass a .wav file") from None
    except OSError as e:
        raise AudioError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise AudioError(f"{path} is a directory, not an audio file", "pass a .wav file")
        raise AudioError(f"{path} is not a regular file (a device or a pipe?)", "pass a .wav file saved on disk")
    return os.fdopen(fd, "rb")


def _damaged(path: Path, what: str) -> AudioError:
    return AudioError(f"{path} is a truncated or damaged WAV file ({what})", _REEXPORT)


def _parse_fmt(path: Path, fmt: bytes) -> tuple[int, int, int, int]:
    """(tag, channels, rate, sample width in bytes) from a ``fmt`` chunk, or an ``AudioError``."""
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real tag is in the sub-format GUID
        if len(fmt) < 26:
            raise _damaged(path, "its extensible fmt chunk is too short")
        tag = struct.unpack("<H", fmt[24:26])[0]
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{path} has an invalid WAV header ({channels} channels)", _REEXPORT)
    if rate < 4000 or rate > 192000:
        raise AudioError(f"{path} has an unusual sample rate ({rate} Hz)", "resample it to 16000 Hz, e.g. with sox")
    if tag == 1 and 1 <= bits <= 32:
        return tag, channels, rate, (bits + 7) // 8
    if tag == 3 and bits in (32, 64):
        return tag, channels, rate, bits // 8
    if tag in (1, 3):
        kind = "integer PCM" if tag == 1 else "float"
        raise AudioError(f"{path} holds {bits}-bit {kind} samples, which voicecli does not read",
                         "convert it to 16-bit PCM, e.g. `sox IN.wav -b 16 OUT.wav`")
    raise AudioError(
        f"{path} uses WAV encoding {tag:#x}, which voicecli does not read",
        "convert it to 16-bit PCM, e.g. `sox IN.wav -b 16 OUT.wav`",
    )


def _read_header(path: Path, f: BinaryIO, size: int) -> _Format:
    """Walk the RIFF chunks up to ``data``, reading only ``fmt`` and seeking over the rest."""
    head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        if len(head) < 12 and b"RIFF".startswith(head[:4]):
            raise _damaged(path, "the header is cut short")
        raise AudioError(f"{path} is not a WAV file", "convert it first, e.g. `sox IN.mp3 -r 16000 OUT.wav`")
    pos, fmt = 12, None
    for _ in range(MAX_CHUNKS):
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8:
            break
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        body = pos + 8
        if cid == b"fmt ":
            if not 16 <= csize <= MAX_FMT_BYTES:
                raise _damaged(path, f"a fmt chunk of {csize} bytes")
            fmt = f.read(csize)
            if len(fmt) < csize:
                raise _damaged(path, "the fmt chunk is cut short")
        elif cid == b"data":
            if fmt is None:
                raise _damaged(path, "no fmt chunk before the data")
            available = size - body
            # 0 / 0xFFFFFFFF: a streaming writer's placeholder; larger than the file: cut short.
            data_bytes = available if csize in _PLACEHOLDER_SIZES or csize > available else csize
            tag, channels, rate, width = _parse_fmt(path, fmt)
            return _Format(tag, channels, rate, width, body, data_bytes)
        pos = body + csize + (csize & 1)
    else:
        raise _damaged(path, f"more than {MAX_CHUNKS} chunks before the data")
    raise _damaged(path, "no fmt chunk" if fmt is None else "no data chunk")


def _decode(raw: bytes, fmt: _Format) -> np.ndarray:
    """Whole frames of ``raw`` as float32, one column per channel."""
    if fmt.tag == 3:
        data = np.frombuffer(raw, dtype="<f4" if fmt.width == 4 else "<f8").astype(np.float32)
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0, copy=False)
    elif fmt.width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif fmt.width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif fmt.width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / float(1 << 23)
    else:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    return data.reshape(-1, fmt.channels)


def _read_samples(f: BinaryIO, fmt: _Format, frames: int) -> np.ndarray:
    """The data chunk mixed down to mono, read a block at a time into one array."""
    out = np.empty(frames, dtype=np.float32)
    per_block = max(1, BLOCK_BYTES // fmt.frame_bytes)
    f.seek(fmt.data_offset)
    done = 0
    while done < frames:
        raw = f.read(min(per_block, frames - done) * fmt.frame_bytes)
        got = len(raw) // fmt.frame_bytes
        if got == 0:  # the file shrank since its size was taken
            break
        block = _decode(raw[: got * fmt.frame_bytes], fmt)
        out[done:done + got] = block[:, 0] if fmt.channels == 1 else block.mean(axis=1)
        done += got
    return out[:done]


def read_audio(path: str | os.PathLike[str]) -> Audio:
    """Read a WAV file as mono float32 at its own rate. Raises ``AudioError`` with a fix for bad input."""
    path = Path(path)
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise AudioError(f"{path} is empty (0 bytes)", "record or export the audio again")
        try:
            fmt = _read_header(path, f, size)
            frames = fmt.data_bytes // fmt.frame_bytes
            if frames / fmt.rate > MAX_FILE_SECONDS:
                raise AudioError(f"{path} is {frames / fmt.rate / 60:.0f} minutes long",
                                 "split it into parts under 30 minutes")
            samples = _read_samples(f, fmt, frames)
        except OSError as e:  # an I/O error mid-file (a failing disk, a network share gone)
            raise AudioError(f"cannot read {path}: {e.strerror or e}", "check the file and the disk") from None
    return Audio(samples, fmt.rate)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, rate: int) -> Path:
    """Write 16-bit PCM atomically: ``samples`` is mono ``(n,)`` or ``(n, channels)``.

    Raises ``AudioError`` when the place is not writable.
    """
    path = Path(path)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    except OSError as e:
        raise AudioError(f"cannot write {path}: {e.strerror}", "choose a writable --output path") from None
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(channels)
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
