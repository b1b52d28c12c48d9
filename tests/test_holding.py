"""The silence budget with fakes: a scripted slow model, a tone voice, no sound. Fast; the budget is scaled
down (600 ms: a phrase is due at 300 ms of silence) so each scenario takes a second or two.

Timing assertions are orders of events and generous bounds; the exact figures are the benchmark's.
"""

from __future__ import annotations

import io
import random
import threading
import time

import numpy as np
import pytest
from rich.console import Console

from voicecli.app.view import TurnView
from voicecli.audio.sinks import NullSink
from voicecli.engine.clock import quiet_edges
from voicecli.engine.events import (
    AudioScheduled,
    ChunkReady,
    EventBus,
    HoldingSpoken,
    Interrupted,
    LLMRequested,
    Recorder,
    SynthesisDone,
    TurnConfirmed,
    TurnStarted,
    UserSpeechEnded,
)
from voicecli.engine.holding import HoldingPhrases
from voicecli.engine.metrics import TurnMetrics, TurnRecord
from voicecli.engine.speaker import Gate
from voicecli.engine.tools import ToolRunner
from voicecli.engine.turn import Engine, EngineConfig
from voicecli.engine.types import Heard, ToolCall
from voicecli.llm.replay import ReplayLLM, TimedItem, Trace, _split_words
from voicecli.tools import Registry
from voicecli.tts import ToneTTS

BUDGET_MS = 600.0
REPLY = "The capital of France is Paris. It is known for the Eiffel Tower."


def timed(*parts: tuple[float, str]) -> Trace:
    """A trace from (start ms, text) parts: each text's words 10 ms apart from its start."""
    items: list[TimedItem] = []
    for n, (t0, text) in enumerate(parts):
        words = _split_words(text)
        words[0] = words[0] if n == 0 else " " + words[0]
        items += [TimedItem(t0 + 10.0 * i, w) for i, w in enumerate(words)]
    return Trace(tuple(items))


def make(traces, *, budget_ms=BUDGET_MS, tts=None, tools=None, feedback_after_ms=200.0, phrases=None, seed=7):
    tts = tts or ToneTTS(sample_rate=16000, ms_per_char=20.0)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    runner = ToolRunner(Registry(tools), None, bus, feedback_after_ms=feedback_after_ms) if tools else None
    # the phrases are made ahead of time (with a quick voice: the reply's may be slow on purpose)
    holding = HoldingPhrases(ToneTTS(sample_rate=tts.sample_rate, ms_per_char=20.0), phrases, rng=random.Random(seed))
    holding.prepare(wait=True)
    llm = ReplayLLM(list(traces) if isinstance(traces, list) else [traces])
    engine = Engine(llm, tts, NullSink(tts.sample_rate), bus,
                    EngineConfig(chunking="sentence", silence_budget_ms=budget_ms), tools=runner, holding=holding)
    return engine, rec


def assert_never_overlapping(rec: Recorder) -> None:
    slots = sorted(rec.of(AudioScheduled), key=lambda e: e.start)
    for a, b in zip(slots, slots[1:]):
        assert b.start >= a.end - 1e-9, f"{b.text!r} starts over {a.text!r}"


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "voicecli-holding-watch" and t.is_alive()]


# --- the phrases ---------------------------------------------------------------------------------

def test_the_picker_never_repeats_in_a_turn_and_avoids_the_last_one_across_turns():
    phrases = HoldingPhrases(ToneTTS(), {"wait": ["A.", "B.", "C."], "stall": ["D."]}, rng=random.Random(1))
    said: list[str] = []
    for _ in range(3):
        said.append(phrases.pick("wait", said))
    assert sorted(said) == ["A.", "B.", "C."]
    assert phrases.pick("wait", said) == "D."  # every "wait" one used: a "stall" one instead
    assert phrases.pick("wait", said + ["D."]) is None  # nothing left: say nothing rather than repeat
    last = phrases.pick("wait")
    assert phrases.pick("wait") not in (last, None)  # a new turn: anything but the last one said
    one = HoldingPhrases(ToneTTS(), {"tool": ["One moment."]})
    assert [one.pick("tool") for _ in range(2)] == ["One moment."] * 2  # across turns, the only one is fine


