#!/usr/bin/env python3
"""Micro-benchmark of the chunkers: the cost of chunking a 10,000-token stream, per strategy.

The stream is the real-looking LLM replies of the regression corpus (markdown lists, numbers,
abbreviations), or the text of a recorded trace (``--trace FILE.jsonl``, the ``voicecli.llm.replay``
format), cut into BPE-like tokens (" capital", " 3", ".", "\\n") and repeated up to ``--tokens``.
Each run feeds a fresh chunker token by token and flushes it; the figure is the median of
``--runs`` runs. The budget is 50 ms for 10,000 tokens: the chunker must never be what delays the
audio. Also printed, from the same run: how many chunks, their mean length, the length of the first
chunk (what the time to first audio waits for) and the share of chunks that end at a sentence or
clause boundary (how natural the cuts are: ``voicecli.bench.stats.natural_share``, as in the bench).

    python scripts/bench_chunking.py [--tokens 10000] [--runs 7] [--trace FILE.jsonl] [--json OUT.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.bench.baselines import ALL_STRATEGIES  # noqa: E402
from voicecli.bench.baselines import make_bench_chunker as make_chunker  # noqa: E402
from voicecli.bench.stats import natural_share  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "chunking_corpus.jsonl"
BUDGET_MS = 50.0
_TOKEN = re.compile(r" ?[^\W\d_]{1,7}| ?\d{1,3}| ?[^\w\s]{1,2}|[ \t]*\n| +")


def corpus_text() -> str:
    cases = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return "\n\n".join(c["text"] for c in cases if c["category"] in ("llm", "markdown"))


def trace_text(path: Path) -> str:
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            deltas = json.loads(line).get("deltas", [])
            texts.append("".join(d["text"] for d in deltas if "text" in d))
    return "\n\n".join(texts)


def token_stream(text: str, tokens: int) -> list[str]:
    """``text`` cut into BPE-like tokens (leading space kept), repeated up to ``tokens`` tokens."""
    pieces = _TOKEN.findall(text + "\n\n")
    assert "".join(pieces) == text + "\n\n", "the tokenizer must not lose text"
    out: list[str] = []
    while len(out) < tokens:
        out.extend(pieces)
    return out[:tokens]


def run_once(name: str, deltas: list[str]) -> tuple[float, list[str]]:
    chunker = make_chunker(name)
    out: list[str] = []
    start = time.perf_counter()
    for delta in deltas:
        out += chunker.feed(delta)
    out += chunker.flush()
    return (time.perf_counter() - start) * 1000.0, out


def bench(name: str, deltas: list[str], runs: int) -> dict[str, object]:
    times, chunks = [], []
    for _ in range(runs):
        ms, chunks = run_once(name, deltas)
        times.append(ms)
    return {
        "strategy": name,
        "median_ms": round(statistics.median(times), 2),
        "min_ms": round(min(times), 2),
        "us_per_token": round(statistics.median(times) * 1000.0 / len(deltas), 2),
        "chunks": len(chunks),
        "mean_chars": round(statistics.mean(len(c) for c in chunks), 1) if chunks else 0,
        "first_chunk_chars": len(chunks[0]) if chunks else 0,
        "natural_share": round(natural_share(chunks, "".join(deltas)) or 0.0, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=10_000, help="tokens in the stream (default 10000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per strategy; the median is reported (default 7)")
    parser.add_argument("--trace", type=Path, help="take the text from a recorded trace (JSON Lines) instead of the corpus")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a strategy costs more than {BUDGET_MS:.0f} ms per 10,000 tokens")
    args = parser.parse_args(argv)

    text = trace_text(args.trace) if args.trace else corpus_text()
    deltas = token_stream(text, args.tokens)
    budget = BUDGET_MS * args.tokens / 10_000
    print(f"chunking {len(deltas)} tokens ({sum(map(len, deltas))} characters), median of {args.runs} runs; budget {budget:.0f} ms")
    print(f"{'strategy':<14}{'median ms':>10}{'us/token':>10}{'chunks':>8}{'mean chars':>11}{'1st chunk':>10}{'sentence/clause':>16}")
    results = []
    for name in ALL_STRATEGIES:
        r = bench(name, deltas, args.runs)
        results.append(r)
        flag = "" if r["median_ms"] <= budget else "  OVER BUDGET"
        print(f"{name:<14}{r['median_ms']:>10.1f}{r['us_per_token']:>10.2f}{r['chunks']:>8}{r['mean_chars']:>11}"
              f"{r['first_chunk_chars']:>10}{r['natural_share']:>16.1%}{flag}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"tokens": len(deltas), "runs": args.runs, "budget_ms": budget, "results": results}, indent=2))
    over = [r["strategy"] for r in results if r["median_ms"] > budget]
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
