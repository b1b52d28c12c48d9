#!/usr/bin/env python3
"""Full duplex on laptop speakers (issue 13), measured through the virtual devices with a real echo path.

A private PulseAudio server (``tests/pulse.py``) whose microphone hears its speaker (``module-loopback``
from the speaker's monitor into the microphone feed, 60 ms, 70%: ``PulseServer.echo_path()``), and the
real ``voicecli talk`` with its defaults (echo cancellation on, so barge-in on) as a subprocess, with
``--llm replay:TRACE`` so every reply is a known text at a live model's pace. Scenarios:

1. ``echo``: questions, each reply played to its end with its echo in the microphone. Counted: the
   replies interrupted or cut (``interrupted``, or ``spoken`` short of ``response``), the turns the
   user did not start (more records than questions), and the holds (the reply paused for a moment by
   its own echo: audible, though it resumes).
2. ``barge``: utterances of the spoken test set injected so that their speech starts ~2 s into a long
   reply. The speech onset is found in a recording of the microphone (cross-correlation with the
   injected clip, so ``pacat``'s start-up does not count); "quiet" is the first 200 ms below -50 dBFS
   on the speaker's monitor from there. The interrupting words (the next turn's transcript) are
   scored against the reference, next to two baselines: the same talk loop and injection with no
   loopback (what the echo costs; primary), and WhisperSTT on the file itself (the floor: no reply
   playing at all). Baselines are run with ``--baseline`` (default on).
3. ``backchannel``: ten acknowledgements, each in the Piper voice and an espeak-ng voice, ~2 s into a
   reply: interrupted or not, and how long the speaker was silent for each hold.
4. ``false_start``: a cough-like noise burst and a knock (three sharp clicks) over a reply: the
   speaker's silence for each hold (must resume within 1 s) and the reply's outcome.
5. ``cost``: CPU time of ``EchoCanceller.reference + process`` (and of ``MicInput``'s echo-path check)
   on a minute of Piper speech with a simulated echo and user speech, per second of audio, as a share
   of one core. Thread CPU time: the machine being busy does not count.

One talk process per trial (per question batch for ``echo``): a trial never inherits another's state,
and a speculative start that consumes a trace line cannot shift the replies of the next trial.
The talk process logs the loop's decisions (logger ``voicecli.app.loop`` at DEBUG, stamped with
``perf_counter``, the same clock as the recordings): the holds and resumes reported come from it.
``--keep DIR`` keeps each trial's conversation recording (``--conversation-wav``) and log.

    .venv/bin/python scripts/bench_duplex.py [--only echo,barge,...] [--quick] [--json out/duplex.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from pulse import RATE, PulseServer, Recorder, die_with_parent, frame_levels, to_pcm16  # noqa: E402
from test_e2e_audio import (  # noqa: E402
    FRAME_S,
    LONG_REPLY,
    LOUD_DB,
    QUIET_DB,
    REFERENCES,
    SHORT_REPLY,
    STARTUP_S,
    Talk,
    as_audio,
    quiet_from,
    speech_onset_s,
    utterance,
)

from voicecli.text.wer import corpus_wer, normalize, wer  # noqa: E402

FRAME = int(FRAME_S * RATE)
MEDIUM_REPLY = " ".join(LONG_REPLY.split(". ")[:3]) + "."  # three sentences, about 11 s spoken
QUESTIONS = ["question.wav", "weather_london.wav", "moon.wav", "tokyo_time.wav", "rainbow.wav"]
CUT_INS = ["remind_mother.wav", "music.wav", "tokyo_time.wav", "rainbow.wav", "recipe.wav", "novel.wav",
           "lights.wav", "spanish.wav"]
ACKS = ["Uh-huh.", "Yeah.", "Okay.", "Mm-hm.", "Right.", "I see.", "Sure.", "Yes.", "Got it.", "Alright."]
ESPEAK_VOICE = "en-us+m3"
AT_S = 2.0  # the user's speech starts this long after the reply became audible
QUIET_HOLD_S = 0.2  # "quiet": below QUIET_DB this long
INJECT_LATENCY_MS = 200  # pacat's buffer for what is spoken: at 20 ms it underran on the busy machine (holes)
LOG = re.compile(r"^LOG (?P<perf>[\d.]+) (?:(?P<stream>[\d.]+) (?P<act>[a-z]+)\b|words (?P<words>.*) \(\d+ ms\))")

# The talk process with the loop's decisions logged on stderr, each stamped with perf_counter (CLOCK_MONOTONIC:
# the same clock in every process, so the log lines up with the recordings).
LAUNCH = """
import logging, os, runpy, time
class Stamp(logging.Filter):
    def filter(self, record):
        record.perf = time.perf_counter()
        return True