def test_the_picker_prefers_phrases_already_synthesised():
    tts = ToneTTS()
    phrases = HoldingPhrases(tts, {"wait": ["Slow one.", "Ready one."]}, rng=random.Random(3))
    phrases.audio("Ready one.")
    assert phrases.pick("wait") == "Ready one."  # ready, so it comes first
    assert phrases.pick("wait") == "Slow one."  # not the same twice in a row, ready or not
    phrases.prepare(wait=True)
    assert all(phrases.ready(p) for p in phrases.phrases) and "Hang on." in phrases.phrases  # the other kinds kept


def test_quiet_edges_find_the_voice_padding():
    rate = 16000
    tone = 0.3 * np.sin(np.arange(rate // 2) * 0.1).astype(np.float32)
    audio = np.concatenate([np.zeros(rate // 10, np.float32), tone, np.zeros(rate // 4, np.float32)])
    head, tail = quiet_edges(audio, rate)
    assert head == pytest.approx(0.1, abs=0.011) and tail == pytest.approx(0.25, abs=0.011)
    assert quiet_edges(np.zeros(rate, np.float32), rate) == (1.0, 0.0)


# --- the scenarios -------------------------------------------------------------------------------

def test_a_slow_first_token_is_bridged_by_a_holding_phrase_that_is_not_part_of_the_reply():
    engine, rec = make(timed((1000.0, REPLY)))
    record = engine.turn("What is the capital of France?").record
    first = rec.of(AudioScheduled)[0]
    assert first.kind == "holding" and record.holding[0]["reason"] == "wait"
    assert record.holding[0]["text"] == first.text and record.feedback == []
    assert record.ttfa_ms < BUDGET_MS and record.longest_silence_ms < BUDGET_MS
    texts = [h["text"] for h in record.holding]
    assert len(set(texts)) == len(texts)
    assert record.spoken == REPLY and record.response == REPLY and not record.interrupted
    assert engine.history[-1] == {"role": "assistant", "content": REPLY}  # the phrase is not in the history
    assert_never_overlapping(rec)
    assert not watch_threads()


def test_a_stall_in_the_middle_of_a_sentence_is_bridged_and_nothing_is_cut():
    engine, rec = make(timed((50.0, "Hello there. The capital"), (1300.0, "of France is Paris.")))
    record = engine.turn("q").record
    assert record.holding and record.holding[0]["reason"] == "stall"
    assert rec.of(AudioScheduled)[0].kind == "chunk"  # the reply had begun
    texts = [h["text"] for h in record.holding]
    assert len(set(texts)) == len(texts)
    assert record.longest_silence_ms < BUDGET_MS
    assert record.spoken == "Hello there. The capital of France is Paris."
    assert_never_overlapping(rec)


def test_a_long_wait_gets_two_different_phrases_then_the_reply_and_the_record_says_the_budget_was_passed():
    engine, rec = make(timed((2500.0, REPLY)))
    record = engine.turn("q").record
    assert [h["reason"] for h in record.holding] == ["wait", "still"]
    assert record.holding[0]["text"] != record.holding[1]["text"]
    assert record.longest_silence_ms > BUDGET_MS  # two phrases at most: then an honest silence
    assert record.spoken == REPLY
    assert_never_overlapping(rec)


def test_a_fast_turn_says_no_holding_phrase():
    engine, rec = make(Trace.from_items(_split_words(REPLY), 5, 20))
    record = engine.turn("q").record
    assert record.holding == [] and not rec.of(HoldingSpoken)
    assert [e.kind for e in rec.of(AudioScheduled)] == ["chunk", "chunk"]
    assert record.longest_silence_ms < BUDGET_MS


def test_no_budget_means_no_phrase_and_the_silence_is_reported():
    engine, rec = make(timed((900.0, "Paris.")), budget_ms=0)
    record = engine.turn("q").record
    assert record.holding == [] and not rec.of(HoldingSpoken)
    assert record.longest_silence_ms >= 850 and record.longest_silence_ms >= record.ttfa_ms - 1


def test_a_piece_being_synthesised_when_the_phrase_is_due_comes_first():
    # the first token at 250 ms; 21 characters at 5 ms each: the chunk is placed by ~360 ms, before the
    # 400 ms limit, so no phrase is needed
    tts = ToneTTS(sample_rate=16000, ms_per_char=20.0, synth_s_per_char=0.005)
    engine, rec = make(timed((250.0, "Paris is the capital.")), tts=tts)
    assert engine.turn("q").record.holding == []


def test_a_synthesis_too_slow_for_the_budget_is_preceded_by_a_phrase_never_overlapping():
    tts = ToneTTS(sample_rate=16000, ms_per_char=20.0, synth_s_per_char=0.03)  # ~0.6 s for the chunk
    engine, rec = make(timed((250.0, "Paris is the capital.")), tts=tts)
    record = engine.turn("q").record
    phrase = rec.of(HoldingSpoken)[0]
    done = next(e for e in rec.of(SynthesisDone) if e.text == "Paris is the capital.")
    assert phrase.start < done.t  # it went first, while the chunk was still being synthesised
    assert record.longest_silence_ms < BUDGET_MS and record.spoken == "Paris is the capital."
    assert_never_overlapping(rec)


def test_slow_tools_get_the_tool_phrase_then_a_different_one_and_feedback_keeps_the_tool_phrase():
    def lookup(query: str) -> str:
        """Look it up slowly."""
        time.sleep(1.6)
        return "found"

    traces = [Trace((TimedItem(20.0, ToolCall("lookup", '{"query": "x"}', "c1")),)), timed((20.0, "Here it is."))]
    engine, rec = make(traces, tools=[lookup])
    record = engine.turn("q").record
    assert [h["reason"] for h in record.holding] == ["tool", "still"]
    assert record.feedback == [record.holding[0]["text"]]
    assert rec.of(AudioScheduled)[0].kind == "feedback" and rec.of(AudioScheduled)[1].kind == "holding"
    assert record.spoken == "Here it is."
    assert_never_overlapping(rec)


def test_the_tool_phrase_follows_the_words_already_playing():
    def lookup(query: str) -> str:
        """Look it up."""
        time.sleep(0.9)
        return "found"

    first = Trace(tuple(TimedItem(10.0 + i, w) for i, w in enumerate(_split_words("Let me look that up for you."))) +
                  (TimedItem(20.0, ToolCall("lookup", '{"query": "x"}', "c1")),))
    engine, rec = make([first, timed((10.0, "Found it."))], tools=[lookup], feedback_after_ms=50.0)
    record = engine.turn("q").record
    preface = next(e for e in rec.of(AudioScheduled) if e.text.startswith("Let me look"))
    phrase = rec.of(HoldingSpoken)[0]
    assert phrase.reason == "tool" and phrase.start >= preface.end - 1e-9
    assert record.feedback == [phrase.text]
    assert_never_overlapping(rec)


# --- speculative turns, interruptions ------------------------------------------------------------

def _speculative(engine, gate, stop=None):
    box: dict = {}
    heard = Heard("q", time.perf_counter(), 0.0)
    worker = threading.Thread(target=lambda: box.setdefault("r", engine.turn("q", gate=gate, heard=heard, stop=stop)))
    worker.start()
    return worker, box


def test_no_phrase_before_the_gate_opens_and_a_late_confirmation_is_answered_at_once():
    engine, rec = make(timed((1500.0, "Paris.")))
    gate = Gate()
    worker, box = _speculative(engine, gate)
    time.sleep(0.45)  # past the phrase's due time (300 ms)
    assert not rec.of(AudioScheduled)
    gate.open()
    worker.join(10)
    record = box["r"].record
    first = rec.of(AudioScheduled)[0]
    assert first.kind == "holding" and first.start >= gate.opened_at
    kinds = [type(e) for e in rec.events]
    assert kinds.index(TurnConfirmed) < kinds.index(AudioScheduled)
    assert record.spoken == "Paris."


def test_a_ready_reply_behind_a_late_gate_needs_no_phrase():
    engine, rec = make(timed((20.0, "Paris.")))
    gate = Gate()
    worker, box = _speculative(engine, gate)
    time.sleep(0.5)
    gate.open()
    worker.join(10)
    assert not rec.of(HoldingSpoken) and [e.kind for e in rec.of(AudioScheduled)] == ["chunk"]
    assert box["r"].record.longest_silence_ms >= 450  # what the user heard, honestly


def test_a_discarded_speculative_turn_says_nothing_at_all():
    engine, rec = make(timed((1500.0, "Paris.")))
    gate = Gate()
    worker, box = _speculative(engine, gate)
    time.sleep(0.45)
    gate.discard()
    worker.join(10)
    assert box["r"].discarded and not rec.of(AudioScheduled) and not rec.of(HoldingSpoken)
    assert not watch_threads()


def test_a_stop_while_a_phrase_plays_ends_the_turn_and_the_phrase_stays_out_of_the_history():
    engine, rec = make(timed((800.0, REPLY)))
    stop = threading.Event()
    threading.Timer(0.4, stop.set).start()  # the phrase plays from ~300 ms
    record = engine.turn("q", stop=stop).record  # (it ends when the silent model next yields)
    assert record.interrupted and record.holding and rec.of(Interrupted)
    assert record.spoken == "" and engine.history[-1]["content"].endswith("[interrupted by the user]")
    assert record.holding[0]["text"] not in engine.history[-1]["content"]
    assert not watch_threads()


class _CtrlC(ReplayLLM):
    """A model that is still silent when the user presses Ctrl-C."""

    def stream(self, messages, *, tools=None, tool_choice=None):
        time.sleep(0.45)
        raise KeyboardInterrupt
        yield ""  # a generator


def test_ctrl_c_during_a_phrase_stops_the_turn_cleanly():
    tts = ToneTTS(sample_rate=16000, ms_per_char=20.0)
    bus, rec = EventBus(), Recorder()
    bus.subscribe(rec)
    engine = Engine(_CtrlC([timed((0.0, "x"))]), tts, NullSink(16000), bus, EngineConfig(silence_budget_ms=BUDGET_MS))
    record = engine.turn("q").record
    assert record.interrupted and [h["reason"] for h in record.holding] == ["wait"]
    assert not watch_threads()


# --- the record and the view ---------------------------------------------------------------------

def test_longest_silence_from_constructed_events():
    m = TurnMetrics("sentence")
    bus = EventBus()
    bus.subscribe(m)
    bus.emit(TurnStarted(user="q", t=0.5))
    bus.emit(UserSpeechEnded(t=1.0))
    bus.emit(LLMRequested(round=0, t=1.1))
    bus.emit(AudioScheduled(index=-1, text="One moment.", start=2.7, end=3.5, kind="holding", quiet_head=0.05,
                            quiet_tail=0.3, t=2.7))
    bus.emit(HoldingSpoken(text="One moment.", reason="wait", start=2.7, end=3.5, due=2.7, t=2.7))
    bus.emit(ChunkReady(index=0, text="Paris.", speech="Paris.", t=3.6))
    bus.emit(AudioScheduled(index=0, text="Paris.", start=3.7, end=4.5, quiet_tail=0.2, t=3.7))
    rec = m.record()
    assert rec.longest_silence_ms == 1750.0  # 1.0 → 2.75: the phrase's own padding is silence too
    assert rec.holding == [{"text": "One moment.", "reason": "wait", "start_ms": 1600.0, "end_ms": 2400.0,
                            "silence_before_ms": 1750.0}]
    assert rec.ttfa_ms == 1600.0  # the first audio of any kind
    bus.emit(Interrupted(reason="stop", spoken_chunks=1, t=6.8))  # a silence until the user gave up
    assert m.record().longest_silence_ms == 2500.0


def test_the_record_keeps_its_keys_in_order_and_appends_the_new_ones():
    keys = list(TurnRecord("adaptive").as_dict())
    assert keys == ["strategy", "transcript", "response", "chunks", "ttft_ms", "ttfc_ms", "ttfa_ms", "stt_ms",
                    "endpoint_to_audio_ms", "underruns", "gap_ms", "tool_calls", "interrupted", "backend", "tokens",
                    "tokens_per_s", "llm_ms", "synth_total_ms", "audio_total_ms", "rtf", "longest_gap_ms",
                    "speech_end_ms", "last_token_to_speech_end_ms", "feedback", "error", "spoken", "user",
                    "user_speech_end_s", "first_audio_s", "voice_to_voice_ms", "turn_end", "discarded_starts",
                    "holding", "longest_silence_ms"]


def test_the_view_shows_a_holding_phrase_in_quotes_where_it_was_heard():
    out = io.StringIO()
    engine, rec = make(timed((50.0, "Hello there. The capital"), (1300.0, "of France is Paris.")))
    engine.bus.subscribe(TurnView(Console(file=out, width=200, force_terminal=False, color_system=None)))
    record = engine.turn("q").record
    text = out.getvalue()
    phrase = record.holding[0]["text"]
    assert f"“{phrase}”" in text
    assert text.index("Hello there.") < text.index(f"“{phrase}”") < text.index("of France is Paris.")
    assert "longest silence" in text and "1 holding phrase" in text or "2 holding phrases" in text
