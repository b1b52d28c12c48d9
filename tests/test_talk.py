"""The talk loop's decisions, through a scripted input, a scripted endpointer and a fake session.

Stream time only (blocks of 32 ms): no audio, no models, no wall clock in the decisions. Each test
removes one behaviour's reason to exist: mute while speaking, the echo guard, barge-in (hold, go on,
stop), goodbye, speculative starts and how turns end.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from voicecli.app.loop import TalkLoop, is_echo, is_goodbye
from voicecli.app.recording import Timeline
from voicecli.app.turns import TurnRules, TurnTaker
from voicecli.engine.metrics import TurnRecord
from voicecli.engine.turn import TurnResult
from voicecli.engine.types import Audio
from voicecli.stt import SttResult, drop_repeat

BLOCK = 512  # samples at 16 kHz: 32 ms
SPEECH, SOFT, SILENCE = 1.0, 0.4, 0.0


def blocks(*script: tuple[str, int], damped: bool = False):
    """("speech" | "soft" | "silence", n) → blocks whose samples say which they are. "soft": a voice the
    echo canceller damped (Silero 0.4, not speech to the endpointer). ``damped``: the samples are the
    canceller's output, the raw microphone and what it was given beside them."""
    from voicecli.app.listen import Block

    pos = 0
    for kind, n in script:
        for _ in range(n):
            samples = np.full(BLOCK, {"speech": SPEECH, "soft": SOFT, "silence": SILENCE}[kind], np.float32)
            if damped:
                yield Block(samples, samples.copy(), pos / 16000, samples.copy(), np.zeros(BLOCK, np.float32))
            else:
                yield Block(samples, samples, pos / 16000)
            pos += BLOCK


class ScriptedEndpointer:
    """What the Silero endpointer reports, decided by the block values (speech at once, no hysteresis)."""

    threshold = 0.5

    def __init__(self, end_silence_ms: float = 1200.0):
        self.end_silence = end_silence_ms
        self.reset()

    def reset(self):
        self.now_s, self.probability, self._speaking, self._silence, self._audio = 0.0, 0.0, False, 0.0, []
        self._last = None

    @property
    def speaking(self):
        return self._speaking

    @property
    def silence_ms(self):
        return self._silence if self._speaking else 0.0

    @property
    def last_speech_s(self):
        return self._last if self._speaking else None

    def current(self):
        return Audio(np.concatenate(self._audio), 16000) if self._speaking else None

    def end_now(self):
        if not self._speaking:
            return None
        ev = type("E", (), {"kind": "speech_end", "audio": self.current()})()
        self._speaking, self._silence, self._audio = False, 0.0, []
        return ev

    def feed(self, samples):
        self.now_s += len(samples) / 16000
        speech = samples[0] == SPEECH
        self.probability = float(samples[0])
        if speech:
            self._speaking, self._silence, self._last = True, 0.0, self.now_s
        elif self._speaking:
            self._silence += len(samples) / 16
        if self._speaking:
            self._audio.append(samples)
            if self._silence >= self.end_silence:
                return [self.end_now()]
        return []

    def flush(self):
        return [self.end_now()] if self._speaking else []


