"""The chunking benchmark: aggregation, determinism, outputs, errors; fast with a tone voice and synthetic traces."""

from __future__ import annotations

import io
import json
import struct

import pytest
from rich.console import Console

from voicecli.bench import main as bench_cmd
from voicecli.bench import runner
from voicecli.bench import traces as bench_traces
from voicecli.bench.main import bench_main
from voicecli.bench.report import render_table, verdict
from voicecli.bench.runner import LiveSource, ReplaySource, run_bench
from voicecli.bench.stats import (
    BenchResult,
    NondeterministicChunks,
    Sample,
    check_determinism,
    natural_share,
    percentile,
    sample_metrics,
    summarize,
)
from voicecli.config import Settings
from voicecli.engine.metrics import ChunkRecord, TurnRecord
from voicecli.errors import VoicecliError
from voicecli.llm.replay import Trace, _split_words, load_traces
from voicecli.tts import ToneTTS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG_FIRST_SENTENCE = ("The quick brown fox jumps over the lazy dog and then keeps running far into the woods. "
                       "Then it stops, looks back, and rests.")


def _trace(text: str, ms_per_item: float = 20.0, prompt: str = "p") -> Trace:
    return Trace.from_items(_split_words(text), ms_per_item=ms_per_item, first_ms=30.0, prompt=prompt)


def _record(ttfa: float | None, chunks: list[str], *, synthesized: int | None = None, **extra) -> TurnRecord:
    n = len(chunks) if synthesized is None else synthesized
    return TurnRecord(
        "test", ttfc_ms=None if ttfa is None else ttfa / 2, ttfa_ms=ttfa,
        chunks=[ChunkRecord(i, c, c, 1.0, 10.0 if i < n else None, 15.0 if i < n else None, audio_ms=100.0)
                for i, c in enumerate(chunks)],
        synth_total_ms=5.0 * n, underruns=extra.get("underruns", 0), gap_ms=extra.get("gap_ms", 0.0),
        longest_gap_ms=extra.get("gap_ms", 0.0), last_token_to_speech_end_ms=300.0, response=" ".join(chunks))


def _bench(**kwargs):
    """``bench_main`` with the default settings (``speed`` from the replay-speed setting)."""
    speed = kwargs.pop("speed", None)
    return bench_main(Settings.load({"speed": speed}, command="bench"), **kwargs)


def _tone() -> ToneTTS:
    return ToneTTS(ms_per_char=60.0, synth_s_per_char=0.001)


# --- aggregation ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks():
    values = [float(v) for v in range(100, 1001, 100)]  # 100..1000, shuffled order must not matter
    assert percentile(list(reversed(values)), 50) == 550.0
    assert percentile(values, 90) == pytest.approx(910.0)
    assert percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_sample_metrics_from_a_turn_record():
    m = sample_metrics(_record(200.0, ["Hello,", "big world.", "And then"], synthesized=2))
    assert m["chunks"] == 3 and m["tts_calls"] == 2
    assert m["chunk_chars"] == pytest.approx((6 + 10 + 8) / 3)
    assert m["boundary_quality"] == 1.0  # a clause end, a sentence end, the end of the reply
    assert m["ttfa_ms"] == 200.0 and m["tail_ms"] == 300.0


@pytest.mark.parametrize("chunks, response, share", [
    (["Dr.", "Smith said hi,", "then left.", "Bye"], None, 3 / 4),  # "Dr." is no sentence end
    (["Dr. Smith said", "hi, then left.", "Bye"], None, 2 / 3),
    (["1.", "Apples 2.", "Pears"], "1. Apples\n2. Pears", 1 / 3),  # the naive splitter on a list
    (["1. Apples", "2. Pears"], "1. Apples\n2. Pears", 1.0),  # line ends are natural pauses
    (["It was 3.", "14 today."], "It was 3.14 today.", 1 / 2),  # a number cut at its decimal point
    ([], None, None),
])
def test_natural_share_judges_where_each_chunk_ends(chunks, response, share):
    got = natural_share(chunks, response)
    assert got == (pytest.approx(share) if share is not None else None)


