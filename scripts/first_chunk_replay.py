#!/usr/bin/env python3
"""When does the first chunk come out? Replays recorded traces through the chunkers, without a clock.

Each trace (the ``voicecli.llm.replay`` format) holds the deltas of a real reply with the time each
arrived (``t_ms`` from the start of generation). A chunk is ready when the delta that completes it
has arrived, so the time to first chunk is the ``t_ms`` of the delta whose ``feed`` returned the
first chunk (or of the last delta, if only ``flush`` gave it). That is the figure ``voicecli bench``
reports as TTFC minus its own overhead, but deterministic: no sleeping, no noise from a busy machine.

``--baseline REV`` loads ``voicecli/text/chunking.py`` as it was at git revision ``REV`` next to the
current one, so a change is measured against the code before it in one run::

    python scripts/first_chunk_replay.py --baseline 8c0f110 [--strategies adaptive,sentence] [--traces FILE]

``--wait-cost`` measures, over the texts of the regression corpus cut into LLM-like tokens, what
deciding on the next word costs: how many chunks come out later than the token that brings the
first character after them (the wait after "U.S." before a capitalised word, before an item marker
"2."), and by how many tokens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.text import chunking as current  # noqa: E402

TRACES = ROOT / "voicecli" / "bench" / "data" / "traces" / "default.jsonl"


def load_revision(rev: str):
    """The chunking module as it was at ``rev`` (its imports resolve against the current tree)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:voicecli/text/chunking.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f"chunking_{rev}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"chunking_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def first_chunk_ms(module, strategy: str, deltas: list[dict]) -> tuple[float, str]:
    chunker = module.make_chunker(strategy)
    texts = [d for d in deltas if d.get("text")]
    for d in texts:
        out = chunker.feed(d["text"])
        if out:
            return d["t_ms"], out[0]
    out = chunker.flush()
    return (texts[-1]["t_ms"] if texts else 0.0), (out[0] if out else "")


def wait_cost(strategy: str) -> dict:
    import re

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_chunking import _TOKEN

    data = ROOT / "tests" / "data"
    texts = [json.loads(line)["text"] for name in ("chunking_public.jsonl", "chunking_corpus.jsonl")
             for line in (data / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [re.sub(r"[{}]", "", re.sub(r" ?‖ ?", " ", line.partition(": ")[2]))
              for line in (data / "chunking_cases.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    chunks_total, late, extra = 0, 0, []
    for text in texts:
        tokens = _TOKEN.findall(text)
        if "".join(tokens) != text:
            continue  # a script the token pattern does not cover
        starts, pos = [], 0
        for t in tokens:
            starts.append(pos)
            pos += len(t)
        chunker = current.make_chunker(strategy, max_chars=None)
        emitted = []
        for i, t in enumerate(tokens):
            emitted += [(c, i) for c in chunker.feed(t)]
        spans = [m.end() for m in re.finditer(r"\S+", text)]
        if sum(len(c.split()) for c, _ in emitted) > len(spans):
            continue  # tight marks (no spaces): words do not map to whitespace
        done = 0
        for chunk, i in emitted:  # chunks before flush only: flush has no later token
            done += len(chunk.split())
            end = spans[done - 1]
            m = re.compile(r"\S").search(text, end)
            if m is None:
                continue
            first = max(k for k, st in enumerate(starts) if st <= m.start())
            chunks_total += 1
            if i > first:
                late += 1
                extra.append(i - first)
    return {"strategy": strategy, "texts": len(texts), "chunks": chunks_total, "waited": late,
            "waited_share": round(late / max(chunks_total, 1), 4),
            "extra_tokens_mean": round(statistics.fmean(extra), 2) if extra else 0.0, "extra_tokens_max": max(extra, default=0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", type=Path, default=TRACES)
    ap.add_argument("--strategies", default="adaptive,sentence")
    ap.add_argument("--baseline", help="a git revision to compare with (e.g. 8c0f110)")
    ap.add_argument("--show", action="store_true", help="print each trace's first chunk")
    ap.add_argument("--wait-cost", action="store_true", help="what waiting for the next word costs, on the corpus")
    args = ap.parse_args()
    if args.wait_cost:
        for strategy in args.strategies.split(","):
            print(json.dumps(wait_cost(strategy)))
        return 0
    traces = [json.loads(line) for line in args.traces.read_text(encoding="utf-8").splitlines() if line.strip()]
    versions = [("current", current)] + ([(args.baseline, load_revision(args.baseline))] if args.baseline else [])
    report = {}
    for strategy in args.strategies.split(","):
        for label, module in versions:
            times = []
            for trace in traces:
                ms, chunk = first_chunk_ms(module, strategy, trace["deltas"])
                times.append(ms)
                if args.show:
                    print(f"  {strategy:9} {label:8} {ms:7.1f} ms  {chunk!r}")
            report[f"{strategy}/{label}"] = {"median_ms": round(statistics.median(times), 1),
                                             "mean_ms": round(statistics.fmean(times), 1), "traces": len(times)}
            print(f"{strategy:9} {label:8} median time to first chunk {statistics.median(times):6.1f} ms "
                  f"(mean {statistics.fmean(times):6.1f} ms, {len(times)} traces)")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
