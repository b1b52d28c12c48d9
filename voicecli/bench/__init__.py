"""``voicecli bench``: which chunking strategy gets audio out first, without gaps, on identical token streams.

How a benchmark runs (replay mode, the default)::

    for run in warm-up runs + counted runs:
        for trace in traces:                  # recorded LLM responses, with their real timing
            for strategy in strategies:       # interleaved, so machine noise hits every strategy alike
                Engine(ReplayLLM([trace]), real Piper, NullSink) . turn()  →  turn record + timeline

Every strategy sees the very same token stream at the very same pace, through the very same engine
the user runs (``voicecli.engine.turn``); only the chunker differs. Playback is simulated by the
pipeline's ``PlaybackClock`` (a ``NullSink`` plays nothing), so no sound card is needed and the
figures are those ``--no-audio`` reports. Replays must chunk deterministically: the chunk texts of a
trace are compared across runs of a strategy, and any difference is an error, not noise.

Per strategy, the median and the 90th percentile over traces × runs of each metric in
:data:`METRICS` become one row. ``--live`` runs the prompts against the live local model instead,
end to end, and also measures the engine's overhead (issue 4): the engine's time to first audio
against the sum of the raw parts measured in the same run, llama-cpp-python's own time to produce
the first spoken chunk's text (streamed directly, same seed and cache state) plus Piper's time to
synthesise that chunk alone.

Traces are recorded with :func:`record_traces` (``voicecli bench --record FILE.jsonl``); the bundled
set ``voicecli/bench/data/traces/default.jsonl`` was recorded from the embedded SmolLM2-135M over
``voicecli/bench/data/prompts.txt`` by ``scripts/record_traces.py``.

No Typer here: :func:`bench_main` takes plain arguments and raises ``VoicecliError`` for mistakes.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecli.audio.sinks import NullSink
from voicecli.engine.events import Event, EventBus
from voicecli.engine.turn import DEFAULT_SYSTEM_PROMPT, Engine, EngineConfig
from voicecli.errors import VoicecliError
from voicecli.llm.replay import RecordingLLM, ReplayLLM, Trace, load_traces
from voicecli.text.chunking import ALL_STRATEGIES, make_chunker

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PROMPTS = DATA_DIR / "prompts.txt"
DEFAULT_TRACES = DATA_DIR / "traces" / "default.jsonl"
DEFAULT_STRATEGIES: tuple[str, ...] = ALL_STRATEGIES
"""``word, sentence, phrase, adaptive`` and the naive reference rows ``seed-sentence, seed-phrase``."""
RECORD_MAX_TOKENS = 160
RECORD_SEED = 7

Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)``: called after each turn (``what`` names it)."""


# --- Prompts and the seeded live model ------------------------------------------------------------