def test_summarize_takes_median_and_p90_per_strategy_over_traces_and_runs():
    samples = []
    for i, ttfa in enumerate([100.0, 200.0, 300.0, 400.0, None]):  # None: a turn with no audio is skipped
        samples.append(Sample("word", i, 0, _record(ttfa, ["a,", "b"], underruns=i)))
    samples.append(Sample("sentence", 0, 0, _record(900.0, ["A b."])))
    samples.append(Sample("seed-sentence", 0, 0, _record(1.0, ["Dr.", "Smith left."])))
    samples.append(Sample("seed-sentence", 1, 0, _record(1.0, ["Hi."])))
    rows = summarize(samples, ["word", "sentence", "seed-sentence"])
    word, sentence, seed = rows
    assert word["strategy"] == "word" and word["samples"] == 5
    assert word["ttfa_ms"] == 250.0 and word["ttfa_ms_p90"] == pytest.approx(370.0)
    assert word["underruns"] == 2.0 and word["underruns_p90"] == pytest.approx(3.6)
    assert word["boundary_quality"] == 1.0
    assert sentence["ttfa_ms"] == 900.0 and sentence["boundary_quality"] == 1.0
    # boundary quality is pooled over all chunks (2 of 3), not a median of per-turn shares (0.75)
    assert seed["boundary_quality"] == pytest.approx(2 / 3, abs=1e-3) and "boundary_quality_p90" not in seed


def test_verdict_compares_adaptive_with_sentence():
    samples = [Sample("sentence", 0, 0, _record(600.0, ["A b."], underruns=1)),
               Sample("adaptive", 0, 0, _record(200.0, ["A,", "b."]))]
    result = BenchResult(["sentence", "adaptive"], ["p"], 1, 0, 1.0, False, samples)
    line = verdict(result)
    assert line.startswith("adaptive: first audio 3.0x sooner than sentence")
    assert "0 underruns (vs 1)" in line and "100% of chunks" in line


# --- determinism ---------------------------------------------------------------------------------


def test_check_determinism_accepts_identical_chunks_and_rejects_different_ones():
    same = [Sample("phrase", 0, r, _record(1.0, ["Hello there,", "world."])) for r in range(3)]
    check_determinism(same)
    other = Sample("phrase", 0, 3, _record(1.0, ["Hello there, world."]))
    with pytest.raises(NondeterministicChunks, match="'phrase'.*trace 1.*run 1 and run 4"):
        check_determinism(same + [other])
    # the same chunks on another trace or strategy are not compared
    check_determinism(same + [Sample("word", 0, 1, _record(1.0, ["x"]))])


# --- running it (tone voice, synthetic traces) ---------------------------------------------------


def test_run_bench_warms_up_on_the_longest_trace_interleaves_and_reports_progress():
    traces = [_trace("Yes. It is.", prompt="q"), _trace(LONG_FIRST_SENTENCE)]
    calls: list[tuple[int, int, str]] = []
    result = run_bench(ReplaySource(traces), ["sentence", "adaptive"], runs=2, warmup=1, tts=_tone(),
                       progress=lambda done, total, what: calls.append((done, total, what)))
    # 1 warm-up pass (longest trace, every strategy) + 2 runs x 2 traces x 2 strategies
    assert [c[0] for c in calls] == list(range(1, 11)) and {c[1] for c in calls} == {10}
    assert [c[2] for c in calls[:2]] == ["warm-up · sentence · trace 2", "warm-up · adaptive · trace 2"]
    assert [c[2] for c in calls[2:6]] == ["run 1 · sentence · trace 1", "run 1 · adaptive · trace 1",
                                          "run 1 · sentence · trace 2", "run 1 · adaptive · trace 2"]
    assert len(result.samples) == 8  # the warm-up is not counted
    assert sorted({(s.strategy, s.trace, s.run) for s in result.samples}) == sorted(
        (s, t, r) for s in ("sentence", "adaptive") for t in (0, 1) for r in (0, 1))
    adaptive, sentence = result.row("adaptive"), result.row("sentence")
    assert adaptive["chunks"] > sentence["chunks"]
    assert adaptive["ttfa_ms"] < sentence["ttfa_ms"]  # a short first chunk is heard sooner
    assert sentence["boundary_quality"] == 1.0
    for s in result.samples:  # the record saw every chunk through synthesis and playback
        assert s.record.chunks and all(c.play_end_ms is not None for c in s.record.chunks)
        assert s.record.first_spoken.synth_end_ms == pytest.approx(s.record.ttfa_ms, abs=1.0)


def test_run_bench_rejects_an_unknown_strategy():
    with pytest.raises(VoicecliError, match="unknown chunking strategy 'fastest'"):
        run_bench(ReplaySource([_trace("Hi.")]), ["fastest"], runs=1, tts=_tone())


