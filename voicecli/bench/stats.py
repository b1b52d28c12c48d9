"""What the benchmark compares, per strategy: the metrics of each turn, their medians and p90s.

Every figure is read from the engine's own turn record (``voicecli.engine.metrics.TurnRecord``),
the same one ``--json`` prints: the benchmark computes no time of its own.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voicecli.engine.metrics import TurnRecord
from voicecli.errors import VoicecliError
from voicecli.text.chunking import make_chunker


@dataclass(frozen=True)
class Metric:
    key: str  # the JSON key (its p90 is ``key + "_p90"``)
    label: str  # the table header
    better: str = "lower"  # "lower", "higher", or "" for a descriptive column that is never highlighted
    percent: bool = False  # a share in [0, 1], shown as a percentage
    count_key: str | None = None  # pooled: this count summed over all turns / all their chunks (no median, no p90)


METRICS: tuple[Metric, ...] = (
    Metric("ttfc_ms", "TTFC"),
    Metric("ttfa_ms", "TTFA"),
    Metric("chunks", "chunks"),
    Metric("chunk_chars", "chars", better=""),  # neither: short is fast, long is natural
    Metric("tts_calls", "TTS calls"),
    Metric("synth_ms", "synth"),
    Metric("underruns", "underruns"),
    Metric("gap_ms", "gap"),
    Metric("longest_gap_ms", "max gap"),
    Metric("tail_ms", "tail"),
    Metric("longest_silence_ms", "silence"),
    Metric("boundary_quality", "natural", better="higher", percent=True, count_key="natural_chunks"),
)
"""What is compared, per strategy (median and p90 over traces × runs); lower is better unless marked.

``chunk_chars``: mean chunk length in characters; ``synth_ms``: total synthesis time of the turn;
``gap_ms``: total silence after the first audio; ``tail_ms``: last token to the end of speech;
``longest_silence_ms``: the longest silence the user would hear, from the request to the end of the
reply (the first wait included; the bench runs with no silence budget, so no holding phrase hides it);
``boundary_quality``: share of all chunks (of all turns) that end at a natural boundary (see
:func:`natural_share`); pooled, because a median of per-turn shares is 100% as soon as half the
replies are short.
"""

LIVE_METRICS: tuple[Metric, ...] = (
    Metric("raw_ms", "raw parts", better=""),
    Metric("overhead_ms", "overhead"),
    Metric("overhead_pct", "overhead %"),
)
"""Extra columns of a ``--live`` bench: the engine's TTFA against the raw parts (see ``runner``)."""


def _squashed_ends(chunks: Sequence[str]) -> list[int]:
    """Where each chunk ends, counted in non-whitespace characters (immune to how whitespace was normalised)."""
    ends, n = [], 0
    for c in chunks:
        n += len("".join(c.split()))
        ends.append(n)
    return ends


def natural_count(chunks: Sequence[str], response: str | None = None) -> int:
    """How many of ``chunks`` end where a speaker would pause: a sentence end, a clause end, a line end.

    The reference is the project's boundary engine run over the whole reply (the ``phrase`` chunker
    with no minimum and no maximum length cuts at every clause, sentence and line boundary); a chunk
    ends naturally when its end falls on one of those cuts; the end of the reply always does.
    Judging the chunk's last characters alone would count the naive splitters' cuts after "Dr." or a
    list number "1." as sentence ends, and a list item ending without punctuation as a word cut.
    ``response``: the reply the chunks were cut from (newlines included), if it matches them.
    """
    if not chunks:
        return 0
    joined = " ".join(chunks)
    source = response if response is not None and "".join(response.split()) == "".join(joined.split()) else joined
    reference = make_chunker("phrase", min_chars=0, max_chars=None)
    natural = set(_squashed_ends(reference.feed(source) + reference.flush()))
    return sum(end in natural for end in _squashed_ends(chunks))


def natural_share(chunks: Sequence[str], response: str | None = None) -> float | None:
    """The share of ``chunks`` that end at a natural pause (:func:`natural_count`); ``None`` for no chunks."""
    return natural_count(chunks, response) / len(chunks) if chunks else None


