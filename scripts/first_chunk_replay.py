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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", type=Path, default=TRACES)
    ap.add_argument("--strategies", default="adaptive,sentence")
    ap.add_argument("--baseline", help="a git revision to compare with (e.g. 8c0f110)")
    ap.add_argument("--show", action="store_true", help="print each trace's first chunk")
    args = ap.parse_args()
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