def load_prompts(path: str | Path | None = None) -> list[str]:
    """The prompts in ``path`` (default: the bundled set), one per line; blank lines and ``#`` comments skipped."""
    path = Path(path) if path is not None else DEFAULT_PROMPTS
    if not path.is_file():
        raise VoicecliError(f"prompt file not found: {path}", "give a text file with one prompt per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise VoicecliError(f"cannot read prompt file {path}: {e}", "give a UTF-8 text file with one prompt per line") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise VoicecliError(f"prompt file {path} holds no prompts", "write one prompt per line")
    return prompts


class SeededLLM:
    """A ``LlamaCppLLM`` whose every ``stream()`` starts from the same sampling seed.

    llama-cpp-python derives each call's seed from the previous one, so two calls with the same
    prompt sample differently. Resetting the seed before each call makes a prompt's reply the same
    in a recording, in the engine's turn and in the raw stream it is compared with.
    Everything else (``backend``, ``count_tokens``, ``n_ctx``, ``warm_up``...) is the wrapped model's.
    """

    def __init__(self, inner: Any, seed: int = RECORD_SEED, max_tokens: int | None = None):
        self.inner = inner
        self.seed = seed
        self.max_tokens = max_tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stream(self, messages, *, tools=None, tool_choice=None, **kw) -> Iterator[Any]:
        self.inner.llm.set_seed(self.seed)
        if self.max_tokens is not None:
            kw.setdefault("max_tokens", self.max_tokens)
        return self.inner.stream(messages, tools=tools, tool_choice=tool_choice, **kw)


def _messages(prompt: str, system_prompt: str) -> list[dict[str, Any]]:
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [{"role": "user", "content": prompt}]


def _fresh_prefix(llm: Any, system_prompt: str) -> None:
    """Put the model's KV cache in the state of a first turn after start-up: the system prompt evaluated.

    Every prompt (recorded, benchmarked live or streamed raw) then starts from the same cache state, so
    no measurement gains from a prefix a previous one left behind.
    """
    warm = getattr(llm, "warm_up", None)
    if warm is not None:
        warm(_messages("", system_prompt)[:-1])


def load_llm(llm_model: str | Path | None = None, *, max_tokens: int = RECORD_MAX_TOKENS) -> Any:
    """The local GGUF model (default: the embedded one), ready for recording or a live bench."""
    from voicecli.config import resolve_model
    from voicecli.llm.local import LlamaCppLLM

    return LlamaCppLLM(resolve_model("llm", llm_model).require(), max_tokens=max_tokens)


def load_voice(voice: str | Path | None = None) -> Any:
    """The Piper voice (default: the embedded one), warmed up."""
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts", voice).require())
    tts.warm_up()
    return tts


def record_traces(prompts: Sequence[str], path: str | Path, llm_model_path: str | Path | None = None, *,
                  llm: Any = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                  max_tokens: int = RECORD_MAX_TOKENS, seed: int = RECORD_SEED,
                  progress: Progress | None = None) -> list[Trace]:
    """Stream each prompt through the live model and write one trace line per response to ``path``.

    ``path`` is overwritten. Each prompt is a first turn: the pipeline's system prompt (already
    evaluated, as after ``Engine.warm_up``), then the prompt; ``seed`` makes the recording
    reproducible. Pass ``llm`` to use an already loaded model (``llm_model_path`` is then ignored).
    Returns the traces as written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    llm = llm if llm is not None else load_llm(llm_model_path, max_tokens=max_tokens)
    model = Path(getattr(llm, "path", "") or "").name or None
    meta = {"model": model, "seed": seed, "max_tokens": max_tokens,
            "temperature": getattr(llm, "params", {}).get("temperature"), "system_prompt": system_prompt}
    recorder = RecordingLLM(SeededLLM(llm, seed, max_tokens), path, meta)
    for i, prompt in enumerate(prompts):
        _fresh_prefix(llm, system_prompt)
        for _ in recorder.stream(_messages(prompt, system_prompt)):
            pass
        if progress is not None:
            progress(i + 1, len(prompts), prompt)
    return load_traces(path)


# --- One turn, observed --------------------------------------------------------------------------


@dataclass
class ChunkTiming:
    """One chunk of one turn, in milliseconds since the LLM request (``None``: it never got that far)."""

    index: int
    text: str
    spoken: str
    ready_ms: float
    synth_start_ms: float | None = None
    synth_end_ms: float | None = None
    play_start_ms: float | None = None
    play_end_ms: float | None = None


@dataclass
class Timeline:
    """When each chunk of a turn was ready, synthesised and played: what ``--plot`` draws."""

    first_token_ms: float | None = None
    last_token_ms: float | None = None
    chunks: list[ChunkTiming] = field(default_factory=list)

    @property
    def first_spoken(self) -> ChunkTiming | None:
        """The chunk whose audio came first (chunks with nothing speakable are skipped by the engine)."""
        return next((c for c in self.chunks if c.synth_end_ms is not None), None)


class _TimelineObserver:
    """Builds a :class:`Timeline` from one turn's events (an observer on the engine's bus)."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.timeline = Timeline()
        self._by_index: dict[int, ChunkTiming] = {}

    def _ms(self, t: float) -> float:
        return round((t - (self.t0 or t)) * 1000.0, 1)

    def __call__(self, ev: Event) -> None:
        k = ev.kind
        if k == "llm_request" and self.t0 is None:
            self.t0 = ev.t
        elif k == "token":
            if self.timeline.first_token_ms is None:
                self.timeline.first_token_ms = self._ms(ev.t)
            self.timeline.last_token_ms = self._ms(ev.t)
        elif k == "chunk_ready":
            c = ChunkTiming(ev["index"], ev["text"], ev.get("spoken", ev["text"]), self._ms(ev.t))
            self._by_index[c.index] = c
            self.timeline.chunks.append(c)
        elif k in ("synth_start", "synth_end", "audio_start") and ev.get("index") in self._by_index:
            c = self._by_index[ev["index"]]
            if k == "synth_start":
                c.synth_start_ms = self._ms(ev.t)
            elif k == "synth_end":
                c.synth_end_ms = self._ms(ev.t)
            else:
                c.play_start_ms = self._ms(ev.t)
                c.play_end_ms = self._ms(ev["end"])


