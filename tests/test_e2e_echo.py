"""Full duplex on laptop speakers, end to end: the microphone hears the speaker (a PulseAudio loopback,
60 ms later, at 70%), as on a laptop, and ``voicecli talk`` runs with its defaults (echo cancellation
on, so barge-in on). The outcomes are asserted, not timings (those are the benchmark's:
``scripts/bench_duplex.py``):

- with only the echo present, the assistant never interrupts itself and never takes its own words
  for a turn;
- real speech over the reply and its echo stops it, and the interrupting words are the next turn;
- an acknowledgement ("yeah") over the reply leaves it speaking;
- with ``--no-aec`` the microphone is muted while the reply plays, as before echo cancellation.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pulse import RATE, serving
from test_e2e_audio import (
    CUT_IN,
    LONG_REPLY,
    LOUD_DB,
    SHORT_REPLY,
    start_talk,
    utterance,
    write_trace,
)

from voicecli.text.wer import normalize, wer

pytestmark = [pytest.mark.audio, pytest.mark.models]


@pytest.fixture(scope="module")
def laptop():
    """A private PulseAudio server whose microphone hears its speaker."""
    with serving(echo=True) as server:
        yield server


def acknowledgement() -> np.ndarray:
    from voicecli.audio.signal import resample
    from voicecli.config import resolve_model
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require())
    return resample(tts.synthesize("Yeah."), tts.sample_rate, RATE)


def ask_and_wait_for_sound(laptop, talk, question):
    recorder = laptop.record_speaker()
    laptop.play_into_mic(question)
    t_sound = recorder.wait_for_sound(60.0, threshold_db=LOUD_DB)
    assert t_sound is not None, "the reply never played:\n" + "".join(talk.stderr)
    return recorder, t_sound


def speak_over_the_reply(laptop, tmp_path, clip, *flags: str):
    """``talk`` with a long replayed reply; ``clip`` is spoken into the microphone 2 s into its sound."""
    trace = write_trace(tmp_path / "long.jsonl")
    talk = start_talk(laptop, *flags, "--llm", f"replay:{trace}")
    try:
        _, t_sound = ask_and_wait_for_sound(laptop, talk, utterance("question.wav"))
        time.sleep(max(0.0, t_sound + 2.0 - time.perf_counter()))
        laptop.play_into_mic(clip)
    except BaseException:
        talk.close()
        raise
    return talk


def test_the_assistant_never_hears_itself_through_the_speakers(laptop, tmp_path):
    trace = write_trace(tmp_path / "replies.jsonl")
    talk = start_talk(laptop, "--aec", "--llm", f"replay:{trace}")  # the default, said explicitly
    try:
        records = []
        for _ in range(2):  # two long replies, each heard by the microphone from start to end
            ask_and_wait_for_sound(laptop, talk, utterance("question.wav"))
            record, _ = talk.next_record(90.0)
            records.append(record)
        time.sleep(3.0)  # the echo's tail has had every chance to become a turn
        extra = []
        while not talk.records.empty():
            extra.append(talk.records.get()[0])
    finally:
        talk.close()
    assert [r["interrupted"] for r in records] == [False, False], [r["spoken"] for r in records]
    assert all(wer("What is the capital of France?", r["transcript"]) < 0.5 for r in records)
    assert extra == [], [r["transcript"] for r in extra]  # none of its own words came back as a turn


def test_real_speech_over_the_echo_stops_the_reply_and_is_the_next_turn(laptop, tmp_path):
    talk = speak_over_the_reply(laptop, tmp_path, utterance(CUT_IN))
    try:
        first, _ = talk.next_record(60.0)
        second, _ = talk.next_record(60.0)
    finally:
        talk.close()
    assert first["interrupted"] is True
    assert 0 < len(normalize(first["spoken"])) < len(normalize(LONG_REPLY))  # history keeps what was heard
    # The words after the reply held are clean; the first ones overlapped its echo and AEC3 damps them
    # (the benchmark reports the word error rate against the same words without echo).
    heard = normalize(second["transcript"])
    assert {"mother", "tomorrow", "morning"} <= set(heard), second["transcript"]
    assert not set(heard) & {"paris", "france", "seine", "museums", "cafes"}  # none of the reply's words
    assert second["response"].strip() == SHORT_REPLY


def test_an_acknowledgement_over_the_reply_leaves_it_speaking(laptop, tmp_path):
    talk = speak_over_the_reply(laptop, tmp_path, acknowledgement())
    try:
        record, _ = talk.next_record(90.0)
        time.sleep(2.0)
        extra = talk.records.empty()
    finally:
        talk.close()
    assert record["interrupted"] is False and normalize(record["spoken"]) == normalize(LONG_REPLY)
    assert extra  # "yeah" was no turn of its own


def test_without_echo_cancellation_the_microphone_is_muted_while_it_speaks(laptop, tmp_path):
    """``--no-aec``: today's behaviour on speakers. Neither the echo nor real words stop the reply."""
    talk = speak_over_the_reply(laptop, tmp_path, utterance(CUT_IN), "--no-aec")
    try:
        record, _ = talk.next_record(90.0)
    finally:
        talk.close()
    assert record["interrupted"] is False and normalize(record["spoken"]) == normalize(LONG_REPLY)
