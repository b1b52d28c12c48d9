"""Acoustic echo cancellation for the microphone path: the assistant must not hear itself.

``EchoCanceller`` wraps WebRTC's audio processing module (AEC3 echo canceller with its high-pass
filter) from the ``pywebrtc-audio`` wheel. The output side hands it what it plays (``reference()``),
the microphone side hands it what it records (``process()``) and gets the microphone without the
echo back; the level meter, VAD and STT should all see that cleaned signal.

Why this library and these settings (``scripts/bench_aec.py``, real speech, simulated room):
- WebRTC's AEC3 took the echo down to the microphone's noise floor (~42 dB) from the first second,
  for delays of 30-250 ms, and Silero VAD found no utterance in a whole cleaned reply. Speex's MDF
  canceller (libspeexdsp, or its Rust port ``pyaec``) removed ~7 dB in the first second and ~12 dB
  before the user spoke, and the VAD took the residual echo for an utterance: a self-interruption.
- ``livekit`` ships the same AEC3 with the same echo reduction, but as a 12 MB wheel (30 MB
  installed, plus protobuf, aiofiles and a Tokio runtime of five threads) with a protobuf round
  trip per 10 ms frame. ``pywebrtc-audio`` is a 0.4 MB wheel (numpy only, prebuilt for Linux, macOS
  and Windows, the GIL released while it works) and its transcripts of a barge-in were as good or
  better. It is young (0.2.0), hence the pin.
- Noise suppression is off by default: it lowered the noise floor but not the echo that matters,
  and it raised Whisper's word error rate on the user's speech (in pywebrtc-audio on clean speech
  too: 0.10 -> 0.31 on the spoken test set); Whisper copes with a little noise better than with it.

Timing: how the reference must line up with the microphone
----------------------------------------------------------
AEC3 needs every reference sample *before* the microphone frame that holds its echo, and it finds
the echo's delay itself (a matched filter over a few hundred milliseconds). The library takes one
10 ms reference frame with each 10 ms microphone frame, so this class keeps a FIFO of reference
frames (at the microphone's rate): ``reference()`` appends to it (from the output thread: a lock and
a streaming resampler, no WebRTC call), and ``process()`` pairs each microphone frame with the
oldest reference frame, or with silence when nothing is playing.

With that pairing the delay AEC3 sees is the time from a sample being handed to the output device
to its echo reaching ``process()``: output latency + acoustic path + input latency (+ up to one
microphone block). It must not be negative, which is why the reference goes in as it is handed to
the device and not a moment later, and why the resampler is soxr's zero-latency "QQ" quality (the
"HQ" stream holds back tens of milliseconds: a 30 ms echo path became acausal, 14 dB, not 38 dB).

``set_delay_ms()`` passes a starting estimate of that delay to AEC3. Too low is harmless (0 with a
true 60 ms: 42 dB), too high is not (160 with a true 60 ms: 7 dB in the first second, 13 dB before
the user spoke, 42 dB only later). So the default is 0, and a value should be given only when it is
known not to exceed the real delay. sounddevice's reported latencies over-estimate it: through the
PulseAudio loopback they summed to 95 ms where AEC3 saw 61-90 ms (still 51-56 dB there).

The integration is:
- the speaker's callback calls ``reference(outdata[:, 0], device_rate)`` with exactly what it writes
  to the device, silence included (or nothing while idle: a dry FIFO is paired with silence);
- the microphone loop calls ``process(block)`` on every block before the meter, VAD and STT;
- ``reset()`` when the devices are reopened (the echo path changed).
Do not hand the reference ahead of time (e.g. a whole synthesised sentence when it is queued): it
would be paired with microphone frames recorded before it was played. The FIFO drops what is more
than ``max_backlog_ms`` ahead (counted in ``dropped_ms``).

The backlog is legitimately as long as the microphone side falls behind real time: ``MicInput``
hands over the played blocks when it reads a microphone block, so while the talk loop is busy
(transcribing and scoring words over a reply, warming the end-of-turn scorer after one: 0.4-1.5 s
measured on a busy 2-core machine) both the microphone blocks and the reference wait, and then
arrive together. A 500 ms cap dropped the oldest reference there, the microphone blocks of the
stall were paired with reference played later (or with silence), their echo was not cancelled,
and the talk loop heard it (``scripts/bench_duplex.py --probe``). So the cap is the microphone's own
queue (200 blocks of 30 ms): behind that, the microphone drops blocks too.

A fresh canceller for every reply (``fresh_after_s``)
------------------------------------------------------
One AEC3 instance carried from reply to reply leaked the first ~200 ms of each new reply's echo
after the silence between them (the user's question): -36 dBFS left of a -32 dBFS echo, enough for
the VAD, so the reply held itself and sometimes took its own words for the user's. A new instance at
the same moment cancelled those onsets to -96 dBFS (it starts in AEC3's cautious initial state and
converges within the first syllables). The echo path there is not the same from reply to reply: the
delay AEC3 sees moved by 5-40 ms between replies (the output stream restarted after a barge-in, an
underrun on a busy machine), and in a simulated room a carried-over instance did not follow a path
20 ms shorter after a pause (12 dB of echo reduction) where a new one did (42 dB). With the echo
present, a new instance damps the user's speech over the reply no more than a carried-over one
(-19 to -24 dB either way, 0.5-5 s into the reply). Replayed offline on what the canceller was
given in two talk sessions of ten questions through the virtual devices: 100 ms windows of echo
left above -45 dBFS, 67 of 580 with one instance, 15 of 580 with a fresh one after 1 s of silence
(14 after 0.3-0.5 s). So after ``fresh_after_s`` of a silent reference (longer than the pauses
between a reply's sentences, ~0.4 s), the next sound starts on a new instance; the FIFO is kept.
"""