def test_run_bench_raises_when_a_replay_chunks_differently(monkeypatch):
    real = runner.run_turn
    seen: list[int] = []

    def flaky(*args, **kwargs):
        record = real(*args, **kwargs)
        seen.append(1)
        if len(seen) == 2:
            record.chunks = record.chunks[:-1]
        return record

    monkeypatch.setattr(runner, "run_turn", flaky)
    with pytest.raises(NondeterministicChunks):
        run_bench(ReplaySource([_trace("One. Two.")]), ["sentence"], runs=1, warmup=1, tts=_tone())


# --- outputs -------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_gaps_are_found_on_a_constructed_timeline():
    from voicecli.bench.plot import _gaps

    t = TurnRecord("x", ttft_ms=0.0, llm_ms=50.0, chunks=[
        ChunkRecord(0, "a", "a", 10, 10, 20, 20, 120),
        ChunkRecord(1, "b", "b", 30, 30, 60, 120, 220),  # queued: no gap
        ChunkRecord(2, "c", "c", 40, 60, 300, 300, 400),  # 80 ms late
        ChunkRecord(3, "", "", 45)])  # nothing speakable: never played
    assert _gaps(t) == [(220, 300)]


def test_bench_main_writes_table_verdict_json_and_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(bench_cmd, "load_voice", lambda path: _tone())
    traces = tmp_path / "t.jsonl"
    traces.write_text("".join(json.dumps(_trace(t).as_dict()) + "\n"
                              for t in (LONG_FIRST_SENTENCE, "Sure. Here it is, as promised.")), encoding="utf-8")
    out = io.StringIO()
    json_path, plot_path = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.png"
    result = _bench(strategies=["word", "adaptive", "sentence"], runs=1, traces=traces, json_path=json_path,
                    plot_path=plot_path, warmup=0, console=Console(file=out, width=200))
    text = out.getvalue()
    assert "TTFA" in text and "adaptive: first audio" in text and "than sentence" in text
    rows = json.loads(json_path.read_text())
    assert [r["strategy"] for r in rows] == ["word", "adaptive", "sentence"]
    for r in rows:
        for key in ("strategy", "ttfc_ms", "ttfa_ms", "chunks", "underruns", "gap_ms", "ttfa_ms_p90",
                    "boundary_quality", "tail_ms", "synth_ms", "tts_calls", "chunk_chars"):
            assert key in r
        assert r["ttfa_ms"] is not None and r["runs"] == 1 and r["traces"] == 2
    assert rows == result.json_rows()
    data = plot_path.read_bytes()
    width, height = _png_size(data)
    assert width >= 800 and height >= 300 and len(data) > 20_000


def test_bench_main_plot_of_a_representative_trace_names_its_prompt(tmp_path, monkeypatch):
    traces = [_trace("Hi.", prompt="short"), _trace("One two three. Four five.", prompt="middle"),
              _trace(LONG_FIRST_SENTENCE, prompt="long")]
    result = run_bench(ReplaySource(traces), ["word"], runs=1, warmup=0, tts=_tone())
    assert result.prompts[result.representative_trace()] == "middle"
    assert list(result.timelines(1)) == ["word"]


def test_a_malformed_trace_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"deltas": [{"t_ms": 1, "text": "Hi"}]}\n{"deltas": [{"text": "no time"}]}\n', encoding="utf-8")
    with pytest.raises(VoicecliError) as e:
        _bench(strategies=["sentence"], runs=1, traces=bad)
    assert f"{bad}:2" in e.value.one_line() and "t_ms" in e.value.one_line() and "\n" not in e.value.one_line()
    with pytest.raises(VoicecliError, match="trace file not found"):
        _bench(strategies=["sentence"], runs=1, traces=tmp_path / "missing.jsonl")


@pytest.mark.parametrize("kwargs, message", [
    (dict(strategies=["nope"]), "unknown chunking strategy"),
    (dict(runs=0), "--runs 0"),
    (dict(speed=-1.0), "--speed -1.0: must be between 0 and 1000"),
    (dict(prompts="p.txt"), "--prompts is for --live"),
    (dict(live=True, traces="t.jsonl"), "exclude each other"),
])
def test_bench_main_rejects_user_mistakes(kwargs, message):
    with pytest.raises(VoicecliError, match=message):
        _bench(**kwargs)


