"""Is the user done talking? Cheap signals from the transcript so far (pure Python, no models).

``looks_unfinished(text)`` says whether a transcript stops where an English sentence cannot end: on
an article or determiner ("the", "my"), a preposition ("for", "of", "in"), a conjunction ("and",
"because", "and then"), an auxiliary with nothing after it ("My favourite colour is"), a filler
("um", "uh"), a comma, a dash or a trailing ellipsis. The talk loop uses it to wait longer in a pause
("Set a timer for ... ten minutes") and to commit a complete-looking transcript quickly.

Decisions, and why:

- The last *word* decides, whatever punctuation follows it. Whisper punctuates a fragment transcribed
  alone as if it were a sentence ("Set a timer for.", "What is the capital of?"), so a final "." or
  "?" says nothing; only a trailing comma, dash or ellipsis (Whisper's mark for speech that trails
  off) is evidence, and it is evidence of an unfinished phrase.
- Words that are often the last word of a complete request are left out on purpose, because a false
  "unfinished" only costs latency while the list must stay predictable: particles ("turn it off",
  "look it up", "turn the lights on"), demonstratives and wh-words that stand alone ("What is
  this?", "Guess what"), "so", "too", "though", "before", "like", "times" ("How many times?").
- A preposition after a pronoun in a wh-question is stranded, not unfinished ("Where are you from?",
  "Who did you give it to?"); "What is the capital of" (a noun before it) stays unfinished.
- Auxiliaries and modals ("is", "are", "can", "will", "do", ...) end complete sentences after a pronoun
  ("Yes it is", "Can you?" ends on "you" anyway, "Where have you been?") and in embedded or
  wh-questions ("Do you know what time it is?"). They count as unfinished only when neither is the case.
- An empty transcript is not unfinished (there is nothing to finish); the caller decides what silence
  alone means.

``EndOfTurnScorer`` is the protocol of a learned signal: the probability that the user has finished,
given the words so far and the conversation before them (``voicecli.llm.eot.LlamaEndOfTurn`` is one).
``looks_done(text, p)`` combines the two as measured best on the spoken turn-taking set
(``scripts/measure_turn_signals.py``): the words must not look unfinished (a veto), and the score must
reach ``LM_DONE_THRESHOLD``. With a 200 ms commit for a done-looking transcript and 1.2 s otherwise,
no paused utterance of the set was taken over and 16 of 28 complete questions committed at once
(offline, on transcripts of the audio cut at the pause). Live, at 0.05 (``scripts/bench_turns.py``)
two of 28 paused utterances were taken over: their first halves heard as whole sentences scoring
0.07-0.09 ("What is the carpet?" for "What is the capital of ...", "My favorite color is blue." with
"What is yours?" after it). At 0.08 none was, and the median voice-to-voice on complete questions
stayed where it was (547 → 543 ms, one run each); two complete questions ("What color is the sky?",
"Remind me to call my sister tonight.") and three paused utterances waited for the long silence.

``endings(text, alternatives)`` gives the readings of the same audio a judge tries in turn: Whisper's
best, then the others the beam found almost as likely. Judging them too (``voicecli.app.loop.judge_with``)
answered three more of the 28 complete questions on the short silence, with the reading the score found
whole as the transcript ("How many continents are there?" for "...are near?"), and took over no paused
utterance (``scripts/bench_turns.py``, two runs: median voice-to-voice 357 and 386 ms, 19 of 28 judged
finished; the code before, alternating with them: 418 and 395 ms, 16 of 28).
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

ARTICLES_DETERMINERS = frozenset(
    "a an the my your our their its every each either neither another whose".split()
)
PREPOSITIONS = frozenset(
    """of for to at from with about into onto in by between among through during under until till
    without within across toward towards per via than as against upon beside besides amongst
    throughout including versus vs""".split()
)
CONJUNCTIONS = frozenset("and or but nor because if unless although whereas whether plus minus".split())
FILLERS = frozenset("um uh uhm umm uhh er erm hmm hm mm ah eh".split())
AUXILIARIES = frozenset(
    """is are was were am be been being has have had do does did will would can could should shall
    may might must""".split()
)
# After these, an auxiliary at the end completes the sentence: "yes it is", "I think you should".
SUBJECTS = frozenset("i you he she it we they there that this not so".split())
STRANDING_PRONOUNS = frozenset("you it that this they we he she them him".split())
WH_WORDS = frozenset("what where when who whom which why how whose".split())
# Multi-word endings that promise more: "and then", "I mean", "let me think", "such as".
PHRASES = (
    ("and", "then"), ("but", "then"), ("so", "then"), ("or", "then"),
    ("i", "mean"), ("let", "me", "think"), ("let", "me", "see"), ("let's", "see"),
    ("such", "as"), ("as", "well", "as"), ("kind", "of"), ("sort", "of"), ("you", "know", "like"),
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TRAILING_OFF = re.compile(r"(,|;|:|-|–|—|\.\.\.|…)\s*$")


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (digits count as words; apostrophes kept: "let's", "o'clock")."""
    return _WORD.findall(text.lower().replace("’", "'"))


