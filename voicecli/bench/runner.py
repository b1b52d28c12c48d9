"""One benchmark loop, two token sources: recorded traces replayed, or the live model.

    for run in warm-up runs + counted runs:
        for item in source:                    # a recorded response, or a live prompt
            source.prepare(item)               # live: the raw parts, measured alone
            for strategy in strategies:        # interleaved, so machine noise hits every strategy alike
                Engine(source.llm(item), real Piper, NullSink).turn()  →  turn record
                source.measure(sample)         # live: the engine's overhead over the raw parts

Every strategy sees the very same token stream at the very same pace, through the very same engine
the user runs; only the chunker differs. Playback is simulated by the speaker's playback clock (a
``NullSink`` plays nothing), so no sound card is needed and the figures are those ``--no-audio``
reports. Replays must chunk deterministically: the chunk texts of a trace are compared across runs of
a strategy, and any difference is an error, not noise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from voicecli.audio.sinks import NullSink
from voicecli.bench.baselines import ALL_STRATEGIES, make_bench_chunker
from voicecli.bench.stats import BenchResult, Sample, check_determinism, run_name
from voicecli.bench.traces import RECORD_SEED, Progress, SeededLLM, fresh_prefix, messages_for
from voicecli.config import DEFAULT_SYSTEM_PROMPT
from voicecli.engine.events import EventBus
from voicecli.engine.metrics import TurnRecord
from voicecli.engine.turn import Engine, EngineConfig
from voicecli.engine.types import LLM, TTS
from voicecli.errors import VoicecliError
from voicecli.llm.local import LlamaCppLLM
from voicecli.llm.replay import ReplayLLM, Trace

DEFAULT_STRATEGIES: tuple[str, ...] = ALL_STRATEGIES
"""``word, sentence, phrase, adaptive`` and the naive reference rows ``seed-sentence, seed-phrase``."""

RAW_SETTLE_S = 0.5
"""Pause before timing Piper alone: right after a turn it measured ~100 ms slower (the CPU still busy with
the turn's threads), 0.5 s later as fast as ever."""


def run_turn(llm: LLM, tts: TTS, strategy: str, prompt: str, *, options: dict[str, Any] | None = None,
             system_prompt: str = "") -> TurnRecord:
    """One turn through a fresh ``Engine`` (no tools, a ``NullSink``): its turn record."""
    config = EngineConfig(chunking=strategy, chunk_options=dict(options or {}), system_prompt=system_prompt,
                          make_chunker=make_bench_chunker)
    return Engine(llm, tts, NullSink(tts.sample_rate), EventBus(), config).turn(prompt).record


class TokenSource(Protocol):
    """Where a benchmark's token streams come from."""

    live: bool
    speed: float
    prompts: list[str | None]
    system_prompt: str
    warmup_item: int  # what a warm-up run replays
    unmatched: int  # live: turns whose reply differed from the raw stream

    def prepare(self, item: int) -> None: ...

    def llm(self, item: int) -> LLM: ...

    def measure(self, sample: Sample) -> None: ...


class ReplaySource:
    """Recorded traces, replayed at their recorded pace (``speed`` times faster)."""

    live = False
    system_prompt = ""  # a recorded response already carries its prompt's effect
    unmatched = 0

    def __init__(self, traces: Sequence[Trace], speed: float = 1.0):
        if not traces:
            raise VoicecliError("no traces to replay", "record some with `voicecli bench --record FILE.jsonl`")
        self.traces, self.speed = list(traces), speed
        self.prompts = [t.prompt for t in self.traces]
        self.warmup_item = max(range(len(self.traces)), key=lambda i: len(self.traces[i].text))

    def prepare(self, item: int) -> None:
        pass

    def llm(self, item: int) -> LLM:
        return ReplayLLM([self.traces[item]], self.speed)

    def measure(self, sample: Sample) -> None:
        pass


class LiveSource:
    """The live model, seeded, with each turn's raw parts measured for the engine overhead.

    For each prompt the raw LLM part is measured first: the prompt streamed directly through
    llama-cpp-python, from the same seed and cache state (system prompt evaluated) as every turn, so
    they produce the same reply. A turn's raw parts are the raw stream's time to the text of its
    first spoken chunk plus Piper's time to synthesise that chunk alone (measured after the turn,
    once the machine has settled); a turn whose reply differs from the raw stream's gets no overhead
    figure (counted in ``unmatched``).
    """

    live = True
    speed = 1.0
    warmup_item = 0

    def __init__(self, prompts: Sequence[str], llm: LlamaCppLLM, tts: TTS, *,
                 system_prompt: str = DEFAULT_SYSTEM_PROMPT, seed: int = RECORD_SEED):
        if not prompts:
            raise VoicecliError("no prompts to run", "give a prompt file with one prompt per line")
        self.prompts: list[str | None] = list(prompts)
        self.model, self.tts, self.system_prompt = llm, tts, system_prompt
        self.seeded = SeededLLM(llm, seed)
        self.unmatched = 0
        self._raw: tuple[list[tuple[float, str]], str] = ([], "")

    def prepare(self, item: int) -> None:
        fresh_prefix(self.model, self.system_prompt)
        deltas: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        for piece in self.seeded.stream(messages_for(self.prompts[item] or "", self.system_prompt)):
            if isinstance(piece, str):
                deltas.append(((time.perf_counter() - t0) * 1000.0, piece))
        self._raw = (deltas, "".join(d for _, d in deltas))

    def llm(self, item: int) -> LLM:
        fresh_prefix(self.model, self.system_prompt)
        return self.seeded

    def measure(self, sample: Sample) -> None:
        first = sample.record.first_spoken
        if first is None:
            return
        deltas, raw_text = self._raw
        upto = " ".join(c.text for c in sample.record.chunks if c.index <= first.index)
        same = _norm(sample.record.response) == _norm(raw_text)
        raw_llm = _time_to_text(deltas, upto) if same else None
        if raw_llm is None:
            self.unmatched += sample.run >= 0
            return
        sample.raw_llm_ms = raw_llm
        time.sleep(RAW_SETTLE_S)
        t0 = time.perf_counter()
        self.tts.synthesize(first.speech)
        sample.raw_tts_ms = (time.perf_counter() - t0) * 1000.0


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


def check_strategies(strategies: Sequence[str]) -> list[str]:
    if not strategies:
        raise VoicecliError("no chunking strategy to compare", f"choose from {', '.join(ALL_STRATEGIES)}")
    out = []
    for s in strategies:
        make_bench_chunker(s)  # raises VoicecliError naming the valid ones
        key = s.strip().lower()
        if key not in out:
            out.append(key)
    return out


def run_bench(source: TokenSource, strategies: Sequence[str] = DEFAULT_STRATEGIES, runs: int = 3,
              warmup: int = 1, *, tts: TTS, progress: Progress | None = None,
              chunk_options: dict[str, dict[str, Any]] | None = None) -> BenchResult:
    """Every item of ``source`` through every strategy ``runs`` times, after ``warmup`` uncounted runs.

    A warm-up run does one item (a replay's longest trace) through every strategy: it warms the path on
    chunks of every size without doubling the run time. In each counted run every item goes through
    every strategy in turn, so a slow moment of the machine hits all strategies alike.
    ``chunk_options`` maps a strategy to options for its chunker (``{"adaptive": {"first_max_words": 3}}``).
    Replays raise :class:`NondeterministicChunks` if a strategy chunks a trace differently in two runs.
    """
    strategies = check_strategies(strategies)
    if runs < 1 or warmup < 0:
        raise VoicecliError(f"runs must be at least 1 (got {runs}) and warm-up runs at least 0", "use --runs 1 or more")
    chunk_options = chunk_options or {}
    plan = [(-1, source.warmup_item)] * warmup + [(run, i) for run in range(runs) for i in range(len(source.prompts))]
    total = len(plan) * (len(strategies) + source.live)
    done = 0
    samples: list[Sample] = []

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    for run, i in plan:
        label = run_name(run).removeprefix("the ")
        source.prepare(i)
        if source.live:
            tick(f"{label} · raw llama.cpp · prompt {i + 1}")
        for s in strategies:
            record = run_turn(source.llm(i), tts, s, source.prompts[i] or "", options=chunk_options.get(s),
                              system_prompt=source.system_prompt)
            sample = Sample(s, i, run, record)
            source.measure(sample)
            samples.append(sample)
            tick(f"{label} · {s} · {'prompt' if source.live else 'trace'} {i + 1}")
    if not source.live:
        check_determinism(samples)
    return BenchResult(strategies, source.prompts, runs, warmup, source.speed, source.live,
                       [x for x in samples if x.run >= 0], unmatched=source.unmatched)
