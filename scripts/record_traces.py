#!/usr/bin/env python3
"""Record the bundled benchmark traces: the embedded SmolLM2-135M over the bundled prompt set.

Each prompt is streamed as the first turn of a conversation, after the pipeline's default system
prompt (already evaluated, as after start-up), with a fixed sampling seed and ``max_tokens`` 160.
One JSON line per response, each delta with its time since the request (``voicecli.llm.replay``).
The timing is this machine's: re-record on yours with ``voicecli bench --record FILE.jsonl``.

Usage: ``.venv/bin/python scripts/record_traces.py [--prompts FILE] [--out voicecli/bench/data/traces/default.jsonl]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.bench import (  # noqa: E402
    DEFAULT_PROMPTS,
    DEFAULT_TRACES,
    RECORD_MAX_TOKENS,
    RECORD_SEED,
    load_prompts,
    record_traces,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--model", type=Path, default=None, help="GGUF model (default: the embedded one)")
    parser.add_argument("--max-tokens", type=int, default=RECORD_MAX_TOKENS)
    parser.add_argument("--seed", type=int, default=RECORD_SEED)
    args = parser.parse_args()

    def show(done: int, total: int, prompt: str) -> None:
        print(f"[{done}/{total}] {prompt}", file=sys.stderr)

    traces = record_traces(load_prompts(args.prompts), args.out, args.model, max_tokens=args.max_tokens,
                           seed=args.seed, progress=show)
    for t in traces:
        text = [d for d in t.deltas if isinstance(d.item, str)]
        span = text[-1].t_ms if text else 0.0
        print(f"{len(text):4d} deltas  first {text[0].t_ms if text else 0:6.1f} ms  last {span:7.1f} ms  "
              f"{t.prompt!r}\n      {t.text[:160]!r}")
    print(f"wrote {len(traces)} traces to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
