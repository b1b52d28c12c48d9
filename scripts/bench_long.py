#!/usr/bin/env python3
"""Cost over a long conversation: the time to first audio at turns 2-6 and at turns 50-54 of one `chat`.

One ``voicecli chat --json --no-audio --silence-budget-ms 0`` on the embedded models is fed 50
questions on standard input (the bundled prompts, cycled), each ``--think`` seconds after the previous
reply ended, as a person would (the prompt-cache prefetch runs in that time); each turn's record gives
its TTFA. Reported: the median TTFA of turns 2-6 and of the same five questions asked again at the
end (turns 50-54 with the default 54 turns: the 12 prompts cycle, and each question's reply has its
own first chunk, so only the same questions compare), and their ratio (the target: within 10%).

    .venv/bin/python scripts/bench_long.py [--turns 54] [--json out/long.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.bench.traces import load_prompts  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=54)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--think", type=float, default=2.0, help="seconds between a reply and the next question")
    args, extra = ap.parse_known_args()
    prompts = load_prompts()
    proc = subprocess.Popen([sys.executable, "-m", "voicecli", "chat", "--json", "--no-audio", "--no-log", "--no-tools",
                             "--max-tokens", "60", "--silence-budget-ms", "0", *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    records = []
    for i in range(args.turns):
        proc.stdin.write(prompts[i % len(prompts)] + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            print("chat ended early", file=sys.stderr)
            return 1
        records.append(json.loads(line))
        time.sleep(args.think)
    proc.stdin.close()
    proc.wait(60)
    ttfa = [r["ttfa_ms"] for r in records]
    n = len(prompts)
    last = (len(ttfa) - 6) // n * n  # the last cycle in which questions 2-6 were all asked again
    if last < n:
        print(f"too few turns: questions 2-6 are asked again from turn {n + 2}", file=sys.stderr)
        return 1
    again = list(range(last + 1, last + 6))
    early, late = statistics.median(ttfa[1:6]), statistics.median(ttfa[i] for i in again)
    summary = {"turns": len(records), "ttfa_turns_2_6_ms": round(early, 1), "ttfa_last_5_ms": round(late, 1),
               "ratio": round(late / early, 3), "ttfa": ttfa}
    print(f"TTFA turns 2-6: {early:.0f} ms · the same questions at turns {again[0] + 1}-{again[-1] + 1}: {late:.0f} ms "
          f"· ratio {late / early:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
