"""Stopping the program: Ctrl-C (SIGINT) and SIGTERM in the middle of `say` and of a `chat` reply, and
typing into an interactive `chat` through a real terminal (/help, /reset, Ctrl-C on a reply).

The contract (cli/app.py, app/signals.py): a one-shot command stopped by a signal exits 130 after
SIGINT, 143 after SIGTERM, with no traceback and no "terminate called" (a process that ends while
onnxruntime synthesises in a thread aborts with that line, exit 134); the turn under way is logged
with what was actually spoken. In an interactive conversation Ctrl-C stops the reply and the
conversation goes on; at the prompt it ends the conversation normally (as in `talk`).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
from clirun import spawn
from fake_openai_server import FakeOpenAIServer, Reply, ending, text_events

from voicecli.text.wer import normalize

pytestmark = pytest.mark.models

STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
SIGNALS = [signal.SIGINT, signal.SIGTERM]
# Long sentences: each takes Piper a few hundred ms, so a signal lands while one is being synthesised.
LONG_TEXT = " ".join(f"This is sentence number {i}, and it goes on for a while, about the weather, the sea, the "
                     f"mountains and the long road home." for i in range(12))
PROMPT = "you ›"
REPLY = " ".join(f"Paris is a city of many things, and here is fact number {i} about it." for i in range(40))


def record_in(proc) -> dict:
    """The --json turn record (stdout is a pipe beside the terminal)."""
    (line,) = [x for x in proc.proc.stdout.read().splitlines() if x.strip()]
    return json.loads(line)


def flat(shown: str) -> str:
    """The reply as text: the live view marks chunk boundaries with "│"."""
    return shown.replace(" │ ", " ").replace("│", "")


def stop(proc, sig: int) -> None:
    """Ctrl-C as the terminal sends it, or SIGTERM as a service manager does."""
    if sig == signal.SIGINT:
        proc.type("\x03")
    else:
        proc.signal(sig)


def slow_trace(path: Path, text: str = REPLY, ms_per_word: float = 60.0) -> Path:
    words = text.split(" ")
    deltas = [{"t_ms": 50 + ms_per_word * i, "text": (" " if i else "") + w} for i, w in enumerate(words)]
    path.write_text(json.dumps({"voicecli_trace": 1, "prompt": None, "deltas": deltas}) + "\n")
    return path


def assert_clean(status: int, expected: int, stderr: str) -> None:
    assert status == expected, (status, stderr[-2000:])
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr[-2000:]


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_say_in_a_terminal_stopped_by_a_signal(sig, isolated_env):
    say = spawn("say", LONG_TEXT, "--chunking", "sentence", "--no-audio", "--json", tty=True, stdout_pipe=True)
    try:
        say.read_until("This is sentence number 0")  # speaking has begun
        time.sleep(0.5)
        stop(say, sig)
        status = say.drain()
        record = record_in(say)
    finally:
        say.close()
    assert_clean(status, STATUS[sig], say.output)
    assert record["interrupted"] is True
    spoken = normalize(record["spoken"])  # what had started playing: possibly nothing yet, never all of it
    assert len(spoken) < len(normalize(LONG_TEXT)) and normalize(LONG_TEXT)[: len(spoken)] == spoken


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("after_s", [0.9, 1.5, 2.1])
def test_a_signal_during_synthesis_never_aborts_the_process(sig, after_s, tmp_path, isolated_env):
    """The whole reply at once (replayed at speed 0), then a signal while Piper works through it.

    With pipes rather than a terminal (the live view then draws nothing until the end), a signal
    that landed in ``Thread.join()`` used to let the process end while onnxruntime was still
    synthesising in a thread: "terminate called without an active exception", exit 134, in about
    half of these runs. The log's first line (the user's words, written as the turn starts) says
    when speaking has begun.
    """
    replies = tmp_path / "all.jsonl"
    replies.write_text(json.dumps({"deltas": [{"t_ms": 1, "text": LONG_TEXT}]}) + "\n")
    chat = spawn("chat", "--once", "Go on.", "--llm", f"replay:{replies}", "--speed", "0", "--chunking", "sentence",
                 "--no-audio", "--json", "--no-tools", log=True)
    log = isolated_env.data / "conversations.jsonl"
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text()):
            assert time.monotonic() < deadline and chat.proc.poll() is None, "the turn never started"
            time.sleep(0.02)
        time.sleep(after_s)
        chat.signal(sig)
        out, err = chat.proc.communicate(timeout=60)
    finally:
        chat.close()
    assert_clean(chat.proc.returncode, STATUS[sig], err)
    (record,) = [json.loads(x) for x in out.splitlines() if x.strip()]
    logged = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["type"] for e in logged] == ["user", "turn"] and logged[1]["spoken"] == record["spoken"]
    spoken = normalize(record["spoken"])
    assert record["interrupted"] and len(spoken) < len(normalize(LONG_TEXT))
    assert normalize(LONG_TEXT)[: len(spoken)] == spoken


@pytest.mark.parametrize("sig", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_chat_once_stopped_mid_reply_logs_what_was_spoken(sig, tmp_path, isolated_env):
    chat = spawn("chat", "--once", "Tell me about Paris.", "--llm", f"replay:{slow_trace(tmp_path / 't.jsonl')}",
                 "--no-audio", "--json", "--no-tools", log=True, tty=True, stdout_pipe=True)
    try:
        chat.read_until("fact number 1 ")  # several chunks have been spoken, many words are still to come
        stop(chat, sig)
        status = chat.drain()
        record = record_in(chat)
    finally:
        chat.close()
    assert_clean(status, STATUS[sig], chat.output)
    assert_logged_partial_turn(isolated_env.data / "conversations.jsonl", "Tell me about Paris.", record)


def assert_logged_partial_turn(log: Path, asked: str, record: dict) -> None:
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    user, turn = [e for e in entries if e["type"] == "user"][-1], [e for e in entries if e["type"] == "turn"][-1]
    assert user["text"] == asked
    assert turn["interrupted"] is True and turn["spoken"] == record["spoken"]
    spoken, full = normalize(turn["spoken"]), normalize(REPLY)
    assert 0 < len(spoken) < len(full) and full[: len(spoken)] == spoken, turn["spoken"]  # a true prefix
    assert REPLY.startswith(turn["response"]) and len(turn["response"]) < len(REPLY)


def test_sigterm_mid_reply_in_an_interactive_chat(tmp_path, isolated_env):
    chat = spawn("chat", "--llm", f"replay:{slow_trace(tmp_path / 't.jsonl')}", "--no-audio", "--json", "--no-tools",
                 log=True, tty=True, stdout_pipe=True)
    try:
        chat.read_until(PROMPT)
        chat.type("Tell me about Paris.\r")
        chat.read_until("fact number 1 ")
        chat.signal(signal.SIGTERM)
        status = chat.drain()
        record = record_in(chat)
    finally:
        chat.close()
    assert_clean(status, 143, chat.output)
    assert_logged_partial_turn(isolated_env.data / "conversations.jsonl", "Tell me about Paris.", record)


# --- an interactive chat through a terminal ----------------------------------------------------------


def test_chat_in_a_terminal_help_reset_and_ctrl_c(isolated_env):
    with FakeOpenAIServer() as server:
        server.answer_warm_ups = True
        stall = threading.Event()
        long_reply = Reply(text_events(["Let me tell you ", "a very long story"]) + [stall] + ending())
        server.replies = [Reply.stream(["Nice to meet you, Ann."]), Reply.stream(["I do not know your name."]),
                          long_reply, Reply.stream(["Still here."])]
        chat = spawn("chat", "--llm-url", server.url, "--no-audio", "--no-tools", tty=True)
        try:
            chat.read_until(PROMPT)
            chat.type("/help\r")
            assert "/reset" in chat.read_until(PROMPT) and "Ctrl-C" in chat.output
            chat.type("/nonsense\r")
            assert "Unknown command /nonsense" in chat.read_until(PROMPT)
            chat.type("My name is Ann.\r")
            assert "Nice to meet you, Ann." in flat(chat.read_until(PROMPT))
            chat.type("/reset\r")
            assert "Conversation cleared" in chat.read_until(PROMPT)
            chat.type("What is my name?\r")
            chat.read_until(PROMPT)
            chat.type("Tell me a story.\r")
            chat.read_until("Let me")  # the reply has begun (and the server holds the rest)
            chat.type("\x03")  # Ctrl-C, as the terminal sends it: the reply stops, the chat goes on
            chat.read_until(PROMPT, timeout=60)
            stall.set()
            chat.type("Are you there?\r")
            assert "Still here." in flat(chat.read_until(PROMPT))
            chat.type("\x03")  # at the prompt: leaves, as Ctrl-C ends `talk`
            status = chat.drain()
        finally:
            stall.set()
            chat.close()
    assert status == 0 and "Traceback" not in chat.output, chat.output[-2000:]
    asked = [[m["content"] for m in r.json["messages"] if m["role"] == "user"]
             for r in server.requests if r.json.get("max_tokens") != 1]
    assert asked[0] == ["My name is Ann."]
    assert asked[1] == ["What is my name?"], asked  # /reset: the model no longer sees Ann
    assert asked[2] == ["What is my name?", "Tell me a story."]
    assert asked[3][-1] == "Are you there?" and "Tell me a story." in asked[3]  # the stopped turn stays in history
