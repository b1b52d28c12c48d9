"""The silence budget from the command line, on the real voice: slow replays, a slow server, the embedded model.

`voicecli chat --once ... --json` as a user runs it; the acceptance of issue 18. The traces in
tests/data/traces are synthetic: ``slow_first`` (the first token after 3 s), ``stall`` (3 s without a
token in the middle of a sentence), ``cold_start`` (the first token after 10 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import SPEECH, records, voicecli
from fake_openai_server import FakeOpenAIServer, Reply, chunk, ending, sse, text_events

from voicecli.llm.replay import load_traces

TRACES = Path(__file__).parent / "data" / "traces"
BUDGET_MS = 2000.0
pytestmark = pytest.mark.models


def chat(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "voicecli", "chat", "--once", "What is the capital of France?",
                           "--json", "--no-audio", *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "VOICECLI_NO_LOG": "1"})
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return record


def replay(name: str, *args: str) -> tuple[dict, str]:
    path = TRACES / f"{name}.jsonl"
    return chat("--llm", f"replay:{path}", *args), load_traces(path)[0].text


def test_a_first_token_after_3_s_is_bridged_by_a_phrase_before_2_s_and_the_reply_is_spoken_in_full():
    record, reply = replay("slow_first")
    first = record["holding"][0]
    assert first["reason"] == "wait" and first["start_ms"] < BUDGET_MS
    assert record["ttfa_ms"] == first["start_ms"]  # the first audio of any kind: the phrase
    assert record["longest_silence_ms"] < BUDGET_MS
    assert record["spoken"] == reply and not record["interrupted"]
    assert record["feedback"] == []  # the tools' phrases only


def test_without_a_budget_the_same_trace_leaves_the_user_in_silence_for_over_3_s():
    proc = voicecli("chat", "--once", "What is the capital of France?", "--json", "--no-audio", "--llm",
                    f"replay:{TRACES / 'slow_first.jsonl'}", "--silence-budget-ms", "0")
    assert proc.returncode == 0, proc.stderr
    (record,) = records(proc)
    assert record["holding"] == [] and record["longest_silence_ms"] > 3000


def test_a_3_s_stall_in_the_middle_of_a_sentence_is_bridged_with_nothing_cut_and_no_phrase_repeated():
    record, reply = replay("stall")
    texts = [h["text"] for h in record["holding"]]
    assert texts and record["holding"][0]["reason"] == "stall" and len(set(texts)) == len(texts)
    assert record["longest_silence_ms"] < BUDGET_MS
    assert record["spoken"] == reply and not record["interrupted"]


def test_a_10_s_cold_start_gets_two_different_phrases_then_the_reply():
    record, reply = replay("cold_start")
    assert [h["reason"] for h in record["holding"]] == ["wait", "still"]
    assert record["holding"][0]["text"] != record["holding"][1]["text"]
    assert record["holding"][0]["start_ms"] < BUDGET_MS
    assert record["spoken"] == reply


def test_a_fast_turn_on_the_embedded_model_says_no_holding_phrase():
    record = chat()
    assert record["response"].strip()
    content_ms = min(c["ready_ms"] + c["synth_ms"] for c in record["chunks"] if c["synth_ms"] is not None)
    if content_ms < 1500:  # the usual case (~0.3-0.5 s): no phrase at all
        assert record["holding"] == [] and record["longest_silence_ms"] < BUDGET_MS
    else:  # a machine so busy that the model itself was slow: a phrase only where the silence ran long
        assert all(h["silence_before_ms"] >= 1600 for h in record["holding"]), record["holding"]


def test_a_server_whose_first_token_takes_3_s_is_bridged():
    words = ["Paris", " is", " the", " capital", " of", " France."]
    with FakeOpenAIServer() as server:
        server.answer_warm_ups = True
        server.replies = [Reply(text_events([]) + [3.0] + [sse(chunk({"content": w})) for w in words] + ending())]
        record = chat("--llm-url", server.url, "--no-tools")
    assert record["backend"] == "openai"
    assert record["holding"][0]["start_ms"] < BUDGET_MS and record["longest_silence_ms"] < BUDGET_MS
    assert record["spoken"] == "".join(words)


@pytest.mark.parametrize("budget", ["1000", "0"])
def test_talk_takes_the_budget_too(budget):
    """A spoken question answered by the slow trace: a phrase bridges the wait, unless the budget is off."""
    proc = voicecli("talk", "--input", str(SPEECH / "question.wav"), "--no-audio", "--json", "--llm",
                    f"replay:{TRACES / 'slow_first.jsonl'}", "--silence-budget-ms", budget)
    assert proc.returncode == 0, proc.stderr
    (record,) = records(proc)
    assert record["spoken"] == load_traces(TRACES / "slow_first.jsonl")[0].text
    if budget == "0":
        assert record["holding"] == [] and record["longest_silence_ms"] > 3000
    else:
        assert record["holding"][0]["reason"] == "wait" and record["ttfa_ms"] == record["holding"][0]["start_ms"]