from __future__ import annotations

import threading
from collections import deque
from importlib.metadata import version

import numpy as np

LIBRARY = "pywebrtc-audio"
FRAME_MS = 10


def available() -> tuple[bool, str]:
    """Whether echo cancellation can run here, and a line saying so (for ``voicecli doctor``)."""
    try:

        import pywebrtc_audio  # noqa: F401

        return True, f"WebRTC AEC3 ({LIBRARY} {version(LIBRARY)})"
    except ImportError as e:
        return False, (f"echo cancellation unavailable: cannot import {LIBRARY} ({e}); "
                       f"install it with `pip install {LIBRARY}`. Until then the microphone is muted "
                       "while the assistant speaks")


class EchoCanceller:
    """WebRTC AEC3 + noise suppression on 16 kHz (``rate``) microphone blocks, with a played reference.

    Thread-safe: ``reference()`` from the output side, ``process()`` from the microphone side.
    Raises ``ImportError`` (with ``available()``'s message) when the library is missing.
    """

    def __init__(self, rate: int = 16000, *, delay_ms: float = 0.0, noise_suppression: bool = False,
                 max_backlog_ms: float = 6000.0, fresh_after_s: float | None = 1.0):
        if rate <= 0 or rate % 100:
            raise ValueError(f"the microphone rate must be a multiple of 100 Hz, not {rate}")
        ok, why = available()
        if not ok:
            raise ImportError(why)
        from pywebrtc_audio import AudioProcessor

        self.rate = rate
        self.frame = rate * FRAME_MS // 1000
        self._make = lambda: AudioProcessor(sample_rate=rate, echo_cancellation=True,
                                            noise_suppression=noise_suppression, high_pass_filter=True)
        self._max_backlog = max(1, int(max_backlog_ms / FRAME_MS))
        self._fresh_after = None if fresh_after_s is None else max(1, int(fresh_after_s * 1000 / FRAME_MS))
        self._silent = 0  # reference frames in a row without sound
        self._heard = False  # the processor has had the speaker's sound since it was made
        self.renewed = 0  # fresh instances made after a silence
        self._ref_lock = threading.Lock()  # the reference FIFO (output thread vs microphone thread)
        self._proc_lock = threading.Lock()  # the processor and the microphone's partial frame
        self._processor = self._make()
        self._delay_ms = 0
        self.set_delay_ms(delay_ms)
        self._mic_pending = np.zeros(0, dtype=np.float32)
        self.paired = (np.zeros(0, np.float32), np.zeros(0, np.float32))  # the last process(): (near, far)
        self._clear()

    def _clear(self) -> None:
        with self._ref_lock:
            self._refs: deque[np.ndarray] = deque()
            self._ref_pending = np.zeros(0, dtype=np.float32)
            self._resampler = None
            self._resampler_rate = 0
            self.dropped_ms = 0  # reference dropped for being too far ahead (a sign of a wrong call site)

    # --- output side ---------------------------------------------------------------------------

    def reference(self, samples: np.ndarray, rate: int) -> None:
        """What was just handed to the output device (mono or (frames, channels), float or int16)."""
        x = np.asarray(samples)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        x = x.astype(np.float32, copy=False).reshape(-1)
        with self._ref_lock:
            if rate != self.rate:
                if self._resampler is None or self._resampler_rate != rate:
                    import soxr

                    self._resampler = soxr.ResampleStream(rate, self.rate, 1, dtype="float32", quality="QQ")
                    self._resampler_rate = rate
                x = self._resampler.resample_chunk(x, last=False)
            data = np.concatenate([self._ref_pending, x])
            n = len(data) // self.frame
            for i in range(n):
                self._refs.append(data[i * self.frame:(i + 1) * self.frame])
            self._ref_pending = data[n * self.frame:].copy()
            excess = len(self._refs) - self._max_backlog
            for _ in range(max(0, excess)):
                self._refs.popleft()
            if excess > 0:
                self.dropped_ms += excess * FRAME_MS

    # --- microphone side -----------------------------------------------------------------------

    def process(self, block: np.ndarray) -> np.ndarray:
        """Cleaned microphone samples (float32) for ``block`` (float32 at ``rate``, any length).

        Works in 10 ms frames: returns every complete frame so far, so up to 10 ms of the input is
        held back until the next call (the output is the input stream, frame by frame, no gaps).
        """
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        with self._proc_lock:
            data = np.concatenate([self._mic_pending, x])
            n = len(data) // self.frame
            self._mic_pending = data[n * self.frame:].copy()
            if n == 0:
                self.paired = (np.zeros(0, np.float32), np.zeros(0, np.float32))
                return np.zeros(0, dtype=np.float32)
            with self._ref_lock:
                refs = [self._refs.popleft() if self._refs else None for _ in range(n)]
            far = np.concatenate([r if r is not None else np.zeros(self.frame, np.float32) for r in refs])
            self._renew_after_silence(far)
            near = np.clip(data[: n * self.frame], -1.0, 1.0)
            self.paired = (near, far)  # what the canceller was given, for ``voicecli.audio.overlap``
            return self._processor.process(near, far)

    SILENT = 1e-8  # mean square of a reference frame below -80 dBFS: the speaker plays nothing

    def _renew_after_silence(self, far: np.ndarray) -> None:
        """A new processor once the reference has been silent ``fresh_after_s`` (see the module docstring)."""
        if self._fresh_after is None:
            return
        power = np.mean(np.square(far.reshape(-1, self.frame)), axis=1)
        for loud in power > self.SILENT:
            if loud:
                self._silent, self._heard = 0, True
                continue
            self._silent += 1
            if self._heard and self._silent >= self._fresh_after:
                self._processor = self._make()
                self._processor.stream_delay_ms = self._delay_ms
                self._heard = False
                self.renewed += 1

    def set_delay_ms(self, ms: float) -> None:
        """The output device's latency + the input device's (a hint: AEC3 estimates the delay itself)."""
        self._delay_ms = max(0, int(round(ms)))
        with self._proc_lock:
            self._processor.stream_delay_ms = self._delay_ms

    @property
    def delay_ms(self) -> int:
        return self._delay_ms

    def reset(self) -> None:
        """Forget the echo path and everything buffered (after the devices were reopened)."""
        with self._proc_lock:
            self._processor = self._make()
            self._processor.stream_delay_ms = self._delay_ms
            self._mic_pending = np.zeros(0, dtype=np.float32)
            self._silent, self._heard = 0, False
            self._clear()


