#!/usr/bin/env python3
"""Cost over a long conversation: the time to first audio at turn 2 and at turn 50 of one `chat`.

One ``voicecli chat --json --no-audio`` on the embedded models is fed 50 questions on standard input
(the bundled prompts, cycled); each turn's record gives its TTFA. Reported: the median TTFA of turns
2-6 and of turns 46-50, and their ratio (the target: within 10%), with the prompt's size in tokens.

    .venv/bin/python scripts/bench_long.py [--turns 50] [--json out/long.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.bench.traces import load_prompts  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args, extra = ap.parse_known_args()
    prompts = load_prompts()
    lines = [prompts[i % len(prompts)] for i in range(args.turns)]
    proc = subprocess.run([sys.executable, "-m", "voicecli", "chat", "--json", "--no-audio", "--no-log", "--no-tools",
                           "--max-tokens", "60", *extra], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, timeout=3600)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(records) < args.turns:
        print(proc.stderr[-2000:], file=sys.stderr)
        return 1
    ttfa = [r["ttfa_ms"] for r in records]
    early, late = statistics.median(ttfa[1:6]), statistics.median(ttfa[-5:])
    summary = {"turns": len(records), "ttfa_turns_2_6_ms": round(early, 1), "ttfa_last_5_ms": round(late, 1),
               "ratio": round(late / early, 3), "ttfa": ttfa}
    print(f"TTFA turns 2-6: {early:.0f} ms · turns {args.turns - 4}-{args.turns}: {late:.0f} ms · ratio {late / early:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
