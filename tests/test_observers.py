"""Observers of the event bus: the Rich view, the conversation log, the metrics — never in the data path."""

from __future__ import annotations

import io
import json

from rich.console import Console

from voicecli.app.log import ConversationLog
from voicecli.app.view import TurnView, metrics_line
from voicecli.audio.sinks import NullSink
from voicecli.engine.events import EventBus
from voicecli.engine.metrics import TurnMetrics
from voicecli.engine.turn import Engine, EngineConfig
from voicecli.llm.replay import ReplayLLM
from voicecli.tts import ToneTTS


def run_turn(*observers, text="Hello there. How are you today?", chunking="sentence"):
    bus = EventBus()
    for o in observers:
        bus.subscribe(o)
    engine = Engine(ReplayLLM.scripted(text, speed=0), ToneTTS(), NullSink(16000), bus, EngineConfig(chunking=chunking))
    return engine.turn("hi")


def test_view_shows_chunks_and_metrics():
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    view = TurnView(console)
    record = run_turn(view)
    text = out.getvalue()
    assert "Hello there. │ How are you today?" in text
    assert "TTFA" in text and f"{len(record['chunks'])} chunks" in text
    assert text.count("\n") >= 2  # the reply, then the metrics on their own line


def test_metrics_line_formats_the_record():
    rec = {"ttft_ms": 12.3, "ttfc_ms": 40.0, "ttfa_ms": 95.4, "stt_ms": 201.0, "endpoint_to_audio_ms": 410.0,
           "tokens_per_s": 110.2, "rtf": 0.071, "chunks": [1, 2, 3], "underruns": 1, "gap_ms": 52.0}
    line = metrics_line(rec).plain
    for part in ("STT 201 ms", "end of speech→audio 410 ms", "TTFT 12 ms", "TTFC 40 ms", "TTFA 95 ms",
                 "110 tok/s", "RTF 0.07", "3 chunks", "1 underruns (52 ms gap)"):
        assert part in line, part
    assert "–" in metrics_line({"ttft_ms": None, "chunks": []}).plain


def test_log_writes_each_turn_as_it_happens(tmp_path):
    path = tmp_path / "log" / "conversations.jsonl"
    log = ConversationLog(path, session="s1")
    bus = EventBus()
    bus.subscribe(log)
    bus.emit("turn_start", user="What time is it?")
    # the user's words are on disk before the turn ends: a crash now loses nothing already said
    first = [json.loads(line) for line in path.read_text().splitlines()]
    assert first == [{**first[0], "type": "user", "text": "What time is it?", "session": "s1"}]
    bus.emit("turn_done", record={"response": "Noon.", "spoken": "Noon.", "ttfa_ms": 50.0})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1]["type"] == "turn" and lines[1]["spoken"] == "Noon." and lines[1]["ttfa_ms"] == 50.0
    log.close()


def test_log_of_a_real_turn(tmp_path):
    log = ConversationLog(tmp_path / "c.jsonl")
    record = run_turn(log)
    log.close()
    entries = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [e["type"] for e in entries] == ["user", "turn"]
    assert entries[1]["response"] == record["response"]


def test_unwritable_log_is_one_clear_error(tmp_path):
    import pytest

    from voicecli.errors import VoicecliError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VoicecliError, match="cannot write the conversation log"):
        ConversationLog(blocker / "sub" / "log.jsonl")


def test_metrics_from_constructed_events():
    m = TurnMetrics("sentence")
    bus = EventBus(clock=iter([0.0]).__next__)
    bus.subscribe(m)
    bus.emit("turn_start", t=0.0, user="q")
    bus.emit("llm_request", t=1.0, round=0)
    bus.emit("token", t=1.1, text="Hi.")
    bus.emit("chunk_ready", t=1.2, index=0, text="Hi.", spoken="Hi.")
    bus.emit("synth_start", t=1.2, index=0)
    bus.emit("synth_end", t=1.3, index=0, audio_ms=500.0)
    bus.emit("chunk_ready", t=1.4, index=1, text="Bye.", spoken="Bye.")
    bus.emit("synth_start", t=1.4, index=1)
    bus.emit("synth_end", t=2.0, index=1, audio_ms=400.0)  # previous audio ended at 1.8: 200 ms gap
    rec = m.record()
    assert (rec["ttft_ms"], rec["ttfc_ms"], rec["ttfa_ms"]) == (100.0, 200.0, 300.0)
    assert rec["underruns"] == 1 and rec["gap_ms"] == 200.0
    assert rec["chunks"][1] == {"text": "Bye.", "ready_ms": 400.0, "synth_ms": 600.0, "audio_ms": 400.0}
    assert rec["speech_end_ms"] == 1400.0  # the last chunk plays 2.0-2.4
