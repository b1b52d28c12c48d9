"""Engine tests with fakes: a scripted LLM (replay), a tone TTS, a WAV/null sink. Fast, no models."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from voicecli.audio.sinks import NullSink, WavSink
from voicecli.engine.events import (
    ChunkReady,
    EventBus,
    LLMRequested,
    Recorder,
    SynthesisDone,
    Token,
    TurnDone,
    TurnStarted,
)
from voicecli.engine.history import trim_history
from voicecli.engine.holding import HoldingPhrases
from voicecli.engine.tools import ToolRunner
from voicecli.engine.turn import INTERRUPTED_MARK, Engine, EngineConfig
from voicecli.engine.types import ToolCall
from voicecli.errors import LLMError
from voicecli.llm.base import LLMBase
from voicecli.llm.replay import ReplayLLM, Trace
from voicecli.tools import Registry, ToolContext
from voicecli.tts import ToneTTS

REPLY = "The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889."


def make_engine(llm, *, tts=None, sink=None, tools: Registry | None = None, data_dir=None, feedback_after_ms=400.0,
                feedback_phrases=None, **config):
    tts = tts or ToneTTS(sample_rate=16000, ms_per_char=60.0)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    runner = None
    if tools is not None:
        context = ToolContext(data_dir=data_dir) if data_dir is not None else None
        runner = ToolRunner(tools, context, bus, feedback_after_ms=feedback_after_ms)
    holding = HoldingPhrases(tts, {"tool": feedback_phrases}) if feedback_phrases is not None else None
    engine = Engine(llm, tts, sink or NullSink(tts.sample_rate), bus, EngineConfig(**config), tools=runner,
                    holding=holding)
    return engine, rec, tts


def test_turn_record_order_and_chunks():
    engine, rec, tts = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=5), chunking="sentence")
    record = engine.turn("What is the capital of France?").record
    assert record.response == REPLY
    assert [c.text for c in record.chunks] == [
        "The capital of France is Paris.",
        "It is known for the Eiffel Tower, which was built in 1889.",
    ]
    # The voice gets the speech text of each chunk (the year said as words), the record shows the text.
    assert tts.calls == ["The capital of France is Paris.",
                         "It is known for the Eiffel Tower, which was built in eighteen eighty-nine."]
    assert 0 <= record.ttft_ms <= record.ttfc_ms <= record.ttfa_ms
    for c in record.chunks:
        assert c.ready_ms is not None and c.synth_ms is not None and c.audio_ms > 0
    assert record.chunks[1].speech.endswith("eighteen eighty-nine.") and record.chunks[1].text.endswith("1889.")
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is TurnStarted and kinds[-1] is TurnDone
    assert kinds.index(LLMRequested) < kinds.index(Token) < kinds.index(ChunkReady) < kinds.index(SynthesisDone)
    assert engine.history[-1] == {"role": "assistant", "content": REPLY}
    assert record.interrupted is False and record.backend == "replay"


def test_first_audio_before_last_token():
    # 30 ms per token: the first sentence is synthesised long before the stream ends.
    engine, rec, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=30), chunking="sentence")
    engine.turn("q")
    first_audio = rec.of(SynthesisDone)[0].t
    last_token = rec.of(Token)[-1].t
    assert first_audio < last_token


def test_synthesis_overlaps_generation_and_playback_clock_has_no_gap():
    # TTS takes 2 ms per char, audio lasts 60 ms per char: playback never runs dry.
    tts = ToneTTS(sample_rate=16000, ms_per_char=60.0, synth_s_per_char=0.002)
    engine, rec, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=10), tts=tts, chunking="phrase")
    record = engine.turn("q").record
    assert record.underruns == 0 and record.gap_ms == 0
    assert len(record.chunks) >= 3


def test_gaps_are_counted_when_synthesis_is_slower_than_speech():
    # Audio 5 ms per char, synthesis 20 ms per char: each chunk after the first arrives late.
    tts = ToneTTS(sample_rate=16000, ms_per_char=5.0, synth_s_per_char=0.02)
    engine, _, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=1), tts=tts, chunking="sentence")
    record = engine.turn("q").record
    assert record.underruns == 1
    assert record.gap_ms > 100


def test_wav_sink_gets_all_audio(tmp_path):
    tts = ToneTTS(sample_rate=16000, ms_per_char=10.0)
    sink = WavSink(tmp_path / "out.wav", tts.sample_rate)
    engine, _, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=1), tts=tts, sink=sink, chunking="word")
    record = engine.turn("q").record
    sink.close()
    expected = sum(int(16000 * 10.0 * len(c.text) / 1000) for c in record.chunks)
    assert len(sink.samples) == expected
    assert (tmp_path / "out.wav").stat().st_size > 44


def test_stop_cuts_the_turn_short_and_keeps_only_what_was_heard():
    # 200 pieces at 20 ms: 4 s of generation, far more than the turn may take once stopped
    long_reply = " ".join(f"Sentence number {i} is here." for i in range(40))
    engine, rec, _ = make_engine(ReplayLLM.scripted(long_reply, ms_per_item=20), chunking="sentence")
    stop = threading.Event()
    pressed: dict[str, float] = {}
    timer = threading.Timer(0.3, lambda: (pressed.setdefault("t", time.perf_counter()), stop.set()))
    timer.start()
    record = engine.turn("q", stop=stop).record
    ended = time.perf_counter()
    # Order: generation stops at the request (at most the piece already in flight comes after it),
    # and the turn ends after it. The bound is generous (a loaded machine); the figure is the bench's.
    assert len([e for e in rec.of(Token) if e.t > pressed["t"]]) <= 1
    assert rec.of(TurnDone)[-1].t >= pressed["t"]
    assert ended - pressed["t"] < 2.0, "the turn went on long after the stop request"
    assert record.interrupted is True
    assert len(record.response) < len(long_reply)
    last = engine.history[-1]
    assert last["role"] == "assistant" and last["content"].endswith(INTERRUPTED_MARK)
    heard = last["content"][: -len(INTERRUPTED_MARK)]
    assert heard and long_reply.startswith(heard)


def test_llm_failure_mid_stream_keeps_what_was_said():
    class Failing(LLMBase):
        backend = "fake"

        def stream(self, messages, *, tools=None, tool_choice=None):
            yield "Paris is the capital. "
            yield "It has"
            raise LLMError("the server stopped mid-stream", "try again")

    engine, rec, tts = make_engine(Failing(), chunking="sentence")
    result = engine.turn("q")
    assert isinstance(result.error, LLMError)
    record = result.record
    assert record.error.startswith("the server stopped mid-stream")
    assert "Paris is the capital." in tts.calls
    assert engine.history[-1]["content"] == "Paris is the capital. It has"
    # the conversation goes on
    engine.llm = ReplayLLM.scripted("Fine.")
    assert engine.turn("again").record.response == "Fine."


def test_history_carries_across_turns_and_trims_oldest_first():
    llm = ReplayLLM.scripted("One.", "Two.", "Three.", speed=0)
    engine, _, _ = make_engine(llm, chunking="sentence", system_prompt="Be brief.")
    engine.turn("first")
    engine.turn("second")
    engine.turn("third")
    assert [m["content"] for m in llm.calls[2]] == ["Be brief.", "first", "One.", "second", "Two.", "third"]
    msgs = engine.history
    trimmed = trim_history(msgs, lambda s: len(s), budget=len("Be brief.") + len("third") + len("Three.") + 12)
    assert trimmed[0]["content"] == "Be brief."
    assert [m["content"] for m in trimmed[1:]] == ["third", "Three."]
    # never drops the latest user turn, even when it alone is too long
    assert [m["content"] for m in trim_history(msgs, lambda s: len(s), budget=1)[1:]] == ["third", "Three."]


def test_reset_forgets_the_conversation():
    engine, _, _ = make_engine(ReplayLLM.scripted("Ok.", speed=0), system_prompt="S.")
    engine.turn("hello")
    engine.reset()
    assert engine.history == [{"role": "system", "content": "S."}]


def test_markdown_is_shown_but_not_spoken():
    engine, _, tts = make_engine(ReplayLLM.scripted("Use **bold** text. Then `code` here.", speed=0),
                                 chunking="sentence")
    record = engine.turn("q").record
    assert "**" in record.response
    assert all("*" not in call and "`" not in call for call in tts.calls)


def test_bad_strategy_fails_before_anything_runs():
    from voicecli.errors import VoicecliError

    with pytest.raises(VoicecliError):
        make_engine(ReplayLLM.scripted("x"), chunking="nonsense")


# --- tools in the pipeline ------------------------------------------------------------------

def _tool_trace(call: ToolCall, follow_up: str) -> ReplayLLM:
    return ReplayLLM([Trace.from_items([call], first_ms=5), Trace.from_items([follow_up], 5, 5)], speed=0)


def test_tool_round_runs_calculator_and_speaks_follow_up(tmp_path):
    from voicecli.tools import build_registry

    llm = ReplayLLM([
        Trace.from_items(["Let me", " work that out. ", ToolCall("calculate", '{"expression": "17 * 23"}', "c1")], 5, 5),
        Trace.from_items(["17 times 23", " is 391."], 5, 5),
    ], speed=0)
    engine, rec, tts = make_engine(llm, chunking="sentence", tools=build_registry(entry_points=False), data_dir=tmp_path)
    record = engine.turn("What is 17 times 23?").record
    assert record.tool_calls[0]["name"] == "calculate"
    assert "391" in str(record.tool_calls[0]["result"])
    assert record.tool_calls[0]["error"] is None
    assert "17 times 23 is 391." in tts.calls
    # the second LLM call saw the tool result in the OpenAI message shape
    second = llm.calls[1]
    assert any(m["role"] == "tool" and "391" in m["content"] for m in second)
    assert any(m["role"] == "assistant" and m.get("tool_calls") for m in second)


def test_feedback_phrase_spoken_for_slow_tools_not_for_fast():
    def slow_lookup(query: str) -> str:
        """Look something up slowly."""
        time.sleep(0.6)
        return "found"

    def fast_lookup(query: str) -> str:
        """Look something up quickly."""
        return "found"

    for fn, expect_feedback in ((slow_lookup, True), (fast_lookup, False)):
        llm = _tool_trace(ToolCall(fn.__name__, '{"query": "x"}', "c1"), "Here it is.")
        engine, rec, _ = make_engine(llm, chunking="sentence", feedback_after_ms=200,
                                     feedback_phrases=["One moment."], tools=Registry([fn]))
        record = engine.turn("q").record
        assert (record.feedback == ["One moment."]) is expect_feedback, fn.__name__
        assert record.response == "Here it is."


def test_failed_tool_gives_an_honest_sentence_when_the_model_says_nothing():
    def broken(x: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    llm = ReplayLLM([Trace.from_items([ToolCall("broken", '{"x": "1"}', "c1")], 5, 5)] * 4, speed=0)
    engine, _, tts = make_engine(llm, chunking="sentence", max_tool_rounds=1, tools=Registry([broken]))
    record = engine.turn("q").record
    assert record.tool_calls[0]["error"]
    assert any(call.startswith("Sorry, I couldn't do that") for call in tts.calls)


def test_tone_tts_lengths_are_proportional():
    tts = ToneTTS(sample_rate=8000, ms_per_char=100.0)
    assert len(tts.synthesize("abcd")) == 3200
    assert np.abs(tts.synthesize("a")).max() > 0.1


def test_feedback_threshold_zero_always_speaks_the_phrase():
    def instant(query: str) -> str:
        """Answers at once."""
        return "found"

    llm = _tool_trace(ToolCall("instant", '{"query": "x"}', "c1"), "Done.")
    engine, _, _ = make_engine(llm, chunking="sentence", feedback_after_ms=0, feedback_phrases=["One moment."],
                               tools=Registry([instant]))
    assert engine.turn("q").record.feedback == ["One moment."]


# --- declared capabilities: a wrapper forwards them ----------------------------------------------

class SmallModel(ReplayLLM):
    """A scripted model that declares a small context window and counts one token per character."""

    context_tokens = 60
    reply_tokens = 10
    prefetch = True

    def __init__(self, *replies: str):
        super().__init__([Trace.from_items([r], 1, 1) for r in replies], speed=0)
        self.warmed: list[list[dict]] = []

    def warm_up(self, messages, tools=None):
        self.warmed.append([dict(m) for m in messages])

    def count_tokens(self, text: str) -> int:
        return len(text)


def test_recording_keeps_the_models_warm_up_prefetch_and_context(tmp_path):
    from voicecli.llm.replay import RecordingLLM, load_traces

    inner = SmallModel("A" * 20 + ".", "B" * 20 + ".")
    recorded = RecordingLLM(inner, tmp_path / "trace.jsonl")
    assert (recorded.context_tokens, recorded.reply_tokens, recorded.prefetch) == (60, 10, True)
    engine, _, _ = make_engine(recorded, chunking="sentence", system_prompt="S.")
    engine.warm_up()
    assert inner.warmed == [[{"role": "system", "content": "S."}]]  # the warm-up reached the model
    engine.turn("x" * 15)
    engine.turn("y" * 15)
    engine.close()  # waits for the prefetch
    # the second prompt was trimmed against the model's own 60 tokens (minus its 10-token reply):
    # the first exchange (15 + 21 + 8 of overhead) no longer fits beside the second question
    assert [m["content"] for m in inner.calls[1]] == ["S.", "y" * 15]
    assert len(inner.warmed) == 3  # start-up, then a prefetch after each turn
    assert len(load_traces(tmp_path / "trace.jsonl")) == 2


@pytest.mark.models
def test_chat_record_wraps_the_real_model_without_losing_its_context(tmp_path, isolated_env):
    from voicecli.app.session import make_llm
    from voicecli.config import Settings
    from voicecli.llm.replay import RecordingLLM

    llm = make_llm(Settings.load({"record": tmp_path / "t.jsonl"}, command="chat"))
    assert isinstance(llm, RecordingLLM)
    assert llm.context_tokens == 2048 and llm.prefetch is True and llm.backend == "llama.cpp"
    assert llm.count_tokens("Hello there, general Kenobi.") == llm.inner.count_tokens("Hello there, general Kenobi.")


# --- announcements: through the speaker and the bus, after what is playing -----------------------

def test_a_timer_due_during_a_reply_is_spoken_after_it_and_logged(tmp_path):
    from voicecli.app.log import ConversationLog
    from voicecli.engine.events import AudioScheduled

    long_reply = " ".join(f"Sentence {i} is here." for i in range(6))
    engine, rec, tts = make_engine(ReplayLLM.scripted(long_reply, ms_per_item=10), chunking="sentence")
    log = ConversationLog(tmp_path / "log.jsonl")
    engine.bus.subscribe(log)
    fired = threading.Event()

    def timer() -> None:  # what a timer thread does when it comes due, in the middle of the reply
        rec.events and fired.set()
        engine.speak("Your tea timer is done.", kind="announcement")

    threading.Timer(0.1, timer).start()
    engine.turn("Tell me six things.")
    deadline = time.monotonic() + 5
    while len(rec.of(TurnDone)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    log.close()
    assert fired.is_set()
    done = rec.of(TurnDone)
    assert [d.kind for d in done] == ["turn", "announcement"]
    reply_slots = [e for e in rec.of(AudioScheduled) if e.kind == "chunk" and "Sentence" in e.text]
    announcement = [e for e in rec.of(AudioScheduled) if e.text == "Your tea timer is done."]
    assert announcement and announcement[0].start >= max(s.end for s in reply_slots)  # never over the reply
    entries = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["type"] for e in entries] == ["user", "turn", "announcement"]
    assert entries[2]["text"] == "Your tea timer is done." and entries[2]["audio_ms"] > 0
    assert engine.history[-1]["content"] == long_reply  # an announcement is not part of the conversation


def test_say_speaks_the_text_without_a_model(tmp_path):
    tts = ToneTTS(sample_rate=16000, ms_per_char=10.0)
    engine, rec, _ = make_engine(None, tts=tts, chunking="sentence")
    result = engine.speak("Hello there. This is said as is.")
    assert result.error is None and result.record.backend == "text"
    assert tts.calls == ["Hello there.", "This is said as is."]
    assert result.record.spoken == "Hello there. This is said as is."
    assert engine.history == []


# --- speculative turns: held behind a gate, discarded without a trace ----------------------------

def _speculative(engine, text, gate, stop=None):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", engine.turn(text, gate=gate, stop=stop)))
    worker.start()
    return worker, box


def test_a_discarded_speculative_turn_leaves_no_trace(tmp_path):
    from voicecli.app.log import ConversationLog
    from voicecli.engine.events import AudioScheduled, TurnConfirmed
    from voicecli.engine.speaker import Gate

    tts = ToneTTS(sample_rate=16000, ms_per_char=10.0)
    sink = WavSink(tmp_path / "out.wav", 16000)
    llm = ReplayLLM.scripted("It is ten.", "Ten minutes, starting now.", ms_per_item=5)
    engine, rec, _ = make_engine(llm, tts=tts, sink=sink, chunking="sentence", system_prompt="S.")
    log = ConversationLog(tmp_path / "log.jsonl")
    engine.bus.subscribe(log)
    gate = Gate()
    worker, box = _speculative(engine, "Set a timer for", gate)
    deadline = time.monotonic() + 5
    while not tts.calls and time.monotonic() < deadline:  # it got as far as synthesising, behind the gate
        time.sleep(0.005)
    assert tts.calls and not rec.of(AudioScheduled)
    gate.discard()  # the user went on speaking
    worker.join(5)
    result = box["result"]
    assert result.discarded and rec.of(TurnDone)[-1].kind == "discarded"
    assert engine.history == [{"role": "system", "content": "S."}]
    assert not sink.samples.size and not rec.of(TurnConfirmed)
    # the full utterance is the turn that counts
    record = engine.turn("Set a timer for ten minutes please.").record
    assert record.response == "Ten minutes, starting now."
    assert [m["content"] for m in engine.history[1:]] == ["Set a timer for ten minutes please.", record.response]
    log.close()
    entries = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(e["type"], e.get("text") or e.get("response")) for e in entries] == [
        ("user", "Set a timer for ten minutes please."), ("turn", "Ten minutes, starting now.")]


def test_a_confirmed_speculative_turn_plays_only_from_the_confirmation():
    from voicecli.engine.events import AudioScheduled, TurnConfirmed
    from voicecli.engine.speaker import Gate

    engine, rec, tts = make_engine(ReplayLLM.scripted("The capital of France is Paris.", ms_per_item=2),
                                   chunking="adaptive")
    gate = Gate()
    worker, box = _speculative(engine, "What is the capital of France?", gate)
    deadline = time.monotonic() + 5
    while not rec.of(SynthesisDone) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert not rec.of(AudioScheduled)  # ready, and held
    gate.open()
    worker.join(5)
    record = box["result"].record
    first = rec.of(AudioScheduled)[0]
    assert first.start >= gate.opened_at and rec.of(TurnConfirmed)[0].t == first.start
    assert record.response == "The capital of France is Paris." and not box["result"].discarded
    assert engine.history[-1] == {"role": "assistant", "content": record.response}


def test_no_tool_runs_before_a_speculative_turn_is_confirmed(tmp_path):
    from voicecli.engine.speaker import Gate

    ran: list[str] = []

    def set_alarm(label: str) -> str:
        """Set an alarm."""
        ran.append(label)
        return "set"

    llm = _tool_trace(ToolCall("set_alarm", '{"label": "tea"}', "c1"), "Done.")
    engine, _, _ = make_engine(llm, chunking="sentence", tools=Registry([set_alarm]), feedback_phrases=[])
    gate = Gate()
    worker, box = _speculative(engine, "Set an alarm for", gate)
    time.sleep(0.2)
    assert ran == []  # the call came, the tool waits for the confirmation
    gate.discard()
    worker.join(5)
    assert ran == [] and box["result"].discarded


def test_a_stop_ends_the_wait_for_a_slow_model_at_once():
    slow = ReplayLLM([Trace.from_items(["Finally", " here."], ms_per_item=10, first_ms=3000)])
    engine, rec, _ = make_engine(slow, chunking="sentence")
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()  # a barge-in from the talk loop's thread
    t0 = time.perf_counter()
    record = engine.turn("q", stop=stop).record
    assert time.perf_counter() - t0 < 2.0  # not the 3 s the first token would have taken
    assert record.interrupted and record.response == ""


def test_the_history_window_moves_rarely_so_the_cached_prefix_stays():
    from voicecli.engine.history import HistoryWindow, prompt_size

    count = len  # a token per character
    window = HistoryWindow(low=0.6)
    history = [{"role": "system", "content": "S" * 10}]
    starts = []
    for i in range(30):
        history += [{"role": "user", "content": f"q{i:02d}" + "x" * 20}, {"role": "assistant", "content": "a" * 40}]
        view = window.view(history, count, budget=400)
        assert view[0]["content"] == "S" * 10 and view[-1] is history[-1]  # system prompt and the latest kept
        assert prompt_size(view, count) <= 400
        starts.append(window.start)
    moves = sum(1 for a, b in zip(starts, starts[1:]) if a != b)
    assert 0 < moves <= 30 // 3  # it moved, and only every few turns: one turn at a time would move 25 times
