"""The silence budget, measured: how late the holding watch acts, and what a real speaker adds.

Two measurements behind ``voicecli.engine.holding.MARGIN_S`` (a phrase is due that long before the
budget runs out):

* **the watch's lateness** (``HoldingSpoken.start - due``): the slow traces of ``tests/data/traces``
  through the engine with the real Piper voice and no sound (the playback clock is the same), ``--runs``
  times each, optionally with ``--load N`` busy processes competing for the cores; with the budget on
  and off, for the first audio and the longest silence;
* **a real speaker** (``--pulse``): the slow-first trace played through a private PulseAudio server
  (tests/pulse.py) and recorded from the virtual speaker's monitor: when the first sound is really
  heard against when the clock placed the phrase (the device's output latency plus the phrase's own
  leading silence), and the longest silence in the recording against the record's.

    .venv/bin/python scripts/measure_holding.py [--runs 5] [--load 2] [--pulse]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "tests" / "data" / "traces"
sys.path.insert(0, str(ROOT / "tests"))

BUSY = "import time\nwhile True:\n    pass\n"


def run_turns(tts, trace: Path, budget_ms: float, sink=None):
    from voicecli.audio.sinks import NullSink
    from voicecli.engine.events import AudioScheduled, EventBus, HoldingSpoken, Recorder
    from voicecli.engine.holding import HoldingPhrases
    from voicecli.engine.turn import Engine, EngineConfig
    from voicecli.llm.replay import ReplayLLM

    holding = HoldingPhrases(tts)
    holding.prepare(wait=True)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = Engine(ReplayLLM.from_file(trace), tts, sink or NullSink(tts.sample_rate), bus,
                    EngineConfig(silence_budget_ms=budget_ms), holding=holding)
    t0 = time.perf_counter()
    record = engine.turn("What is the capital of France?").record
    engine.close()
    return record, rec.of(HoldingSpoken), t0, rec.of(AudioScheduled)


def lateness(args, tts) -> None:
    late: list[float] = []
    print(f"{'trace':12} {'budget':>6} {'first audio':>12} {'longest silence':>16} phrases")
    for name in ("slow_first", "stall", "cold_start"):
        for budget in (0.0, 2000.0):
            firsts, longest, said = [], [], []
            for _ in range(args.runs):
                record, spoken, _, _ = run_turns(tts, TRACES / f"{name}.jsonl", budget)
                firsts.append(record.ttfa_ms)
                longest.append(record.longest_silence_ms)
                said.append(len(spoken))
                late += [(h.start - h.due) * 1000.0 for h in spoken]
            print(f"{name:12} {budget:6.0f} {statistics.median(firsts):9.0f} ms {statistics.median(longest):13.0f} ms "
                  f"{statistics.median(said):g}  (longest over runs {max(longest):.0f} ms)")
    if late:
        late.sort()
        p99 = late[min(len(late) - 1, int(round(0.99 * (len(late) - 1))))]
        print(f"watch lateness over {len(late)} phrases: median {statistics.median(late):.2f} ms, "
              f"p99 {p99:.2f} ms, max {late[-1]:.2f} ms")


def pulse_check(tts) -> None:
    import numpy as np
    from pulse import RATE, PulseServer, frame_levels

    with PulseServer() as server:
        os.environ.update(server.env)
        from voicecli.audio.sinks import DeviceSink

        recorder = server.record_speaker()
        time.sleep(0.5)
        sink = DeviceSink(tts.sample_rate)
        record, spoken, t0, slots = run_turns(tts, TRACES / "slow_first.jsonl", 2000.0, sink=sink)
        time.sleep(0.5)
        latency = float(sink._stream.latency or 0.0)
        sink.close()
        samples = recorder.stop()
    frame = RATE // 50
    levels = frame_levels(samples)
    loud = np.flatnonzero(levels > -40.0)
    start_idx = recorder.index_at(t0) // frame
    loud = loud[loud >= start_idx]
    first_heard = recorder.time_of(int(loud[0]) * frame)
    phrase = spoken[0]
    audio = tts.synthesize(phrase.text)
    lead = np.flatnonzero(frame_levels(np.interp(np.arange(0, len(audio), tts.sample_rate / RATE),
                                                 np.arange(len(audio)), audio)) > -40.0)
    lead_ms = lead[0] * 20.0 if len(lead) else 0.0
    gaps = np.diff(np.concatenate([[start_idx], loud])) * 20.0 - 20.0
    where = np.concatenate([[start_idx], loud])[:-1]
    long_ones = [f"{g:.0f} ms at {(recorder.time_of(int(w) * frame) - t0) * 1000:.0f} ms"
                 for g, w in zip(gaps, where) if g >= 500]
    print(f"device output latency (PortAudio 'high'): {latency * 1000:.0f} ms; the phrase's own leading silence "
          f"{lead_ms:.0f} ms")
    print(f"phrase placed on the clock at {(phrase.start - t0) * 1000:.0f} ms, first sound heard at "
          f"{(first_heard - t0) * 1000:.0f} ms (+{(first_heard - phrase.start) * 1000:.0f} ms)")
    print(f"longest silence: record {record.longest_silence_ms:.0f} ms, recording {gaps.max():.0f} ms "
          "(from the turn's start; Piper's pauses inside and between pieces count in the recording)")
    print("silences of 500 ms or more in the recording: " + ", ".join(long_ones))
    print("clock: " + ", ".join(f"{(e.start - t0) * 1000:.0f}-{(e.end - t0) * 1000:.0f} {e.kind}" for e in slots))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--load", type=int, default=0, help="busy processes competing for the cores")
    ap.add_argument("--pulse", action="store_true", help="also through a private PulseAudio server")
    args = ap.parse_args()
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require())
    tts.warm_up()
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.load)]
    try:
        lateness(args, tts)
        if args.pulse:
            pulse_check(tts)
    finally:
        for p in hogs:
            p.terminate()
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