def run_turn(llm: Any, tts: Any, strategy: str, prompt: str, *, options: dict[str, Any] | None = None,
             system_prompt: str = "") -> tuple[dict[str, Any], Timeline]:
    """One turn through a fresh ``Engine`` (no tools, a ``NullSink``): its turn record and timeline."""
    bus = EventBus()
    observer = _TimelineObserver()
    bus.subscribe(observer)
    config = EngineConfig(chunking=strategy, chunk_options=dict(options or {}), system_prompt=system_prompt)
    engine = Engine(llm, tts, NullSink(tts.sample_rate), bus, config)
    record = engine.turn(prompt)
    return record, observer.timeline


# --- Metrics and their aggregation ---------------------------------------------------------------


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
    Metric("boundary_quality", "natural", better="higher", percent=True,
           count_key="natural_chunks"),
)
"""What is compared, per strategy (median and p90 over traces × runs); lower is better unless marked.

``chunk_chars``: mean chunk length in characters; ``synth_ms``: total synthesis time of the turn;
``gap_ms``: total silence after the first audio; ``tail_ms``: last token to the end of speech;
``boundary_quality``: share of all chunks (of all turns) that end at a natural boundary (see
:func:`natural_share`); pooled, because a median of per-turn shares is 100% as soon as half the
replies are short.
"""

LIVE_METRICS: tuple[Metric, ...] = (
    Metric("raw_ms", "raw parts", better=""),
    Metric("overhead_ms", "overhead"),
    Metric("overhead_pct", "overhead %"),
)
"""Extra columns of a ``--live`` bench: the engine's TTFA against the raw parts (see the module doc)."""


def _squashed_ends(chunks: Sequence[str]) -> list[int]:
    """Where each chunk ends, counted in non-whitespace characters (immune to how whitespace was normalised)."""
    ends, n = [], 0
    for c in chunks:
        n += len("".join(c.split()))
        ends.append(n)
    return ends


