"""`chat`, `say`, `talk` and `transcribe` from the command line, on the real embedded models.

Each command runs as a real subprocess, so stdout/stderr, exit codes and the absence of tracebacks
are what a user sees.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from clirun import SPEECH, assert_one_line_error, mentions, records, voicecli

from voicecli.audio.files import read_audio
from voicecli.text.wer import wer

pytestmark = pytest.mark.models
REFS = json.loads((SPEECH / "references.json").read_text())


def said(rec: dict) -> str:
    """What the WAV holds: a holding phrase first if the machine was so busy that the model needed one
    (the silence budget), then the reply."""
    return " ".join([h["text"] for h in rec["holding"]] + [rec["spoken"]])


def assert_first_audio_order(rec: dict) -> None:
    """Token, chunk, audio; the first audio may be a holding phrase said before the first chunk."""
    assert 0 <= rec["ttft_ms"] <= rec["ttfc_ms"]
    assert rec["ttfc_ms"] <= rec["ttfa_ms"] or rec["holding"][0]["start_ms"] == rec["ttfa_ms"]


@pytest.fixture(scope="module")
def stt():
    from voicecli.config import resolve_model
    from voicecli.stt import WhisperSTT

    return WhisperSTT(resolve_model("stt").require())


@pytest.fixture()
def calc_trace(tmp_path) -> Path:
    """A recorded-style trace: the model asks for 17 × 23, then speaks the result."""
    path = tmp_path / "calc.jsonl"
    lines = [
        {"voicecli_trace": 1, "prompt": "What is 17 times 23?", "deltas": [
            {"t_ms": 40, "tool_call": {"name": "calculate", "arguments": "{\"expression\": \"17 * 23\"}", "id": "c1"}}]},
        {"voicecli_trace": 1, "prompt": None, "deltas": [
            {"t_ms": 30, "text": "Seventeen times"}, {"t_ms": 45, "text": " twenty-three is"},
            {"t_ms": 60, "text": " 391."}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_the_acceptance_question_round_trips(tmp_path, stt):
    out = tmp_path / "reply.wav"
    proc = voicecli("chat", "--once", "What is the capital of France?", "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert mentions(rec["response"], "Paris") and rec["chunks"], rec["response"]
    assert rec["spoken"] == rec["response"]
    assert_first_audio_order(rec)
    heard = stt.transcribe(read_audio(out))
    assert wer(said(rec), heard) < 0.3 and mentions(heard, "Paris"), heard


def test_chat_once_speaks_a_real_reply(tmp_path, stt):
    # a reply of several chunks
    out = tmp_path / "reply.wav"
    proc = voicecli("chat", "--once", "Why is the sky blue?", "--max-tokens", "80", "--output", str(out), "--json",
               "--no-tools")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert mentions(rec["response"], "sky") and mentions(rec["response"], "blue"), rec["response"]
    assert len(rec["chunks"]) > 1 and all(c["audio_ms"] > 0 for c in rec["chunks"])
    assert_first_audio_order(rec)
    assert rec["backend"] == "llama.cpp" and rec["strategy"] == "adaptive"
    heard = stt.transcribe(read_audio(out))
    assert wer(said(rec), heard) < 0.3, (said(rec), heard)


def test_first_audio_is_ready_before_generation_ends(tmp_path):
    # a long reply replayed at its recorded pace: audio must start while tokens still arrive
    words = ("Paris is the capital of France. It sits on the river Seine. Millions of people visit it "
             "every year to see its museums, its parks and its old streets.").split(" ")
    trace = {"deltas": [{"t_ms": 50 + 25 * i, "text": (" " if i else "") + w} for i, w in enumerate(words)]}
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(trace) + "\n")
    for sink in (["--no-audio"], ["--output", str(tmp_path / "x.wav")]):
        proc = voicecli("chat", "--once", "Tell me about Paris", "--llm", f"replay:{path}", "--json", "--no-tools", *sink)
        assert proc.returncode == 0, proc.stderr
        (rec,) = records(proc)
        assert len(rec["chunks"]) > 1
        assert rec["ttfa_ms"] < rec["llm_ms"], rec  # first audio before the last token
        assert rec["backend"] == "replay"


def test_say_writes_speech_that_transcribes_back(tmp_path, stt):
    out = tmp_path / "say.wav"
    text = "Good morning. The meeting starts at ten, in room four."
    proc = voicecli("say", text, "--output", str(out), "--json", "--chunking", "sentence")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert [c["text"] for c in rec["chunks"]] == ["Good morning.", "The meeting starts at ten, in room four."]
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050
    assert wer(text, stt.transcribe(read_audio(out))) < 0.3


def test_say_reads_stdin(tmp_path):
    out = tmp_path / "stdin.wav"
    proc = voicecli("say", "-", "--output", str(out), stdin="Hello from standard input.")
    assert proc.returncode == 0, proc.stderr
    assert read_audio(out).seconds > 0.5


def test_tool_call_from_a_replayed_trace(calc_trace):
    proc = voicecli("chat", "--once", "What is 17 times 23?", "--llm", f"replay:{calc_trace}", "--json",
               "--no-audio", "--feedback-after-ms", "0")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    (call,) = rec["tool_calls"]
    assert call["name"] == "calculate" and call["result"] == "391" and call["error"] is None
    assert rec["feedback"] and rec["feedback"][0].endswith(".")  # "One moment." or a variant, spoken
    assert rec["spoken"].endswith("391.")


def test_forced_tool_with_the_real_model(tmp_path):
    proc = voicecli("chat", "--once", "What is 17 times 23?", "--tool-choice", "calculate", "--json", "--no-audio")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    (call,) = rec["tool_calls"]
    assert call["name"] == "calculate"
    assert isinstance(call["arguments"], dict) and "expression" in call["arguments"]  # valid against the schema
    assert call["error"] is None and call["result"]
    assert call["result"] in rec["spoken"], (call, rec["spoken"])  # the follow-up carries the tool's result


def test_talk_answers_a_spoken_question(tmp_path, stt):
    out = tmp_path / "reply.wav"
    proc = voicecli("talk", "--input", str(SPEECH / "question.wav"), "--output", str(out), "--json", "--no-tools")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert wer("What is the capital of France?", rec["transcript"]) < 0.2
    assert rec["stt_ms"] > 0 and rec["endpoint_to_audio_ms"] >= rec["ttfa_ms"] > 0
    assert mentions(rec["response"], "Paris"), rec["response"]
    heard = stt.transcribe(read_audio(out))
    assert mentions(heard, "Paris"), heard  # the answer, spoken


def test_talk_several_files_one_turn_each(tmp_path):
    files = [SPEECH / "question.wav", SPEECH / "moon.wav"]
    proc = voicecli("talk", *[a for f in files for a in ("--input", str(f))], "--no-audio", "--json", "--no-tools",
               "--max-tokens", "30")
    assert proc.returncode == 0, proc.stderr
    recs = records(proc)
    assert [wer(REFS[f.name], r["transcript"]) < 0.2 for f, r in zip(files, recs)] == [True, True], recs
    # each answer is about its own question
    assert mentions(recs[0]["response"], "Paris"), recs[0]["response"]
    assert mentions(recs[1]["response"], "moon") and any(ch.isdigit() for ch in recs[1]["response"]), recs[1]
    assert all(r["spoken"] == r["response"] for r in recs)


# --- user mistakes: one line, non-zero exit, no traceback ---------------------------------------

def test_errors_are_one_line(tmp_path):
    assert_one_line_error(voicecli("say", "   "), "nothing to say")
    assert_one_line_error(voicecli("say", "hi", "--output", str(tmp_path / "nope" / "x.wav")), "does not exist")
    assert_one_line_error(voicecli("chat", "--once", "hi", "--llm", "replay:/nonexistent.jsonl", "--no-audio"),
                          "/nonexistent.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert_one_line_error(voicecli("chat", "--once", "hi", "--llm", f"replay:{bad}", "--no-audio"), "invalid JSON")
    assert_one_line_error(voicecli("chat", "--once", "hi", "--chunking", "adaptive", "--llm", "magic:x", "--no-audio"),
                          "unknown LLM source")
    assert_one_line_error(voicecli("chat", "--once", "hi", "--voice", "/missing/voice.onnx", "--no-audio"),
                          "/missing/voice.onnx")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_audio_inputs(tmp_path):
    empty = _write(tmp_path / "empty.wav", b"")
    text = _write(tmp_path / "notes.wav", b"this is not audio at all\n" * 10)
    good = (SPEECH / "question.wav").read_bytes()
    truncated = _write(tmp_path / "truncated.wav", good[:30])
    for path, needle in ((empty, "empty"), (text, "not a WAV"), (truncated, str(truncated)),
                         (tmp_path / "missing.wav", "no such file")):
        assert_one_line_error(voicecli("transcribe", str(path)), needle)
        assert_one_line_error(voicecli("talk", "--input", str(path), "--no-audio"), needle)


def test_silence_only_is_a_clear_message(tmp_path):
    from voicecli.audio.files import write_wav

    silent = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, dtype=np.float32), 16000)
    proc = voicecli("transcribe", str(silent), "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["text"] == ""
    proc = voicecli("talk", "--input", str(silent), "--no-audio")
    assert_one_line_error(proc, "no speech")


def test_transcribe_odd_rates_and_json(tmp_path):
    files = sorted(p for p in SPEECH.glob("*.wav"))[:3]
    proc = voicecli("transcribe", *map(str, files), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = records(proc)
    refs = REFS
    assert [Path(r["file"]).name for r in rows] == [f.name for f in files]
    for r in rows:
        assert r["duration_s"] > 0.5 and r["stt_ms"] > 0
        assert wer(refs[Path(r["file"]).name], r["text"]) < 0.5


def test_long_file_is_handled(tmp_path):
    from voicecli.audio.files import write_wav

    q = read_audio(SPEECH / "question.wav")
    long = np.concatenate([np.zeros(q.rate * 600, dtype=np.float32), q.samples])  # ten minutes
    path = write_wav(tmp_path / "long.wav", long, q.rate)
    proc = voicecli("transcribe", str(path), "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "capital" in json.loads(proc.stdout)["text"].lower()
