"""The user's words spoken over the reply, recovered for the transcript: the raw microphone minus a
linear estimate of the echo.

While the reply plays, WebRTC's AEC3 (``voicecli.audio.aec``) takes the echo out of what the endpointer
hears so well that the assistant never hears itself; but its suppressor damps whatever else the
microphone hears with it, and the user's first words over the reply come out 10-40 dB down and
smeared: "Remind me to call my mother" was transcribed "If I meet a call, my mother", "Find me a
simple recipe" "5 million simple recipe". Those first words are what the hold is decided on, and
they begin the user's next turn.

So the talk loop keeps what the canceller was given (``EchoHistory``: each microphone frame with the
reference frame it was paired with, the last ``seconds``), and for an utterance that held the reply it
transcribes ``cleaned()``: the echo path is fitted, by least squares (the Wiener-Hopf equations), on
the stretch from just before the user spoke to now, and its output for the reference is subtracted
from the raw microphone. A linear filter leaves more of the echo than AEC3 (~20-28 dB through the
virtual devices once their clocks' drift is undone, below, against ~50), but it does not touch the
user's voice. Measured offline on what the canceller was given in eight barge-in trials
(``scripts/bench_duplex.py --only barge --keep DIR --probe``; each utterance from 0.15 s before its
true onset): word error rate 0.52 on AEC3's output, 0.45 on the raw microphone with the echo in it,
0.23 with the linear estimate subtracted. In the talk loop (the onset found as below), the barge-in
benchmark's interrupting words went from 0.44 to 0.23 (0.12 with no echo at all).

Where the user started is found on the subtracted signal: Silero on AEC3's output hears the damped
first words 100-800 ms late. Silero also takes what is left of the echo for speech, so a window
counts only when it is 10 dB above that residue (without it, "France" from "... the capital of
France" began "Find me a simple recipe"). The same signal could not tell the assistant to hold
sooner: over the echo alone it crossed that bar several times a reply.

The echo path drifts: the microphone's clock and the speaker's are not the same clock (through the
virtual devices, PulseAudio's loopback adjusts its rate to hold its latency), and the echo falls 2-4
samples further behind the reference every second. A path fitted on 0.6 s took out ~26 dB of the echo inside
that stretch, ~8 dB 0.25 s after it and ~3 dB a second later; fitted across 2 s, ~10 dB everywhere.
So ``cleaned()`` measures the drift first (``clock_drift``: the delay of successive 150 ms blocks of
the reply before the user spoke, by cross-correlation, and a robust line through them) and plays the
reference at the microphone's clock (``warp``, soxr), and the path is fitted only on the 0.6 s before
the user's onset, where the microphone hears nothing but the echo: held out over the next 0.5 s it
took out ~21 dB instead of ~6 (median of 64 barge-in trials kept with ``--probe``). Fitted across the
double talk instead, as before, least squares spends its 1024 taps on the user's voice as well as the
echo's. Replayed offline on those 64 trials, from the loop's own onsets, the interrupting words' error
rate went from 0.216 to 0.125. When the drift cannot be told (too little of the reply played) or is
under ``MIN_DRIFT`` (one clock, as with a laptop's own speaker and microphone), the path is fitted across
the double talk as before.

Before the drift was undone, the path was fitted across the double talk (0.6 s before the onset and
the rest of the utterance) to follow the drift: on 16 barge-in trials that took the interrupting
words' error rate from 0.37-0.39 (fitted before the onset, drifting) to 0.18-0.21; in the loop, with
the hold decided sooner as well (``TurnRules.barge_in_threshold``), the barge-in benchmark's
interrupting words went from 0.23-0.32 to 0.14-0.19 (0.098 with no echo); with the drift undone,
0.111 against 0.082 with no echo, pooled over three runs of ``scripts/bench_duplex.py --only barge
--barge-repeats 2`` (48 trials; the four runs before it: 0.200 against 0.082).

The filter is 1024 taps (64 ms): a room's reverberant tail is longer and stays; on the simulated room
of ``tests/test_aec.py`` (a 250 ms tail 6 dB under the direct echo) the words were transcribed as well as from AEC3's output (0-0.25 word error rate on four utterances).
"""

from __future__ import annotations

import numpy as np

from voicecli.audio.vad import WINDOW, speech_probabilities

RATE = 16000