def natural_count(chunks: Sequence[str], response: str | None = None) -> int:
    """How many of ``chunks`` that end where a speaker would pause: a sentence end, a clause end, a line end.

    The reference is the project's boundary engine run over the whole reply (the ``phrase`` chunker
    with no minimum and no maximum length cuts at every clause, sentence and line boundary); a chunk
    ends naturally when its end falls on one of those cuts; the end of the reply always does.
    Judging the chunk's last characters alone (``chunking.boundary_kind``) would count the naive
    splitters' cuts after "Dr." or a list number "1." as sentence ends, and a list item ending
    without punctuation as a word cut.
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


def sample_metrics(record: dict[str, Any]) -> dict[str, float | None]:
    """The :data:`METRICS` of one turn record (``None`` where the turn has no value, e.g. no audio)."""
    chunks = record.get("chunks") or []
    spoken = [c for c in chunks if c.get("synth_ms") is not None]
    return {
        "ttfc_ms": record.get("ttfc_ms"),
        "ttfa_ms": record.get("ttfa_ms"),
        "chunks": float(len(chunks)),
        "chunk_chars": statistics.fmean(len(c["text"]) for c in chunks) if chunks else None,
        "tts_calls": float(len(spoken)),
        "synth_ms": record.get("synth_total_ms"),
        "underruns": record.get("underruns"),
        "gap_ms": record.get("gap_ms"),
        "longest_gap_ms": record.get("longest_gap_ms"),
        "tail_ms": record.get("last_token_to_speech_end_ms"),
        "boundary_quality": natural_share([c["text"] for c in chunks], record.get("response")),
        "natural_chunks": float(natural_count([c["text"] for c in chunks], record.get("response"))),
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
    record: dict[str, Any]
    timeline: Timeline
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


def check_determinism(samples: Sequence[Sample]) -> None:
    """Raise :class:`NondeterministicChunks` unless each (strategy, trace) gave the same chunks in every run."""
    seen: dict[tuple[str, int], tuple[int, list[str]]] = {}
    for x in samples:
        texts = [c["text"] for c in x.record.get("chunks") or []]
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
                f"strategy {x.strategy!r} chunked trace {x.trace + 1} differently in {_run_name(run0)} and "
                f"{_run_name(x.run)}: chunk {i + 1} is {a!r} then {b!r}",
                "this is a chunker bug: please report it with the trace file")


# --- Running the benchmark -----------------------------------------------------------------------


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
        lengths = sorted((len(x.record.get("response") or ""), x.trace) for x in self.samples if x.run == 0)
        lengths = list(dict.fromkeys(lengths))
        return lengths[(len(lengths) - 1) // 2][1] if lengths else 0

    def timelines(self, trace: int) -> dict[str, Timeline]:
        """The first counted run's timeline of ``trace`` for each strategy."""
        out: dict[str, Timeline] = {}
        for x in self.samples:
            if x.trace == trace and x.run == 0 and x.strategy not in out:
                out[x.strategy] = x.timeline
        return {s: out[s] for s in self.strategies if s in out}

    def verdict(self) -> str:
        """One line: the default strategy (adaptive) against the sentence baseline, or fastest against slowest."""
        rows = [r for r in self.rows if r.get("ttfa_ms") is not None]
        if not rows:
            return "no strategy produced audio"
        names = [r["strategy"] for r in rows]
        focus = self.row("adaptive") if "adaptive" in names else min(rows, key=lambda r: r["ttfa_ms"])
        others = [r for r in rows if r is not focus]
        if not others:
            return f"{focus['strategy']}: median first audio {focus['ttfa_ms']:.0f} ms, {_n(focus['underruns'])} underruns"
        base = self.row("sentence") if "sentence" in names and focus["strategy"] != "sentence" else max(
            others, key=lambda r: r["ttfa_ms"])
        ratio = base["ttfa_ms"] / focus["ttfa_ms"] if focus["ttfa_ms"] > 0 else math.inf
        speed = f"{ratio:.1f}x sooner" if ratio >= 1 else f"{1 / ratio:.1f}x later"
        line = (f"{focus['strategy']}: first audio {speed} than {base['strategy']} "
                f"({focus['ttfa_ms']:.0f} vs {base['ttfa_ms']:.0f} ms median), "
                f"{_n(focus['underruns'])} underruns (vs {_n(base['underruns'])})")
        if focus.get("boundary_quality") is not None:
            line += f", {focus['boundary_quality'] * 100:.0f}% of chunks end at a natural pause"
        return line


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _check_strategies(strategies: Sequence[str]) -> list[str]:
    if not strategies:
        raise VoicecliError("no chunking strategy to compare", f"choose from {', '.join(ALL_STRATEGIES)}")
    out = []
    for s in strategies:
        make_chunker(s)  # raises VoicecliError naming the valid ones
        key = s.strip().lower()
        if key not in out:
            out.append(key)
    return out


def _run_name(run: int) -> str:
    return "the warm-up" if run < 0 else f"run {run + 1}"