def looks_unfinished(text: str) -> bool:
    """True when ``text`` stops where a sentence cannot end (see the module docstring for the rules)."""
    stripped = text.strip()
    ws = words(stripped)
    if not ws:
        return False
    if _TRAILING_OFF.search(stripped):
        return True
    last = ws[-1]
    if any(tuple(ws[-len(p):]) == p for p in PHRASES):
        return True
    if last in PREPOSITIONS and len(ws) > 2 and ws[0] in WH_WORDS and ws[-2] in STRANDING_PRONOUNS:
        return False  # a stranded preposition: "Where are you from?", "What is it for?"
    if last in ARTICLES_DETERMINERS or last in PREPOSITIONS or last in CONJUNCTIONS or last in FILLERS:
        return True
    if last in AUXILIARIES and len(ws) > 1:
        before = ws[-2]
        embedded_question = any(w in WH_WORDS for w in ws[:-1])
        return before not in SUBJECTS and not embedded_question
    return False


def unsure_end(text: str, alternatives: tuple[str, ...] | list[str] = ()) -> bool:
    """True when an almost-as-likely reading of the same audio (``SttResult.alternatives``) is ``text``
    cut short where a sentence cannot end: Whisper is unsure its last words were said at all.

    Cut off at a pause, tiny.en sometimes finishes the phrase itself: "Please turn off the lights in
    the ... living room." was heard "Please turn off the lights in the room." with "Please turn off the
    lights in the..." next to it, and the reply cut in on the pause (``scripts/bench_turns.py``). On the
    turn-taking set's transcripts, no complete question has such a reading next to it.
    """
    said = words(text)
    for other in alternatives:
        shorter = words(other)
        if len(shorter) < len(said) and said[:len(shorter)] == shorter and looks_unfinished(other):
            return True
    return False


def may_end(text: str, alternatives: tuple[str, ...] | list[str] = ()) -> bool:
    """The words can end a turn here: their grammar allows it (not ``looks_unfinished``) and no reading
    almost as likely stops short of their last words (not ``unsure_end``). The live loop and a file
    answered whole decide with this same test."""
    return not looks_unfinished(text) and not unsure_end(text, alternatives)