class EchoPath:
    """Is there an echo at all? The share of the microphone that is the speaker's sound, by correlation.

    AEC3 damps everything the microphone hears while the speaker plays, echo or not (measured through
    the virtual devices with no echo path: the noise floor went from -51 to -96 dBFS, the user's
    speech over a reply down by 10-40 dB). With a headset, or a microphone far from the speakers,
    there is nothing to cancel and the damping only costs the user's words. So every ``window_s`` of
    playback, the raw microphone is correlated with what was played (lags 0 to ``max_lag_s``); a peak
    normalised correlation under ``threshold`` ``patience`` times in a row means no echo path: the
    caller passes the raw microphone on. One window over it means an echo path again. It starts by
    assuming an echo (safe on speakers).
    """

    def __init__(self, rate: int = 16000, *, window_s: float = 1.0, max_lag_s: float = 0.5,
                 threshold: float = 0.12, patience: int = 2):
        self.rate, self.threshold, self.patience = rate, threshold, patience
        self.window, self.max_lag = int(window_s * rate), int(max_lag_s * rate)
        self.echo = True
        self.coupling: float | None = None  # the last window's peak correlation
        self._quiet = 0
        self._ref: list[np.ndarray] = []
        self._mic: list[np.ndarray] = []

    def add(self, reference: np.ndarray, mic: np.ndarray) -> bool:
        """The reference and the raw microphone of the same stretch (same rate); returns ``echo``."""
        self._ref.append(np.asarray(reference, np.float32))
        self._mic.append(np.asarray(mic, np.float32))
        if sum(len(m) for m in self._mic) >= self.window + self.max_lag:
            self._judge(np.concatenate(self._ref), np.concatenate(self._mic))
            self._ref, self._mic = [], []
        return self.echo

    def _judge(self, ref: np.ndarray, mic: np.ndarray) -> None:
        n = min(len(ref), len(mic))
        ref, mic = ref[:n], mic[:n]
        if float(np.mean(ref * ref)) < 1e-6:  # the speaker was (nearly) silent: nothing to learn
            return
        size = 1 << int(np.ceil(np.log2(2 * n)))
        corr = np.fft.irfft(np.fft.rfft(mic, size) * np.conj(np.fft.rfft(ref, size)), size)[: self.max_lag]
        norm = float(np.sqrt(np.sum(ref * ref) * np.sum(mic * mic))) or 1.0
        self.coupling = float(np.max(np.abs(corr)) / norm)
        if self.coupling >= self.threshold:
            self.echo, self._quiet = True, 0
        else:
            self._quiet += 1
            self.echo = self._quiet < self.patience
