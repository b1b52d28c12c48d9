"""Listening and speech-recognition flags from the command line: the endpointer's settings decide
where a turn ends and what counts as speech; the STT model, language and path; ``transcribe`` over a
batch with a bad file in the middle; the model paths ``models`` reports.

Two questions one after the other in one file (1.2 s apart) make the endpointer's decisions visible:
with ``--realtime`` each utterance it finds becomes a turn, as from a microphone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clirun import SPEECH, assert_one_line_error, mentions, records, voicecli

from voicecli.audio.files import read_audio, write_wav
from voicecli.audio.signal import resample
from voicecli.config import resolve_model
from voicecli.text.wer import wer

pytestmark = pytest.mark.models

FIRST, SECOND = "What is the capital of France?", "How far is the moon from the earth?"


@pytest.fixture(scope="module")
def two_questions(tmp_path_factory) -> Path:
    parts = []
    for name in ("question.wav", "moon.wav"):
        audio = read_audio(SPEECH / name)
        parts.append(resample(audio.samples, audio.rate, 16000))
    pause = np.zeros(int(1.2 * 16000), dtype=np.float32)
    return write_wav(tmp_path_factory.mktemp("speech") / "two.wav", np.concatenate([parts[0], pause, parts[1]]), 16000)


@pytest.fixture(scope="module")
def fine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "fine.jsonl"
    path.write_text(json.dumps({"deltas": [{"t_ms": 10, "text": "Fine."}]}) + "\n")
    return path


def transcripts(proc) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return [r["transcript"] for r in records(proc)]


# --- the endpointer -------------------------------------------------------------------------------

def test_end_silence_decides_where_a_turn_ends(two_questions, fine, isolated_env):
    short = voicecli("talk", "--input", str(two_questions), "--realtime", "--end-silence-ms", "400", "--vad-threshold",
                     "0.5", "--min-speech-ms", "250", "--pre-roll-ms", "300", "--llm", f"replay:{fine}", "--json",
                     "--no-audio")
    first, second = transcripts(short)  # the 1.2 s pause ended the first turn
    assert wer(FIRST, first) < 0.2 and wer(SECOND, second) < 0.2, (first, second)
    long = voicecli("talk", "--input", str(two_questions), "--realtime", "--end-silence-ms", "2500",
                    "--turn-silence-ms", "2500", "--llm", f"replay:{fine}", "--json", "--no-audio")
    (both,) = transcripts(long)  # 2.5 s of silence is needed even after a whole question: the pause is inside
    assert wer(f"{FIRST} {SECOND}", both) < 0.2, both


def test_without_realtime_a_file_is_one_turn(two_questions, fine, isolated_env):
    (both,) = transcripts(voicecli("talk", "--input", str(two_questions), "--end-silence-ms", "400", "--llm",
                                   f"replay:{fine}", "--json", "--no-audio"))
    assert mentions(both, "capital", "moon"), both


def test_threshold_and_minimum_length_decide_what_is_speech(two_questions, fine, isolated_env):
    # a 2.5 s question is not "at least 4 s of speech"; a 0.99 threshold hears nothing in clean speech either
    for flag, value in (("--min-speech-ms", "4000"), ("--vad-threshold", "0.99")):
        proc = voicecli("talk", "--input", str(two_questions), flag, value, "--llm", f"replay:{fine}", "--no-audio")
        assert proc.returncode == 1 and "no turn was answered" in proc.stderr, (flag, proc.stderr)
        assert "Traceback" not in proc.stderr and f"{two_questions}: no speech found" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--vad-threshold", "2", "strictly between 0 and 1"), ("--end-silence-ms", "nan", "finite"),
    ("--min-speech-ms", "-1", "between 0 and 5000"), ("--pre-roll-ms", "5000", "between 0 and 2000"),
])
def test_listening_numbers_out_of_range_are_one_line(flag, value, says, isolated_env):
    assert_one_line_error(voicecli("talk", flag, value), f"{flag} {value}", says)


# --- speech recognition: the model, the language, the path ---------------------------------------

def test_talk_with_the_stt_settings_named(fine, isolated_env):
    stt_dir, voice = resolve_model("stt").require(), resolve_model("tts").require()
    for path in ("--stt-library", "--stt-fast"):
        proc = voicecli("talk", "--input", str(SPEECH / "question.wav"), "--stt-model", str(stt_dir), "--language", "en",
                        path, "--voice", str(voice), "-c", "word", "--llm", f"replay:{fine}", "--json", "--no-audio")
        (rec,) = records(proc)
        assert wer(FIRST, rec["transcript"]) < 0.2, (path, rec["transcript"])
        assert rec["strategy"] == "word" and rec["spoken"] == "Fine."
    assert_one_line_error(voicecli("talk", "--input", str(SPEECH / "question.wav"), "--language", "fr",
                                   "--llm", f"replay:{fine}", "--no-audio"), "English only", "'fr'")


def test_transcribe_with_the_stt_settings_named(isolated_env):
    stt_dir = resolve_model("stt").require()
    files = [str(SPEECH / "question.wav"), str(SPEECH / "moon.wav")]
    texts = {}
    for path in ("--stt-library", "--stt-fast"):
        proc = voicecli("transcribe", *files, "--stt-model", str(stt_dir), "--language", "en", path, "--json")
        assert proc.returncode == 0, proc.stderr
        texts[path] = [r["text"] for r in records(proc)]
    for got in texts.values():
        assert wer(FIRST, got[0]) < 0.2 and wer(SECOND, got[1]) < 0.2, got
    (auto,) = records(voicecli("transcribe", files[0], "--language", "auto", "--json"))
    assert wer(FIRST, auto["text"]) < 0.2
    assert_one_line_error(voicecli("transcribe", files[0], "--stt-model", str(stt_dir.parent / "nowhere")),
                          "STT model not found", "nowhere")


def test_transcribe_reports_a_bad_file_in_one_line_and_goes_on(tmp_path, isolated_env):
    good = (SPEECH / "question.wav").read_bytes()
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good[:30])  # a RIFF header cut short
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n")
    batch = [SPEECH / "question.wav", truncated, tmp_path, text, SPEECH / "moon.wav"]
    proc = voicecli("transcribe", *map(str, batch))
    assert proc.returncode == 1, proc.stderr  # some failed: the batch still ran to its end
    assert "Traceback" not in proc.stderr and "terminate called" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 3 and all(line.startswith("error:") for line in errors), proc.stderr
    assert str(truncated) in errors[0] and str(tmp_path) in errors[1] and str(text) in errors[2], errors
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(SPEECH / "question.wav"), str(SPEECH / "moon.wav")]
    assert mentions(lines[0], "capital") and mentions(lines[1], "moon")


# --- the model paths ------------------------------------------------------------------------------

def test_models_reports_each_path_given(isolated_env):
    paths = {role: resolve_model(role).require() for role in ("stt", "llm", "tts")}
    proc = voicecli("models", "--json", "--stt-model", str(paths["stt"]), "--voice", str(paths["tts"]),
                    "--llm-model", str(paths["llm"]))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for role, path in paths.items():
        assert data[role]["path"] == str(path) and data[role]["source"] == "flag" and data[role]["exists"], role


def test_say_with_the_voice_named(tmp_path, isolated_env):
    out = tmp_path / "hello.wav"
    proc = voicecli("say", "Hello there.", "--voice", str(resolve_model("tts").require()), "--output", str(out))
    assert proc.returncode == 0 and read_audio(out).seconds > 0.3, proc.stderr
    assert_one_line_error(voicecli("say", "Hello.", "--voice", str(tmp_path / "none.onnx"), "--no-audio"), "none.onnx")