def test_bundled_prompts_and_traces_cover_the_set():
    prompts = bench_traces.load_prompts()
    traces = load_traces(bench_traces.DEFAULT_TRACES)
    assert len(prompts) >= 10 and [t.prompt for t in traces] == prompts
    assert all(t.text.strip() and t.meta.get("model") for t in traces)


# --- the real models ------------------------------------------------------------------------------


@pytest.mark.models
def test_real_bench_on_two_default_traces(tmp_path):
    lines = bench_traces.DEFAULT_TRACES.read_text(encoding="utf-8").splitlines()
    two = tmp_path / "two.jsonl"
    two.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    json_path = tmp_path / "bench.json"
    _bench(strategies=["sentence", "adaptive"], runs=1, traces=two, json_path=json_path, speed=4.0,
           console=Console(file=io.StringIO()))
    rows = json.loads(json_path.read_text())
    assert [r["strategy"] for r in rows] == ["sentence", "adaptive"]
    for r in rows:
        assert r["samples"] == 2 and r["tts_calls"] >= 1
        assert 0 < r["ttfc_ms"] <= r["ttfa_ms"] and r["synth_ms"] > 0 and r["underruns"] >= 0


@pytest.mark.models
def test_record_then_live_bench_measures_the_engine_overhead(tmp_path):
    settings = Settings.load()
    llm = bench_traces.load_llm(settings.model("llm").require(), max_tokens=24)
    path = tmp_path / "rec.jsonl"
    traces = bench_traces.record_traces(["Say hello.", "Name a color."], path, llm, max_tokens=24)
    assert [t.prompt for t in traces] == ["Say hello.", "Name a color."]
    assert traces[0].meta["seed"] == bench_traces.RECORD_SEED and traces[0].meta["max_tokens"] == 24
    times = [d.t_ms for d in traces[0].deltas]
    assert times == sorted(times) and times[0] > 0
    again = bench_traces.record_traces(["Say hello."], tmp_path / "again.jsonl", llm, max_tokens=24)
    assert "hello" in traces[0].text.lower() and "color" in traces[1].text.lower(), [t.text for t in traces]
    assert again[0].text == traces[0].text  # seeded: the same reply every time
    tts = bench_traces.load_voice(settings.model("tts").require())
    result = run_bench(LiveSource(["Say hello."], llm, tts), ["word"], runs=1, warmup=0, tts=tts)
    sample = result.samples[0]
    assert result.unmatched == 0 and sample.raw_llm_ms is not None and sample.raw_tts_ms > 0
    assert result.overhead()["samples"] == 1
    row = result.row("word")
    assert row["raw_ms"] > 0 and row["overhead_ms"] == pytest.approx(row["ttfa_ms"] - row["raw_ms"], abs=0.2)


def test_the_table_fits_a_narrow_terminal_and_shows_p90s_in_a_wide_one():
    samples = [Sample(s, t, 0, _record(ttfa, ["Hello there,", "world."]))
               for s, base in (("sentence", 400.0), ("adaptive", 150.0), ("seed-sentence", 300.0))
               for t, ttfa in enumerate((base, base * 3))]
    result = BenchResult(["sentence", "adaptive", "seed-sentence"], ["a", "b"], 1, 0, 1.0, False, samples)

    def render(width: int) -> str:
        out = io.StringIO()
        Console(file=out, width=width).print(render_table(result, width))
        return out.getvalue()

    narrow, wide = render(80), render(200)
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    assert "TTFA" in narrow and "TTS calls" not in narrow and "840" not in narrow  # seed-sentence's p90 TTFA
    assert "TTS calls" in wide and "840" in wide


def test_bench_reports_the_longest_silence_per_strategy_with_no_holding_phrase_hiding_it():
    slow = Trace.from_items(_split_words("Well. Here it is, as promised, after a long wait."), ms_per_item=20.0,
                            first_ms=500.0, prompt="p")
    result = run_bench(ReplaySource([slow]), ["sentence", "word"], runs=1, warmup=0, tts=_tone())
    for strategy in ("sentence", "word"):
        row = result.row(strategy)
        assert row["longest_silence_ms"] >= 500 and row["longest_silence_ms_p90"] >= 500
    assert all(s.record.holding == [] for s in result.samples)
    out = io.StringIO()
    Console(file=out, width=200).print(render_table(result, 200))
    assert "silence" in out.getvalue()
    assert all("longest_silence_ms" in r for r in result.json_rows())
