#!/usr/bin/env python3
"""Echo cancellers compared on real speech through a simulated laptop echo path (issue 13).

The reply is Piper speech (the embedded joe voice, 22.05 kHz); the user is the spoken test set
(tests/data/speech). The "room" is an impulse response: a direct path after ``delay_ms``, scaled by
``gain``, plus an exponentially decaying noise tail (reverberation, ``rt60_ms``), optionally followed by
a soft-clipping "speaker" (tanh). The microphone hears echo + the user + a -70 dBFS noise floor.

Real-time behaviour is simulated on one clock: the output side hands the reference to the canceller
in device-sized chunks (1024 samples at 22.05 kHz) at the moment each chunk starts playing, the
microphone delivers 20 ms blocks when they are complete, and the echo of a sample handed at time t
reaches the microphone at t + delay. Canceller calls happen in that order, as they would live.

Per canceller and echo condition it reports:

- ERLE (dB) in echo-only regions: mic power / output power, before the user speaks (``erle_pre``)
  and after (``erle_post``, which shows whether double talk disturbed the filter); ``first_s``: ERLE
  in the first second of the reply; ``conv_ms``: from the reply's start to the first 100 ms window
  (with echo above -45 dBFS) reduced by at least 10 dB.
- Double talk: correlation of the output with the clean user signal over the user's speech
  (best lag 0-40 ms) next to that of the raw microphone; and the word error rate of voicecli's STT
  (WhisperSTT, tiny.en) on the user's stretch of the output, next to the clean speech and the raw mic.
- Echo only (a whole reply, no user): utterances Silero VAD (voicecli's endpointer) finds in the
  output, and how many of them the STT turns into words (``self_heard``): the assistant hearing itself.
- CPU: ``time.process_time()`` spent in the canceller's calls per second of audio, as % of one core
  (process CPU time, so other processes on a busy machine do not count).

Usage: ``.venv/bin/python scripts/bench_aec.py [--quick] [--only NAME,...] [--json out.json]``
(``make models`` first; the libraries compared are optional imports: a missing one is skipped).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicecli.audio.files import read_audio  # noqa: E402
from voicecli.audio.signal import resample, to_mono  # noqa: E402

RATE = 16000
FRAME = RATE // 100  # 10 ms
MIC_BLOCK = 320  # 20 ms microphone blocks
OUT_BLOCK = 1024  # output device chunk, at the voice's rate
REPLY_TEXT = (
    "The capital of France is Paris. It lies on the river Seine, in the north of the country, "
    "and a little over two million people live in the city itself. It is famous for the Eiffel Tower, "
    "the Louvre museum, and its many small cafes."
)
USERS = sorted(json.loads((ROOT / "tests/data/speech/references.json").read_text()))  # 16 utterances
LEAD_S = 0.5  # silence before the reply
USER_AT_S = 4.0  # the user starts this long after the reply
ECHO_DBFS = -28.0  # echo level at the microphone for gain 1 of the base condition (RMS over speech)
USER_DBFS = -28.0  # the user's speech level at the microphone
NOISE_DBFS = -70.0
BARGE_IN_MS = 300  # in the barge-in trials the reply stops this long after the user starts


# --- the room -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    name: str
    delay_ms: float = 60.0
    gain: float = 1.0  # relative to ECHO_DBFS: 0.5 = -6 dB
    rt60_ms: float = 250.0
    tail_db: float = -6.0  # tail energy relative to the direct path
    clip: float = 0.0  # tanh drive of the speaker's distortion (0: linear)
    hint_ms: float | None = None  # delay told to the canceller (None: the true delay)

    @property
    def hint(self) -> float:
        return self.delay_ms if self.hint_ms is None else self.hint_ms


CONDITIONS = [
    Condition("base (60 ms, RT60 250 ms)"),
    Condition("delay 30 ms", delay_ms=30),
    Condition("delay 90 ms", delay_ms=90),
    Condition("delay 120 ms", delay_ms=120),
    Condition("no tail", rt60_ms=0),
    Condition("reverberant (RT60 600 ms, -3 dB)", rt60_ms=600, tail_db=-3),
    Condition("quiet echo (-10 dB)", gain=0.316),
    Condition("loud echo (+6 dB)", gain=2.0),
    Condition("speaker distortion", clip=3.0),
    Condition("hint 0 (true 60)", hint_ms=0),
    Condition("hint 160 (true 60)", hint_ms=160),
    Condition("delay 250 ms (Bluetooth)", delay_ms=250),
]


def impulse_response(c: Condition, seed: int = 7) -> np.ndarray:
    d = int(c.delay_ms * RATE / 1000)
    if c.rt60_ms <= 0:
        h = np.zeros(d + 1, dtype=np.float64)
        h[d] = 1.0
        return h
    n = int(c.rt60_ms * RATE / 1000)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / (c.rt60_ms / 1000))  # -60 dB at rt60
    tail *= np.sqrt(10 ** (c.tail_db / 10) / np.sum(tail**2))
    h = np.zeros(d + 32 + n, dtype=np.float64)
    h[d] = 1.0
    h[d + 32:] = tail  # the first reflection 2 ms after the direct path
    return h


def active_rms_db(x: np.ndarray) -> float:
    frames = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME)
    p = np.mean(frames.astype(np.float64) ** 2, axis=1)
    loud = p[p > np.max(p) * 1e-3]
    return 10 * np.log10(np.mean(loud))


def echo_of(reply16: np.ndarray, c: Condition, scale: float) -> np.ndarray:
    """The echo the microphone hears (the reply's length + the impulse response's)."""
    x = reply16.astype(np.float64)
    if len(x) == 0:
        return np.zeros(0, np.float32)
    if c.clip:
        x = np.tanh(c.clip * x) / np.tanh(c.clip)
    return (np.convolve(x, impulse_response(c)) * scale * c.gain).astype(np.float32)


# --- cancellers under test: reference(samples, rate) from the output side, process(block) ------------

def to_i16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


class _Framed:
    """Mic blocks of any length → 10 ms frames; the reference as a FIFO of 16 kHz samples."""

    def __init__(self, hint_ms: float):
        self.hint_ms = hint_ms
        self.ref: deque[np.ndarray] = deque()
        self.ref_pending = np.zeros(0, np.float32)
        self.mic_pending = np.zeros(0, np.float32)

    def reference(self, samples: np.ndarray, rate: int) -> None:
        assert rate == RATE
        self.ref_pending = np.concatenate([self.ref_pending, samples.astype(np.float32)])
        while len(self.ref_pending) >= FRAME:
            self.ref.append(self.ref_pending[:FRAME])
            self.ref_pending = self.ref_pending[FRAME:]

    def pop_ref(self) -> np.ndarray:
        return self.ref.popleft() if self.ref else np.zeros(FRAME, np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        data = np.concatenate([self.mic_pending, block.astype(np.float32)])
        n = len(data) // FRAME
        self.mic_pending = data[n * FRAME:]
        if n == 0:
            return np.zeros(0, np.float32)
        return self.frames(data[: n * FRAME].reshape(n, FRAME))

    def frames(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LivekitAPM(_Framed):
    """livekit.rtc.AudioProcessingModule: every reverse frame handed so far, then the capture frames."""

    def __init__(self, hint_ms: float, ns: bool = True):
        super().__init__(hint_ms)
        from livekit import rtc

        self.rtc = rtc
        self.apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=ns,
                                             high_pass_filter=True, auto_gain_control=False)

    def frames(self, frames: np.ndarray) -> np.ndarray:
        rtc = self.rtc
        while self.ref:
            self.apm.process_reverse_stream(rtc.AudioFrame(to_i16(self.ref.popleft()).tobytes(), RATE, 1, FRAME))
        out = []
        for f in frames:
            frame = rtc.AudioFrame(to_i16(f).tobytes(), RATE, 1, FRAME)
            self.apm.set_stream_delay_ms(int(self.hint_ms))
            self.apm.process_stream(frame)
            out.append(np.frombuffer(frame.data, dtype=np.int16))
        return np.concatenate(out).astype(np.float32) / 32768.0


class PyWebrtcAPM(_Framed):
    """pywebrtc_audio.AudioProcessor: near and far of equal length, so one reverse frame per capture frame."""

    def __init__(self, hint_ms: float, ns: bool = True):
        super().__init__(hint_ms)
        from pywebrtc_audio import AudioProcessor

        self.ap = AudioProcessor(sample_rate=RATE, echo_cancellation=True, noise_suppression=ns,
                                 high_pass_filter=True, stream_delay_ms=int(hint_ms))

    def frames(self, frames: np.ndarray) -> np.ndarray:
        far = np.concatenate([self.pop_ref() for _ in frames])
        return self.ap.process(frames.reshape(-1).astype(np.float32), far.astype(np.float32))


class SpeexDSP(_Framed):
    """libspeexdsp (Debian libspeexdsp1) through ctypes: MDF echo canceller + residual echo suppression.

    Speex has no delay estimator, so the reference is delayed by the hint (less 10 ms) and the filter
    covers 300 ms beyond it.
    """

    def __init__(self, hint_ms: float, filter_ms: float = 300.0):
        super().__init__(hint_ms)
        lib = ctypes.CDLL(ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1")
        lib.speex_echo_state_init.restype = ctypes.c_void_p
        lib.speex_preprocess_state_init.restype = ctypes.c_void_p
        vp, i = ctypes.c_void_p, ctypes.c_int
        lib.speex_echo_state_init.argtypes = [i, i]
        lib.speex_preprocess_state_init.argtypes = [i, i]
        lib.speex_echo_cancellation.argtypes = [vp, vp, vp, vp]
        lib.speex_preprocess_run.argtypes = [vp, vp]
        lib.speex_echo_ctl.argtypes = [vp, i, vp]
        lib.speex_preprocess_ctl.argtypes = [vp, i, vp]
        self.lib = lib
        self.st = ctypes.c_void_p(lib.speex_echo_state_init(FRAME, int(filter_ms * RATE / 1000)))
        rate = ctypes.c_int(RATE)
        lib.speex_echo_ctl(self.st, 24, ctypes.byref(rate))  # SPEEX_ECHO_SET_SAMPLING_RATE
        self.pp = ctypes.c_void_p(lib.speex_preprocess_state_init(FRAME, RATE))
        lib.speex_preprocess_ctl(self.pp, 24, self.st)  # SPEEX_PREPROCESS_SET_ECHO_STATE
        for _ in range(max(0, int((hint_ms - 10) / 10))):
            self.ref.append(np.zeros(FRAME, np.float32))

    def frames(self, frames: np.ndarray) -> np.ndarray:
        out = np.zeros(FRAME, np.int16)
        res = []
        for f in frames:
            rec = np.ascontiguousarray(to_i16(f))
            play = np.ascontiguousarray(to_i16(self.pop_ref()))
            self.lib.speex_echo_cancellation(self.st, rec.ctypes.data, play.ctypes.data, out.ctypes.data)
            self.lib.speex_preprocess_run(self.pp, out.ctypes.data)
            res.append(out.copy())
        return np.concatenate(res).astype(np.float32) / 32768.0


class PyAec(SpeexDSP):
    """pyaec (a Rust port of speexdsp's canceller, aec-rs) with its preprocessor, the same delay handling."""

    def __init__(self, hint_ms: float, filter_ms: float = 300.0):
        _Framed.__init__(self, hint_ms)
        import pyaec

        self.aec = pyaec.Aec(FRAME, int(filter_ms * RATE / 1000), RATE, True)
        for _ in range(max(0, int((hint_ms - 10) / 10))):
            self.ref.append(np.zeros(FRAME, np.float32))

    def frames(self, frames: np.ndarray) -> np.ndarray:
        res = [self.aec.cancel_echo(to_i16(f).tolist(), to_i16(self.pop_ref()).tolist()) for f in frames]
        return np.asarray(res, dtype=np.float32).reshape(-1) / 32768.0


class VoiceClean(_Framed):
    """voiceclean's AEC (cross-correlation detection + spectral suppression, numpy only)."""

    def __init__(self, hint_ms: float):
        super().__init__(hint_ms)
        from voiceclean.aec import AEC

        self.aec = AEC(sample_rate=RATE)

    def reference(self, samples: np.ndarray, rate: int) -> None:
        self.aec.feed_reference(to_i16(samples).tobytes())

    def frames(self, frames: np.ndarray) -> np.ndarray:
        out = self.aec.process(to_i16(frames.reshape(-1)).tobytes())
        return np.frombuffer(out, dtype=np.int16).astype(np.float32) / 32768.0  # buffers 40 ms itself


class Voicecli:
    """The shipped stage, voicecli.audio.aec.EchoCanceller, fed the 22.05 kHz reply itself."""

    native_rate = True

    def __init__(self, hint_ms: float):
        from voicecli.audio.aec import EchoCanceller

        self.aec = EchoCanceller(rate=RATE)
        self.aec.set_delay_ms(hint_ms)

    def reference(self, samples: np.ndarray, rate: int) -> None:
        self.aec.reference(samples, rate)

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.aec.process(block)


CANCELLERS = {
    "livekit": lambda h: LivekitAPM(h),
    "livekit-no-ns": lambda h: LivekitAPM(h, ns=False),
    "pywebrtc": lambda h: PyWebrtcAPM(h),
    "pywebrtc-no-ns": lambda h: PyWebrtcAPM(h, ns=False),
    "speexdsp": lambda h: SpeexDSP(h),
    "pyaec": lambda h: PyAec(h),
    "voiceclean": lambda h: VoiceClean(h),
    "voicecli": lambda h: Voicecli(h),
}


# --- one simulated conversation -----------------------------------------------------------------

@dataclass
class Material:
    reply: np.ndarray  # at voice_rate
    voice_rate: int
    reply16: np.ndarray
    echo_scale: float = 1.0  # makes the base condition's echo ECHO_DBFS
    users: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)  # name -> (16 kHz, text)