def run_bench(traces: Sequence[Trace], strategies: Sequence[str] = DEFAULT_STRATEGIES, runs: int = 3,
              warmup: int = 1, *, tts: Any, speed: float = 1.0, progress: Progress | None = None,
              chunk_options: dict[str, dict[str, Any]] | None = None) -> BenchResult:
    """Replay every trace through every strategy ``runs`` times, after ``warmup`` uncounted warm-up runs.

    A warm-up run replays the longest trace once through every strategy (the voice was warmed up when
    it loaded; this warms the rest of the path on chunks of every size without doubling the run
    time). In each counted run every trace goes through every strategy in turn, so a slow moment of the
    machine hits all strategies alike. ``chunk_options`` maps a strategy to options for its chunker
    (e.g. ``{"adaptive": {"first_max_words": 3}}``). Raises :class:`NondeterministicChunks` if a
    strategy chunks a trace differently in two runs (the warm-up included).
    """
    strategies = _check_strategies(strategies)
    if runs < 1 or warmup < 0:
        raise VoicecliError(f"runs must be at least 1 (got {runs}) and warm-up runs at least 0", "use --runs 1 or more")
    if not traces:
        raise VoicecliError("no traces to replay", "record some with `voicecli bench --record FILE.jsonl`")
    chunk_options = chunk_options or {}
    longest = max(range(len(traces)), key=lambda i: len(traces[i].text))
    plan = [(-1, longest)] * warmup + [(run, ti) for run in range(runs) for ti in range(len(traces))]
    total = len(plan) * len(strategies)
    done = 0
    samples: list[Sample] = []
    checked: list[Sample] = []
    for run, ti in plan:
        trace = traces[ti]
        for s in strategies:
            record, timeline = run_turn(ReplayLLM([trace], speed), tts, s, trace.prompt or "",
                                        options=chunk_options.get(s))
            sample = Sample(s, ti, run, record, timeline)
            checked.append(sample)
            if run >= 0:
                samples.append(sample)
            done += 1
            if progress is not None:
                progress(done, total, f"{_run_name(run).removeprefix('the ')} · {s} · trace {ti + 1}")
    check_determinism(checked)
    return BenchResult(strategies, [t.prompt for t in traces], runs, warmup, speed, False, samples)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _time_to_text(deltas: Sequence[tuple[float, str]], target: str) -> float | None:
    """When the streamed text first contained ``target`` (whitespace-normalised) as its beginning."""
    target = _norm(target)
    acc = ""
    for t_ms, piece in deltas:
        acc += piece
        if _norm(acc).startswith(target):
            return t_ms
    return None


def _raw_stream(llm: Any, prompt: str, system_prompt: str) -> tuple[list[tuple[float, str]], str]:
    """llama-cpp-python alone on ``prompt``: each delta with its time (ms since the call), and the text."""
    deltas: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    for item in llm.stream(_messages(prompt, system_prompt)):
        if isinstance(item, str):
            deltas.append(((time.perf_counter() - t0) * 1000.0, item))
    return deltas, "".join(d for _, d in deltas)


RAW_SETTLE_S = 0.5
"""Pause before timing Piper alone: right after a turn it measured ~100 ms slower (the CPU still busy with
the turn's threads), 0.5 s later as fast as ever."""


def _raw_synth_ms(tts: Any, text: str) -> float:
    time.sleep(RAW_SETTLE_S)
    t0 = time.perf_counter()
    tts.synthesize(text)
    return (time.perf_counter() - t0) * 1000.0


def run_live(prompts: Sequence[str], strategies: Sequence[str] = DEFAULT_STRATEGIES, runs: int = 1,
             warmup: int = 1, *, llm: Any, tts: Any, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
             seed: int = RECORD_SEED, progress: Progress | None = None,
             chunk_options: dict[str, dict[str, Any]] | None = None) -> BenchResult:
    """The benchmark against the live model, end to end, with the engine overhead of each turn.

    A warm-up run (not counted) does the first prompt. For each prompt in each run, the prompt is
    first streamed directly through llama-cpp-python (the raw LLM part), then through the engine once
    per strategy; every call starts from the same seed and the same cache state (system prompt
    evaluated), so they produce the same reply. A turn's raw parts are the raw stream's time to the
    text of its first spoken chunk plus Piper's time to synthesise that chunk alone (measured after the
    turn, once the machine has settled); a turn whose reply differs from the raw stream's gets no
    overhead figure (counted in ``unmatched``).
    """
    strategies = _check_strategies(strategies)
    if runs < 1 or warmup < 0:
        raise VoicecliError(f"runs must be at least 1 (got {runs}) and warm-up runs at least 0", "use --runs 1 or more")
    if not prompts:
        raise VoicecliError("no prompts to run", "give a prompt file with one prompt per line")
    seeded = SeededLLM(llm, seed)
    chunk_options = chunk_options or {}
    plan = [(-1, 0)] * warmup + [(run, pi) for run in range(runs) for pi in range(len(prompts))]
    total = len(plan) * (len(strategies) + 1)
    done = 0
    samples: list[Sample] = []
    unmatched = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    for run, pi in plan:
        prompt = prompts[pi]
        label = _run_name(run).removeprefix("the ")
        _fresh_prefix(llm, system_prompt)
        deltas, raw_text = _raw_stream(seeded, prompt, system_prompt)
        tick(f"{label} · raw llama.cpp · prompt {pi + 1}")
        for s in strategies:
            _fresh_prefix(llm, system_prompt)
            record, timeline = run_turn(seeded, tts, s, prompt, options=chunk_options.get(s),
                                        system_prompt=system_prompt)
            sample = Sample(s, pi, run, record, timeline)
            first = timeline.first_spoken
            if first is not None:
                upto = [c.text for c in timeline.chunks if c.index <= first.index]
                same = _norm(record["response"]) == _norm(raw_text)
                raw_llm = _time_to_text(deltas, " ".join(upto)) if same else None
                if raw_llm is None:
                    unmatched += run >= 0
                else:
                    sample.raw_llm_ms = raw_llm
                    sample.raw_tts_ms = _raw_synth_ms(tts, first.spoken)
            if run >= 0:
                samples.append(sample)
            tick(f"{label} · {s} · prompt {pi + 1}")
    return BenchResult(strategies, list(prompts), runs, warmup, 1.0, True, samples, unmatched=unmatched)


