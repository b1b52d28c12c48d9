"""The listening loop's text decisions: goodbye, echo, repeated transcripts; file source endpointing."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecli.app.talk import FileSource, is_echo, is_goodbye
from voicecli.stt import drop_repeat

SPEECH = Path(__file__).parent / "data" / "speech"


@pytest.mark.parametrize("text", ["Goodbye.", "Goodbye. Goodbye.", "Goodbye, thank you.", "bye bye",
                                  "Okay, bye for now.", "See you later!", "That's all, thanks."])
def test_goodbye(text):
    assert is_goodbye(text)


@pytest.mark.parametrize("text", ["Say goodbye to the cat.", "Good night and goodbye to all of you",
                                  "What is the capital of France?", "bye the way, what time is it"])
def test_not_goodbye(text):
    assert not is_goodbye(text)


def test_echo_matches_what_was_just_said():
    said = "The capital of France is Paris. It is known for the Eiffel Tower."
    assert is_echo("it is known for the eiffel tower", said)
    assert is_echo("the capital of francis paris", said)  # a mis-heard echo still counts
    assert not is_echo("what about germany", said)
    assert not is_echo("anything", "")


def test_drop_repeat_cuts_a_transcript_that_starts_over():
    assert drop_repeat("Tell me something about the ocean? Tell me something about") == "Tell me something about the ocean?"
    for keep in ("What is the capital of France?", "I said no, no, no.", "Bye bye.", "the the cat sat"):
        assert drop_repeat(keep) == keep


@pytest.mark.models
def test_file_source_finds_the_utterance_and_reports_silence(tmp_path):
    import numpy as np

    from voicecli.audio.files import write_wav
    from voicecli.audio.vad import Endpointer

    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    source = FileSource([SPEECH / "question.wav", silent], Endpointer())
    utts = list(source)
    assert len(utts) == 1 and 1.0 < utts[0].audio.seconds < 4.0
    assert source.skipped == [f"{silent}: no speech found"]
