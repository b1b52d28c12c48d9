#!/usr/bin/env python3
"""How often the ``sentence`` strategy splits the public test cases exactly as expected.

Reads ``tests/data/chunking_public.jsonl`` (pySBD, syntok and segtok cases; see its NOTICE) and
prints the agreement over all cases and over those in scope, with the misses; ``--baseline REV``
also measures the chunker as it was at git revision ``REV``::

    python scripts/sbd_agreement.py [--baseline 8c0f110] [--misses]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from first_chunk_replay import load_revision  # noqa: E402

from voicecli.text import chunking  # noqa: E402

CASES = ROOT / "tests" / "data" / "chunking_public.jsonl"


def agreement(module, cases: list[dict]) -> tuple[int, int, int, int, list[dict]]:
    ok = ok_in = n_in = 0
    misses = []
    for case in cases:
        chunker = module.make_chunker("sentence", max_chars=None)
        got = chunker.feed(case["text"]) + chunker.flush()
        good = got == case["sentence"]
        in_scope = case["scope"] == "in"
        ok += good
        n_in += in_scope
        ok_in += good and in_scope
        if not good:
            misses.append({"id": case["id"], "scope": case["scope"], "expected": case["sentence"], "got": got})
    return ok, len(cases), ok_in, n_in, misses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", help="a git revision to compare with")
    ap.add_argument("--misses", action="store_true", help="print the cases that disagree")
    args = ap.parse_args()
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    versions = [("current", chunking)] + ([(args.baseline, load_revision(args.baseline))] if args.baseline else [])
    for label, module in versions:
        ok, n, ok_in, n_in, misses = agreement(module, cases)
        print(f"{label:8} all {ok}/{n} = {ok / n:.1%}   in scope {ok_in}/{n_in} = {ok_in / n_in:.1%}")
        if args.misses:
            for miss in misses:
                print("   ", json.dumps(miss, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
