"""End of speech → first audio, over the spoken test set, on the embedded models.

Runs one `voicecli talk` process over every file of ``tests/data/speech`` (models loaded once, as a
user's session would; ``--realtime`` feeds each file at speaking pace, like a microphone), with ``--no-audio`` (the metrics come from the same playback clock as a
speaker's), and reports the median of ``endpoint_to_audio_ms`` with its parts: STT, time to first
token, first chunk, first synthesis. The first file is a warm-up and is not counted.

    .venv/bin/python scripts/bench_talk.py [--json out/talk.json] [--chunking adaptive]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "speech"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--chunking", default="adaptive")
    ap.add_argument("--max-tokens", default="60")
    args = ap.parse_args()
    files = sorted(SPEECH.glob("*.wav"))
    files = files[:1] + files  # the first turn warms everything up and is dropped
    cmd = [sys.executable, "-m", "voicecli", "talk", "--realtime", "--no-audio", "--json", "--no-log", "--no-tools",
           "--chunking", args.chunking, "--max-tokens", args.max_tokens]
    for f in files:
        cmd += ["--input", str(f)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    recs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()][1:]
    rows = {
        "endpoint_to_audio_ms": [r["endpoint_to_audio_ms"] for r in recs],
        "stt_ms": [r["stt_ms"] for r in recs],
        "ttft_ms": [r["ttft_ms"] for r in recs],
        "ttfc_ms": [r["ttfc_ms"] for r in recs],
        "first_synth_ms": [r["chunks"][0]["synth_ms"] for r in recs if r["chunks"]],
        "ttfa_ms": [r["ttfa_ms"] for r in recs],
    }
    summary = {k: round(statistics.median(v), 1) for k, v in rows.items() if v}
    summary["turns"] = len(recs)
    summary["chunking"] = args.chunking
    print(f"{'part':<22}{'median ms':>10}")
    for k, v in summary.items():
        if k.endswith("_ms"):
            print(f"{k:<22}{v:>10.1f}")
    print(f"over {len(recs)} spoken turns ({args.chunking})")
    line = json.dumps(summary)
    print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
