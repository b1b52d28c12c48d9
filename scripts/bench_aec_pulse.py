#!/usr/bin/env python3
"""Echo cancellation through a real (virtual) echo path: PulseAudio's speaker looped into the microphone.

The private PulseAudio server of the tests (tests/pulse.py) gets a loopback from ``speaker.monitor``
into ``mic_feed`` (``latency_msec``, volume 70%), so the microphone hears the speaker as on a laptop.
A Piper reply is played through sounddevice (an OutputStream callback that, exactly as the sink
should, hands every block it writes to ``EchoCanceller.reference``); the microphone is read by a
sounddevice InputStream whose blocks go through ``EchoCanceller.process``. Halfway through, the user's
speech is injected into ``mic_feed`` (pacat), so there is double talk too.

Reported per run: the streams' latencies (what ``set_delay_ms`` is told), the delay AEC3 actually
saw (cross-correlation of the microphone with the reference frames it was paired with), the echo
reduction in echo-only stretches, the residual level, the VAD's utterances in the cleaned echo-only
part, and the user's words transcribed from the cleaned signal.

Usage: ``.venv/bin/python scripts/bench_aec_pulse.py [--runs 3] [--loopback-ms 60]``
(needs pulseaudio, pulseaudio-utils, libasound2-plugins, libportaudio2; ``make models``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pulse import PulseServer  # noqa: E402

RATE = 16000
REPLY = ("The capital of France is Paris. It lies on the river Seine, in the north of the country, "
         "and a little over two million people live in the city itself.")
USER = "timer.wav"


def one_run(server: PulseServer, reply: np.ndarray, voice_rate: int, user: np.ndarray, user_at_s: float,
            stt, wer, refs, barge_in_ms: float | None) -> dict:
    import sounddevice as sd

    from voicecli.audio import aec
    from voicecli.audio.vad import Endpointer
    from voicecli.engine.types import Audio

    canceller = aec.EchoCanceller(rate=RATE)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    real = canceller._processor

    class Recording:  # records what the library is given: the microphone and its paired reference
        def process(self, near, far):
            pairs.append((near.copy(), far.copy()))
            return real.process(near, far)

        def __setattr__(self, name, value):
            setattr(real, name, value)

    canceller._processor = Recording()
    pos = [0]
    done = threading.Event()
    lead = int(0.5 * voice_rate)
    play = np.concatenate([np.zeros(lead, np.float32), reply])

    stopped = threading.Event()

    def out_cb(outdata, frames, time_info, status):
        chunk = play[pos[0]:pos[0] + frames] if not stopped.is_set() else play[:0]
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk):, 0] = 0.0
        pos[0] += frames
        canceller.reference(outdata[:, 0], voice_rate)  # exactly what the device gets
        if pos[0] >= len(play) + voice_rate:
            done.set()

    raw, clean = [], []

    def in_cb(indata, frames, time_info, status):
        block = indata[:, 0].copy()
        raw.append(block)
        clean.append(canceller.process(block))

    out = sd.OutputStream(samplerate=voice_rate, channels=1, dtype="float32", callback=out_cb)
    inp = sd.InputStream(samplerate=RATE, channels=1, dtype="float32", blocksize=int(0.03 * RATE), callback=in_cb)
    delay_hint = (out.latency + inp.latency) * 1000
    canceller.set_delay_ms(delay_hint)
    inp.start()
    time.sleep(0.3)
    out.start()
    time.sleep(user_at_s + 0.5)
    n_at_inject = sum(len(b) for b in raw)
    proc, _ = server.play_into_mic(user)
    if barge_in_ms is not None:  # the assistant stops talking soon after the user starts
        time.sleep(barge_in_ms / 1000)
        stopped.set()
    done.wait(60)
    proc.wait(10)
    time.sleep(0.8)
    out.stop()
    inp.stop()
    out.close()
    inp.close()

    mic = np.concatenate(raw)
    y = np.concatenate(clean)
    mic = mic[: len(y)]
    near = np.concatenate([p[0] for p in pairs])
    far = np.concatenate([p[1] for p in pairs])
    # the delay AEC3 saw: where the paired reference best explains the microphone (echo-only part)
    seg = slice(0, min(len(near), int((0.3 + user_at_s + 0.4) * RATE)))
    a, b = near[seg], far[seg]
    lags = np.arange(0, int(0.4 * RATE), 8)
    corr = [np.dot(a[k:], b[: len(b) - k]) / (np.linalg.norm(a[k:]) * np.linalg.norm(b[: len(b) - k]) + 1e-9)
            for k in lags]
    seen_ms = float(lags[int(np.argmax(corr))] * 1000 / RATE)

    # echo-only: from the echo's start to just before the user's speech reaches the microphone
    # where the user's speech is in the recording: the best match of the cleaned output with it
    env_u = np.convolve(np.abs(user), np.ones(160) / 160, "same")
    cands = range(n_at_inject - RATE // 5, min(len(y) - len(user), n_at_inject + RATE), 16)
    env_y = np.convolve(np.abs(y), np.ones(160) / 160, "same")
    user_idx = max(cands, key=lambda k: float(np.dot(env_y[k:k + len(user)], env_u)))
    echo_start = int((0.3 + 0.5) * RATE + seen_ms * RATE / 1000)
    e = slice(echo_start + RATE // 2, max(echo_start + RATE, user_idx - RATE // 10))

    def p(x):
        return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20)

    segs = Endpointer().segments(Audio(y[: user_idx].copy(), RATE))
    heard_echo = [stt.transcribe(s) for s in segs]
    w = slice(user_idx - RATE // 4, user_idx + len(user) + RATE // 2)
    text_out = stt.transcribe(Audio(y[w].copy(), RATE))
    text_raw = stt.transcribe(Audio(mic[w].copy(), RATE))
    return {
        "barge_in_ms": barge_in_ms, "latency_hint_ms": round(delay_hint, 1), "aec_saw_delay_ms": seen_ms,
        "echo_dbfs": round(p(mic[e]), 1), "residual_dbfs": round(p(y[e]), 1),
        "erle_db": round(p(mic[e]) - p(y[e]), 1),
        "echo_only_vad_utterances": len(segs), "echo_only_transcripts": [t for t in heard_echo if t.strip()],
        "user_out": text_out, "wer_out": round(wer(refs[USER], text_out), 3),
        "user_raw": text_raw, "wer_raw": round(wer(refs[USER], text_raw), 3),
        "dropped_ms": canceller.dropped_ms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--loopback-ms", type=int, default=60)
    ap.add_argument("--volume", default="70%")
    args = ap.parse_args()

    from voicecli.audio.files import read_audio
    from voicecli.audio.signal import resample, to_mono
    from voicecli.stt import WhisperSTT
    from voicecli.text.wer import wer
    from voicecli.tts import PiperTTS

    tts = PiperTTS(ROOT / "models/tts/en_US-joe-medium.onnx")
    reply = tts.synthesize(REPLY)
    a = read_audio(ROOT / "tests/data/speech" / USER)
    user = resample(to_mono(a.samples), a.rate, RATE) * 0.7
    refs = json.loads((ROOT / "tests/data/speech/references.json").read_text())
    stt = WhisperSTT(ROOT / "models/stt/whisper-tiny.en")
    with PulseServer() as server:
        os.environ.update(server.env)
        env = {**os.environ, **server.env}
        subprocess.run(["pactl", "load-module", "module-loopback", "source=speaker.monitor", "sink=mic_feed",
                        f"latency_msec={args.loopback_ms}"], env=env, check=True, capture_output=True)
        subprocess.run(["pactl", "set-sink-volume", "mic_feed", args.volume], env=env, check=True)
        time.sleep(1.0)
        for i in range(args.runs):
            for barge_in in (None, 300.0):
                row = one_run(server, reply, tts.sample_rate, user, 3.0, stt, wer, refs, barge_in)
                print(json.dumps({"run": i + 1, "loopback_ms": args.loopback_ms, **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