def cut(x: np.ndarray, rate: int, seconds: float | None) -> np.ndarray:
    """The reply stopped after ``seconds`` (a barge-in), with a 10 ms fade; None: the whole reply."""
    if seconds is None:
        return x
    x = x[: int(seconds * rate)].copy()
    fade = min(len(x), rate // 100)
    if fade:
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return x


def run_stream(make, c: Condition, m: Material, user: np.ndarray | None,
               cut_s: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(mic, output, cpu seconds): the canceller fed in the order a live system would call it.

    ``cut_s``: the reply stops (playback and reference) that long after it started; 0: no reply at all.
    """
    lead = int(LEAD_S * RATE)
    tail = int(1.5 * RATE)
    reply16 = cut(m.reply16, RATE, cut_s)
    echo = echo_of(reply16, c, m.echo_scale)
    n = lead + len(echo_of(m.reply16, c, m.echo_scale)) + tail
    mic = np.zeros(n, np.float32)
    mic[lead:lead + len(echo)] += echo
    if user is not None:
        at = lead + int(USER_AT_S * RATE)
        mic[at:at + len(user)] += user
    mic += np.random.default_rng(3).standard_normal(n).astype(np.float32) * 10 ** (NOISE_DBFS / 20)
    canceller = make(c.hint)
    native = getattr(canceller, "native_rate", False)
    ref, ref_rate = (cut(m.reply, m.voice_rate, cut_s), m.voice_rate) if native else (reply16, RATE)
    block = OUT_BLOCK if native else int(round(OUT_BLOCK * RATE / m.voice_rate))
    ref = np.concatenate([np.zeros(int(LEAD_S * ref_rate), np.float32), ref,
                          np.zeros(n * ref_rate // RATE - int(LEAD_S * ref_rate) - len(ref), np.float32)])
    ref_times = [(i / ref_rate, i) for i in range(0, len(ref), block)]
    out = []
    cpu = 0.0
    r = 0
    for start in range(0, n, MIC_BLOCK):
        now = (start + MIC_BLOCK) / RATE  # the block is delivered when complete
        t0 = time.process_time()
        while r < len(ref_times) and ref_times[r][0] <= now:
            i = ref_times[r][1]
            canceller.reference(ref[i:i + block], ref_rate)
            r += 1
        out.append(canceller.process(mic[start:start + MIC_BLOCK]))
        cpu += time.process_time() - t0
    y = np.concatenate(out)
    y = np.concatenate([y, np.zeros(n - len(y), np.float32)])[:n]
    return mic, y, cpu


def db_ratio(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10((np.sum(a.astype(np.float64) ** 2) + 1e-12) / (np.sum(b.astype(np.float64) ** 2) + 1e-12))


def best_corr(y: np.ndarray, x: np.ndarray, max_lag: int = int(0.04 * RATE)) -> float:
    best = -1.0
    for lag in range(0, max_lag + 1, 8):
        a, b = y[lag:], x[: len(x) - lag]
        best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


def spectrogram(x: np.ndarray, n: int = 512, hop: int = 128) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    mag = np.abs(np.fft.rfft(frames, axis=1))[:, 4:224]  # 125 Hz - 7 kHz
    return np.log10(mag + 1e-4)


def spec_corr(y: np.ndarray, x: np.ndarray, max_lag: int = int(0.04 * RATE)) -> float:
    """Correlation of log-magnitude spectrograms: blind to the phase shifts of a high-pass filter."""
    sx = spectrogram(x)
    best = -1.0
    for lag in range(0, max_lag + 1, 32):
        sy = spectrogram(y[lag:])
        k = min(len(sx), len(sy))
        best = max(best, float(np.corrcoef(sy[:k].ravel(), sx[:k].ravel())[0, 1]))
    return best


def metrics_echo(mic: np.ndarray, y: np.ndarray, c: Condition, m: Material, user_span: tuple[int, int] | None):
    lead = int(LEAD_S * RATE)
    d = int(c.delay_ms * RATE / 1000)
    start, end = lead + d, lead + d + len(m.reply16)
    res = {}
    if user_span:
        us, ue = user_span
        res["erle_pre"] = db_ratio(mic[start:us], y[start:us])
        res["erle_post"] = db_ratio(mic[ue + int(0.3 * RATE):end], y[ue + int(0.3 * RATE):end])
    else:
        res["erle"] = db_ratio(mic[start:end], y[start:end])
    res["first_s"] = db_ratio(mic[start:start + RATE], y[start:start + RATE])
    win = RATE // 10
    res["conv_ms"] = None
    for w in range(start, end - win, win):
        if 10 * np.log10(np.mean(mic[w:w + win] ** 2) + 1e-12) < -45:
            continue
        if db_ratio(mic[w:w + win], y[w:w + win]) >= 10:
            res["conv_ms"] = (w - start) * 1000 / RATE
            break
    res["residual_dbfs"] = active_rms_db(y[start:(user_span[0] if user_span else end)])
    return res


# --- the benchmark -------------------------------------------------------------------------------

def load_material(n_users: int) -> Material:
    from voicecli.tts import PiperTTS

    tts = PiperTTS(ROOT / "models/tts/en_US-joe-medium.onnx")
    reply = tts.synthesize(REPLY_TEXT)
    m = Material(reply=reply, voice_rate=tts.sample_rate, reply16=resample(reply, tts.sample_rate, RATE))
    m.echo_scale = 10 ** ((ECHO_DBFS - active_rms_db(echo_of(m.reply16, CONDITIONS[0], 1.0))) / 20)
    refs = json.loads((ROOT / "tests/data/speech/references.json").read_text())
    for name in USERS[:n_users]:
        a = read_audio(ROOT / "tests/data/speech" / name)
        s = resample(to_mono(a.samples), a.rate, RATE)
        s = s * 10 ** ((USER_DBFS - active_rms_db(s)) / 20)
        m.users[name] = (s.astype(np.float32), refs[name])
    return m


def evaluate(name: str, c: Condition, m: Material, stt, endpointer_factory, with_stt: bool) -> dict:
    from voicecli.engine.types import Audio
    from voicecli.text.wer import wer

    make = CANCELLERS[name]
    row: dict = {"canceller": name, "condition": c.name}
    cpu = 0.0
    seconds = 0.0
    erles, corr_raw, corr_out, wers_out, wers_raw, wers_clean = [], [], [], [], [], []
    spec_raw, spec_out = [], []
    wers_cut_raw, wers_cut_out, wers_alone = [], [], []
    detect: list[float | None] = []
    lead = int(LEAD_S * RATE)
    for user, text in m.users.values():
        mic, y, t = run_stream(make, c, m, user)
        cpu += t
        seconds += len(mic) / RATE
        us = lead + int(USER_AT_S * RATE)
        ue = us + len(user)
        erles.append(metrics_echo(mic, y, c, m, (us, ue)))
        clean = np.zeros_like(mic)
        clean[us:ue] = user
        corr_raw.append(best_corr(mic[us:ue], clean[us:ue]))
        corr_out.append(best_corr(y[us:ue], clean[us:ue]))
        spec_raw.append(spec_corr(mic[us:ue], clean[us:ue]))
        spec_out.append(spec_corr(y[us:ue], clean[us:ue]))
        if with_stt:
            # barge-in detection: the endpointer's first speech_start on the output after the user starts
            ep = endpointer_factory()
            starts = [e.at_s for i in range(0, len(y), 480) for e in ep.feed(y[i:i + 480])
                      if e.kind == "speech_start"]
            late = [t * 1000 - us * 1000 / RATE for t in starts if t * RATE >= us]
            detect.append(late[0] if late and late[0] < 2000 else None)
            a, b = us - int(0.3 * RATE), ue + int(0.5 * RATE)
            wers_out.append(wer(text, stt.transcribe(Audio(y[a:b].copy(), RATE))))
            wers_raw.append(wer(text, stt.transcribe(Audio(mic[a:b].copy(), RATE))))
            wers_clean.append(wer(text, stt.transcribe(Audio(clean[a:b].copy(), RATE))))
            # barge-in: the reply stops BARGE_IN_MS after the user starts (the lead's target is 300 ms)
            mic2, y2, t = run_stream(make, c, m, user, cut_s=USER_AT_S + BARGE_IN_MS / 1000)
            cpu += t
            seconds += len(mic2) / RATE
            wers_cut_raw.append(wer(text, stt.transcribe(Audio(mic2[a:b].copy(), RATE))))
            wers_cut_out.append(wer(text, stt.transcribe(Audio(y2[a:b].copy(), RATE))))
            # the user alone, nothing playing: what the canceller (HPF, NS) does to clean speech
            _, y3, _ = run_stream(make, c, m, user, cut_s=0)
            wers_alone.append(wer(text, stt.transcribe(Audio(y3[a:b].copy(), RATE))))
    for k in ("erle_pre", "erle_post", "first_s", "residual_dbfs"):
        row[k] = round(float(np.median([e[k] for e in erles])), 1)
    convs = [e["conv_ms"] for e in erles]
    row["conv_ms"] = None if any(v is None for v in convs) else round(float(np.median(convs)))
    row["corr_raw"] = round(float(np.mean(corr_raw)), 3)
    row["corr_out"] = round(float(np.mean(corr_out)), 3)
    row["spec_raw"] = round(float(np.mean(spec_raw)), 3)
    row["spec_out"] = round(float(np.mean(spec_out)), 3)
    if with_stt:
        row["wer_clean"] = round(float(np.mean(wers_clean)), 3)
        row["wer_raw"] = round(float(np.mean(wers_raw)), 3)
        row["wer_out"] = round(float(np.mean(wers_out)), 3)
        hits = [d for d in detect if d is not None]
        row["detected"] = f"{len(hits)}/{len(detect)}"
        row["detect_ms"] = round(float(np.median(hits))) if hits else None
        row["wer_alone_out"] = round(float(np.mean(wers_alone)), 3)
        row["wer_bargein_raw"] = round(float(np.mean(wers_cut_raw)), 3)
        row["wer_bargein_out"] = round(float(np.mean(wers_cut_out)), 3)
        # echo only: a whole reply and nobody speaking
        mic, y, t = run_stream(make, c, m, None)
        cpu += t
        seconds += len(mic) / RATE
        for label, sig in (("raw", mic), ("out", y)):
            segs = endpointer_factory().segments(Audio(sig, RATE))
            heard = [s for s in segs if stt.transcribe(s).strip()]
            row[f"vad_{label}"] = len(segs)
            row[f"self_heard_{label}"] = len(heard)
    row["cpu_pct"] = round(100 * cpu / seconds, 2)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="base condition only, 3 user utterances")
    ap.add_argument("--only", default="", help="comma-separated cancellers (default: all importable)")
    ap.add_argument("--conditions", default="", help="comma-separated condition-name prefixes")
    ap.add_argument("--users", type=int, default=0, help="use the first N user utterances (default: all 16)")
    ap.add_argument("--no-stt", action="store_true", help="skip the STT and VAD measures")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)

    names = [n for n in (args.only.split(",") if args.only else CANCELLERS) if n]
    usable = []
    for n in names:
        try:
            CANCELLERS[n](60.0)
            usable.append(n)
        except Exception as e:  # an optional library that is not installed
            print(f"skip {n}: {type(e).__name__}: {e}", file=sys.stderr)
    conds = CONDITIONS[:1] if args.quick else CONDITIONS
    if args.conditions:
        conds = [c for c in CONDITIONS if any(c.name.startswith(p) for p in args.conditions.split(","))]
    m = load_material(args.users or (3 if args.quick else len(USERS)))
    stt = None
    if not args.no_stt:
        from voicecli.stt import WhisperSTT

        stt = WhisperSTT(ROOT / "models/stt/whisper-tiny.en")
        stt.warm_up()
    from voicecli.audio.vad import Endpointer

    print(f"reply {len(m.reply16) / RATE:.1f} s at {m.voice_rate} Hz, {len(m.users)} user utterances, "
          f"echo {ECHO_DBFS} dBFS, user {USER_DBFS} dBFS, noise {NOISE_DBFS} dBFS", flush=True)
    rows = []
    for c in conds:
        for n in usable:
            row = evaluate(n, c, m, stt, Endpointer, with_stt=stt is not None and (c is CONDITIONS[0] or not args.quick))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
