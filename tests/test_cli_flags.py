"""The conversation flags of `chat` and `talk` reach what they set, checked from the outside.

Each test runs the real program on the real voice, with the LLM side made observable: a local
OpenAI-compatible test server (``tests/fake_openai_server.py``) records every request, so the model
name, system prompt, temperature and token limit can be read back from what was sent; a replayed
trace (``--llm replay:``) scripts tool calls and timing; the embedded model answers where the
question is the point. ``chat`` and ``talk`` share these options, so most tests run both: ``chat
--once TEXT`` and ``talk --input question.wav`` ("What is the capital of France?").
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from clirun import SPEECH, assert_one_line_error, mentions, records, spawn, voicecli
from fake_openai_server import FakeOpenAIServer, Reply, ending, text_events

from voicecli.config import resolve_model

pytestmark = pytest.mark.models

QUESTION = SPEECH / "question.wav"
ASKED = "What is the capital of France?"
# The same question, typed or spoken: the two ways a turn starts.
TURNS = [("chat", "--once", ASKED), ("talk", "--input", str(QUESTION))]
TURN_IDS = ["chat", "talk"]


def trace(path: Path, *responses: list, ms: float = 20.0, first_ms: float = 30.0) -> Path:
    """A replay trace: one line per LLM response; a str is a text delta, a dict a tool call."""
    lines = []
    for items in responses:
        deltas = [{"t_ms": first_ms + i * ms, **({"text": x} if isinstance(x, str) else {"tool_call": x})}
                  for i, x in enumerate(items)]
        lines.append(json.dumps({"voicecli_trace": 1, "prompt": None, "deltas": deltas}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def server():
    with FakeOpenAIServer() as s:
        s.answer_warm_ups = True
        yield s


def turn_requests(server: FakeOpenAIServer) -> list[dict]:
    """The chat-completion bodies the program sent for turns (warm-ups ask for one token)."""
    return [r.json for r in server.requests if r.path.endswith("/chat/completions") and r.json.get("max_tokens") != 1]


# --- the server and generation settings, read back from the request ---------------------------------

@pytest.mark.parametrize("turn", TURNS, ids=TURN_IDS)
def test_generation_settings_reach_the_server(server, turn, isolated_env):
    server.replies = [Reply.stream(["Paris is the capital. ", "It is on the Seine."])]
    proc = voicecli(*turn, "--llm-url", server.url, "--llm-model-name", "test-model-7b", "--system",
                    "You answer like a pirate.", "--temperature", "0.7", "--max-tokens", "33", "--llm-timeout", "20",
                    "--llm-connect-timeout", "3", "--llm-deadline", "90", "--chunking", "sentence", "--json",
                    "--no-audio", "--no-tools")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    (body,) = turn_requests(server)
    assert body["model"] == "test-model-7b" and body["temperature"] == 0.7 and body["max_tokens"] == 33
    assert body["messages"][0] == {"role": "system", "content": "You answer like a pirate."}
    assert body["messages"][-1]["role"] == "user" and mentions(body["messages"][-1]["content"], "capital", "France")
    assert rec["backend"] == "openai" and rec["strategy"] == "sentence"
    assert [c["text"] for c in rec["chunks"]] == ["Paris is the capital.", "It is on the Seine."]


@pytest.mark.parametrize("turn", TURNS, ids=TURN_IDS)
def test_a_stalled_server_is_named_with_the_timeout_given(server, turn, isolated_env):
    server.replies = [Reply(text_events(["Paris"]) + [30.0] + ending())]
    proc = voicecli(*turn, "--llm-url", server.url, "--llm-timeout", "0.5", "--json", "--no-audio", "--no-tools")
    assert proc.returncode == (1 if turn[0] == "chat" else 0)  # one turn failed; a talk conversation goes on
    (rec,) = records(proc)
    assert "stalled" in rec["error"] and "0.5 s" in rec["error"], rec["error"]
    assert rec["response"] == "Paris" and "Traceback" not in proc.stderr


def test_a_reply_past_the_deadline_is_cut_there(server, isolated_env):
    server.replies = [Reply(text_events(["Paris"] + [" and"] * 200))]
    for i in range(200):  # a server that keeps talking: a piece every 50 ms, for 10 s
        server.replies[0].steps.insert(1 + 2 * i, 0.05)
    proc = voicecli("chat", "--once", ASKED, "--llm-url", server.url, "--llm-deadline", "1", "--json", "--no-audio",
                    "--no-tools")
    assert proc.returncode == 1
    (rec,) = records(proc)
    assert "1 s" in rec["error"] and rec["response"].startswith("Paris and"), rec["error"]


@pytest.mark.parametrize("command", ["chat", "talk"])
def test_server_numbers_out_of_range_are_one_line(command, isolated_env):
    assert_one_line_error(voicecli(command, "--llm-connect-timeout", "0"), "--llm-connect-timeout 0")
    assert_one_line_error(voicecli(command, "--llm-deadline", "inf"), "--llm-deadline inf", "finite")
    assert_one_line_error(voicecli(command, "--n-ctx", "100"), "--n-ctx 100", "between 256")


# --- tools ---------------------------------------------------------------------------------------

USER_TOOLS = '''
import time

def greet(name: str) -> str:
    """Greet someone by name."""
    return f"Ahoy {name}"

def nap(seconds: float) -> str:
    """Sleep a while."""
    time.sleep(seconds)
    return "rested"
'''


@pytest.mark.parametrize("turn", TURNS, ids=TURN_IDS)
def test_user_tools_timeouts_and_feedback(tmp_path, turn, isolated_env):
    module = tmp_path / "mytools.py"
    module.write_text(USER_TOOLS)
    replies = trace(tmp_path / "tools.jsonl",
                    [{"name": "greet", "arguments": {"name": "Ann"}, "id": "c1"},
                     {"name": "nap", "arguments": {"seconds": 3}, "id": "c2"}],
                    ["Said hello to Ann."])
    proc = voicecli(*turn, "--llm", f"replay:{replies}", "--tools", str(module), "--tool-choice", "greet",
                    "--max-tool-rounds", "2", "--tool-timeout", "0.5", "--feedback-after-ms", "0", "--json",
                    "--no-audio")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    greet, nap = rec["tool_calls"]
    assert (greet["name"], greet["result"], greet["error"]) == ("greet", "Ahoy Ann", None)
    assert nap["result"] is None and "timed out after 0.5 s" in nap["error"], nap
    assert rec["feedback"], rec  # with --feedback-after-ms 0 a "one moment" phrase is always spoken
    assert rec["spoken"].endswith("Said hello to Ann."), rec["spoken"]


def test_no_tool_runs_past_max_tool_rounds(tmp_path, isolated_env):
    module = tmp_path / "mytools.py"
    module.write_text(USER_TOOLS)
    replies = trace(tmp_path / "tools.jsonl", [{"name": "greet", "arguments": {"name": "Ann"}, "id": "c1"}],
                    [{"name": "greet", "arguments": {"name": "Bob"}, "id": "c2"}, "Done."])
    proc = voicecli("chat", "--once", "Greet Ann.", "--llm", f"replay:{replies}", "--tools", str(module),
                    "--max-tool-rounds", "1", "--json", "--no-audio")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert [c["result"] for c in rec["tool_calls"]] == ["Ahoy Ann"], rec["tool_calls"]  # never "Ahoy Bob"


def test_tools_lists_the_built_ins_and_a_user_module(tmp_path):
    module = tmp_path / "mytools.py"
    module.write_text(USER_TOOLS)
    proc = voicecli("tools", "--tools", str(module), "--json")
    assert proc.returncode == 0, proc.stderr
    described = {t["name"]: t for t in json.loads(proc.stdout)}
    assert {"get_time", "calculate", "convert_units", "set_timer", "add_note", "greet", "nap"} <= set(described)
    assert described["greet"]["parameters"]["properties"]["name"]["type"] == "string"
    table = voicecli("tools")
    assert table.returncode == 0 and "calculate" in table.stdout and "greet" not in table.stdout
    assert_one_line_error(voicecli("tools", "--tools", str(tmp_path / "missing.py")), "missing.py")


# --- replay speed, recording, the local model's own settings ---------------------------------------

@pytest.mark.parametrize("turn", TURNS, ids=TURN_IDS)
def test_speed_replays_faster_and_record_writes_a_trace_that_replays(tmp_path, turn, isolated_env):
    slow = trace(tmp_path / "slow.jsonl", ["Paris", " is the capital."], first_ms=4000.0, ms=2000.0)
    recorded = tmp_path / "recorded.jsonl"
    proc = voicecli(*turn, "--llm", f"replay:{slow}", "--speed", "100", "--record", str(recorded), "--json",
                    "--no-audio", "--no-tools")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert rec["response"] == "Paris is the capital."
    assert rec["ttft_ms"] < 2000, rec["ttft_ms"]  # 40 ms at speed 100; 4 s at the recorded pace
    (line,) = [json.loads(x) for x in recorded.read_text().splitlines()]
    assert "".join(d["text"] for d in line["deltas"]) == "Paris is the capital."
    assert mentions(line["prompt"], "capital", "France")
    again = voicecli("chat", "--once", "again", "--llm", f"replay:{recorded}", "--speed", "0", "--json", "--no-audio")
    assert records(again)[0]["response"] == "Paris is the capital."


def test_a_message_longer_than_the_context_is_one_line_not_a_traceback(isolated_env):
    gguf = resolve_model("llm").require()
    proc = voicecli("chat", "--once", " ".join(["word"] * 400), "--llm-model", str(gguf), "--n-ctx", "256", "--json",
                    "--no-audio")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "exceed context window of 256" in line and "--n-ctx" in line, line
    assert "exceed context window" in records(proc)[0]["error"]


def test_talk_on_the_local_model_with_its_settings_named(tmp_path, isolated_env):
    gguf = resolve_model("llm").require()
    proc = voicecli("talk", "--input", str(QUESTION), "--llm-model", str(gguf), "--n-ctx", "512", "--temperature",
                    "0", "--system", "You are a friendly voice assistant. Keep answers short.", "--max-tokens", "24",
                    "--json", "--no-audio", "--no-tools")
    assert proc.returncode == 0, proc.stderr
    (rec,) = records(proc)
    assert rec["backend"] == "llama.cpp" and mentions(rec["response"], "Paris"), rec["response"]


# --- the conversation log: --log FILE, and the default place -----------------------------------------

@pytest.mark.parametrize("turn", TURNS, ids=TURN_IDS)
def test_log_flag_writes_the_turn_there_privately(tmp_path, turn, isolated_env):
    replies = trace(tmp_path / "r.jsonl", ["Paris is the capital."])
    log = tmp_path / "logs" / "mine.jsonl"
    proc = voicecli(*turn, "--llm", f"replay:{replies}", "--log", str(log), "--no-audio", "--no-tools", log=True)
    assert proc.returncode == 0, proc.stderr
    user, done = [json.loads(x) for x in log.read_text().splitlines()]
    assert user["type"] == "user" and mentions(user["text"], "capital", "France")
    assert done["type"] == "turn" and done["response"] == done["spoken"] == "Paris is the capital."
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert not (isolated_env.data / "conversations.jsonl").exists()  # only where it was asked to go


def test_the_log_goes_to_the_data_directory_by_default(tmp_path, isolated_env):
    replies = trace(tmp_path / "r.jsonl", ["Paris is the capital ", "of France."])
    proc = voicecli("chat", "--once", ASKED, "--llm", f"replay:{replies}", "--no-audio", "--no-tools", log=True)
    assert proc.returncode == 0, proc.stderr
    log = isolated_env.data / "conversations.jsonl"
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["type"] for e in entries] == ["user", "turn"]
    assert entries[0]["text"] == ASKED
    assert entries[1]["response"] == entries[1]["spoken"] == "Paris is the capital of France."
    assert entries[1]["backend"] == "replay" and entries[1]["chunks"] and entries[0]["session"] == entries[1]["session"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    second = voicecli("chat", "--once", "And of Italy?", "--llm", f"replay:{replies}", "--no-audio", log=True)
    assert second.returncode == 0 and len(log.read_text().splitlines()) == 4  # appended, not replaced
    assert os.environ.get("VOICECLI_NO_LOG") is None


def test_a_timer_is_spoken_when_due_and_logged(tmp_path, isolated_env):
    """set_timer through the whole program: the tool's callback reaches the voice and the log."""
    replies = trace(tmp_path / "timer.jsonl", [{"name": "set_timer", "arguments": {"seconds": 1, "label": "tea"},
                                                "id": "t1"}], ["Timer set."])
    chat = spawn("chat", "--llm", f"replay:{replies}", "--no-audio", "--json", "--feedback-after-ms", "5000", log=True)
    try:
        chat.proc.stdin.write("Set a tea timer for one second.\n")
        chat.proc.stdin.flush()
        record = json.loads(chat.proc.stdout.readline())
        log = isolated_env.data / "conversations.jsonl"
        deadline = time.monotonic() + 30
        while "announcement" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        chat.proc.stdin.write("/quit\n")
        chat.proc.stdin.close()
        assert chat.wait(30) == 0
    finally:
        chat.close()
    assert record["tool_calls"][0]["name"] == "set_timer" and record["tool_calls"][0]["error"] is None
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    (due,) = [e for e in entries if e["type"] == "announcement"]
    assert due["text"] == "Your tea timer is done." and due["audio_ms"] > 0  # spoken, not just logged
    assert [e["type"] for e in entries] == ["user", "turn", "announcement"]


@pytest.mark.parametrize("command", [("chat",), ("talk", "--input", str(QUESTION), "--input", str(QUESTION))],
                         ids=["chat", "talk"])
def test_history_tokens_bounds_what_the_next_prompt_carries(server, command, isolated_env):
    """Two turns; with the smallest budget the second prompt no longer carries the first exchange.

    The same question twice, though the reply repeats its words: a file cannot hear the speaker, so
    the echo guard (a microphone's, without echo cancellation) does not take it for the reply's echo."""
    def fresh() -> None:
        server.requests.clear()
        server.replies = [Reply.stream(["Paris is the capital of France. "] * 4) for _ in range(2)]

    def user_turns(proc) -> list[int]:
        assert proc.returncode == 0, proc.stderr
        return [sum(m["role"] == "user" for m in body["messages"]) for body in turn_requests(server)]

    both = f"{ASKED}\n{ASKED}\n"
    fresh()
    assert user_turns(voicecli(*command, "--llm-url", server.url, "--no-audio", "--no-tools", stdin=both)) == [1, 2]
    fresh()
    assert user_turns(voicecli(*command, "--llm-url", server.url, "--no-audio", "--no-tools", "--history-tokens",
                               "64", stdin=both)) == [1, 1]
