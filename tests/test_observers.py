"""Observers of the event bus: the Rich view, the conversation log, the metrics — never in the data path."""

from __future__ import annotations

import io
import json

from rich.console import Console

from voicecli.app.log import ConversationLog
from voicecli.app.view import TurnView, metrics_line
from voicecli.audio.sinks import NullSink
from voicecli.engine.events import (
    AudioScheduled,
    ChunkReady,
    EventBus,
    LLMRequested,
    SynthesisDone,
    SynthesisStarted,
    Token,
    TurnDone,
    TurnStarted,
)
from voicecli.engine.metrics import TurnMetrics, TurnRecord
from voicecli.engine.turn import Engine, EngineConfig
from voicecli.llm.replay import ReplayLLM
from voicecli.tts import ToneTTS


def run_turn(*observers, text="Hello there. How are you today?", chunking="sentence"):
    bus = EventBus()
    for o in observers:
        bus.subscribe(o)
    engine = Engine(ReplayLLM.scripted(text, speed=0), ToneTTS(), NullSink(16000), bus, EngineConfig(chunking=chunking))
    return engine.turn("hi").record


def test_view_shows_chunks_and_metrics():
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    view = TurnView(console)
    record = run_turn(view)
    text = out.getvalue()
    assert "Hello there. │ How are you today?" in text
    assert "TTFA" in text and f"{len(record.chunks)} chunks" in text
    assert text.count("\n") >= 2  # the reply, then the metrics on their own line


def test_metrics_line_formats_the_record():
    rec = TurnRecord("adaptive", ttft_ms=12.3, ttfc_ms=40.0, ttfa_ms=95.4, stt_ms=201.0, endpoint_to_audio_ms=410.0,
                     tokens_per_s=110.2, rtf=0.071, chunks=[None, None, None], underruns=1, gap_ms=52.0)
    line = metrics_line(rec).plain
    for part in ("STT 201 ms", "end of speech→audio 410 ms", "TTFT 12 ms", "TTFC 40 ms", "TTFA 95 ms",
                 "110 tok/s", "RTF 0.07", "3 chunks", "1 underruns (52 ms gap)"):
        assert part in line, part
    assert "–" in metrics_line(TurnRecord("adaptive")).plain


def test_log_writes_each_turn_as_it_happens(tmp_path):
    path = tmp_path / "log" / "conversations.jsonl"
    log = ConversationLog(path, session="s1")
    bus = EventBus()
    bus.subscribe(log)
    bus.emit(TurnStarted(user="What time is it?"))
    # the user's words are on disk before the turn ends: a crash now loses nothing already said
    first = [json.loads(line) for line in path.read_text().splitlines()]
    assert first == [{**first[0], "type": "user", "text": "What time is it?", "session": "s1"}]
    bus.emit(TurnDone(record=TurnRecord("adaptive", response="Noon.", spoken="Noon.", ttfa_ms=50.0)))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1]["type"] == "turn" and lines[1]["spoken"] == "Noon." and lines[1]["ttfa_ms"] == 50.0
    log.close()


def test_log_of_a_real_turn(tmp_path):
    log = ConversationLog(tmp_path / "c.jsonl")
    record = run_turn(log)
    log.close()
    entries = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [e["type"] for e in entries] == ["user", "turn"]
    assert entries[1]["response"] == record.response


def test_unwritable_log_is_one_clear_error(tmp_path):
    import pytest

    from voicecli.errors import VoicecliError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VoicecliError, match="cannot write the conversation log"):
        ConversationLog(blocker / "sub" / "log.jsonl")


def test_metrics_from_constructed_events():
    m = TurnMetrics("sentence")
    bus = EventBus()
    bus.subscribe(m)
    bus.emit(TurnStarted(user="q", t=0.5))
    bus.emit(LLMRequested(round=0, t=1.0))
    bus.emit(Token(text="Hi.", t=1.1))
    bus.emit(ChunkReady(index=0, text="Hi.", speech="Hi.", t=1.2))
    bus.emit(SynthesisStarted(index=0, t=1.2))
    bus.emit(SynthesisDone(index=0, text="Hi.", audio_ms=500.0, t=1.3))
    bus.emit(AudioScheduled(index=0, text="Hi.", start=1.3, end=1.8, t=1.3))
    bus.emit(ChunkReady(index=1, text="Bye.", speech="Bye.", t=1.4))
    bus.emit(SynthesisStarted(index=1, t=1.4))
    bus.emit(SynthesisDone(index=1, text="Bye.", audio_ms=400.0, t=2.0))
    bus.emit(AudioScheduled(index=1, text="Bye.", start=2.0, end=2.4, wait=0.2, t=2.0))  # 200 ms gap
    rec = m.record()
    assert (rec.ttft_ms, rec.ttfc_ms, rec.ttfa_ms) == (100.0, 200.0, 300.0)
    assert rec.underruns == 1 and rec.gap_ms == 200.0
    assert rec.as_dict()["chunks"][1] == {"text": "Bye.", "speech": "Bye.", "ready_ms": 400.0, "synth_ms": 600.0,
                                          "audio_ms": 400.0}
    assert rec.speech_end_ms == 1400.0  # the last chunk plays 2.0-2.4


def test_the_record_keeps_the_json_contract_and_is_valid_json():
    record = TurnRecord("adaptive", ttfa_ms=float("nan"), tokens_per_s=float("inf"))
    out = record.as_dict()
    assert list(out)[:13] == ["strategy", "transcript", "response", "chunks", "ttft_ms", "ttfc_ms", "ttfa_ms", "stt_ms",
                              "endpoint_to_audio_ms", "underruns", "gap_ms", "tool_calls", "interrupted"]
    assert out["ttfa_ms"] is None and out["tokens_per_s"] is None  # NaN and Infinity are not JSON
    json.dumps(out, allow_nan=False)
