"""looks_unfinished: a table of transcripts that stop mid-sentence and of ones that are complete."""

from __future__ import annotations

import pytest

from voicecli.text.endofturn import (
    LM_DONE_THRESHOLD,
    EndOfTurnScorer,
    cuts_in,
    endings,
    is_backchannel,
    looks_done,
    looks_unfinished,
    unsure_end,
    words,
)

UNFINISHED = [
    "Set a timer for",
    "What is the capital of",
    "Remind me to buy milk and",
    "Can you tell me the",
    "How do you say hello in",
    "What is the difference between",
    "What is seven plus",
    "How far is it from London to",
    "Turn on the radio and then",
    "Turn on the radio and then.",  # Whisper's full stop after a fragment says nothing
    "What is the square root of?",
    "Set a timer for.",
    "What is the, um",
    "Tell me about, uh",
    "My favourite colour is",
    "My favorite color is...",  # Whisper's trailing ellipsis
    "Please turn off the lights in the…",
    "who was the president of,",
    "I need to buy eggs,",
    "Play something by -",
    "Remind me because",
    "Add milk, eggs, and",
    "What I mean is, I mean",
    "Let me think",
    "Find restaurants such as",
    "It is bigger than",
    "Is it the",
    "Send a message to my",
    "Tell me whether",
    "Hmm",
    "Remind me to call you at",
    "Where is the nearest station to",
]

COMPLETE = [
    "What is the capital of France?",
    "What is the capital of France",
    "Set a timer for ten minutes please.",
    "Set a timer for 5 minutes.",
    "Turn the lights off.",
    "Turn on the lights",
    "Can you look it up?",
    "Where are you from?",
    "Who did you give it to?",
    "What is this?",
    "Guess what",
    "Do you know what time it is?",
    "Yes it is.",
    "I think you should.",
    "Where have you been?",
    "What does it do?",
    "How many times?",
    "Tell me a joke about dogs.",
    "Remind me at 5 o'clock",
    "Thanks",
    "Hello there!",
    "",
    "   ",
    "...",
]


@pytest.mark.parametrize("text", UNFINISHED)
def test_unfinished(text):
    assert looks_unfinished(text) is True


@pytest.mark.parametrize("text", COMPLETE)
def test_complete(text):
    assert looks_unfinished(text) is False


def test_case_and_apostrophes_do_not_matter():
    assert looks_unfinished("SET A TIMER FOR") is True
    assert looks_unfinished("Let’s see") is True  # typographic apostrophe
    assert words("It’s 5 o'clock, OK?") == ["it's", "5", "o'clock", "ok"]


@pytest.mark.parametrize(("text", "alternatives", "unsure"), [
    # another reading stops before the last words, where a sentence cannot end: they may not have been said
    ("Please turn off the lights in the room.", ("Please turn off the lights in the...",), True),
    ("Can you tell me that", ("Can you tell me,",), True),
    ("Set a timer for ten minutes.", ("Set a timer for 10 minutes.", "Set a timer for"), True),
    # a shorter reading that is a whole sentence, a longer one, another wording: no doubt about the end
    ("Remind me to call my mother tomorrow.", ("Remind me to call my mother tomorrow",), False),
    ("Remind me to call my sister tonight.", ("Remind me to call my sister tonight. Reminds me to",), False),
    ("What is the carpet?", ("What is the carpet", "What is the cap?"), False),
    ("What is the weather like in life?", ("What is the weather like",), False),
    ("Tell me a joke.", (), False),
])
def test_unsure_end(text, alternatives, unsure):
    assert unsure_end(text, alternatives) is unsure


