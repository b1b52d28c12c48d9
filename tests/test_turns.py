"""The turn-taking decisions, driven by scripted endpointer states: no audio, no models, no clock."""

from __future__ import annotations

from voicecli.app.turns import Act, TurnRules, TurnTaker

RULES = TurnRules(analyze_ms=96, commit_ms=200, max_silence_ms=1200, barge_in_ms=120, hold_analyze_ms=250,
                  false_start_ms=600)
BLOCK_S = 0.032


def run(taker: TurnTaker, script: list[tuple[str, int]], *, judge=None, t0: float = 0.0):
    """``script``: ("speech", n blocks) / ("silence", n blocks) / ("quiet", n blocks: the endpointer idle) /
    ("soft", n blocks: idle, but a voice over the hold bar).

    ``judge(text_so_far) -> dict`` answers ANALYZE. Returns [(time, act, turn_end)].
    """
    out, now, silence, voiced, spoken = [], t0, 0.0, 0.0, 0
    for kind, n in script:
        for _ in range(n):
            now += BLOCK_S
            if kind == "speech":
                silence, voiced, spoken = 0.0, voiced + BLOCK_S * 1000, spoken + 1
            elif kind == "silence":
                silence, voiced = silence + BLOCK_S * 1000, 0.0
            elif kind == "soft":  # a voice over the hold bar, not (yet) speech to the endpointer
                silence, voiced = 0.0, voiced + BLOCK_S * 1000
            else:
                silence, voiced = 0.0, 0.0
            actions = taker.step(kind in ("speech", "silence"), silence, voiced, now)
            while actions:
                a = actions.pop(0)
                out.append((round(now, 3), a.act, a.turn_end))
                if a.act is Act.ANALYZE:
                    verdict = {"empty": False, "plausible": True, "done": True, "backchannel": False}
                    verdict.update((judge or (lambda k: {}))(spoken))
                    actions += taker.judged(**verdict)
    return out


def acts(log):
    return [(a, end) for _, a, end in log]


def test_finished_words_speculate_then_confirm_on_the_short_silence():
    log = run(TurnTaker(RULES), [("speech", 40), ("silence", 10)])
    assert acts(log) == [(Act.ANALYZE, None), (Act.SPECULATE, None), (Act.CONFIRM, "semantic")]
    t_analyze, t_confirm = log[0][0], log[2][0]
    assert round((t_confirm - 40 * BLOCK_S) * 1000) >= 200 and t_analyze < t_confirm


def test_unfinished_words_wait_for_the_long_silence_and_never_cut_in():
    judge = lambda spoken: {"plausible": False}  # noqa: E731  ("set a timer for": no end there)
    log = run(TurnTaker(RULES), [("speech", 30), ("silence", 25), ("speech", 30), ("silence", 40)], judge=judge)
    assert acts(log) == [(Act.ANALYZE, None), (Act.ANALYZE, None), (Act.COMMIT, "max_silence")]
    assert log[-1][0] > 60 * BLOCK_S + 1.2  # one turn, after the second half


def test_a_plausible_end_the_score_doubts_starts_held_and_waits_the_long_silence():
    judge = lambda spoken: {"done": False}  # noqa: E731
    log = run(TurnTaker(RULES), [("speech", 30), ("silence", 40)], judge=judge)
    assert acts(log) == [(Act.ANALYZE, None), (Act.SPECULATE, None), (Act.CONFIRM, "max_silence")]
    assert log[-1][0] >= 30 * BLOCK_S + 1.2


def test_speech_again_discards_the_speculative_start():
    log = run(TurnTaker(RULES), [("speech", 30), ("silence", 5), ("speech", 20), ("silence", 10)])
    assert acts(log) == [(Act.ANALYZE, None), (Act.SPECULATE, None), (Act.DISCARD, None),
                         (Act.ANALYZE, None), (Act.SPECULATE, None), (Act.CONFIRM, "semantic")]


def test_a_pause_shorter_than_the_analysis_costs_nothing():
    log = run(TurnTaker(RULES), [("speech", 20), ("silence", 2), ("speech", 20), ("silence", 10)])
    assert acts(log) == [(Act.ANALYZE, None), (Act.SPECULATE, None), (Act.CONFIRM, "semantic")]


def test_without_semantics_only_the_endpointers_silence_ends_a_turn():
    taker = TurnTaker(TurnRules(semantic=False))
    assert run(taker, [("speech", 20), ("silence", 20)]) == []
    assert [(a.act, a.turn_end) for a in taker.utterance_ended()] == [(Act.COMMIT, "silence")]


def test_the_end_of_the_input_commits_what_was_said():
    taker = TurnTaker(RULES)
    judge = lambda spoken: {"plausible": False}  # noqa: E731
    run(taker, [("speech", 20), ("silence", 5)], judge=judge)
    assert [(a.act, a.turn_end) for a in taker.utterance_ended()] == [(Act.COMMIT, "max_silence")]


