"""Turn-taking from the command line, on the real models, at speaking pace (``--realtime``), judged from
the conversation recording (``--conversation-wav``): the ground truth the benchmark uses too."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from clirun import records, voicecli

from voicecli.audio.files import read_audio, write_wav
from voicecli.audio.signal import resample
from voicecli.text.wer import normalize

ROOT = Path(__file__).resolve().parent.parent
SPEECH = Path(__file__).parent / "data" / "speech"
ONSET = 10 ** (-50 / 20)
pytestmark = pytest.mark.models


def turnset():
    spec = importlib.util.spec_from_file_location("make_turn_set", ROOT / "scripts" / "make_turn_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def talk(wav: Path, conversation: Path, tmp_path: Path, *extra: str) -> tuple[list[dict], subprocess.CompletedProcess]:
    env = {**os.environ, "VOICECLI_DATA_DIR": str(tmp_path / "data")}
    env.pop("VOICECLI_NO_LOG", None)
    proc = subprocess.run([sys.executable, "-m", "voicecli", "talk", "--input", str(wav), "--realtime", "--no-audio",
                           "--json", "--no-tools", "--max-tokens", "30", "--conversation-wav", str(conversation), *extra],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], proc


def channels(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 16000
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).astype(np.float32) / 32768.0


def first_sound(samples: np.ndarray, after: int = 0) -> float | None:
    loud = np.flatnonzero(np.abs(samples[after:]) > ONSET)
    return (after + loud[0]) / 16000 if len(loud) else None


def test_a_pause_mid_sentence_is_one_turn_and_the_assistant_waits_for_the_last_word(tmp_path):
    samples, rate, entry = turnset().make_utterance(["Set a timer for", "ten minutes please."], pause_s=0.8)
    wav = write_wav(tmp_path / "paused.wav", samples, rate)
    records, _ = talk(wav, tmp_path / "conv.wav", tmp_path)
    assert len(records) == 1, [r["transcript"] for r in records]
    words = normalize(records[0]["transcript"])
    assert "timer" in words and "minutes" in words  # both halves in the one turn
    data = channels(tmp_path / "conv.wav")
    onset = first_sound(data[:, 1])
    assert onset is not None and onset > entry["speech_end_s"]  # channel 2 silent until after the last word
    assert records[0]["turn_end"] in ("semantic", "max_silence") and records[0]["voice_to_voice_ms"] > 0


def test_a_discarded_start_leaves_nothing_in_the_log_and_the_turn_holds_both_halves(tmp_path):
    samples, rate, _ = turnset().make_utterance(["Tell me a story", "about a brave little dragon."], pause_s=0.8)
    wav = write_wav(tmp_path / "story.wav", samples, rate)
    records, _ = talk(wav, tmp_path / "conv.wav", tmp_path)
    assert len(records) == 1
    record = records[0]
    assert record["discarded_starts"] >= 1  # "Tell me a story" could end there: the reply was started, held
    assert "dragon" in normalize(record["transcript"])
    log = [json.loads(line) for line in (tmp_path / "data" / "conversations.jsonl").read_text().splitlines()]
    assert [e["type"] for e in log] == ["user", "turn"]  # the discarded start wrote nothing
    assert "dragon" in normalize(log[0]["text"]) and log[1]["response"] == record["response"]


def test_the_recordings_channels_line_up_with_the_record(tmp_path):
    question = read_audio(SPEECH / "question.wav")
    speech = resample(question.samples, question.rate, 16000)
    click_at = 0.5
    lead = np.zeros(int(click_at * 16000), np.float32)
    click = np.zeros(int(0.7 * 16000), np.float32)
    click[:40] = 0.8  # a 2.5 ms click, 0.7 s before the question starts
    tail = np.zeros(int(1.5 * 16000), np.float32)
    wav = write_wav(tmp_path / "click.wav", np.concatenate([lead, click, speech, tail]), 16000)
    records, _ = talk(wav, tmp_path / "conv.wav", tmp_path)
    record = records[-1]
    data = channels(tmp_path / "conv.wav")
    assert abs(first_sound(data[:, 0]) - click_at) < 0.002  # channel 1 is the input, sample-aligned
    onset = first_sound(data[:, 1])
    assert onset is not None and record["first_audio_s"] is not None
    assert 0.0 <= onset - record["first_audio_s"] < 0.15  # the reply starts where the record says (Piper's lead-in)
    last_sound = np.flatnonzero(np.abs(data[:, 0]) > ONSET)[-1] / 16000  # the question's end, on channel 1
    assert abs(record["user_speech_end_s"] - last_sound) < 0.15  # where the VAD put the last word
    assert record["voice_to_voice_ms"] == pytest.approx((record["first_audio_s"] - record["user_speech_end_s"]) * 1000,
                                                        abs=2)


def test_the_turn_knobs_decide_how_a_complete_question_ends(tmp_path):
    """``--eot-threshold 1``: the model is never sure enough, so the turn waits for the upper bound;
    ``--eot-threshold 0 --turn-silence-ms 600``: the grammar alone ends it, after 600 ms of silence."""
    unsure = records(voicecli("talk", "--input", str(SPEECH / "question.wav"), "--realtime", "--no-audio", "--json",
                              "--no-log", "--no-tools", "--max-tokens", "20", "--eot-threshold", "1"))
    assert [r["turn_end"] for r in unsure] == ["max_silence"]
    grammar = records(voicecli("talk", "--input", str(SPEECH / "question.wav"), "--realtime", "--no-audio", "--json",
                               "--no-log", "--no-tools", "--max-tokens", "20", "--eot-threshold", "0",
                               "--turn-silence-ms", "600"))
    assert [r["turn_end"] for r in grammar] == ["semantic"]
    assert grammar[0]["voice_to_voice_ms"] >= 550  # not before 600 ms of silence (a 32 ms frame of slack)