@pytest.mark.parametrize(("text", "alternatives", "expected"), [
    # Whisper's best first, then the other readings that may end a turn, in Whisper's order
    ("How many continents are near?", ("How many continents are there?",),
     ["How many continents are near?", "How many continents are there?"]),
    # a reading closed by a comma cannot end a turn; the same words closed by a question mark can
    ("who painted the Mona Lisa,", ("Who painted the Mona Lisa?", "who painted the Mona Lisa"),
     ["Who painted the Mona Lisa?"]),
    # a wording already kept is not kept twice (the score reads the bare words)
    ("set a timer for 5 minutes", ("Set a timer for 5 minutes", "Delta timer 45 minutes."),
     ["set a timer for 5 minutes", "Delta timer 45 minutes."]),
    # a reading another one cuts short where no sentence ends is out, and so is one that stops there
    ("Please turn off the lights in the room.", ("Please turn off the lights in the...", "Please turn off the lights in the air."),
     []),
    # the best reading's grammar does not rule out another reading of the same length: the score judges it
    # ("Set a Tyler 4", heard next to "Set a Tyler for" in the turn-taking set, scores under 0.001)
    ("Set a timer for", ("Set a timer four.",), ["Set a timer four."]),
    ("", (), []),
])
def test_endings(text, alternatives, expected):
    assert endings(text, alternatives) == expected


def test_the_protocol_is_runtime_checkable():
    class Fixed:
        def probability(self, text: str, history: list[dict], wait_s: float | None = None,
                        enough: float | None = None) -> float:
            return 0.0 if looks_unfinished(text) else 1.0

    assert isinstance(Fixed(), EndOfTurnScorer)
    assert not isinstance(object(), EndOfTurnScorer)


def test_looks_done_needs_finished_words_and_a_high_enough_score():
    assert looks_done("What is the capital of France?") is True
    assert looks_done("What is the capital of France?", LM_DONE_THRESHOLD) is True
    assert looks_done("What is the capital of France?", LM_DONE_THRESHOLD / 2) is False
    assert looks_done("What is the capital of", 0.99) is False  # the words veto a confident model
    assert looks_done("", 1.0) is False and looks_done("...", 1.0) is False
    assert looks_done("Thanks", 0.2, threshold=0.3) is False


@pytest.mark.parametrize("text", ["Uh-huh.", "Yeah.", "okay, okay.", "Right. Right, right.", "Got it.", "I see.",
                                  "Mm-hm.", "M-H-M. M-", "Hmmm.", "mm hmm", "Yes. Yes,", "Sure."])
def test_acknowledgements_are_backchannels(text):
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["", "Wait, stop.", "Okay stop.", "Yeah, but wait.", "What is two plus two?",
                                  "Hmm, what about Spain?", "yeah yeah yeah yeah"])
def test_words_that_cut_in_are_not_backchannels(text):
    assert not is_backchannel(text)


@pytest.mark.parametrize("text", ["Wait, stop.", "Stop.", "Okay stop.", "No.", "What?", "Why?", "Sorry?",
                                  "Hmm, what about Spain?", "Tell me more.", "Yeah, but that is wrong.",
                                  "Please turn off the lights."])
def test_a_request_a_question_or_three_words_cut_in(text):
    assert cuts_in(text)


@pytest.mark.parametrize("text", ["", "Uh-huh.", "yeah yeah yeah yeah", "M-H-M. M-", "Got it.", "it's kind",
                                  "drop it... ...", "Okay, cool.", "Oh nice."])
def test_acknowledgements_and_one_or_two_other_words_do_not_cut_in(text):
    assert not cuts_in(text)


def test_words_the_reply_was_saying_are_its_echo_not_the_users():
    playing = "Add the flour, and then 10 eggs."
    assert not cuts_in("and the 10. And then 10", playing)
    assert cuts_in("and the 10. And then 10")  # with nothing like it playing, four words cut in
    assert cuts_in("and then wait", playing)  # a request among the echo's words still does
    assert cuts_in("How many eggs did you say?", playing)


def test_a_few_words_from_a_short_sound_do_not_cut_in_but_a_request_does():
    assert not cuts_in("and the 10. And then 10", speech_ms=450)  # a hum over the reply's echo
    assert cuts_in("and the 10. And then 10", speech_ms=1500)
    assert cuts_in("Stop.", speech_ms=300) and cuts_in("What?", speech_ms=200)