handler = logging.StreamHandler()
handler.addFilter(Stamp())
handler.setFormatter(logging.Formatter("LOG %(perf).4f %(message)s"))
logger = logging.getLogger("voicecli.app.loop")
logger.addHandler(handler)
logger.setLevel(logging.DEBUG)
probe = os.environ.get("VOICECLI_BENCH_PROBE")
if probe:  # --probe: what the microphone path did, block by block, saved at exit
    import atexit
    import numpy as np
    import voicecli.app.listen as listen
    rows, clean, raw, near, far, read = [], [], [], [], [], listen.MicInput.read
    class Tee:  # what the canceller itself was given: each microphone frame with its paired reference
        def __init__(self, inner):
            self.inner = inner
        def process(self, n, f):
            near.append(n.copy())
            far.append(f.copy())
            return self.inner.process(n, f)
    def probed(self, timeout=0.1):
        if self.aec is not None and not isinstance(self.aec._processor, Tee):
            self.aec._processor = Tee(self.aec._processor)
        block = read(self, timeout)
        if block is not None:
            aec = self.aec
            rows.append((time.perf_counter(), block.start_s, len(block.samples), self.path.echo,
                         -1.0 if self.path.coupling is None else self.path.coupling,
                         (self.position - len(block.raw) - self._last_loud) / listen.RATE,
                         len(aec._refs) if aec else 0, aec.dropped_ms if aec else 0,
                         self.mic.overflows, self.mic.dropped))
            clean.append(block.samples.copy())
            raw.append(block.raw.copy())
        return block
    listen.MicInput.read = probed
    atexit.register(lambda: np.savez(probe, rows=np.array(rows), clean=np.concatenate(clean or [np.zeros(0)]),
                                     raw=np.concatenate(raw or [np.zeros(0)]),
                                     near=np.concatenate(near or [np.zeros(0)]),
                                     far=np.concatenate(far or [np.zeros(0)])))
