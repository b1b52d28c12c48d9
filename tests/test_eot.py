"""The language-model end-of-turn score on the embedded SmolLM2: ordering, cache reuse, long histories."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from voicecli.errors import ModelMissing
from voicecli.llm.eot import LlamaEndOfTurn, bare
from voicecli.text.endofturn import EndOfTurnScorer

MODEL = Path(__file__).resolve().parent.parent / "models" / "llm" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = [{"role": "system", "content": "You are a friendly voice assistant. Keep answers short."}]

# (unfinished prefix, the complete utterance), as a person would pause in it.
PAIRS = [
    ("What is the capital of", "What is the capital of France?"),
    ("Set a timer for", "Set a timer for ten minutes please."),
    ("Remind me to buy milk and", "Remind me to buy milk and bread tomorrow morning."),
    ("How many days are there in", "How many days are there in a leap year?"),
    ("Can you tell me the", "Can you tell me the population of Canada?"),
    ("Tell me a joke about", "Tell me a joke about dogs."),
    ("What is the, um,", "What is the, um, biggest ocean on Earth?"),
]


@pytest.fixture(scope="module")
def scorer():
    return LlamaEndOfTurn(MODEL)


def test_bare_removes_punctuation_and_keeps_apostrophes():
    assert bare("what is the square root of? 64.") == "What is the square root of 64"
    assert bare("Remind me at 5 o'clock, please…") == "Remind me at 5 o'clock please"
    assert bare(" ?! ") == ""


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelMissing) as e:
        LlamaEndOfTurn(tmp_path / "nope.gguf")
    assert "nope.gguf" in e.value.message and e.value.hint


@pytest.mark.models
@pytest.mark.parametrize("lookahead", [False, True])
def test_a_complete_utterance_scores_higher_than_its_unfinished_prefix(scorer, lookahead):
    default, scorer.lookahead = scorer.lookahead, lookahead
    try:
        for prefix, whole in PAIRS[:None if not lookahead else 3]:
            # Whisper's punctuation of a fragment must not fool it either
            for unfinished in (prefix, prefix.rstrip(",") + "."):
                p_prefix, p_whole = scorer.probability(unfinished, SYSTEM), scorer.probability(whole, SYSTEM)
                assert 0.0 <= p_prefix < p_whole <= 1.0, (unfinished, p_prefix, whole, p_whole)
    finally:
        scorer.lookahead = default


@pytest.mark.models
def test_implements_the_protocol_and_the_end_token_comes_from_the_template(scorer):
    assert isinstance(scorer, EndOfTurnScorer)
    assert scorer.end_marker == "<|im_end|>"
    assert scorer.llm.detokenize([scorer.end_id], special=True) == b"<|im_end|>"
    assert scorer.probability("", SYSTEM) == 0.0 and scorer.probability(" ... ", SYSTEM) == 0.0


@pytest.mark.models
def test_the_cached_prefix_is_reused_and_gives_the_same_answer(scorer):
    evaluated: list[int] = []
    real_eval = scorer.llm.eval

    def counting_eval(tokens):
        evaluated.append(len(tokens))
        return real_eval(tokens)

    scorer.llm.eval = counting_eval
    try:
        scorer.llm.reset()
        cold = scorer.probability("What is the capital of France", SYSTEM)
        full = evaluated[0]
        evaluated.clear()
        again = scorer.probability("What is the capital of Japan", SYSTEM)
        assert max(evaluated) < full / 3  # only the new words, not the system prompt again
        evaluated.clear()
        warm = scorer.probability("What is the capital of France", SYSTEM)
        assert max(evaluated) < full / 3
    finally:
        scorer.llm.eval = real_eval
    # the same up to float rounding: llama.cpp's kernels for a long batch and a short one differ slightly
    assert warm == pytest.approx(cold, rel=0.02)
    assert again != pytest.approx(cold, rel=1e-6)


@pytest.mark.models
def test_the_last_exchange_makes_a_short_answer_complete(scorer):
    asked = SYSTEM + [{"role": "user", "content": "Set a timer."},
                      {"role": "assistant", "content": "Sure. For how many minutes?"}]
    assert scorer.probability("Ten minutes", asked) > 10 * scorer.probability("Ten minutes", SYSTEM)
    assert scorer.probability("Ten minutes", asked) > scorer.probability("Ten minutes and", asked)


def _long_history(turns: int) -> list[dict]:
    history = list(SYSTEM)
    for i in range(turns):
        history += [{"role": "user", "content": f"Tell me fact number {i} about the sea."},
                    {"role": "assistant", "content": f"Fact {i}: the sea is salty and deep, and it is big."}]
    return history


@pytest.mark.models
def test_only_the_system_prompt_and_the_last_exchange_are_scored(scorer):
    prompt = scorer.llm.detokenize(scorer.prompt_tokens("What is the", _long_history(60)), special=True).decode()
    assert "friendly voice assistant" in prompt and "fact number 59" in prompt and "Fact 59" in prompt
    assert "fact number 58" not in prompt and prompt.endswith("What is the")


@pytest.mark.models
def test_a_history_longer_than_the_context_is_trimmed_from_the_oldest_message(scorer):
    scorer.context_messages = 1000
    try:
        history = _long_history(60)
        tokens = scorer.prompt_tokens("What is the capital of France", history)
        assert len(tokens) <= scorer.n_ctx
        prompt = scorer.llm.detokenize(tokens, special=True).decode()
        assert "friendly voice assistant" in prompt and "fact number 59" in prompt and "fact number 0 " not in prompt
        assert scorer.probability("What is the capital of France", history) > scorer.probability(
            "What is the capital of", history)
    finally:
        scorer.context_messages = 2
    long_words = " ".join(["very"] * 2000) + " long question"
    tokens = scorer.prompt_tokens(long_words, SYSTEM)
    assert len(tokens) <= scorer.n_ctx
    assert scorer.llm.detokenize(tokens, special=True).decode().endswith("very long question")


@pytest.mark.models
def test_on_the_chat_model_it_scores_the_replys_prompt_and_the_reply_starts_from_it(scorer):
    from voicecli.llm.local import LlamaCppLLM

    chat = LlamaCppLLM(MODEL, max_tokens=2)
    shared = LlamaEndOfTurn(chat=chat)
    history = SYSTEM + [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": "Hi! How can I help?"}]
    question = "What is the capital of France?"
    # the window here is what the small instance sees too (the system prompt and the last exchange)
    assert shared.probability(question, history) == pytest.approx(scorer.probability(question, history), abs=1e-3)
    scored = shared.prompt_tokens(bare(question), history)
    assert len(scored) > 20 and chat.llm.n_tokens >= len(scored)  # evaluated on the chat model's own cache
    list(chat.stream(history + [{"role": "user", "content": question}]))
    # the reply's prompt begins with what was scored (all but the words' last token, where "?" follows)
    assert list(chat.llm.input_ids[: len(scored) - 1]) == scored[:-1]
    shared.warm_up(history)  # nothing to do: the engine's prefetch evaluates the chat's prefix
    assert list(chat.llm.input_ids[: len(scored) - 1]) == scored[:-1]


@pytest.mark.models
def test_talk_scores_on_the_chat_model_when_it_is_the_embedded_one(monkeypatch, tmp_path):
    from voicecli.app.talk import end_of_turn_scorer
    from voicecli.config import Settings
    from voicecli.llm.local import LlamaCppLLM

    monkeypatch.setenv("VOICECLI_CONFIG", str(tmp_path / "none.toml"))
    s = Settings()
    chat = LlamaCppLLM(s.model("llm").path, max_tokens=2)
    assert end_of_turn_scorer(s, chat).llm is chat.llm
    own = end_of_turn_scorer(s, object())  # a server or a replay: a small instance of its own
    assert own is not None and not own.shared and own.llm is not chat.llm
    assert end_of_turn_scorer(Settings(eot_threshold=0.0), chat) is None


@pytest.mark.models
def test_on_a_busy_chat_model_it_gives_no_score_rather_than_wait():
    import threading

    from voicecli.app.loop import judge_with
    from voicecli.llm.local import LlamaCppLLM

    chat = LlamaCppLLM(MODEL, max_tokens=2)
    shared = LlamaEndOfTurn(chat=chat)
    taken, release = threading.Event(), threading.Event()

    def generating():  # a reply still being written holds the model
        with chat.lock:
            taken.set()
            release.wait(10)

    worker = threading.Thread(target=generating)
    worker.start()
    try:
        taken.wait(5)
        assert shared.probability("What is the capital of France?", SYSTEM, wait_s=0.05) is None
        judge = judge_with(shared, 0.05)
        # over the reply: the grammar alone decides, so an interruption does not wait for the reply
        assert judge(["What is the capital of France?"], lambda: SYSTEM, True) == "What is the capital of France?"
        assert judge(["What is the capital of"], lambda: SYSTEM, True) is None
        # a new turn: no score (busy past TURN_WAIT_S) is not a whole turn, however finished it reads
        assert judge(["What is the capital of France?"], lambda: SYSTEM, False) is None
    finally:
        release.set()
        worker.join()
    assert shared.probability("What is the capital of France?", SYSTEM, wait_s=0.05) > 0.05  # free again: scored


@pytest.mark.models
def test_a_new_turn_waits_for_the_chat_model_to_let_go_and_is_scored():
    import threading

    from voicecli.app.loop import judge_with
    from voicecli.llm.local import LlamaCppLLM

    chat = LlamaCppLLM(MODEL, max_tokens=2)
    judge = judge_with(LlamaEndOfTurn(chat=chat), 0.05)
    for text, done in (("What is the capital of France?", True), ("My favorite", False)):
        taken, let_go = threading.Event(), threading.Event()

        def discarded_start(taken=taken, let_go=let_go):  # a held reply thrown away: it lets go after its prompt
            with chat.lock:
                taken.set()
                time.sleep(0.3)
                let_go.set()

        worker = threading.Thread(target=discarded_start)
        worker.start()
        taken.wait(5)
        assert (judge([text], lambda: SYSTEM, False) == text) is done  # "My favorite": read as done by the grammar alone
        assert let_go.is_set()  # it was scored after the model let go, not decided without it
        worker.join()


@pytest.mark.models
def test_the_reading_the_model_finds_a_whole_turn_is_taken_and_a_paused_one_is_not(scorer):
    from voicecli.app.loop import judge_with
    from voicecli.text.endofturn import LM_DONE_THRESHOLD, endings

    judge = judge_with(scorer, LM_DONE_THRESHOLD)
    # readings tiny.en gave for complete questions of the turn-taking set: its best one, then the others
    for best, alternatives, whole in [
        ("How many continents are near?", ("How many continents are there?",), "How many continents are there?"),
        ("who painted the Mona Lisa,", ("Who painted the Mona Lisa?",), "Who painted the Mona Lisa?"),
        ("How many hours are in the case?", ("How many hours are we going to be?", "How many hours are in the day?"),
         "How many hours are in the day?"),
    ]:
        assert judge(endings(best, alternatives), lambda: SYSTEM, False) == whole
    # and for first halves before a pause, none of which may end the turn
    for best, alternatives in [("What is 12 times?", ()), ("Remind me to buy milk.", ("Remind me to buy milk and...",)),
                               ("How do you say for loin?", ("How do you say hello in?", "How do you say for loading?"))]:
        assert judge(endings(best, alternatives), lambda: SYSTEM, False) is None


@pytest.mark.models
def test_asked_only_whether_it_reaches_a_threshold_the_score_decides_the_same_with_fewer_steps(scorer):
    texts = ["What is the capital of France?", "What is the capital of", "What color is the sky?",
             "Remind me to call my sister tonight.", "My favorite color is blue.", "How many continents are near?",
             "How many continents are there?", "Set a timer for 5 minutes", "What is 12 times?"]
    steps = []
    evaluate = scorer._eval

    def counted(tokens):
        steps.append(len(tokens))
        return evaluate(tokens)

    scorer._eval = counted
    try:
        for threshold in (0.01, 0.05, 0.08, 0.2):
            for text in texts:
                full = scorer.probability(text, SYSTEM)
                steps.clear()
                decided = scorer.probability(text, SYSTEM, enough=threshold)
                assert (decided >= threshold) == (full >= threshold), (text, threshold, full, decided)
                assert len(steps) <= 1 + len(scorer.closer_ids)
        # a clear question is decided by its likeliest closing mark: one look-ahead step, not three
        steps.clear()
        assert scorer.probability("What is the capital of France?", SYSTEM, enough=0.08) >= 0.08
        assert len(steps) == 2
    finally:
        scorer._eval = evaluate