def sample_metrics(record: TurnRecord) -> dict[str, float | None]:
    """The :data:`METRICS` of one turn record (``None`` where the turn has no value, e.g. no audio)."""
    chunks = record.chunks
    texts = [c.text for c in chunks]
    return {
        "ttfc_ms": record.ttfc_ms,
        "ttfa_ms": record.ttfa_ms,
        "chunks": float(len(chunks)),
        "chunk_chars": statistics.fmean(len(t) for t in texts) if chunks else None,
        "tts_calls": float(sum(c.synth_ms is not None for c in chunks)),
        "synth_ms": record.synth_total_ms,
        "underruns": float(record.underruns),
        "gap_ms": record.gap_ms,
        "longest_gap_ms": record.longest_gap_ms,
        "tail_ms": record.last_token_to_speech_end_ms,
        "longest_silence_ms": record.longest_silence_ms,
        "boundary_quality": natural_share(texts, record.response),
        "natural_chunks": float(natural_count(texts, record.response)),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest ranks.

    ``percentile(v, 50)`` is the median; with 10 values, p90 lies 10% of the way from the 9th to the
    10th smallest.
    """
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Sample:
    """One counted turn: a strategy on a trace (or live prompt) in one run."""

    strategy: str
    trace: int
    run: int
    record: TurnRecord
    raw_llm_ms: float | None = None  # --live: llama-cpp-python alone, to the first spoken chunk's text
    raw_tts_ms: float | None = None  # --live: Piper alone, on that chunk

    @property
    def metrics(self) -> dict[str, float | None]:
        m = sample_metrics(self.record)
        if self.raw_llm_ms is not None and self.raw_tts_ms is not None and m["ttfa_ms"] is not None:
            raw = self.raw_llm_ms + self.raw_tts_ms
            m["raw_ms"] = raw
            m["overhead_ms"] = m["ttfa_ms"] - raw
            m["overhead_pct"] = 100.0 * (m["ttfa_ms"] - raw) / raw if raw > 0 else None
        return m


def summarize(samples: Sequence[Sample], strategies: Sequence[str],
              metrics: Sequence[Metric] = METRICS) -> list[dict[str, Any]]:
    """One row per strategy: each metric's median (``key``) and p90 (``key_p90``) over its samples.

    A pooled share (boundary quality) is the share over all chunks of the strategy's samples instead.
    """
    rows = []
    for s in strategies:
        mine = [x.metrics for x in samples if x.strategy == s]
        row: dict[str, Any] = {"strategy": s, "samples": len(mine)}
        for m in metrics:
            digits = 3 if m.percent else 1
            if m.count_key:
                total = sum(v["chunks"] or 0 for v in mine)
                row[m.key] = round(sum(v[m.count_key] or 0 for v in mine) / total, digits) if total else None
                continue
            vals = [v[m.key] for v in mine if v.get(m.key) is not None]
            row[m.key] = round(percentile(vals, 50), digits) if vals else None
            row[m.key + "_p90"] = round(percentile(vals, 90), digits) if vals else None
        rows.append(row)
    return rows


class NondeterministicChunks(VoicecliError):
    """A replayed trace chunked differently in two runs of one strategy: a bug in the chunker."""


def run_name(run: int) -> str:
    return "the warm-up" if run < 0 else f"run {run + 1}"


def check_determinism(samples: Sequence[Sample]) -> None:
    """Raise :class:`NondeterministicChunks` unless each (strategy, trace) gave the same chunks in every run."""
    seen: dict[tuple[str, int], tuple[int, list[str]]] = {}
    for x in samples:
        texts = [c.text for c in x.record.chunks]
        key = (x.strategy, x.trace)
        if key not in seen:
            seen[key] = (x.run, texts)
            continue
        run0, first = seen[key]
        if texts != first:
            i = next((i for i, (a, b) in enumerate(zip(first, texts)) if a != b), min(len(first), len(texts)))
            a = first[i] if i < len(first) else "<end>"
            b = texts[i] if i < len(texts) else "<end>"
            raise NondeterministicChunks(
                f"strategy {x.strategy!r} chunked trace {x.trace + 1} differently in {run_name(run0)} and "
                f"{run_name(x.run)}: chunk {i + 1} is {a!r} then {b!r}",
                "this is a chunker bug: please report it with the trace file")


@dataclass
class BenchResult:
    strategies: list[str]
    prompts: list[str | None]  # one per trace (or live prompt)
    runs: int
    warmup: int
    speed: float
    live: bool
    samples: list[Sample]
    unmatched: int = 0  # --live: turns whose reply differed from the raw stream (no overhead figure)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = summarize(self.samples, self.strategies, self.metrics)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return METRICS + LIVE_METRICS if self.live else METRICS

    def row(self, strategy: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["strategy"] == strategy), None)

    def json_rows(self) -> list[dict[str, Any]]:
        """The ``--json`` document: one object per strategy, medians under the metric names, p90s under ``*_p90``."""
        meta = {"mode": "live" if self.live else "replay", "runs": self.runs, "traces": len(self.prompts),
                "speed": self.speed}
        return [{**r, **meta} for r in self.rows]

    def overhead(self) -> dict[str, float] | None:
        """``--live``: the median engine overhead over all samples, in ms and % of the raw parts."""
        vals = [x.metrics for x in self.samples]
        ms = [v["overhead_ms"] for v in vals if v.get("overhead_ms") is not None]
        pct = [v["overhead_pct"] for v in vals if v.get("overhead_pct") is not None]
        raw = [v["raw_ms"] for v in vals if v.get("raw_ms") is not None]
        if not ms:
            return None
        return {"overhead_ms": round(percentile(ms, 50), 1), "overhead_pct": round(percentile(pct, 50), 1),
                "raw_ms": round(percentile(raw, 50), 1), "samples": len(ms)}

    def representative_trace(self) -> int:
        """The trace with the median reply length: what ``--plot`` shows."""
        lengths = sorted((len(x.record.response), x.trace) for x in self.samples if x.run == 0)
        lengths = list(dict.fromkeys(lengths))
        return lengths[(len(lengths) - 1) // 2][1] if lengths else 0

    def timelines(self, trace: int) -> dict[str, TurnRecord]:
        """The first counted run's record of ``trace`` for each strategy (what the plot draws)."""
        out: dict[str, TurnRecord] = {}
        for x in self.samples:
            if x.trace == trace and x.run == 0 and x.strategy not in out:
                out[x.strategy] = x.record
        return {s: out[s] for s in self.strategies if s in out}
