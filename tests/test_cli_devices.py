"""The device flags on real (virtual) devices: ``--output-device``, ``--input-device``, ``--play``.

A private PulseAudio server (``tests/pulse.py``, the ``pulse`` fixture) gives a virtual speaker whose
sound the test records and a virtual microphone it speaks into; voicecli reaches them through the
ALSA device named ``pulse``. What the speaker played is transcribed and compared with what was said.
Without a speaker at all, ``--play`` is one line saying so (no PulseAudio needed for that one).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from clirun import SPEECH, assert_one_line_error, mentions, records, spawn, voicecli
from pulse import RATE, frame_levels

from voicecli.audio.files import read_audio
from voicecli.audio.signal import resample
from voicecli.engine.types import Audio
from voicecli.text.wer import wer

pytestmark = pytest.mark.models
LOUD_DB = -40.0


@pytest.fixture(scope="module")
def stt():
    from voicecli.config import resolve_model
    from voicecli.stt import WhisperSTT

    return WhisperSTT(resolve_model("stt").require())


def heard(samples: np.ndarray, stt) -> str:
    loud = np.flatnonzero(frame_levels(samples) > LOUD_DB)
    assert len(loud), "nothing was played on the speaker"
    frame = RATE // 50
    return stt.transcribe(Audio(samples[max(0, (loud[0] - 10) * frame): (loud[-1] + 15) * frame], RATE))


def replay(tmp_path: Path, text: str) -> Path:
    words = text.split(" ")
    deltas = [{"t_ms": 30 + 20 * i, "text": (" " if i else "") + w} for i, w in enumerate(words)]
    path = tmp_path / "reply.jsonl"
    path.write_text(json.dumps({"voicecli_trace": 1, "prompt": None, "deltas": deltas}) + "\n")
    return path


@pytest.mark.audio
def test_say_plays_on_the_named_output_device(pulse, stt, tmp_path):
    text = "Good morning. The meeting starts at ten."
    recorder = pulse.record_speaker()
    proc = voicecli("say", text, "--output-device", "pulse", "--chunking", "sentence", env=pulse.env)
    time.sleep(0.5)
    samples = recorder.stop()
    assert proc.returncode == 0, proc.stderr
    assert wer(text, heard(samples, stt)) < 0.3


@pytest.mark.audio
def test_play_writes_the_file_and_plays_it_too(pulse, stt, tmp_path, isolated_env):
    out = tmp_path / "reply.wav"
    reply = "The capital of France is Paris."
    recorder = pulse.record_speaker()
    proc = voicecli("chat", "--once", "What is the capital of France?", "--llm", f"replay:{replay(tmp_path, reply)}",
                    "--output", str(out), "--play", "--output-device", "0", "--json", env=pulse.env)
    time.sleep(0.5)
    samples = recorder.stop()
    assert proc.returncode == 0, proc.stderr
    assert mentions(heard(samples, stt), "Paris")  # on the speaker
    assert mentions(stt.transcribe(read_audio(out)), "Paris")  # and in the file
    assert records(proc)[0]["spoken"] == reply


@pytest.mark.audio
def test_talk_listens_on_the_named_microphone_and_answers_on_the_named_speaker(pulse, stt, tmp_path, isolated_env):
    reply = "The capital of France is Paris."
    talk = spawn("talk", "--input-device", "pulse", "--output-device", "pulse", "--no-barge-in", "--llm",
                 f"replay:{replay(tmp_path, reply)}", "--json", "--no-tools", env=pulse.env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(talk.proc.stderr), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any("Listening" in x for x in lines):
            assert time.monotonic() < deadline and talk.proc.poll() is None, "".join(lines)
            time.sleep(0.1)
        recorder = pulse.record_speaker()
        question = read_audio(SPEECH / "question.wav")
        pulse.play_into_mic(resample(question.samples, question.rate, RATE))
        record = json.loads(talk.proc.stdout.readline())
        time.sleep(0.5)
        samples = recorder.stop()
        talk.signal(signal.SIGINT)
        rc = talk.wait(30)
    finally:
        talk.close()
    assert wer("What is the capital of France?", record["transcript"]) < 0.3, record
    assert record["spoken"] == reply and record["interrupted"] is False
    assert mentions(heard(samples, stt), "Paris")
    assert rc == 0 and "Traceback" not in "".join(lines)  # Ctrl-C between turns: a normal end


@pytest.mark.audio
def test_talk_from_a_file_plays_its_answer_and_writes_it(pulse, stt, tmp_path, isolated_env):
    out = tmp_path / "reply.wav"
    reply = "The capital of France is Paris."
    recorder = pulse.record_speaker()
    proc = voicecli("talk", "--input", str(SPEECH / "question.wav"), "--llm", f"replay:{replay(tmp_path, reply)}",
                    "--output", str(out), "--play", "--output-device", "pulse", "--json", env=pulse.env)
    time.sleep(0.5)
    samples = recorder.stop()
    assert proc.returncode == 0, proc.stderr
    assert mentions(heard(samples, stt), "Paris") and mentions(stt.transcribe(read_audio(out)), "Paris")


NO_SPEAKER = {"PULSE_SERVER": "unix:/nonexistent/pulse", "PULSE_CLIENTCONFIG": os.devnull}


def test_play_without_a_speaker_is_one_line(tmp_path, isolated_env):
    devices = voicecli("devices", "--json", env=NO_SPEAKER)
    if any(d["outputs"] > 0 for d in json.loads(devices.stdout or "[]")):
        pytest.skip("this machine has a real audio output device")
    out = tmp_path / "x.wav"
    assert_one_line_error(voicecli("say", "Hello.", "--output", str(out), "--play", env=NO_SPEAKER),
                          "no audio output device", "--no-audio")
    assert_one_line_error(voicecli("chat", "--once", "Hi.", "--llm", f"replay:{replay(tmp_path, 'Hello.')}",
                                   "--output", str(out), "--play", env=NO_SPEAKER), "no audio output device")
    assert_one_line_error(voicecli("talk", "--input", str(SPEECH / "question.wav"), "--output", str(out), "--play",
                                   env=NO_SPEAKER), "no audio output device")
    assert_one_line_error(voicecli("say", "Hello.", "--output-device", "USB", env=NO_SPEAKER), "no audio output device")
    # --no-audio: nothing is opened, so no device is needed
    proc = voicecli("say", "Hello.", "--no-audio", "--json", env=NO_SPEAKER)
    assert proc.returncode == 0 and records(proc)[0]["spoken"] == "Hello."