# --- while the assistant speaks ------------------------------------------------------------------

def _replying() -> TurnTaker:
    taker = TurnTaker(RULES)
    taker.reply_started()
    return taker


def test_a_backchannel_holds_the_reply_then_lets_it_go_on():
    judge = lambda spoken: {"backchannel": True}  # noqa: E731
    taker = _replying()
    log = run(taker, [("speech", 12), ("silence", 9)], judge=judge)
    assert acts(log) == [(Act.PAUSE, None), (Act.ANALYZE, None), (Act.RESUME, None)]
    assert log[0][0] <= 5 * BLOCK_S  # held about 120 ms after the voice started
    assert taker.assistant_speaking  # still its turn


def test_real_words_interrupt_and_become_the_next_turn():
    judge = lambda spoken: {"plausible": spoken > 30}  # noqa: E731
    taker = _replying()
    log = run(taker, [("speech", 15), ("silence", 4), ("speech", 25), ("silence", 10)], judge=judge)
    assert acts(log) == [(Act.PAUSE, None), (Act.ANALYZE, None), (Act.INTERRUPT, None),
                         (Act.SPECULATE, None), (Act.CONFIRM, "semantic")]
    assert log[1][0] > 44 * BLOCK_S  # the short gap over the held reply was not judged: only the whole
    taker.reply_finished()  # the interrupted reply ends: the user's turn goes on, untouched
    assert taker.phase == "ended" and not taker.assistant_speaking


def test_a_cough_that_never_becomes_speech_resumes_within_a_second():
    taker = _replying()
    log = run(taker, [("speech", 5), ("quiet", 25)])
    assert acts(log) == [(Act.PAUSE, None), (Act.RESUME, None)]
    held = log[1][0] - log[0][0]
    assert 0.6 <= held <= 1.0


def test_a_voice_still_sounding_is_not_a_false_start_though_not_yet_speech():
    taker = _replying()
    log = run(taker, [("soft", 25), ("speech", 20), ("silence", 10)])  # a soft first syllable: 800 ms
    assert acts(log)[:3] == [(Act.PAUSE, None), (Act.ANALYZE, None), (Act.INTERRUPT, None)]
    log = run(_replying(), [("soft", 25), ("quiet", 2)])  # it never became speech: on, once it stops
    assert acts(log) == [(Act.PAUSE, None), (Act.RESUME, None)] and log[1][0] > 25 * BLOCK_S


def test_over_a_held_reply_a_short_gap_is_not_judged_the_words_go_on():
    judge = lambda spoken: {"backchannel": spoken < 20}  # noqa: E731  ("Find me": too little to stop it)
    log = run(_replying(), [("speech", 10), ("silence", 5), ("speech", 20), ("silence", 9)], judge=judge)
    assert acts(log)[:3] == [(Act.PAUSE, None), (Act.ANALYZE, None), (Act.INTERRUPT, None)]


def test_each_hold_the_reply_went_on_from_asks_a_longer_voice_before_the_next():
    taker = _replying()  # barge_in_ms 120, hold_backoff_ms 64, at most 3 times
    nothing = lambda spoken: {"empty": True}  # noqa: E731  (its own echo, heard as nothing)
    for held, voice in enumerate((4, 6, 8, 10, 10), start=1):  # blocks of 32 ms: 120, 184, 248, 312, 312 ms
        short = run(taker, [("speech", voice - 1), ("silence", 12)], judge=nothing)
        assert short == [], voice  # a voice shorter than the bar holds nothing now
        log = run(taker, [("speech", voice), ("silence", 12)], judge=nothing)
        assert acts(log)[0] == (Act.PAUSE, None) and acts(log)[-1] == (Act.RESUME, None)
        assert taker.resumes == held
    taker.reply_finished()
    taker.reply_started()  # the next reply starts with the short bar again
    assert acts(run(taker, [("speech", 4), ("silence", 12)], judge=nothing))[0] == (Act.PAUSE, None)


def test_nothing_transcribable_resumes_too():
    judge = lambda spoken: {"empty": True}  # noqa: E731
    log = run(_replying(), [("speech", 10), ("silence", 9)], judge=judge)
    assert acts(log) == [(Act.PAUSE, None), (Act.ANALYZE, None), (Act.RESUME, None)]


def test_short_noise_under_the_barge_in_threshold_changes_nothing():
    assert run(_replying(), [("speech", 3), ("silence", 30)]) == []


def test_after_the_reply_the_next_words_are_a_new_turn():
    taker = _replying()
    taker.reply_finished()
    log = run(taker, [("speech", 20), ("silence", 10)])
    assert acts(log) == [(Act.ANALYZE, None), (Act.SPECULATE, None), (Act.CONFIRM, "semantic")]