runpy.run_module("voicecli", run_name="__main__")
"""


class LoggedTalk(Talk):
    """``Talk`` (tests/test_e2e_audio.py) started through ``LAUNCH``, so its stderr carries the loop's log."""

    def __init__(self, args: list[str], env: dict[str, str]):  # Talk.__init__ with another command line
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "talk", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**env, "COLUMNS": "200"},
                                     preexec_fn=die_with_parent)
        self.records: queue.Queue[tuple[dict, float]] = queue.Queue()
        self.stderr: list[str] = []
        self._stderr_seen = threading.Condition()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def events(self) -> list[tuple[float, str, str]]:
        """(perf time, act or "words", the words) for each decision logged so far."""
        out = []
        for line in list(self.stderr):
            m = LOG.match(line.strip())
            if m:
                words = ""
                if m["words"]:
                    try:
                        words = str(ast.literal_eval(m["words"]))  # the loop logs them with %r
                    except (ValueError, SyntaxError):
                        words = m["words"]
                out.append((float(m["perf"]), m["act"] or "words", words))
        return out

    def drain(self) -> list[dict]:
        out = []
        while not self.records.empty():
            out.append(self.records.get()[0])
        return out

    def finish(self, timeout: float = 30.0) -> None:
        """Ctrl-C (the conversation recording is written), then make sure it is gone."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.close()


def write_replies(path: Path, texts: list[str], ms_per_word: float = 35.0) -> Path:
    """A replay trace: one response per text, streamed at a live model's pace (as test_e2e_audio's)."""
    lines = []
    for text in texts:
        deltas = [{"t_ms": 150.0 + i * ms_per_word, "text": w if i == 0 else " " + w}
                  for i, w in enumerate(text.split(" "))]
        lines.append(json.dumps({"voicecli_trace": 1, "prompt": None, "deltas": deltas}))
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the rig: a server, a talk process, the two recordings ---------------------------------------------

@dataclass
class Rig:
    server: PulseServer
    work: Path
    keep: Path | None
    tag: str = "echo"  # in the names of the kept recordings
    probe: bool = False  # --probe: keep the microphone path's blocks too (with --keep)
    loads: list[float] = field(default_factory=list)
    n: int = 0
    n_clips: int = 0

    def talk(self, replies: list[str], name: str, extra: tuple[str, ...] = ()) -> tuple[LoggedTalk, Path | None]:
        self.n += 1
        trace = write_replies(self.work / f"trace-{self.n}.jsonl", replies)
        args = ["--llm", f"replay:{trace}", "--json", "--no-log", "--no-tools", *extra]
        wav = None
        if self.keep is not None:
            wav = self.keep / f"{self.tag}-{self.n:03d}-{name}.wav"
            args += ["--conversation-wav", str(wav)]
        env = {**os.environ, **self.server.env, "VOICECLI_NO_LOG": "1"}
        if wav is not None and self.probe:
            env["VOICECLI_BENCH_PROBE"] = str(wav.with_suffix(".npz"))
        talk = LoggedTalk(args, env)
        talk.wait_stderr("Listening", STARTUP_S)
        self.loads.append(os.getloadavg()[0])
        return talk, wav

    def record_mic(self) -> Recorder:
        """What the microphone hears (echo and injected speech), timestamped like the speaker's recording."""
        env = {**os.environ, **self.server.env}
        proc = subprocess.Popen(["parec", "--device=mic", "--latency-msec=20", "--raw", "--format=s16le",
                                 f"--rate={RATE}", "--channels=1"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        return Recorder(proc)

    def play(self, clip: np.ndarray) -> tuple[subprocess.Popen, float]:
        """``PulseServer.play_into_mic`` with a 200 ms buffer (a 20 ms one underran on the busy machine: the
        speech reached the microphone with holes) and ``-v``, so that ``intact()`` can tell."""
        self.n_clips += 1
        raw = self.work / f"clip-{self.n_clips}.raw"
        raw.write_bytes(to_pcm16(clip))
        env = {**os.environ, **self.server.env}
        t0 = time.perf_counter()
        proc = subprocess.Popen(["pacat", "-v", "--playback", "--device=mic_feed", f"--latency-msec={INJECT_LATENCY_MS}",
                                 "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1", str(raw)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        return proc, t0

    @staticmethod
    def intact(proc: subprocess.Popen) -> bool:
        """The clip played without an underrun (pacat reports one at its end, after "Got EOF", as normal)."""
        try:
            err = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            return False
        return "underrun" not in err.split("Got EOF")[0].lower()

    def ask(self, talk: LoggedTalk, question: str, mic: bool = True) -> tuple[Recorder, Recorder | None, float]:
        """Speaker (and microphone) recordings started, a question asked: returns them and when the reply sounded."""
        spk, mic = self.server.record_speaker(), (self.record_mic() if mic else None)
        self.play(utterance(question))
        t_sound = spk.wait_for_sound(60.0, threshold_db=LOUD_DB)
        if t_sound is None:
            raise RuntimeError("the reply never played:\n" + "".join(talk.stderr[-20:]))
        return spk, mic, t_sound

    def save_log(self, talk: LoggedTalk, wav: Path | None) -> None:
        if wav is not None:
            wav.with_suffix(".log").write_text("".join(talk.stderr))

    def inject_at(self, clip: np.ndarray, at: float) -> tuple[subprocess.Popen, float]:
        """Play ``clip`` into the microphone so that its speech starts at about ``at`` (perf time)."""
        time.sleep(max(0.0, at - speech_onset_s(clip) - time.perf_counter()))
        return self.play(clip)


def onset_in(mic: Recorder, clip: np.ndarray, t_play: float) -> float:
    """Where the injected clip's speech starts in the microphone recording (perf time): the clip is
    found by cross-correlation, so ``pacat``'s start-up time does not count."""
    x = mic.samples()
    lo = max(0, mic.index_at(t_play) - RATE // 5)
    seg = x[lo: lo + len(clip) + 3 * RATE]
    size = 1 << int(np.ceil(np.log2(len(seg) + len(clip))))
    corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(clip, size)), size)[: len(seg)]
    return mic.time_of(lo + int(np.argmax(corr)) + int(speech_onset_s(clip) * RATE))


def silences(spk: Recorder, from_t: float, to_t: float, min_s: float = 0.1) -> list[tuple[float, float]]:
    """(start perf time, length s) of each run below QUIET_DB of at least ``min_s`` on the speaker."""
    levels = frame_levels(spk.samples())
    a, b = spk.index_at(from_t) // FRAME, spk.index_at(to_t) // FRAME
    out, run = [], 0
    for i in range(a, min(b, len(levels)) + 1):
        if i < min(b, len(levels)) and levels[i] < QUIET_DB:
            run += 1
            continue
        if run * FRAME_S >= min_s:
            out.append((spk.time_of((i - run) * FRAME), run * FRAME_S))
        run = 0
    return out


def holds(talk: LoggedTalk, spk: Recorder, after: float, until: float) -> list[dict]:
    """Each hold logged after ``after``: the loop's decisions, and the speaker's silence around it."""
    ev = talk.events()
    out = []
    for t, act, _ in ev:
        if act != "pause" or t < after:
            continue
        ends = [(t2, a2) for t2, a2, _ in ev if t2 > t and a2 in ("resume", "interrupt")]
        end_t, end_act = ends[0] if ends else (None, None)
        gaps = [(s, n) for s, n in silences(spk, t - 0.3, until) if s <= t + 0.6 and s + n >= t]
        s, n = max(gaps, key=lambda g: g[1]) if gaps else (None, 0.0)
        words = [w for t2, a2, w in ev if a2 == "words" and t2 > t and (end_t is None or t2 <= end_t)]
        out.append({"paused_at": t, "outcome": end_act, "decided_ms": ms(end_t - t) if end_t else None,
                    "silence_ms": ms(n), "silence_start": s, "words": words[-1] if words else None})
    return out


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def whole(record: dict) -> bool:
    """The reply was played to its end: not interrupted, and all of it spoken."""
    return not record["interrupted"] and normalize(record["spoken"]) == normalize(record["response"])


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return round(float(np.percentile(xs, q)), 1)


# --- the scenarios ---------------------------------------------------------------------------------------

def turns_logged(talk: LoggedTalk, after: float) -> list[tuple[float, str]]:
    """The turns the loop took after ``after`` (confirm or commit), with the words it judged last before each."""
    out, words = [], ""
    for t, act, w in talk.events():
        if act == "words":
            words = w
        elif act in ("confirm", "commit") and t >= after:
            out.append((t, words))
    return out


def settle(talk: LoggedTalk, spk: Recorder, quiet_s: float = 2.5, timeout: float = 180.0) -> list[dict]:
    """Wait until the speaker has been quiet for ``quiet_s`` (every reply over, its own words' replies too),
    then return the records that came meanwhile."""
    deadline = time.monotonic() + timeout
    n = int(quiet_s * RATE)
    while time.monotonic() < deadline:
        x = spk.samples()
        if len(x) >= n and frame_levels(x[-n:]).max() < QUIET_DB:
            break
        time.sleep(0.25)
    time.sleep(0.5)
    return talk.drain()


def echo_batch(rig: Rig, questions: list[str]) -> list[dict]:
    """Questions one after the other in one talk process; each reply plays to its end with its echo."""
    rows = []
    talk, wav = rig.talk([MEDIUM_REPLY], "echo")
    try:
        for q in questions:
            t0 = time.perf_counter()
            spk, _, t_sound = rig.ask(talk, q, mic=False)
            records = [talk.next_record(90.0)[0]]
            records += settle(talk, spk)  # the turns the user did not start, and the replies to them
            record, extra = records[0], records[1:]
            hs = holds(talk, spk, t_sound, time.perf_counter())
            spk.stop()
            rows.append({"question": q, "transcript": record["transcript"], "interrupted": record["interrupted"],
                         "whole": whole(record), "spoken_words": len(normalize(record["spoken"])),
                         "own_words_turns": [r["transcript"] for r in extra], "holds": hs,
                         "turns_logged": len(turns_logged(talk, t0)),
                         "question_wer": round(wer(REFERENCES[q], record["transcript"] or ""), 3)})
            print(f"  echo {q:20s} whole={rows[-1]['whole']} holds={len(hs)} extra={len(extra)} "
                  f"{record['transcript']!r} {[r['transcript'] for r in extra]}", flush=True)
    finally:
        talk.finish()
        rig.save_log(talk, wav)
    return rows


def barge_trial(rig: Rig, name: str, extra: tuple[str, ...] = ()) -> dict:
    """A long reply, and ``name`` spoken ~2 s into it: how fast the speaker goes quiet, what is heard.

    ``valid``: the reply was the long one (a discarded speculative start consumes a trace line), the
    clip reached the microphone intact, and the speaker was playing when its speech began."""
    clip = utterance(name)
    row: dict = {"utterance": name}
    talk, wav = rig.talk([LONG_REPLY, SHORT_REPLY], "barge-" + Path(name).stem, extra)
    try:
        spk, mic, t_sound = rig.ask(talk, "question.wav")
        player, t_play = rig.inject_at(clip, t_sound + AT_S)
        first, _ = talk.next_record(60.0)
        second = talk.next_record(60.0)[0] if first["interrupted"] else None
        time.sleep(0.3)
        onset = onset_in(mic, clip, t_play)
        levels = frame_levels(spk.samples())
        at = spk.index_at(onset) // FRAME
        quiet = quiet_from(levels, at, QUIET_HOLD_S)
        pauses = [t for t, act, _ in talk.events() if act == "pause" and t >= t_play]
        playing = bool(levels[max(0, at - 25):at].max() > LOUD_DB) if at > 0 else False
        row.update(
            valid=first["response"].strip() == LONG_REPLY and rig.intact(player) and playing,
            onset_into_reply_ms=ms(onset - t_sound), pacat_lead_ms=ms(onset - t_play - speech_onset_s(clip)),
            playing=playing,
            quiet_ms=ms(spk.time_of(quiet * FRAME) - onset) if quiet is not None else None,
            pause_ms=ms(pauses[0] - onset) if pauses else None,
            interrupted=first["interrupted"], spoken_words=len(normalize(first["spoken"])),
            transcript=second["transcript"] if second else None,
            wer=round(wer(REFERENCES[name], second["transcript"] or ""), 3) if second else None,
            next_reply_ok=bool(second) and second["response"].strip() == SHORT_REPLY)
        spk.stop()
        mic.stop()
    finally:
        talk.finish()
        rig.save_log(talk, wav)
    print(f"  barge {name:20s} quiet={row.get('quiet_ms')} ms pause={row.get('pause_ms')} ms "
          f"wer={row.get('wer')} {row.get('transcript')!r}", flush=True)
    return row


def overlay_trial(rig: Rig, clip: np.ndarray, label: str) -> dict:
    """A medium reply with ``clip`` (an acknowledgement, a cough, a knock) ~2 s into it: does it go on?"""
    row: dict = {"sound": label}
    talk, wav = rig.talk([MEDIUM_REPLY], "over-" + re.sub(r"\W+", "_", label).strip("_"))
    try:
        spk, mic, t_sound = rig.ask(talk, "question.wav")
        player, t_play = rig.inject_at(clip, t_sound + AT_S)
        record, _ = talk.next_record(60.0)
        time.sleep(1.5)
        onset = onset_in(mic, clip, t_play)
        turns = turns_logged(talk, t_play)
        hs = holds(talk, spk, t_play - 0.2, time.perf_counter())
        heard = [w for t, act, w in talk.events() if act == "words" and t > t_play]
        row.update(valid=rig.intact(player),
                   interrupted=record["interrupted"], whole=whole(record), turns_taken=[w for _, w in turns],
                   heard=heard[0] if heard else None, holds=hs,
                   hold_silence_ms=max((h["silence_ms"] for h in hs), default=0.0),
                   pause_after_onset_ms=ms(hs[0]["paused_at"] - onset) if hs else None)
        spk.stop()
        mic.stop()
    finally:
        talk.finish()
        rig.save_log(talk, wav)
    print(f"  over {label:22s} interrupted={row.get('interrupted')} holds={len(row.get('holds', []))} "
          f"silence={row.get('hold_silence_ms')} ms heard={row.get('heard')!r}", flush=True)
    return row


def trial(fn, *args) -> dict:
    """One trial; a failure (a timeout, a process that died) is a row with the error, not the end of the run."""
    try:
        return fn(*args)
    except (pytest.fail.Exception, RuntimeError, subprocess.SubprocessError) as e:
        print(f"  trial failed: {str(e).splitlines()[0][:200]}", flush=True)
        return {"error": str(e)[-2000:], "args": [a for a in args if isinstance(a, str)]}


# --- the sounds -------------------------------------------------------------------------------------------

def pad(x: np.ndarray, before: float = 0.3, after: float = 0.5) -> np.ndarray:
    return np.concatenate([np.zeros(int(before * RATE), np.float32), x.astype(np.float32),
                           np.zeros(int(after * RATE), np.float32)])


def active_rms(x: np.ndarray) -> float:
    levels = frame_levels(x)
    loud = levels[levels > LOUD_DB]
    return float(np.sqrt(np.mean(10 ** (loud / 10)))) if len(loud) else 0.0


def at_level_of(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x`` scaled to the active RMS level of ``reference`` (a user's utterance of the test set)."""
    return np.clip(x * (active_rms(reference) / (active_rms(x) or 1.0)), -0.99, 0.99).astype(np.float32)


def cough(seed: int = 1) -> np.ndarray:
    """Two bursts of band-limited noise (200-3000 Hz), 10 ms attack, ~90 ms decay: a cough, not a word."""
    rng = np.random.default_rng(seed)

    def burst(seconds: float) -> np.ndarray:
        n = int(seconds * RATE)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / RATE)
        spec[(f < 200) | (f > 3000)] = 0
        t = np.arange(n) / RATE
        return np.fft.irfft(spec, n) * (1 - np.exp(-t / 0.01)) * np.exp(-t / 0.09)

    return np.concatenate([burst(0.3), np.zeros(int(0.08 * RATE)), 0.7 * burst(0.25)])


def knock(n_clicks: int = 3, spacing_s: float = 0.18) -> np.ndarray:
    """Sharp clicks on a door: a 2 ms noise impulse and a damped 180 Hz + 900 Hz ring (15 ms decay) each."""
    rng = np.random.default_rng(2)
    t = np.arange(int(0.12 * RATE)) / RATE
    click = (np.sin(2 * np.pi * 180 * t) + 0.6 * np.sin(2 * np.pi * 900 * t)) * np.exp(-t / 0.015)
    click[: int(0.002 * RATE)] += rng.standard_normal(int(0.002 * RATE))
    out = np.zeros(int((n_clicks - 1) * spacing_s * RATE) + len(click))
    for i in range(n_clicks):
        s = int(i * spacing_s * RATE)
        out[s:s + len(click)] += click
    return out


def acknowledgements() -> list[tuple[str, np.ndarray]]:
    """Each acknowledgement in the Piper voice (the assistant's own: the hardest case for the canceller)
    and in an espeak-ng voice, padded like an endpointed utterance."""
    from voicecli.audio.files import read_audio
    from voicecli.audio.signal import resample
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require(), sentence_pause_ms=0)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in ACKS:
            out.append((f"piper: {text}", pad(resample(tts.synthesize(text), tts.sample_rate, RATE))))
            path = Path(tmp) / "ack.wav"
            subprocess.run(["espeak-ng", "-v", ESPEAK_VOICE, "-s", "160", "-w", str(path), text], check=True)
            audio = read_audio(path)
            x = resample(audio.samples, audio.rate, RATE)
            out.append((f"espeak: {text}", pad(at_level_of(x, utterance("remind_mother.wav")))))
    return out


# --- the cost of echo cancellation ---------------------------------------------------------------------------

def aec_cost(repeats: int, seconds: float = 60.0) -> dict:
    """CPU per second of audio, fed as live: the reference in 1024-sample chunks at the voice's rate as they
    are played, the microphone in 30 ms blocks (``Microphone``'s), each after the reference played by then."""
    from bench_aec import Condition, echo_of

    from voicecli.audio.aec import EchoCanceller, EchoPath
    from voicecli.audio.signal import resample
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require())
    vr = tts.sample_rate
    one = tts.synthesize(LONG_REPLY)
    reply = np.tile(one, int(np.ceil(seconds * vr / len(one))))[: int(seconds * vr)]
    reply16 = resample(reply, vr, RATE)
    n = len(reply16)
    echo = echo_of(reply16, Condition("base"), 1.0)[:n]
    mic = echo * (10 ** (-28 / 20) / (active_rms(echo) or 1.0))
    for i, name in enumerate(CUT_INS):  # the user speaks now and then (double talk)
        at = int((3 + 7 * i) * RATE)
        u = utterance(name)
        u = u * (10 ** (-28 / 20) / active_rms(u))
        if at + len(u) <= n:
            mic[at:at + len(u)] += u
    mic = (mic + np.random.default_rng(3).standard_normal(n) * 10 ** (-70 / 20)).astype(np.float32)
    block, out_block = int(0.03 * RATE), 1024
    runs = []
    for _ in range(repeats):
        aec, path = EchoCanceller(RATE), EchoPath(RATE)
        cpu_aec = cpu_path = 0.0
        r = 0
        wall0 = time.perf_counter()
        for start in range(0, n - block + 1, block):
            now = (start + block) / RATE
            t0 = time.thread_time()
            while r < len(reply) and r / vr <= now:
                aec.reference(reply[r:r + out_block], vr)
                r += out_block
            aec.process(mic[start:start + block])
            t1 = time.thread_time()
            path.add(reply16[start:start + block], mic[start:start + block])
            cpu_path += time.thread_time() - t1
            cpu_aec += t1 - t0
        runs.append({"aec_pct": 100 * cpu_aec / seconds, "path_pct": 100 * cpu_path / seconds,
                     "wall_s": time.perf_counter() - wall0})
    return {"audio_s": seconds, "repeats": repeats,
            "aec_pct_of_core": round(statistics.median(r["aec_pct"] for r in runs), 2),
            "aec_pct_min": round(min(r["aec_pct"] for r in runs), 2),
            "echo_path_check_pct_of_core": round(statistics.median(r["path_pct"] for r in runs), 2),
            "runs": runs}


# --- summaries ------------------------------------------------------------------------------------------------

def summarize_echo(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]
    return {"replies": len(ok), "errors": len(rows) - len(ok),
            "self_interruptions": sum(1 for r in ok if not r["whole"]),
            "own_word_turns": sum(len(r["own_words_turns"]) for r in ok),
            "holds": sum(len(r["holds"]) for r in ok),
            "hold_silence_ms": [h["silence_ms"] for r in ok for h in r["holds"]]}


def summarize_barge(rows: list[dict], baseline: list[dict], file_wer: dict[str, float]) -> dict:
    ok = [r for r in rows if "error" not in r and r["valid"]]
    hit = [r for r in ok if r["interrupted"] and r["transcript"] is not None]
    quiet = [r["quiet_ms"] for r in ok if r["quiet_ms"] is not None]
    pause = [r["pause_ms"] for r in ok if r["pause_ms"] is not None]
    out = {"trials": len(rows), "valid": len(ok), "interrupted": len(hit),
           "quiet_ms_median": percentile(quiet, 50), "quiet_ms_p90": percentile(quiet, 90),
           "pause_decision_ms_median": percentile(pause, 50),
           "wer": round(corpus_wer((REFERENCES[r["utterance"]], r["transcript"]) for r in hit), 3) if hit else None,
           "wer_file": round(corpus_wer((REFERENCES[r["utterance"]], file_wer[r["utterance"]]) for r in hit), 3)
           if hit and file_wer else None}
    base = [r for r in baseline if "error" not in r and r["valid"] and r["interrupted"] and r["transcript"] is not None]
    if base:
        bq = [r["quiet_ms"] for r in base if r["quiet_ms"] is not None]
        out.update(baseline_trials=len(base), baseline_quiet_ms_median=percentile(bq, 50),
                   wer_no_echo=round(corpus_wer((REFERENCES[r["utterance"]], r["transcript"]) for r in base), 3))
    for key, ref in (("ratio_no_echo", "wer_no_echo"), ("ratio_file", "wer_file")):
        if out.get("wer") is not None and out.get(ref):
            out[key] = round(out["wer"] / out[ref], 2)
    return out


def summarize_over(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r and r["valid"]]
    by: dict[str, dict] = {}
    for r in ok:
        voice = r["sound"].split(":")[0]
        s = by.setdefault(voice, {"trials": 0, "interrupted": 0, "turns": 0, "held": 0, "hold_silence_ms": []})
        s["trials"] += 1
        s["interrupted"] += int(not r["whole"])
        s["turns"] += len(r["turns_taken"])
        s["held"] += int(bool(r["holds"]))
        s["hold_silence_ms"] += [h["silence_ms"] for h in r["holds"]]
    for s in by.values():
        xs = s["hold_silence_ms"]
        s["hold_silence_ms_median"] = percentile(xs, 50)
        s["hold_silence_ms_max"] = max(xs) if xs else None
    return by


def table(res: dict) -> str:
    lines = ["| scenario | measure | result | target |", "|---|---|---|---|"]
    if "echo" in res:
        e = res["echo"]["summary"]
        lines += [f"| echo only | self-interruptions / replies | {e['self_interruptions']} / {e['replies']} | 0 |",
                  f"| echo only | turns of its own words | {e['own_word_turns']} | 0 |",
                  f"| echo only | holds (paused by its echo, resumed) | {e['holds']} | - |"]
    if "barge" in res:
        b = res["barge"]["summary"]
        lines += [f"| barge-in | speech onset → speaker quiet, median / p90 | {b['quiet_ms_median']} / "
                  f"{b['quiet_ms_p90']} ms ({b['valid']} trials) | ≤ 300 ms median |",
                  f"| barge-in | interrupted | {b['interrupted']} / {b['valid']} | all |",
                  f"| barge-in | WER with echo / same loop, no echo (ratio) | {b['wer']} / {b.get('wer_no_echo')} "
                  f"({b.get('ratio_no_echo')}x) | ≤ 1.5x |",
                  f"| barge-in | WER with echo / the file alone (ratio) | {b['wer']} / {b.get('wer_file')} "
                  f"({b.get('ratio_file')}x) | - |"]
    if "backchannel" in res:
        for voice, s in res["backchannel"]["summary"].items():
            lines.append(f"| backchannels ({voice}) | interrupted / held; hold silence median, max | "
                         f"{s['interrupted']} / {s['held']} of {s['trials']}; {s['hold_silence_ms_median']}, "
                         f"{s['hold_silence_ms_max']} ms | ≤ 1 of 10 |")
    if "false_start" in res:
        for r in res["false_start"]["rows"]:
            if "error" in r or not r["valid"]:
                continue
            lines.append(f"| false start ({r['sound']}) | held; speaker silent; reply whole | "
                         f"{'yes' if r['holds'] else 'no'}; {r['hold_silence_ms']} ms; {r['whole']} | resume ≤ 1 s |")
    if "cost" in res:
        c = res["cost"]
        lines.append(f"| cost | AEC3 reference+process, share of one core | {c['aec_pct_of_core']} % "
                     f"(+ echo-path check {c['echo_path_check_pct_of_core']} %) | - |")
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="echo,barge,backchannel,false_start,cost",
                    help="comma-separated scenarios (echo, barge, backchannel, false_start, cost)")
    ap.add_argument("--echo-replies", type=int, default=20)
    ap.add_argument("--per-process", type=int, default=10, help="echo: questions per talk process")
    ap.add_argument("--barge-repeats", type=int, default=1, help="barge: rounds over the utterances")
    ap.add_argument("--cut-ins", default=",".join(CUT_INS))
    ap.add_argument("--no-baseline", action="store_true", help="barge: skip the no-echo run")
    ap.add_argument("--acks", type=int, default=len(ACKS))
    ap.add_argument("--false-repeats", type=int, default=3)
    ap.add_argument("--cost-repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 4 replies, 2 cut-ins, 3 acks, 1 of each noise")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="keep each trial's conversation recording and log here")
    ap.add_argument("--probe", action="store_true",
                    help="with --keep: also what the microphone path did, block by block (TRIAL.npz: the cleaned "
                         "and raw microphone, the echo-path state, the reference backlog)")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    cut_ins = args.cut_ins.split(",")
    if args.quick:
        args.echo_replies, args.per_process, args.acks, args.false_repeats, args.cost_repeats = 4, 4, 3, 1, 2
        cut_ins = cut_ins[:2]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    res: dict = {"machine": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0]},
                 "settings": {"echo_path": "module-loopback 60 ms, 70%", "at_s": AT_S, "quiet_db": QUIET_DB,
                              "quiet_hold_ms": QUIET_HOLD_S * 1000}}
    work = Path(tempfile.mkdtemp(prefix="bench-duplex-"))
    t_begin = time.perf_counter()
    try:
        if only & {"echo", "barge", "backchannel", "false_start"}:
            with PulseServer() as server:
                server.echo_path(latency_ms=60, volume="70%")
                rig = Rig(server, work, args.keep, probe=args.probe)
                if "echo" in only:
                    print("echo only:", flush=True)
                    rows: list[dict] = []
                    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.echo_replies)]
                    for i in range(0, len(qs), args.per_process):
                        got = trial(echo_batch, rig, qs[i:i + args.per_process])
                        rows += got if isinstance(got, list) else [got]
                    res["echo"] = {"rows": rows, "summary": summarize_echo(rows)}
                if "barge" in only:
                    print("barge-in over the echo:", flush=True)
                    rows = [trial(barge_trial, rig, u) for _ in range(args.barge_repeats) for u in cut_ins]
                    res["barge"] = {"rows": rows}
                if "backchannel" in only:
                    print("backchannels:", flush=True)
                    acks = [a for a in acknowledgements() if a[0].split(": ")[1] in ACKS[: args.acks]]
                    rows = [trial(overlay_trial, rig, clip, label) for label, clip in acks]
                    res["backchannel"] = {"rows": rows, "summary": summarize_over(rows)}
                if "false_start" in only:
                    print("false starts:", flush=True)
                    level = utterance("remind_mother.wav")
                    noises = [("cough", pad(at_level_of(cough(), level))), ("knock", pad(at_level_of(knock(), level)))]
                    rows = [trial(overlay_trial, rig, clip, label) for _ in range(args.false_repeats)
                            for label, clip in noises]
                    res["false_start"] = {"rows": rows, "summary": summarize_over(rows)}
                res["machine"]["load_during"] = rig.loads
        if "barge" in only:
            baseline: list[dict] = []
            if not args.no_baseline:
                print("barge-in, the same loop and injection with no echo path and no canceller (baseline):", flush=True)
                with PulseServer() as server:
                    rig = Rig(server, work, args.keep, tag="noecho", probe=args.probe)
                    baseline = [trial(barge_trial, rig, u, ("--no-aec", "--barge-in"))
                                for _ in range(args.barge_repeats) for u in cut_ins]
            file_wer = file_transcripts(cut_ins)
            res["barge"].update(baseline=baseline, file_transcripts=file_wer,
                                summary=summarize_barge(res["barge"]["rows"], baseline, file_wer))
        if "cost" in only:
            print("cost of echo cancellation:", flush=True)
            res["cost"] = aec_cost(args.cost_repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["machine"]["load_at_end"] = os.getloadavg()[0]
    res["machine"]["minutes"] = round((time.perf_counter() - t_begin) / 60, 1)
    print()
    print(table(res))
    print(f"\nload average: {res['machine']['load_at_start']:.1f} at the start, "
          f"{res['machine']['load_at_end']:.1f} at the end, on {os.cpu_count()} cores; "
          f"{res['machine']['minutes']} min")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=float) + "\n")
    return 0


def file_transcripts(names: list[str]) -> dict[str, str]:
    """WhisperSTT (as the loop calls it) on each file alone: the floor, nothing playing at all."""
    from voicecli.config import resolve_model
    from voicecli.stt import WhisperSTT

    stt = WhisperSTT(resolve_model("stt").require())
    return {n: stt.transcribe_result(as_audio(utterance(n))).text.strip() for n in dict.fromkeys(names)}


if __name__ == "__main__":
    sys.exit(main())
