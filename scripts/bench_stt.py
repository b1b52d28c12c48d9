#!/usr/bin/env python3
"""STT benchmark: faster-whisper's default ``transcribe()`` versus voicecli's fast path, side by side.

One model is loaded once and warmed up; then, for each repeat and each file of the spoken test set
(``tests/data/speech/references.json``), the library's default ``transcribe()`` and the fast path run
back to back on the same samples, so both see the same machine load. Latency is wall-clock time from
the file's samples (at their own rate) to text, resampling included; the fast path's time also
includes its silence guard. WER is over the whole set (``voicecli.text.wer``), from the first repeat
(decoding is deterministic).

Prints a table and, last, one JSON line. Acceptance target (issue 5): fast-path WER no worse than the
default's, and median latency at most 0.4x of it.

Usage: ``.venv/bin/python scripts/bench_stt.py [--repeats 3] [--threads N] [--json out/stt.json]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.audio.files import read_audio  # noqa: E402
from voicecli.audio.signal import resample  # noqa: E402
from voicecli.config import resolve_model  # noqa: E402
from voicecli.stt import SAMPLE_RATE, WhisperSTT  # noqa: E402
from voicecli.text.wer import corpus_wer, wer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ROOT / "tests" / "data" / "speech")
    parser.add_argument("--model", type=Path, default=None, help="STT model directory (default: the embedded one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the summary to this file")
    parser.add_argument("--quiet", action="store_true", help="no per-file table")
    args = parser.parse_args()

    refs: dict[str, str] = json.loads((args.set / "references.json").read_text(encoding="utf-8"))
    clips = {name: read_audio(args.set / name) for name in refs}
    model_dir = args.model or resolve_model("stt").require()
    stt = WhisperSTT(model_dir, threads=args.threads, beam_size=args.beam_size)

    def default(audio):
        return stt.library_transcribe(resample(audio.samples, audio.rate, SAMPLE_RATE))

    def fast(audio):
        return stt.transcribe_result(audio, fast=True).text

    paths = {"default": default, "fast": fast}
    first = next(iter(clips.values()))
    for fn in paths.values():  # warm both paths up (the first encoder call allocates)
        fn(first)

    times: dict[str, dict[str, list[float]]] = {p: {n: [] for n in clips} for p in paths}
    texts: dict[str, dict[str, str]] = {p: {} for p in paths}
    for _ in range(args.repeats):
        for name, audio in clips.items():
            for path, fn in paths.items():
                t0 = time.perf_counter()
                text = fn(audio)
                times[path][name].append((time.perf_counter() - t0) * 1000.0)
                texts[path].setdefault(name, text)

    summary: dict[str, object] = {"files": len(clips), "repeats": args.repeats, "threads": stt.threads,
                                  "beam_size": args.beam_size, "model": str(model_dir)}
    for path in paths:
        all_ms = [ms for per_file in times[path].values() for ms in per_file]
        summary[path] = {
            "wer": round(corpus_wer((refs[n], texts[path][n]) for n in clips), 4),
            "median_ms": round(statistics.median(all_ms), 1),
            "p90_ms": round(float(np.percentile(all_ms, 90)), 1),
        }
    summary["latency_ratio"] = round(summary["fast"]["median_ms"] / summary["default"]["median_ms"], 3)
    summary["pass"] = bool(summary["fast"]["wer"] <= summary["default"]["wer"] and summary["latency_ratio"] <= 0.4)

    if not args.quiet:
        print(f"{'file':22s} {'dur':>5s} {'default':>8s} {'fast':>6s}  WER d/f    transcripts (default | fast)")
        for name, audio in clips.items():
            d, f = texts["default"][name], texts["fast"][name]
            print(f"{name:22s} {audio.seconds:5.1f} {statistics.median(times['default'][name]):7.0f}ms "
                  f"{statistics.median(times['fast'][name]):5.0f}ms  {wer(refs[name], d):.2f}/{wer(refs[name], f):.2f}"
                  f"  {d!r} | {f!r}")
        print()
        print(f"{'path':8s} {'WER':>6s} {'median':>8s} {'p90':>8s}")
        for path in paths:
            s = summary[path]
            print(f"{path:8s} {s['wer']:6.3f} {s['median_ms']:6.0f}ms {s['p90_ms']:6.0f}ms")
        print(f"fast/default median latency: {summary['latency_ratio']:.2f}x (target <= 0.40x); "
              f"WER fast {'<=' if summary['fast']['wer'] <= summary['default']['wer'] else '>'} default")
    line = json.dumps(summary)
    print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(line + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
