"""When is the user's turn over, and are they cutting in? Pure decisions, block by block.

The talk loop tells ``TurnTaker`` what the endpointer says after each block (is the user speaking,
how long the silence after their last word is, how long they have been voiced) and, when asked, what
the words so far amount to; the taker answers with actions. No threads and no clock of its own:
stream time only, so a test drives it with a script.

    the user speaks ─ silence ≥ analyze_ms ─▶ ANALYZE (transcribe the words so far, score their end)
      their grammar allows an end ─▶ SPECULATE (start the reply, held):
        the score says a whole turn ─ silence ≥ commit_ms      ─▶ CONFIRM ("semantic")
        it is not sure              ─ silence ≥ max_silence_ms ─▶ CONFIRM ("max_silence")
      "set a timer for" (no end there) ─ silence ≥ max_silence_ms ─▶ COMMIT (transcribe, then start)
      speech again before that ─▶ DISCARD (the held reply, if any), and listen on

    the assistant speaks (barge-in allowed):
      voiced ≥ barge_in_ms ─▶ PAUSE (the reply holds at once)
        silence ≥ hold_analyze_ms, then the words (``cuts_in``):
          nothing, an acknowledgement ("uh-huh"), a short sound ─▶ RESUME where it held
          a request, a question, words from a voice that lasted ("wait, stop") ─▶ INTERRUPT:
          they are the user's next turn
        no speech follows within false_start_ms, nothing sounds (a cough, a knock) ─▶ RESUME
      each RESUME asks the next hold of the same reply for hold_backoff_ms more of voice

Why pause first and decide after: stopping within ~300 ms of the user's first sound leaves no time
to know what the sound was. Holding costs nothing if it was nothing: the reply picks up where it
held, about a second later at most. Why judge over a reply only after ``hold_analyze_ms`` of silence,
not ``analyze_ms``: nothing is started speculatively there, and "Find me ... a simple recipe" judged
at its first short gap ("Find me": two words, a short sound) resumed the reply under the user.
``turn_end`` says what ended a turn: "semantic" (the words looked finished and the short silence
came), "max_silence" (they did not; the long one came), "silence" (words are not judged: ``semantic``
off), "end_of_input".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Act(Enum):
    ANALYZE = "analyze"
    SPECULATE = "speculate"
    DISCARD = "discard"
    CONFIRM = "confirm"
    COMMIT = "commit"
    PAUSE = "pause"
    RESUME = "resume"
    INTERRUPT = "interrupt"


@dataclass(frozen=True)
class Action:
    act: Act
    turn_end: str | None = None  # CONFIRM and COMMIT: what ended the turn


@dataclass(frozen=True)
class TurnRules:
    """The knobs (milliseconds of stream time); the defaults come from the turn-taking benchmark."""

    # silence before the words so far are transcribed and judged; 96 -> 64 answered a complete question a
    # median 82 ms sooner, same take-overs (scripts/bench_turns.py: 17 questions judged finished in both)
    analyze_ms: float = 64.0
    commit_ms: float = 200.0  # silence that ends a turn whose words look finished
    max_silence_ms: float = 1200.0  # silence that ends any turn
    semantic: bool = True  # judge the words (off: only max_silence_ms of silence ends a turn)
    barge_in_ms: float = 64.0  # voiced this long while the assistant speaks: it holds (at 50 ms, on its own echo)
    # what counts as voiced for that on the echo canceller's output (a speech probability, not ms): AEC3
    # damps the user's first words under the reply, so Silero gives them 0.2-0.5 where the echo alone gets
    # ~0.01-0.02; at the endpointer's 0.5 a soft first word held the reply 0.5-1.8 s late. At 0.25 one
    # reply in 20 held 4 times on its own echo (scripts/bench_duplex.py); 0.35 is as quick offline
    barge_in_threshold: float = 0.35
    hold_analyze_ms: float = 250.0  # silence before the words over a held reply are judged (see below)
    false_start_ms: float = 600.0  # no speech this long after a hold: it was nothing, go on
    # each hold the reply went on from asks this much longer a voice before the next hold of the same reply
    # (at most ``max_holds_backoff`` times): one reply held itself 9 times on its own words in 20 echo-only
    # replies (scripts/bench_duplex.py), its canceller leaking each time it went on; a voice that wants the
    # turn lasts, and a leak of the echo does not
    hold_backoff_ms: float = 64.0
    max_holds_backoff: int = 3


class TurnTaker:
    """The decision state of one conversation (see the module docstring)."""

    def __init__(self, rules: TurnRules | None = None):
        self.rules = rules or TurnRules()
        self.assistant_speaking = False  # a confirmed reply is playing (or about to)
        self.resumes = 0
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self.phase = "quiet"  # quiet, talking, judging, done, unfinished, ended
        self.speculating = False
        self.paused_at: float | None = None  # the reply held for the user (stream time)
        self.interrupting = False  # this utterance cut the reply short: it is the next turn

    # -- what the loop reports
    def reply_started(self) -> None:
        """A reply was confirmed (or committed): from now on, the user's voice is a barge-in."""
        self.assistant_speaking = True
        self.resumes = 0  # holds this reply went on from (see ``TurnRules.hold_backoff_ms``)
        self._reset_utterance()

    def reply_finished(self) -> None:
        """The reply is over (played out, stopped or discarded): the next words are a new turn.

        Words that cut it short, or that were held over its end, carry on as the user's turn.
        """
        if self.assistant_speaking and not self.interrupting and self.paused_at is None:
            self._reset_utterance()
        self.assistant_speaking = False
        self.interrupting = False
        self.paused_at = None

    def step(self, speaking: bool, silence_ms: float, voiced_ms: float, now_s: float) -> list[Action]:
        """After each block: the endpointer's state. Returns what to do now (often nothing)."""
        if self.assistant_speaking and not self.interrupting:
            return self._while_replying(speaking, silence_ms, voiced_ms, now_s)
        if not speaking:
            return []
        out: list[Action] = []
        r = self.rules
        if silence_ms == 0.0:  # speech (again)
            if self.phase in ("judging", "done", "unfinished"):
                if self.speculating:
                    out.append(Action(Act.DISCARD))
                    self.speculating = False
            self.phase = "talking"
            return out
        if self.phase == "talking" and r.semantic and silence_ms >= r.analyze_ms:
            self.phase = "judging"
            out.append(Action(Act.ANALYZE))
        if self.phase == "done" and silence_ms >= r.commit_ms:
            out.append(self._end(Act.CONFIRM if self.speculating else Act.COMMIT, "semantic"))
        elif self.phase == "unfinished" and silence_ms >= r.max_silence_ms:
            out.append(self._end(Act.CONFIRM if self.speculating else Act.COMMIT, "max_silence"))
        return out

    def judged(self, *, empty: bool, plausible: bool, done: bool, backchannel: bool,
               speculate: bool = True) -> list[Action]:
        """The words so far: ``empty`` (nothing to answer), ``plausible`` (their grammar allows an end
        here: "set a timer for" does not), ``done`` (the end-of-turn score says they are a whole turn),
        ``backchannel`` (an acknowledgement). ``speculate``: may the reply start before it is sure."""
        out: list[Action] = []
        if self.assistant_speaking and not self.interrupting:
            if self.paused_at is None:
                return []
            if empty or backchannel:
                return self._resume()
            self.interrupting = True
            self.paused_at = None
            out.append(Action(Act.INTERRUPT))
        if self.phase != "judging":
            return out
        if empty or not plausible:
            self.phase = "unfinished"  # only the long silence ends it
            return out
        self.phase = "done" if done else "unfinished"
        if speculate:  # start the reply now, held: a whole turn plays after the short silence, else the long one
            self.speculating = True
            out.append(Action(Act.SPECULATE))
        return out

    def utterance_ended(self) -> list[Action]:
        """The endpointer ended the utterance itself (its end-silence limit, or the end of the input)."""
        if self.assistant_speaking and not self.interrupting:
            return []  # over the reply, only a judgement of the words decides
        if self.phase in ("quiet", "ended"):
            return []
        act = Act.CONFIRM if self.speculating else Act.COMMIT
        if self.phase == "done":
            return [self._end(act, "semantic")]
        return [self._end(act, "max_silence" if self.rules.semantic else "silence")]

    def _while_replying(self, speaking: bool, silence_ms: float, voiced_ms: float, now_s: float) -> list[Action]:
        r = self.rules
        if self.paused_at is None:
            if voiced_ms >= r.barge_in_ms + r.hold_backoff_ms * min(self.resumes, r.max_holds_backoff):
                self.paused_at = now_s
                self.phase = "talking"
                return [Action(Act.PAUSE)]
            return []
        if speaking and silence_ms == 0.0:
            self.phase = "talking" if self.phase != "judging" else self.phase
            return []
        if speaking and self.phase == "talking" and silence_ms >= r.hold_analyze_ms:
            self.phase = "judging"
            return [Action(Act.ANALYZE)]
        if (not speaking and voiced_ms == 0.0 and self.phase == "talking"
                and now_s - self.paused_at >= r.false_start_ms / 1000.0):
            # a cough, a knock: no speech ever started, and nothing sounds now. A voice still sounding is
            # not one: a soft first syllable held the reply and the endpointer counts speech only from the
            # loud part (and 250 ms of it), which under load came after 600 ms: the reply went on and the
            # words were heard from their second syllable ("Remind me to" as "In mind, meet a")
            return self._resume()
        return []

    def _resume(self) -> list[Action]:
        self.resumes += 1
        self._reset_utterance()
        return [Action(Act.RESUME)]

    def _end(self, act: Act, turn_end: str) -> Action:
        self.phase = "ended"
        self.speculating = False
        return Action(act, turn_end)