class EchoHistory:
    """The last ``seconds`` of (microphone, reference) as the canceller paired them, on one position
    scale: sample ``i`` of the stream is at ``start_s + i / RATE`` (the talk loop's timeline)."""

    LEAD_MS = 150.0  # what ``cleaned()`` keeps before the onset it finds

    def __init__(self, seconds: float = 30.0):
        self.capacity = int(seconds * RATE)
        self._mic: list[np.ndarray] = []
        self._ref: list[np.ndarray] = []
        self._held = 0  # samples in the lists
        self.end_s: float | None = None  # the timeline position just after the last sample

    def add(self, mic: np.ndarray, ref: np.ndarray, end_s: float) -> None:
        """Frames the canceller processed (``mic`` and ``ref``, the same length), ending at ``end_s``."""
        if not len(mic):
            return
        self._mic.append(np.asarray(mic, np.float32))
        self._ref.append(np.asarray(ref, np.float32))
        self._held += len(mic)
        self.end_s = end_s
        while self._held - len(self._mic[0]) >= self.capacity:
            self._held -= len(self._mic.pop(0))
            self._ref.pop(0)

    def span(self, from_s: float, to_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(microphone, reference) from ``from_s`` to ``to_s`` (clipped to what is kept)."""
        if self.end_s is None or not self._mic:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        if len(self._mic) > 1:  # one array each from now on: spans are cut from it
            self._mic, self._ref = [np.concatenate(self._mic)], [np.concatenate(self._ref)]
        mic, ref = self._mic[0], self._ref[0]
        start_s = self.end_s - len(mic) / RATE
        a = int(round((from_s - start_s) * RATE))
        b = int(round((to_s - start_s) * RATE))
        a, b = max(0, a), min(len(mic), b)
        return (mic[a:b], ref[a:b]) if b > a else (np.zeros(0, np.float32), np.zeros(0, np.float32))

    def cleaned(self, onset_s: float, to_s: float, *, fit_s: float = 0.6, lead_s: float = LEAD_MS / 1000,
                look_back_s: float = 1.2) -> np.ndarray | None:
        """The microphone from the user's onset to ``to_s`` with the reply's linear echo subtracted.

        ``onset_s``: where the voice that held the reply was first heard (the endpointer's estimate, on
        AEC3's damped output, so late). A first path fitted on the ``fit_s`` before ``look_back_s``
        earlier finds where the user's speech really starts (Silero on the subtracted signal: the
        speech that runs up to ``onset_s``); the path used is fitted on the ``fit_s`` before that, with
        the reference at the microphone's clock (``clock_drift``, ``warp``; when the drift cannot be
        told, from there to ``to_s``), and the audio starts ``lead_s`` before it. When the reply was
        silent over that first stretch (it had only just begun, or a chunk was late), the first path is
        fitted on everything before the onset; when it was silent throughout, there is no echo to take
        out and the microphone is returned as it was heard (AEC3's output would still damp it). None
        when too little is kept.
        """
        fit_n, back_n, lead_n = int(fit_s * RATE), int(look_back_s * RATE), int(lead_s * RATE)
        before = fit_n + lead_n + back_n  # the samples before the onset
        mic, ref = self.span(onset_s - look_back_s - fit_s - lead_s, to_s)
        if len(mic) < before:
            return None
        drift = clock_drift(mic[:before], ref[:before])
        drifts = drift is not None and abs(drift) >= MIN_DRIFT
        if drifts:
            ref = warp(ref, drift)
        first = _less_echo(mic, ref, fit_n if _playing(ref[:fit_n]) else before)
        look = slice(fit_n + lead_n, before)
        floor = float(np.mean(np.square(first[:fit_n])))  # what the first path leaves of the echo
        start = look.start + _speech_start(first[look], floor) - lead_n  # the utterance, with its lead
        # drift known: the path from just before the user spoke holds; else follow it across the double talk
        ahead = drifts and _playing(ref[start - fit_n:start])
        fit = fit_n if ahead else len(mic) - start + fit_n
        return _less_echo(mic[start - fit_n:], ref[start - fit_n:], fit)[fit_n:]


MIN_DRIFT = 5e-5  # 0.8 samples a second: below it the reference is left as it is (see cleaned())


def clock_drift(mic: np.ndarray, ref: np.ndarray, *, block: int = 2400, step: int = 1600,
                max_lag: int = 8000, most: float = 1e-3) -> float | None:
    """How fast the echo's delay grows: samples of delay gained per sample of time (``+3e-4``: the echo
    falls 0.3 ms further behind the reference every second), or None when it cannot be told (too little
    of the reply played). The delay of each ``block`` (every ``step`` samples, up to ``max_lag``) is the
    peak of its cross-correlation with the reference, refined between samples; a line is fitted through
    them, twice, dropping the blocks more than three median deviations off it (a quiet block, a pause of
    the reply, locks onto the wrong peak). A drift beyond ``most`` is not a clock: None."""
    times, delays = [], []
    size = 1 << int(np.ceil(np.log2(max_lag + 2 * block)))
    for s in range(max_lag, len(mic) - block + 1, step):
        window = ref[s - max_lag:s + block]
        if float(np.mean(np.square(ref[s:s + block]))) < 1e-5:  # under -50 dBFS: too quiet to lock on
            continue
        corr = np.abs(_correlation(window, mic[s:s + block], size, max_lag + 1))
        i = int(np.argmax(corr))
        if 0 < i < max_lag:
            y0, y1, y2 = corr[i - 1:i + 2]
            bend = y0 - 2 * y1 + y2
            i = i + (0.5 * (y0 - y2) / bend if bend else 0.0)
        times.append(s)
        delays.append(max_lag - i)
    t, d = np.array(times, np.float64), np.array(delays, np.float64)
    keep = np.abs(d - np.median(d)) < 40 if len(d) else d.astype(bool)
    for _ in range(2):
        t, d = t[keep], d[keep]
        if len(t) < 4:
            return None
        slope, at = np.polyfit(t, d, 1)
        off = np.abs(d - (slope * t + at))
        keep = off <= max(1.0, 3 * float(np.median(off)))
    slope = float(np.polyfit(t[keep], d[keep], 1)[0]) if keep.sum() >= 4 else float(slope)
    return slope if abs(slope) <= most else None


def warp(ref: np.ndarray, drift: float) -> np.ndarray:
    """``ref`` as the microphone's clock heard it, for an echo whose delay grows by ``drift`` samples per
    sample (``clock_drift``): sample ``n`` is the reference at ``n * (1 - drift)``, the same length."""
    if abs(drift) * len(ref) < 0.05:  # under a twentieth of a sample over the span: nothing to undo
        return ref
    import soxr

    out = soxr.resample(ref.astype(np.float32), 1.0, 1.0 / (1.0 - drift))[: len(ref)]
    return np.pad(out, (0, len(ref) - len(out))).astype(np.float32)


def _playing(ref: np.ndarray) -> bool:
    return float(np.mean(np.square(ref))) >= 1e-8 if len(ref) else False


def _less_echo(mic: np.ndarray, ref: np.ndarray, fit_n: int) -> np.ndarray:
    """``mic`` less the echo of ``ref`` through the path fitted on their first ``fit_n`` samples; ``mic``
    itself when the reference is silent there (nothing played: no echo to take out)."""
    if not _playing(ref[:fit_n]):
        return mic.astype(np.float32)
    h, offset = fit_path(mic[:fit_n], ref[:fit_n], taps=min(1024, fit_n // 4))
    return (mic - echo_of(ref, h, offset)).astype(np.float32)


def _speech_start(x: np.ndarray, floor: float, threshold: float = 0.5, above_db: float = 10.0,
                  gap_windows: int = 5) -> int:
    """Where the speech that runs to the end of ``x`` starts (samples), across gaps between words of
    up to ``gap_windows`` (160 ms); ``len(x)`` if none does. A window is speech when Silero says so and
    it is ``above_db`` over ``floor`` (the power of what is left of the echo: Silero takes that for
    speech too, "France" from "... the capital of France" before the user's "Find me a recipe")."""
    probs = speech_probabilities(x)
    windows = np.pad(x, (0, len(probs) * WINDOW - len(x))).reshape(-1, WINDOW)
    loud = np.mean(np.square(windows), axis=1) >= floor * 10 ** (above_db / 10)
    speech = (probs >= threshold) & loud
    start, gap = len(probs), 0
    for i in range(len(probs) - 1, -1, -1):
        if speech[i]:
            start, gap = i, 0
        elif start < len(probs) or i < len(probs) - gap_windows:  # inside the run, or no speech near the end
            gap += 1
            if gap > gap_windows:
                break
    return start * WINDOW if start < len(probs) else len(x)


def fit_path(mic: np.ndarray, ref: np.ndarray, *, taps: int = 1024, pre: int = 32, max_lag_s: float = 0.5,
             loading: float = 1e-3) -> tuple[np.ndarray, int]:
    """The echo path from ``ref`` to ``mic``: an FIR filter ``h`` and a delay ``offset`` (samples) such
    that ``mic[t] ≈ sum_k h[k] ref[t - offset - k]``. The delay is the cross-correlation's peak less
    ``pre`` samples (room for the path's start); ``h`` solves the normal equations with diagonal
    ``loading`` against an ill-conditioned reference (speech has little energy above 4 kHz)."""
    x = mic.astype(np.float64)
    r = ref.astype(np.float64)
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = _correlation(x, r, size, int(max_lag_s * RATE))
    offset = max(0, int(np.argmax(np.abs(corr))) - pre)
    shifted = np.concatenate([np.zeros(offset), r])[:n]
    spectrum = np.fft.rfft(shifted, size)
    auto = np.fft.irfft(spectrum * np.conj(spectrum), size)[:taps]
    cross = np.fft.irfft(np.fft.rfft(x, size) * np.conj(spectrum), size)[:taps]
    index = np.abs(np.arange(taps)[:, None] - np.arange(taps)[None, :])
    system = auto[index] + loading * max(auto[0], 1e-12) * np.eye(taps)
    return np.linalg.solve(system, cross), offset


def _correlation(x: np.ndarray, r: np.ndarray, size: int, n: int) -> np.ndarray:
    """``c[d] = sum_t x[t + d] r[t]`` for ``d`` in ``[0, n)``, by FFTs of ``size`` (no wrap-around when
    ``size`` >= ``len(x) + len(r)``): where ``r`` is found in ``x``, ``d`` samples later."""
    return np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(r, size)), size)[:n]


def echo_of(ref: np.ndarray, h: np.ndarray, offset: int) -> np.ndarray:
    """The echo ``fit_path``'s filter predicts for ``ref`` (same length)."""
    shifted = np.concatenate([np.zeros(offset), ref.astype(np.float64)])[: len(ref)]
    size = 1 << int(np.ceil(np.log2(len(shifted) + len(h))))
    return np.fft.irfft(np.fft.rfft(shifted, size) * np.fft.rfft(h, size), size)[: len(shifted)]
