"""Pipeline tests with fakes: a scripted LLM (replay), a tone TTS, a WAV/null sink. Fast, no models."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from voicecli.audio.sinks import NullSink, WavSink
from voicecli.engine.events import EventBus, Recorder
from voicecli.engine.turn import INTERRUPTED_MARK, Engine, EngineConfig, trim_history
from voicecli.engine.types import ToolCall
from voicecli.errors import LLMError
from voicecli.llm.replay import ReplayLLM, Trace
from voicecli.tts import ToneTTS

REPLY = "The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889."


def make_engine(llm, *, tts=None, sink=None, tools=None, **config):
    tts = tts or ToneTTS(sample_rate=16000, ms_per_char=60.0)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = Engine(llm, tts, sink or NullSink(tts.sample_rate), bus, EngineConfig(**config), tools=tools)
    return engine, rec, tts


def test_turn_record_order_and_chunks():
    engine, rec, tts = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=5), chunking="sentence")
    record = engine.turn("What is the capital of France?")
    assert record["response"] == REPLY
    assert [c["text"] for c in record["chunks"]] == [
        "The capital of France is Paris.",
        "It is known for the Eiffel Tower, which was built in 1889.",
    ]
    # The voice gets the speech text of each chunk (the year said as words), the record shows the text.
    assert tts.calls == ["The capital of France is Paris.",
                         "It is known for the Eiffel Tower, which was built in eighteen eighty-nine."]
    assert 0 <= record["ttft_ms"] <= record["ttfc_ms"] <= record["ttfa_ms"]
    for c in record["chunks"]:
        assert c["ready_ms"] is not None and c["synth_ms"] is not None and c["audio_ms"] > 0
    kinds = rec.kinds()
    assert kinds[0] == "turn_start" and kinds[-1] == "turn_done"
    assert kinds.index("llm_request") < kinds.index("token") < kinds.index("chunk_ready") < kinds.index("synth_end")
    assert engine.history[-1] == {"role": "assistant", "content": REPLY}
    assert record["interrupted"] is False and record["backend"] == "replay"


def test_first_audio_before_last_token():
    # 30 ms per token: the first sentence is synthesised long before the stream ends.
    engine, rec, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=30), chunking="sentence")
    engine.turn("q")
    first_audio = rec.of("synth_end")[0].t
    last_token = rec.of("token")[-1].t
    assert first_audio < last_token


def test_synthesis_overlaps_generation_and_playback_clock_has_no_gap():
    # TTS takes 2 ms per char, audio lasts 60 ms per char: playback never runs dry.
    tts = ToneTTS(sample_rate=16000, ms_per_char=60.0, synth_s_per_char=0.002)
    engine, rec, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=10), tts=tts, chunking="phrase")
    record = engine.turn("q")
    assert record["underruns"] == 0 and record["gap_ms"] == 0
    assert len(record["chunks"]) >= 3


def test_gaps_are_counted_when_synthesis_is_slower_than_speech():
    # Audio 5 ms per char, synthesis 20 ms per char: each chunk after the first arrives late.
    tts = ToneTTS(sample_rate=16000, ms_per_char=5.0, synth_s_per_char=0.02)
    engine, _, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=1), tts=tts, chunking="sentence")
    record = engine.turn("q")
    assert record["underruns"] == 1
    assert record["gap_ms"] > 100


def test_wav_sink_gets_all_audio(tmp_path):
    tts = ToneTTS(sample_rate=16000, ms_per_char=10.0)
    sink = WavSink(tmp_path / "out.wav", tts.sample_rate)
    engine, _, _ = make_engine(ReplayLLM.scripted(REPLY, ms_per_item=1), tts=tts, sink=sink, chunking="word")
    record = engine.turn("q")
    sink.close()
    expected = sum(int(16000 * 10.0 * len(c["text"]) / 1000) for c in record["chunks"])
    assert len(sink.samples) == expected
    assert (tmp_path / "out.wav").stat().st_size > 44


def test_stop_cuts_the_turn_short_and_keeps_only_what_was_heard():
    long_reply = " ".join(f"Sentence number {i} is here." for i in range(40))
    engine, rec, _ = make_engine(ReplayLLM.scripted(long_reply, ms_per_item=20), chunking="sentence")
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    t0 = time.perf_counter()
    record = engine.turn("q", stop=stop)
    stopped_after = time.perf_counter() - t0
    assert stopped_after < 0.3 + 0.2, "the turn must end within 200 ms of the stop request"
    assert record["interrupted"] is True
    assert len(record["response"]) < len(long_reply)
    last = engine.history[-1]
    assert last["role"] == "assistant" and last["content"].endswith(INTERRUPTED_MARK)
    heard = last["content"][: -len(INTERRUPTED_MARK)]
    assert heard and long_reply.startswith(heard)


def test_llm_failure_mid_stream_keeps_what_was_said():
    class Failing:
        backend = "fake"

        def stream(self, messages, *, tools=None, tool_choice=None):
            yield "Paris is the capital. "
            yield "It has"
            raise LLMError("the server stopped mid-stream", "try again")

    engine, rec, tts = make_engine(Failing(), chunking="sentence")
    with pytest.raises(LLMError) as exc:
        engine.turn("q")
    record = exc.value.record
    assert record["error"].startswith("the server stopped mid-stream")
    assert "Paris is the capital." in tts.calls
    assert engine.history[-1]["content"] == "Paris is the capital. It has"
    # the conversation goes on
    engine.llm = ReplayLLM.scripted("Fine.")
    assert engine.turn("again")["response"] == "Fine."


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
    record = engine.turn("q")
    assert "**" in record["response"]
    assert all("*" not in call and "`" not in call for call in tts.calls)


def test_bad_strategy_fails_before_anything_runs():
    from voicecli.errors import VoicecliError

    with pytest.raises(VoicecliError):
        make_engine(ReplayLLM.scripted("x"), chunking="nonsense")


# --- tools in the pipeline ------------------------------------------------------------------

def _tool_trace(call: ToolCall, follow_up: str) -> ReplayLLM:
    return ReplayLLM([Trace.from_items([call], first_ms=5), Trace.from_items([follow_up], 5, 5)], speed=0)


def test_tool_round_runs_calculator_and_speaks_follow_up(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(tmp_path))
    from voicecli.tools import build_registry

    llm = ReplayLLM([
        Trace.from_items(["Let me", " work that out. ", ToolCall("calculate", '{"expression": "17 * 23"}', "c1")], 5, 5),
        Trace.from_items(["17 times 23", " is 391."], 5, 5),
    ], speed=0)
    engine, rec, tts = make_engine(llm, chunking="sentence", tools=build_registry(entry_points=False))
    record = engine.turn("What is 17 times 23?")
    assert record["tool_calls"][0]["name"] == "calculate"
    assert "391" in str(record["tool_calls"][0]["result"])
    assert record["tool_calls"][0]["error"] is None
    assert "17 times 23 is 391." in tts.calls
    # the second LLM call saw the tool result in the OpenAI message shape
    second = llm.calls[1]
    assert any(m["role"] == "tool" and "391" in m["content"] for m in second)
    assert any(m["role"] == "assistant" and m.get("tool_calls") for m in second)


def test_feedback_phrase_spoken_for_slow_tools_not_for_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(tmp_path))
    from voicecli.tools import Registry

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
        record = engine.turn("q")
        assert (record["feedback"] == ["One moment."]) is expect_feedback, fn.__name__
        assert record["response"] == "Here it is."


def test_failed_tool_gives_an_honest_sentence_when_the_model_says_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(tmp_path))
    from voicecli.tools import Registry

    def broken(x: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    llm = ReplayLLM([Trace.from_items([ToolCall("broken", '{"x": "1"}', "c1")], 5, 5)] * 4, speed=0)
    engine, _, tts = make_engine(llm, chunking="sentence", max_tool_rounds=1, tools=Registry([broken]))
    record = engine.turn("q")
    assert record["tool_calls"][0]["error"]
    assert any(call.startswith("Sorry, I couldn't do that") for call in tts.calls)


def test_tone_tts_lengths_are_proportional():
    tts = ToneTTS(sample_rate=8000, ms_per_char=100.0)
    assert len(tts.synthesize("abcd")) == 3200
    assert np.abs(tts.synthesize("a")).max() > 0.1


def test_feedback_threshold_zero_always_speaks_the_phrase(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(tmp_path))
    from voicecli.tools import Registry

    def instant(query: str) -> str:
        """Answers at once."""
        return "found"

    llm = _tool_trace(ToolCall("instant", '{"query": "x"}', "c1"), "Done.")
    engine, _, _ = make_engine(llm, chunking="sentence", feedback_after_ms=0, feedback_phrases=["One moment."],
                               tools=Registry([instant]))
    assert engine.turn("q")["feedback"] == ["One moment."]