class ScriptedSTT:
    """Words by how much speech was heard: ``texts`` maps a number of speech blocks to a transcript."""

    def __init__(self, texts: dict[int, str | tuple[str, ...]]):
        self.texts = texts  # a tuple: the transcript, then its alternatives
        self.calls: list[int] = []

    def transcribe_result(self, audio):
        n = int(np.count_nonzero(audio.samples == SPEECH) // BLOCK)
        self.calls.append(n)
        said = next((t for k, t in sorted(self.texts.items(), reverse=True) if n >= k), "")
        text, *alternatives = (said,) if isinstance(said, str) else said
        return SttResult(text, n * BLOCK / 16000, 5.0, "fast", tuple(alternatives))


@dataclass
class FakeEngine:
    history: list = field(default_factory=list)
    paused: int = 0
    resumed: int = 0
    playing: str = ""  # what the reply is saying (its echo's words)

    def playing_text(self):
        return self.playing

    def prompt_so_far(self):
        return list(self.history)

    def pause_playback(self):
        self.paused += 1

    def resume_playback(self):
        self.resumed += 1


class FakeSession:
    """Turns that 'play' until released; records what was asked."""

    def __init__(self):
        self.engine = FakeEngine()
        self.turns: list[dict] = []
        self.release = threading.Event()
        self.replying = threading.Event()

    def turn(self, text, *, heard=None, gate=None, stop=None):
        entry = {"text": text, "heard": heard, "gate": gate, "stop": stop, "kind": "turn"}
        self.turns.append(entry)
        if gate is not None and not gate.wait(stop):
            return TurnResult(TurnRecord("adaptive"), discarded=True)
        entry["heard"] = gate.heard if gate is not None else heard
        self.replying.set()
        while not self.release.wait(0.005) and not stop.is_set():
            pass
        self.replying.clear()
        spoken = "Paris is the capital of France." if not stop.is_set() else "Paris"
        return TurnResult(TurnRecord("adaptive", spoken=spoken, interrupted=stop.is_set()))

    def say(self, text, *, heard=None, stop=None, kind="say"):
        self.turns.append({"text": text, "heard": heard, "kind": kind})
        return TurnResult(TurnRecord("adaptive", spoken=text))


def make_loop(texts, *, barge_in=False, judge=lambda readings, history, over_reply: readings[0], rules=None,
              echo_guard=True):
    session = FakeSession()
    loop = TalkLoop(session, ScriptedSTT(texts), ScriptedEndpointer(), TurnTaker(rules or TurnRules()), judge,
                    barge_in=barge_in, timeline=Timeline(), echo_guard=echo_guard)
    return loop, session


def answered(session):
    return [t for t in session.turns if t["heard"] is not None]


def test_a_finished_question_is_one_turn_that_ends_on_the_short_silence():
    loop, session = make_loop({1: "What is the capital of France?"})
    session.release.set()
    loop.listen(blocks(("speech", 40), ("silence", 12)))
    loop.wait_idle()
    (turn,) = answered(session)
    assert turn["text"] == "What is the capital of France?" and turn["gate"] is not None  # started speculatively
    assert turn["heard"].turn_end == "semantic" and loop.counts["turns"] == 1


def test_a_pause_after_an_unfinished_phrase_is_one_turn_with_both_halves():
    loop, session = make_loop({1: "Set a timer for", 35: "Set a timer for ten minutes please."})
    session.release.set()
    loop.listen(blocks(("speech", 30), ("silence", 22), ("speech", 25), ("silence", 12)))
    loop.wait_idle()
    (turn,) = answered(session)
    assert turn["text"] == "Set a timer for ten minutes please." and turn["heard"].turn_end == "semantic"
    assert all(t["text"] != "Set a timer for" for t in session.turns)  # "for" ends nothing: not even held


def test_words_whisper_is_unsure_were_said_do_not_end_the_turn_on_the_short_silence():
    # "...in the room." with "...in the..." almost as likely: the user may only have paused (unsure_end)
    loop, session = make_loop({1: ("Please turn off the lights in the room.", "Please turn off the lights in the..."),
                               35: "Please turn off the lights in the living room."})
    session.release.set()
    loop.listen(blocks(("speech", 30), ("silence", 22), ("speech", 25), ("silence", 12)))
    loop.wait_idle()
    (turn,) = answered(session)
    assert turn["text"] == "Please turn off the lights in the living room." and turn["heard"].turn_end == "semantic"
    assert all(t["text"] != "Please turn off the lights in the room." for t in session.turns)  # not even held


def answer_live(texts, script, **kw):
    """The one turn a live loop answers for ``script`` (blocks), the reply free to play out."""
    loop, session = make_loop(texts, **kw)
    session.release.set()
    loop.listen(blocks(*script))
    loop.wait_idle()
    (turn,) = answered(session)
    return turn


def scores(table):
    """A judge that takes the first reading whose score in ``table`` reaches 0.08, and notes what it was given."""
    given = []

    def judge(readings, history, over_reply):
        given.append(list(readings))
        return next((r for r in readings if table.get(r, 0.0) >= 0.08), None)

    return judge, given


def test_another_reading_of_the_words_that_is_a_whole_turn_ends_it_on_the_short_silence_and_is_answered():
    # tiny.en heard "near" for "there"; its next reading is the question, and the score finds it whole
    judge, given = scores({"How many continents are near?": 0.0007, "How many continents are there?": 0.16})
    turn = answer_live({1: ("How many continents are near?", "How many continents are there?")},
                       (("speech", 30), ("silence", 12)), judge=judge)
    assert turn["text"] == "How many continents are there?" and turn["heard"].turn_end == "semantic"
    assert turn["heard"].text == "How many continents are there?"
    assert given == [["How many continents are near?", "How many continents are there?"]]  # Whisper's best first


def test_a_question_closed_by_a_comma_is_judged_by_its_reading_closed_by_a_question_mark():
    judge, given = scores({"Who painted the Mona Lisa?": 0.4})
    turn = answer_live({1: ("who painted the Mona Lisa,", "Who painted the Mona Lisa?")},
                       (("speech", 30), ("silence", 12)), judge=judge)
    assert turn["text"] == "Who painted the Mona Lisa?" and turn["heard"].turn_end == "semantic"
    assert given == [["Who painted the Mona Lisa?"]]


def test_when_no_reading_is_a_whole_turn_the_best_one_waits_for_the_long_silence():
    judge, _ = scores({"What is the carpet?": 0.07, "What is the cap?": 0.01})
    turn = answer_live({1: ("What is the carpet?", "What is the cap?")}, (("speech", 30), ("silence", 45)), judge=judge)
    assert turn["text"] == "What is the carpet?" and turn["heard"].turn_end == "max_silence"


def test_a_file_answered_whole_is_answered_with_the_reading_judged_a_whole_turn():
    judge, _ = scores({"How many hours are in the day?": 0.11})
    loop, session = make_loop({1: ("How many hours are in the case?", "How many hours are in the day?")}, judge=judge)
    session.release.set()
    samples = np.concatenate([b.samples for b in blocks(("speech", 30), ("silence", 45))])
    assert loop.answer_file(samples, 0.0)
    (turn,) = answered(session)
    assert turn["text"] == "How many hours are in the day?" and turn["heard"].turn_end == "semantic"


@pytest.mark.parametrize(("said", "turn_end"), [
    ("Please turn off the lights in the room.", "semantic"),
    (("Please turn off the lights in the room.", "Please turn off the lights in the..."), "max_silence"),
])
def test_a_file_answered_whole_ends_its_turn_as_the_live_loop_would(said, turn_end):
    loop, session = make_loop({1: said})
    session.release.set()
    samples = np.concatenate([b.samples for b in blocks(("speech", 30), ("silence", 45))])
    assert loop.answer_file(samples, 0.0)
    (turn,) = answered(session)
    assert turn["heard"].turn_end == turn_end


def test_speech_after_a_speculative_start_discards_it_and_counts_it():
    loop, session = make_loop({1: "What is the capital", 35: "What is the capital of France?"})
    session.release.set()
    loop.listen(blocks(("speech", 30), ("silence", 4), ("speech", 10), ("silence", 12)))
    loop.wait_idle()
    held = [t for t in session.turns if t["text"] == "What is the capital"]
    assert held and held[0]["gate"].decided and not held[0]["gate"].opened  # started, then thrown away
    (turn,) = answered(session)
    assert turn["text"] == "What is the capital of France?" and turn["heard"].discarded_starts == 1


def test_when_the_score_doubts_the_end_the_turn_waits_for_the_long_silence():
    loop, session = make_loop({1: "Ten"}, judge=lambda readings, history, over_reply: None)
    session.release.set()
    seen = []

    def stream():
        for i, block in enumerate(blocks(("speech", 20), ("silence", 45))):
            seen.append((i, len(answered(session))))
            yield block

    loop.listen(stream())
    loop.wait_idle()
    assert [t["heard"].turn_end for t in answered(session)] == ["max_silence"]
    assert all(n == 0 for i, n in seen if i < 20 + 37)  # nothing before 1.2 s of silence had passed


def _reply_then(loop, session, *script, damped=False):
    """A question, then ``script`` while the reply plays (it plays until released)."""

    def stream():
        yield from blocks(("speech", 30), ("silence", 12))
        deadline = time.monotonic() + 5
        while not session.replying.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        yield from blocks(*script, damped=damped)

    loop.listen(stream())


def test_without_barge_in_the_microphone_is_muted_while_the_assistant_speaks():
    loop, session = make_loop({1: "What is the capital of France?"})
    _reply_then(loop, session, ("speech", 40), ("silence", 12))
    session.release.set()
    loop.wait_idle()
    assert len(answered(session)) == 1  # what was said over the reply was not a turn
    assert session.engine.paused == 0 and not answered(session)[0]["stop"].is_set()


def test_its_own_echo_is_ignored_after_the_reply():
    loop, session = make_loop({1: "Paris is the capital of France."})
    loop.last_spoken = "Paris is the capital of France."
    session.release.set()
    loop.listen(blocks(("speech", 30), ("silence", 45)))
    loop.wait_idle()
    assert not answered(session) and loop.counts["echo"] == 1
    assert is_echo("the capital of francis", "Paris is the capital of France.")
    assert not is_echo("what about germany", "Paris is the capital of France.")


def test_files_have_no_echo_so_words_like_the_reply_are_a_turn():
    loop, session = make_loop({1: "Paris is the capital of France."}, echo_guard=False)
    loop.last_spoken = "Paris is the capital of France."
    session.release.set()
    loop.listen(blocks(("speech", 30), ("silence", 45)))
    loop.wait_idle()
    assert len(answered(session)) == 1 and loop.counts["echo"] == 0


def test_barge_in_with_real_words_stops_the_reply_and_they_are_the_next_turn():
    loop, session = make_loop({25: "What is the capital of France?", 8: "Wait, stop. What is two plus two?"},
                              barge_in=True)
    _reply_then(loop, session, ("speech", 20), ("silence", 12))
    session.release.set()
    loop.wait_idle()
    first, second = answered(session)
    assert session.engine.paused == 1 and first["stop"].is_set()  # held at once, then stopped
    assert second["text"] == "Wait, stop. What is two plus two?" and not second["stop"].is_set()


def test_the_judge_is_told_which_words_were_said_over_a_reply():
    # over a reply the end-of-turn score must not wait for the chat model writing it (judge_with)
    calls = []

    def judge(readings, history, over_reply):
        calls.append((*readings, over_reply))
        return readings[0]

    loop, session = make_loop({25: "What is the capital of France?",
                               8: ("Wait, stop. What is two plus two?", "Wait, stop. What is 2 plus 3?")},
                              barge_in=True, judge=judge)
    _reply_then(loop, session, ("speech", 20), ("silence", 12))
    session.release.set()
    loop.wait_idle()
    # over the reply only Whisper's best reading is judged: an interruption waits for no more scores
    assert calls == [("What is the capital of France?", False), ("Wait, stop. What is two plus two?", True)]


def test_an_acknowledgement_holds_the_reply_and_lets_it_go_on():
    loop, session = make_loop({25: "What is the capital of France?", 1: "Uh-huh."}, barge_in=True)
    _reply_then(loop, session, ("speech", 6), ("silence", 12))
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == 1 and session.engine.resumed == 1
    (turn,) = answered(session)
    assert turn["text"] == "What is the capital of France?" and not turn["stop"].is_set()  # never interrupted


def test_two_words_that_are_no_request_hold_the_reply_and_let_it_go_on():
    loop, session = make_loop({25: "What is the capital of France?", 1: "drop it... ..."}, barge_in=True)
    _reply_then(loop, session, ("speech", 22), ("silence", 12))  # a voice of 0.7 s: the words decide
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == 1 and session.engine.resumed == 1 and len(answered(session)) == 1


def test_the_replys_own_words_in_what_was_heard_over_it_do_not_cut_in():
    loop, session = make_loop({25: "What is the capital of France?", 1: "and the 10. And then 10"}, barge_in=True)
    session.engine.playing = "Add the flour, and then 10 eggs."
    _reply_then(loop, session, ("speech", 22), ("silence", 12))  # as long as the test below that cuts in
    session.release.set()
    loop.wait_idle()
    assert session.engine.resumed == 1 and len(answered(session)) == 1


@pytest.mark.parametrize("blocks_of_voice, cut_in", [(6, False), (22, True)])  # 0.2 s, 0.7 s (STT: under 25)
def test_a_few_words_cut_in_only_from_a_voice_that_lasts(blocks_of_voice, cut_in):
    loop, session = make_loop({25: "What is the capital of France?", 1: "and the 10. And then 10"}, barge_in=True)
    _reply_then(loop, session, ("speech", blocks_of_voice), ("silence", 12))  # nothing like them playing
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == 1 and session.engine.resumed == (0 if cut_in else 1)
    assert len(answered(session)) == (2 if cut_in else 1)


@pytest.mark.parametrize("damped", [True, False])
def test_a_soft_voice_holds_the_reply_only_on_the_cancellers_output(damped):
    """AEC3 damps the first words over a reply (Silero gives them 0.2-0.5): on its output a lower bar
    holds the reply. On the raw microphone (no echo path, a headset) the endpointer's bar stays."""
    loop, session = make_loop({25: "What is the capital of France?"}, barge_in=True)
    _reply_then(loop, session, ("soft", 4), ("silence", 30), damped=damped)
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == (1 if damped else 0)
    assert session.engine.resumed == session.engine.paused and len(answered(session)) == 1  # no words: goes on


def test_after_it_went_on_once_a_soft_voice_no_longer_holds_the_reply():
    """After a hold the canceller leaks more of the echo; at the lower bar a reply held itself every second."""
    loop, session = make_loop({25: "What is the capital of France?"}, barge_in=True)
    _reply_then(loop, session, ("soft", 4), ("silence", 30), ("soft", 4), ("silence", 30), damped=True)
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == 1 and session.engine.resumed == 1


def test_a_cough_that_is_no_speech_lets_the_reply_go_on():
    loop, session = make_loop({25: "What is the capital of France?", 1: ""}, barge_in=True)
    _reply_then(loop, session, ("speech", 5), ("silence", 12))
    session.release.set()
    loop.wait_idle()
    assert session.engine.paused == 1 and session.engine.resumed == 1 and len(answered(session)) == 1


def test_goodbye_says_farewell_and_ends_the_conversation():
    loop, session = make_loop({1: "Okay, goodbye."})
    loop.listen(blocks(("speech", 20), ("silence", 45), ("speech", 20), ("silence", 45)))
    assert [t["kind"] for t in session.turns] == ["say"] and session.turns[0]["text"] == "Goodbye."
    assert loop.finished


@pytest.mark.parametrize("text", ["Goodbye.", "Goodbye. Goodbye.", "Goodbye, thank you.", "bye bye",
                                  "Okay, bye for now.", "See you later!", "That's all, thanks.",
                                  "Goodbye. Thank you. Good bye, thank", "Stop listening now."])
def test_goodbye(text):
    assert is_goodbye(text)


@pytest.mark.parametrize("text", ["Say goodbye to the cat.", "Good night and goodbye to all of you",
                                  "What is the capital of France?", "bye the way, what time is it",
                                  "Thank you.", "Stop.", "", "Good, thank you."])
def test_not_goodbye(text):
    assert not is_goodbye(text)


def test_drop_repeat_cuts_a_transcript_that_starts_over():
    assert drop_repeat("Tell me something about the ocean? Tell me something about") == "Tell me something about the ocean?"
    assert drop_repeat("Remind me to call my mother tomorrow morning. Remind Me") == (
        "Remind me to call my mother tomorrow morning.")
    assert drop_repeat("who wrote the novel pride in prejudice, who wrote The") == (
        "who wrote the novel pride in prejudice,")
    assert drop_repeat("what is five minus one. What is 5 minus") == "what is five minus one."  # bench_turns
    assert drop_repeat("and I'd like to listen to some quiet music. And I") == (  # bench_duplex: "I" of "I'd"
        "and I'd like to listen to some quiet music.")
    assert drop_repeat("Play some music. Play s") == "Play some music."
    assert drop_repeat("I'd like to listen to some quiet music. I'd") == "I'd like to listen to some quiet music."
    assert drop_repeat("who wrote a novel pride in prejudice. Who wrote the") == (  # bench_duplex, over the echo
        "who wrote a novel pride in prejudice.")
    assert drop_repeat("Remind me to call my mother tomorrow morning. Reminds me") == (  # bench_duplex
        "Remind me to call my mother tomorrow morning.")
    assert drop_repeat("I would like to listen to some quiet music. I will like") == (  # bench_duplex
        "I would like to listen to some quiet music.")
    assert drop_repeat("who wrote the novel pride in prejudice, to wrote the") == (  # bench_duplex
        "who wrote the novel pride in prejudice,")
    assert drop_repeat("Turn on the lights. Turn off the") == "Turn on the lights."  # the price (the docstring)
    assert drop_repeat("Turn on the lights. Turn off the fan.") == "Turn on the lights. Turn off the fan."
    assert drop_repeat("Turn on the lights. Turn off the fan") == "Turn on the lights. Turn off the fan"
    assert drop_repeat("Turn on the lights. Turn on the fan") == "Turn on the lights. Turn on the fan"  # can end: kept
    assert drop_repeat("Stop it now. Stop.") == "Stop it now. Stop."  # a word said again, whole: kept
    assert drop_repeat("Yes, I do. Yes") == "Yes, I do. Yes"  # too short to be Whisper starting over
    assert drop_repeat("Play some music. Play t") == "Play some music. Play t"  # not the start cut short: kept
    assert drop_repeat("Call my mom. Call my dad.") == "Call my mom. Call my dad."  # a whole sentence: kept
    assert drop_repeat("Tell me, tell me a story.") == "Tell me, tell me a story."  # ends its sentence: kept
    for keep in ("What is the capital of France?", "I said no, no, no.", "Bye bye.", "the the cat sat"):
        assert drop_repeat(keep) == keep
