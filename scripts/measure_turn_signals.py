#!/usr/bin/env python3
"""Measure the end-of-turn signals on the spoken turn-taking set (issue 12).

Run ``scripts/make_turn_set.py`` first. Four parts, each printed as a table; everything also goes to
``OUT/signals.json``:

1. **Transcripts** (the project's ``WhisperSTT``, fast path): for a paused utterance, the audio up to
   ``lead`` ms after the pause starts (what the talk loop holds when it first sees the pause) and the
   whole utterance up to ``lead`` ms after its end; for a complete one, the whole. Cached in
   ``OUT/transcripts.json`` (``--restt`` to redo).
2. **Separation** of "done" (whole utterances) from "not done" (first halves of paused ones; and, as a
   second set, also complete transcripts cut at a random word boundary): ROC AUC, the best accuracy
   and its threshold, and the share of "done" recognised with no "not done" above the threshold, for
   ``looks_unfinished`` alone, the LM score variants alone (``voicecli.llm.eot``), and their
   combination (unfinished-looking text is never "done"). On Whisper transcripts and on the texts as
   written.
3. **Silero VAD** (``voicecli.audio.vad.Endpointer``, fed one 32 ms window at a time): the pause
   length the endpointer sees inside paused utterances, the lag from the true end of speech to where
   its silence count starts, and how many paused utterances it splits at several ``end_silence_ms``.
4. **Decision rules simulated** on those VAD timings and transcripts: take-overs (a commit inside the
   pause) on paused utterances and latency from the true end of speech to the commit on complete ones
   (VAD lag + the silence waited; the time to transcribe and score, which a speculative start
   overlaps with that silence, is not included).

``--latency THREADS`` measures only the LM score: load time, memory added, per-call latency.

Usage: ``.venv/bin/python scripts/measure_turn_signals.py [--set out/turnset] [--restt]``
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
from voicecli.audio.vad import WINDOW, WINDOW_MS, Endpointer  # noqa: E402
from voicecli.text.endofturn import looks_unfinished  # noqa: E402

SYSTEM = "You are a friendly voice assistant. Keep answers short: one or two plain sentences."  # engine default
HISTORY = [{"role": "system", "content": SYSTEM}]


# --- 1. transcripts ---------------------------------------------------------------------------------

def transcribe_set(root: Path, files: list[dict], stt_dir: Path, lead_s: float) -> dict[str, dict]:
    from voicecli.engine.types import Audio
    from voicecli.stt import WhisperSTT

    stt = WhisperSTT(stt_dir, threads=2)
    stt.warm_up()
    out = {}
    for f in files:
        audio = read_audio(root / f["file"])
        rate = audio.rate
        entry = {}
        cuts = {"whole": f["speech_end_s"]} | ({"first": f["pause_start_s"]} if f["kind"] == "paused" else {})
        for key, end in cuts.items():
            r = stt.transcribe_result(Audio(audio.samples[: int((end + lead_s) * rate)], rate))
            entry[key], entry[f"{key}_ms"] = r.text, round(r.stt_ms, 1)
        out[f["file"]] = entry
        print(f"  {f['file']:16s} {entry.get('first', '')!r:40s} {entry['whole']!r}")
    return out


# --- 2. separation ----------------------------------------------------------------------------------

def auc(pos: list[float], neg: list[float]) -> float:
    """ROC AUC: P(a done example scores above a not-done one), ties counting half."""
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def best_threshold(pos: list[float], neg: list[float]) -> dict[str, float]:
    """Best accuracy of "done if score >= t" and its t, and the recall of "done" at the lowest t that
    lets no not-done example through."""
    best = (-1.0, 0.0)
    for t in sorted(set(pos) | set(neg)):
        acc = (sum(s >= t for s in pos) + sum(s < t for s in neg)) / (len(pos) + len(neg))
        if acc > best[0]:
            best = (acc, t)
    safe = max(neg) if neg else -np.inf
    return {"accuracy": round(best[0], 3), "threshold": best[1],
            "recall_no_false_done": round(sum(s > safe for s in pos) / len(pos), 3)}


def lm_scores(scorer, texts: list[str]) -> dict[str, dict[str, float]]:
    return {t: scorer.probabilities(t, HISTORY) for t in sorted(set(texts))}


def separation(done: list[str], not_done: list[str], lm: dict[str, dict[str, float]]) -> dict[str, dict]:
    def log(p: float) -> float:
        return float(np.log(max(p, 1e-12)))

    signals = {
        "looks_unfinished": lambda t: 0.0 if looks_unfinished(t) else 1.0,
        "lm_raw": lambda t: log(lm[t]["raw"]),
        "lm_bare": lambda t: log(lm[t]["bare"]),
        "lm_sentence_end": lambda t: log(lm[t]["sentence_end"]),
        "lm_closed": lambda t: log(lm[t]["closed"]),
        "combined_sentence_end": lambda t: log(lm[t]["sentence_end"]) - (100.0 if looks_unfinished(t) else 0.0),
        "combined_closed": lambda t: log(lm[t]["closed"]) - (100.0 if looks_unfinished(t) else 0.0),
    }
    out = {}
    for name, f in signals.items():
        pos, neg = [f(t) for t in done], [f(t) for t in not_done]
        row = {"auc": round(auc(pos, neg), 3), **best_threshold(pos, neg)}
        if name != "looks_unfinished":  # thresholds as probabilities (combined: of its LM part)
            row["threshold"] = float(f"{np.exp(row['threshold'] + (100 if row['threshold'] < -50 else 0)):.3g}")
        out[name] = row
    return out


def print_separation(title: str, table: dict[str, dict], n_pos: int, n_neg: int) -> None:
    print(f"\n{title}  ({n_pos} done, {n_neg} not done)")
    print(f"  {'signal':22s} {'AUC':>6s} {'best acc':>9s} {'threshold':>10s} {'done recall, 0 false done':>26s}")
    for name, r in table.items():
        print(f"  {name:22s} {r['auc']:6.3f} {r['accuracy']:9.3f} {r['threshold']:10.3g} {r['recall_no_false_done']:26.3f}")


def random_cuts(texts: list[str], seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    cuts = []
    for t in texts:
        words = t.split()
        if len(words) >= 2:
            cuts.append(" ".join(words[: int(rng.integers(1, len(words)))]))
    return cuts


# --- 3. VAD -----------------------------------------------------------------------------------------

def vad_timings(samples: np.ndarray, f: dict) -> dict[str, float]:
    """Silence runs as the endpointer counts them (windows below its ``neg_threshold`` after onset)."""
    ep = Endpointer()
    probs = []
    for i in range(0, len(samples) - WINDOW + 1, WINDOW):
        ep.feed(samples[i:i + WINDOW])
        probs.append(ep.probability)
    probs = np.asarray(probs)
    start = int(np.argmax(probs >= ep.threshold))
    voiced = np.flatnonzero(probs >= ep.neg_threshold)
    voiced = voiced[voiced >= start]
    last = int(voiced[-1])
    gaps = np.diff(voiced) - 1  # silence windows between voiced windows
    out = {"vad_end_lag_ms": round((last + 1) * WINDOW_MS - f["speech_end_s"] * 1000, 1),
           "max_inner_gap_ms": round(float(gaps.max(initial=0)) * WINDOW_MS, 1)}
    if f["kind"] == "paused":
        in_pause = (voiced[:-1] + 1) * WINDOW_MS <= f["pause_end_s"] * 1000
        g = gaps[in_pause]
        out["pause_seen_ms"] = round(float(g.max(initial=0)) * WINDOW_MS, 1)
        k = int(np.flatnonzero(in_pause & (gaps == g.max(initial=0)))[-1]) if len(g) else 0
        out["pause_seen_start_lag_ms"] = round((voiced[k] + 1) * WINDOW_MS - f["pause_start_s"] * 1000, 1)
    return out


def splits(samples: np.ndarray, rate: int, end_silence_ms: float) -> int:
    from voicecli.engine.types import Audio

    return len(Endpointer(end_silence_ms=end_silence_ms).segments(Audio(samples, rate)))


# --- 4. decision rules ------------------------------------------------------------------------------

def simulate(files, vad, tr, lm, rule: str, commit_ms: float, wait_ms: float, thr: float,
             key: str = "sentence_end") -> dict[str, float]:
    """Commit after ``commit_ms`` of silence when the transcript looks done, else after ``wait_ms``."""
    def looks_done(text: str) -> bool:
        if rule == "silence":
            return True
        unfinished = looks_unfinished(text)
        lm_done = lm[text][key] >= thr
        return {"text": not unfinished, "lm": lm_done, "combined": lm_done and not unfinished}[rule]

    def wait(text: str) -> float:
        return commit_ms if looks_done(text) else wait_ms

    takeovers = sum(vad[f["file"]]["pause_seen_ms"] >= wait(tr[f["file"]]["first"])
                    for f in files if f["kind"] == "paused")
    lat = {k: [vad[f["file"]]["vad_end_lag_ms"] + wait(tr[f["file"]]["whole"]) for f in files if f["kind"] == k]
           for k in ("complete", "paused")}
    fast = sum(looks_done(tr[f["file"]]["whole"]) for f in files if f["kind"] == "complete")
    return {"takeovers": takeovers, "complete_fast_commits": fast, "median_latency_complete_ms": round(statistics.median(lat["complete"])),
            "p90_latency_complete_ms": round(float(np.percentile(lat["complete"], 90))),
            "median_latency_paused_ms": round(statistics.median(lat["paused"]))}


def rss_kb() -> dict[str, int]:
    status = Path("/proc/self/status").read_text().splitlines()
    return {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in status) if k in ("VmRSS", "RssAnon", "RssFile")}


def lm_latency(model: Path, texts: list[str], threads: int, calls: int = 50) -> dict[str, float]:
    """Load time, memory added, and per-call latency of ``LlamaEndOfTurn.probability`` (ms)."""
    from voicecli.llm.eot import LlamaEndOfTurn

    before = rss_kb()
    t0 = time.perf_counter()
    scorer = LlamaEndOfTurn(model, n_threads=threads)
    out: dict[str, float] = {"load_ms": round((time.perf_counter() - t0) * 1000, 1)}
    scorer.warm_up(HISTORY)
    after = rss_kb()
    out.update({f"{k}_added_mb": round((after[k] - before[k]) / 1024, 1) for k in after})

    def timed(fn) -> list[float]:
        ms = []
        for i in range(calls):
            t = time.perf_counter()
            fn(i)
            ms.append((time.perf_counter() - t) * 1000)
        return ms

    cases = {
        # a new utterance each call, the conversation prefix cached (the usual case)
        "new_text": lambda i: scorer.probability(texts[i % len(texts)], HISTORY),
        # nothing cached: the whole prompt (system prompt + words) evaluated
        "cold": lambda i: (scorer.llm.reset(), scorer.probability(texts[i % len(texts)], HISTORY)),
        # the same words again (a re-check of an unchanged transcript)
        "same_text": lambda i: scorer.probability(texts[0], HISTORY),
    }
    longest = max(texts, key=len).split()
    for lookahead in (False, True):
        scorer.lookahead = lookahead
        for name, fn in cases.items():
            ms = timed(fn)
            name = f"{'closed' if lookahead else 'sentence_end'}_{name}"
            out[f"{name}_median_ms"] = round(statistics.median(ms), 1)
            out[f"{name}_p90_ms"] = round(float(np.percentile(ms, 90)), 1)
        # a transcript growing word by word (what a streaming STT would feed)
        ms = timed(lambda i: scorer.probability(" ".join(longest[: 1 + i % len(longest)]), HISTORY))
        out[f"{'closed' if lookahead else 'sentence_end'}_growing_median_ms"] = round(statistics.median(ms), 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ROOT / "out" / "turnset")
    parser.add_argument("--stt-model", type=Path, default=ROOT / "models" / "stt" / "whisper-tiny.en")
    parser.add_argument("--llm-model", type=Path, default=ROOT / "models" / "llm" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--lead-ms", type=float, default=200, help="audio kept after the pause/end for STT")
    parser.add_argument("--restt", action="store_true", help="transcribe again even if cached")
    parser.add_argument("--latency", type=int, metavar="THREADS", default=0,
                        help="only measure the LM score's load time, memory and latency with THREADS threads")
    args = parser.parse_args()
    manifest = json.loads((args.set / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["files"]
    if args.latency:
        texts = [f["text"] for f in files if 5 <= len(f["text"].split()) <= 15]
        result = lm_latency(args.llm_model, texts, args.latency)
        print(f"LM end-of-turn score, {args.latency} thread(s), {len(texts)} texts of 5-15 words, 50 calls each:")
        print("  " + "\n  ".join(f"{k:24s} {v}" for k, v in result.items()))
        return 0
    paused = [f for f in files if f["kind"] == "paused"]
    complete = [f for f in files if f["kind"] == "complete"]
    report: dict = {}

    cache = args.set / "transcripts.json"
    if args.restt or not cache.exists():
        print("1. transcribing (WhisperSTT fast path)")
        tr = transcribe_set(args.set, files, args.stt_model, args.lead_ms / 1000)
        cache.write_text(json.dumps(tr, indent=1) + "\n", encoding="utf-8")
    tr = json.loads(cache.read_text(encoding="utf-8"))
    firsts_ms = [tr[f["file"]]["first_ms"] for f in paused]
    report["stt_first_half_ms_median"] = statistics.median(firsts_ms)

    from voicecli.llm.eot import LlamaEndOfTurn

    scorer = LlamaEndOfTurn(args.llm_model)
    sets = {
        "transcripts": ([tr[f["file"]]["whole"] for f in files], [tr[f["file"]]["first"] for f in paused],
                        [tr[f["file"]]["whole"] for f in complete]),
        "written text": ([f["text"] for f in files], [f["parts"][0] for f in paused], [f["text"] for f in complete]),
    }
    lm: dict[str, dict[str, float]] = {}
    for source, (done, halves, comp) in sets.items():
        cuts = random_cuts([c.rstrip(".?!") for c in comp])
        lm.update(lm_scores(scorer, done + halves + cuts))
        for label, neg in (("first halves", halves), ("first halves + random cuts", halves + cuts)):
            table = separation(done, neg, lm)
            report[f"separation {source}: {label}"] = table
            print_separation(f"2. {source}: whole vs {label}", table, len(done), len(neg))
    misses = [(t, round(lm[t]["closed"], 4), looks_unfinished(t)) for t in
              [tr[f["file"]]["first"] for f in paused] + [tr[f["file"]]["whole"] for f in files]]
    report["lm_scores"] = misses

    print("\n3. Silero VAD (Endpointer defaults: threshold 0.5, silence below 0.35)")
    vad, split_counts = {}, {s: 0 for s in (200, 300, 500, 700, 1000)}
    for f in files:
        audio = read_audio(args.set / f["file"])
        vad[f["file"]] = vad_timings(audio.samples, f)
        if f["kind"] == "paused":
            for s in split_counts:
                split_counts[s] += splits(audio.samples, audio.rate, s) > 1
    pauses = [vad[f["file"]]["pause_seen_ms"] for f in paused]
    true_pauses = [f["pause_s"] * 1000 for f in paused]
    lags = [vad[f["file"]]["vad_end_lag_ms"] for f in files]
    inner = [vad[f["file"]]["max_inner_gap_ms"] for f in complete]
    def dist(xs):
        return {"min": min(xs), "p10": float(np.percentile(xs, 10)), "median": statistics.median(xs),
                "p90": float(np.percentile(xs, 90)), "max": max(xs)}
    report["vad"] = {"true_pause_ms": dist(true_pauses), "pause_seen_ms": dist(pauses),
                     "end_lag_ms": dist(lags), "complete_max_inner_gap_ms": dist(inner),
                     "paused_split_at_end_silence_ms": split_counts, "per_file": vad}
    for k, v in report["vad"].items():
        if k != "per_file":
            print(f"  {k:32s} " + "  ".join(f"{a} {b:.0f}" for a, b in v.items()))

    print(f"\n4. decision rules (take-overs out of {len(paused)} paused; latency = true end of speech -> commit)")
    rules = [("silence", s, s, 0.0, "") for s in (200, 300, 500, 700, 1000, 1200)]
    for w in (1000, 1200):
        rules.append(("text", 200, w, 0.0, ""))
        for key, thrs in (("sentence_end", (0.05, 0.1, 0.2, 0.3, 0.4)), ("closed", (0.003, 0.01, 0.03, 0.05, 0.1))):
            for thr in thrs:
                rules += [("lm", 200, w, thr, key), ("combined", 200, w, thr, key)]
    report["rules"] = []
    for rule, c, w, thr, key in rules:
        r = simulate(files, vad, tr, lm, rule, c, w, thr, key or "sentence_end")
        report["rules"].append({"rule": rule, "score": key, "commit_ms": c, "wait_ms": w, "lm_threshold": thr, **r})
        print(f"  {rule:9s} {key:12s} commit {c:4d} wait {w:5d} thr {thr:<5g}  take-overs {r['takeovers']:2d}  "
              f"fast {r['complete_fast_commits']:2d}/{len(complete)}  complete median {r['median_latency_complete_ms']:5d} p90 {r['p90_latency_complete_ms']:5d}  "
              f"paused median {r['median_latency_paused_ms']:5d}")

    t0 = time.perf_counter()
    (args.set / "signals.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten {args.set / 'signals.json'} ({(time.perf_counter() - t0) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