def endings(text: str, alternatives: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The readings of the same audio that may end a turn here, ``text`` (Whisper's best) first, then its
    ``alternatives`` in their order: each passes ``may_end`` against all the others, and a wording that
    only differs in case or punctuation from one already kept is left out (the score reads bare words).

    An end-of-turn judge tries them in that order and takes the first it finds a whole turn. tiny.en
    often hears a complete question with one word wrong, "How many continents are near?" (scored 0.0007)
    next to "How many continents are there?" (0.16); or closes it with a comma, "who painted the Mona
    Lisa," next to "Who painted the Mona Lisa?" (``scripts/bench_turns.py``, the turn-taking set).
    """
    readings = [text, *alternatives]
    kept: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for i, reading in enumerate(readings):
        key = tuple(words(reading))
        if key and key not in seen and may_end(reading, readings[:i] + readings[i + 1:]):
            seen.add(key)
            kept.append(reading)
    return kept


LM_DONE_THRESHOLD = 0.08  # for LlamaEndOfTurn's default score (with look-ahead); from the benchmark (above)


def looks_done(text: str, probability: float | None = None, threshold: float = LM_DONE_THRESHOLD) -> bool:
    """True when ``text`` reads as a finished turn: not ``looks_unfinished`` and, when a scorer's
    ``probability`` is given, at least ``threshold``. An empty transcript is never done."""
    if not words(text) or looks_unfinished(text):
        return False
    return probability is None or probability >= threshold


@runtime_checkable
class EndOfTurnScorer(Protocol):
    """The probability, in [0, 1], that the user has finished their turn after ``text``.

    ``history`` is the conversation before this utterance, as chat messages (``{"role", "content"}``,
    the system prompt first if there is one); a scorer may use it for context or ignore it. ``wait_s``:
    how long it may wait for a model it shares (None: as long as it takes). ``enough``: the caller only
    asks whether the probability reaches it; a scorer may then return any value on the same side of it.
    None: no score this time (the model stayed busy); the caller decides what that means.
    """

    def probability(self, text: str, history: list[dict], wait_s: float | None = None,
                    enough: float | None = None) -> float | None: ...


# Acknowledgements people make while someone else talks: they mean "go on", not "stop".
BACKCHANNELS = frozenset("""
uh huh uh-huh uhhuh mhm mm-hm mm-hmm mmhmm mm hmm hm yeah yep yes yup ok okay right sure alright all
i see got it gotcha oh ah aha nice cool great good wow really true exactly indeed
""".split())


def is_backchannel(text: str, max_words: int = 3) -> bool:
    """True for a short acknowledgement ("uh-huh", "yeah, right", "okay"): someone listening, not cutting in.

    Every word must be one of ``BACKCHANNELS`` and there may be at most ``max_words`` of them;
    "yeah, but wait" or "okay stop" are not backchannels. An empty transcript is not one either.
    """
    found = _said(text)
    return 0 < len(found) <= max_words and all(w in BACKCHANNELS for w in found)


# A hum however the fast STT path spells it ("M-H-M. M-", "Mmm", "Hmmm", "mm hmm"): one "mhm".
_HUM = re.compile(r"\b[mh]+\b(?:[\s.,!?]*\b[mh]+\b)*", re.IGNORECASE)


def _said(text: str) -> list[str]:
    """``words`` of what was heard over the reply, every hum spelled "mhm" and hyphens split."""
    return words(_HUM.sub("mhm", text.replace("-", " ")))


# Words that take the turn however short the utterance: a request to stop, wait or repeat, a question.
TAKE_TURN_WORDS = frozenset("""stop wait hold pause cancel enough quiet shut no nope sorry excuse pardon hey
again repeat skip next louder slower""".split()) | WH_WORDS
# Other words take it when there are this many and the voice lasted this long (LiveKit's agents ask for a
# minimum of both too: ``min_interruption_words``, ``min_interruption_duration`` 0.5 s).
INTERRUPT_MIN_WORDS = 3
INTERRUPT_MIN_SPEECH_MS = 600.0


def cuts_in(text: str, echo: str = "", speech_ms: float | None = None, *, min_words: int = INTERRUPT_MIN_WORDS,
            min_speech_ms: float = INTERRUPT_MIN_SPEECH_MS) -> bool:
    """Do these words, heard while the assistant speaks, take the turn from it?

    They do when they hold a request or a question (``TAKE_TURN_WORDS``: "stop", "wait", "what?", "okay
    stop"), or at least ``min_words`` words that are not acknowledgements ("tell me more") from a voice
    that lasted ``speech_ms`` >= ``min_speech_ms`` (when known). An acknowledgement ("uh-huh", "yeah
    yeah yeah yeah") does not, and neither do a few other words from a short sound: over the reply's
    echo the fast STT path made "it's kind" of Piper's "Okay.", "drop it" of espeak's "Got it.", and
    "and the 10. And then 10" of a hum ("Mm-hm.") and what the canceller left of the reply. Stopping
    the reply for them is the worse mistake: a real interruption goes on, and is heard.

    ``echo``: what the reply was saying when the user spoke; words it holds do not count.
    """
    said = set(words(echo))
    own = [w for w in _said(text) if w not in said]
    if any(w in TAKE_TURN_WORDS for w in own):
        return True
    long_enough = speech_ms is None or speech_ms >= min_speech_ms
    return long_enough and sum(w not in BACKCHANNELS for w in own) >= min_words