# --- Output --------------------------------------------------------------------------------------


def _cell(m: Metric, value: float | None) -> str:
    if value is None:
        return "-"
    if m.percent:
        return f"{value * 100:.0f}%"
    if m.key in ("chunks", "tts_calls", "underruns"):
        return f"{value:g}"
    return f"{value:.0f}"


_NARROW_HIDDEN = ("tts_calls", "longest_gap_ms", "raw_ms")


def render_table(result: BenchResult, width: int = 200):
    """A Rich table: median (and p90, dimmed) per strategy; the best median of each column in bold green.

    For a terminal narrower than 150 columns the p90s are left out, and below 120 also the columns
    that repeat another (TTS calls, longest gap, raw parts) and the vertical rules; ``--json`` has all.
    """
    from rich import box
    from rich.table import Table

    p90 = width >= 150
    narrow = width < 120
    metrics = [m for m in result.metrics if not (narrow and m.key in _NARROW_HIDDEN)]
    mode = "live model" if result.live else f"{len(result.prompts)} recorded traces"
    caption = ("median [dim]p90[/dim]" if p90 else "median (all p90s in --json)")
    caption += (" over traces × runs; times in ms; chars: mean chunk length; synth: total synthesis; gap: silence "
                "after the first audio; tail: last token to end of speech; natural: chunks ending at a sentence, "
                "clause or line end; best per column in [bold green]green[/bold green] (lowest; highest for natural)")
    if result.live:
        caption += "; raw parts: llama.cpp to the first chunk's text + Piper on it alone; overhead: TTFA minus raw parts"
    table = Table(title=f"Chunking strategies · {mode} · {result.runs} run(s)", title_justify="left",
                  caption=caption, caption_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, show_edge=not narrow,
                  padding=(0, 0) if narrow else (0, 1))
    table.add_column("strategy", style="cyan", no_wrap=True)
    for m in metrics:
        table.add_column(m.label, justify="right")
    best: dict[str, float] = {}
    for m in metrics:
        vals = [r[m.key] for r in result.rows if r.get(m.key) is not None]
        if m.key == "overhead_pct" or m.key == "overhead_ms":
            vals = [abs(v) for v in vals]
        if vals and m.better:
            best[m.key] = max(vals) if m.better == "higher" else min(vals)
    seeds_started = False
    for r in result.rows:
        cells = []
        for m in metrics:
            v = r.get(m.key)
            text = _cell(m, v)
            tail = r.get(m.key + "_p90")
            if p90 and tail is not None and _cell(m, tail) != text:
                text += f" [dim]{_cell(m, tail)}[/dim]"
            cmp = abs(v) if v is not None and m.key.startswith("overhead") else v
            if cmp is not None and len(result.rows) > 1 and cmp == best.get(m.key):
                text = f"[bold green]{text}[/bold green]"
            cells.append(text)
        is_seed = r["strategy"].startswith("seed-")
        if is_seed and not seeds_started and r is not result.rows[0]:
            table.add_section()
        seeds_started = seeds_started or is_seed
        table.add_row(r["strategy"], *cells, style="dim" if is_seed else None)
    return table


def write_json(result: BenchResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(result.json_rows(), indent=2) + "\n", encoding="utf-8")


def _prepare_output(path: str | Path | None, what: str) -> Path | None:
    """Create the folder of an output file (``out/`` on a fresh clone) and fail early if it cannot be written."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise VoicecliError(f"{what} {path} is a folder", "give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as e:
        raise VoicecliError(f"cannot write {what} {path}: {e.strerror or e}", "choose a writable path") from None
    return path


def bench_main(strategies: Sequence[str] | None = None, runs: int = 3, traces: str | Path | None = None,
               json_path: str | Path | None = None, plot_path: str | Path | None = None, live: bool = False,
               record: str | Path | None = None, prompts: str | Path | None = None, speed: float = 1.0, *,
               warmup: int = 1, voice: str | Path | None = None, llm_model: str | Path | None = None,
               chunk_options: dict[str, dict[str, Any]] | None = None, console: Any = None) -> BenchResult | None:
    """What ``voicecli bench`` does; returns the result (``None`` after ``--record``).

    * ``record``: record fresh traces from the live model over ``prompts`` (default: the bundled set)
      into that file, and stop.
    * ``live``: benchmark the live model over ``prompts``, with the engine overhead.
    * otherwise: replay ``traces`` (default: the bundled recordings) at ``speed``.

    The table and verdict go to ``console`` (stdout by default), the progress bar to stderr.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console()
    strategies = _check_strategies(list(strategies) if strategies else list(DEFAULT_STRATEGIES))
    if runs < 1:
        raise VoicecliError(f"--runs {runs}: needs at least one run", "use --runs 1 or more")
    if speed < 0:
        raise VoicecliError(f"--speed {speed}: cannot be negative", "use 1 for real time, 2 for twice as fast, 0 for no waiting")
    if record is not None and (live or traces is not None):
        raise VoicecliError("--record cannot be combined with --live or --traces", "record first, then bench the file with --traces")
    if live and traces is not None:
        raise VoicecliError("--live and --traces exclude each other", "drop one of them")
    if prompts is not None and not (live or record is not None):
        raise VoicecliError("--prompts is for --live and --record", "replay recorded traces with --traces FILE.jsonl")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise VoicecliError("--plot needs matplotlib", "pip install 'voicecli[plot]'") from None
    json_out = _prepare_output(json_path, "--json file")
    plot_out = _prepare_output(plot_path, "--plot file")
    prompt_list = load_prompts(prompts) if (live or record is not None) else []
    trace_list = load_traces(traces if traces is not None else DEFAULT_TRACES) if not (live or record is not None) else []

    progress_ui = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with progress_ui:
        task = progress_ui.add_task("loading models", total=None)

        def progress(done: int, total: int, what: str) -> None:
            progress_ui.update(task, completed=done, total=total, description=what)

        if record is not None:
            path = _prepare_output(record, "--record file")
            recorded = record_traces(prompt_list, path, llm_model, progress=progress)
            console.print(f"recorded {len(recorded)} responses to {path}; compare strategies on them with "
                          f"`voicecli bench --traces {path}`")
            return None
        tts = load_voice(voice)
        if live:
            llm = load_llm(llm_model, max_tokens=RECORD_MAX_TOKENS)
            result = run_live(prompt_list, strategies, runs, warmup, llm=llm, tts=tts, progress=progress,
                              chunk_options=chunk_options)
        else:
            result = run_bench(trace_list, strategies, runs, warmup, tts=tts, speed=speed, progress=progress,
                               chunk_options=chunk_options)

    console.print(render_table(result, console.width))
    console.print(f"[bold]{result.verdict()}[/bold]")
    if result.live:
        ov = result.overhead()
        if ov is None:
            console.print("engine overhead: no turn matched its raw stream, so none could be measured")
        else:
            console.print(f"engine overhead: median {ov['overhead_ms']:+.0f} ms ({ov['overhead_pct']:+.1f}%) over the "
                          f"raw parts ({ov['raw_ms']:.0f} ms: llama.cpp to the first chunk's text + Piper on that "
                          f"chunk), {ov['samples']} turns" + (f", {result.unmatched} unmatched" if result.unmatched else ""))
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"wrote {json_out}")
    if plot_out is not None:
        from voicecli.bench.plot import plot_timelines

        ti = result.representative_trace()
        plot_timelines(result.timelines(ti), plot_out, prompt=result.prompts[ti] if result.prompts else None)
        console.print(f"wrote {plot_out}")
    return result
