"""The server backend against a hostile server: it echoes the key, floods, trickles, and sends shapes
no OpenAI server sends. Every case ends in one ``LLMServerError`` line (or is ignored when harmless),
never a traceback, a leaked key, unbounded memory or a stream that cannot be stopped."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import tracemalloc

import pytest
from fake_openai_server import ECHO_KEY, FakeOpenAIServer, Reply, chunk, ending, sse, text_events

from voicecli.engine.types import ToolCall
from voicecli.llm.openai import LLMServerError, OpenAIChatLLM
from voicecli.llm.sse import mask_secret

MESSAGES = [{"role": "user", "content": "Hi"}]
KEY = "sk-proj-7fQ2xZ9LmB4vT1kW8rN3yH6pD0sJ5cA"


@pytest.fixture
def server():
    with FakeOpenAIServer() as s:
        yield s


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    for name in ("VOICECLI_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def make_llm(server: FakeOpenAIServer, **kw) -> OpenAIChatLLM:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("connect_timeout_s", 2.0)
    return OpenAIChatLLM(server.url, **kw)


def collect(stream) -> tuple[list, LLMServerError | None]:
    items: list = []
    try:
        for item in stream:
            items.append(item)
    except LLMServerError as e:
        return items, e
    return items, None


def pieces(secret: str, n: int = 8) -> list[str]:
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


def assert_no_key(text: str) -> None:
    found = [p for p in pieces(KEY) if p in text]
    assert not found, f"part of the key leaked: {found[:3]} in {text[:300]!r}"


# --- secrets --------------------------------------------------------------------------------------

LONG = "x" * 150  # the key after the 140th character: cut before being masked on main
ECHOES = {
    "401 body": Reply.error(401, {"error": {"message": f"Incorrect API key provided: {ECHO_KEY}"}}),
    "500 text body, key after 150 chars": Reply.error(500, LONG + ECHO_KEY),
    "500 body, key across the 4096-byte cut": Reply.error(500, "y" * (4096 - 17) + ECHO_KEY + "tail"),
    "FastAPI detail list": Reply.error(422, {"detail": [{"msg": LONG + ECHO_KEY}]}),
    "status line reason": Reply(status=503, body=b"", reason=f"Busy {ECHO_KEY}"),
    "error event mid-stream": Reply(text_events(["Hi"]) + [sse({"error": {"message": LONG + ECHO_KEY}})]),
    "non-JSON event": Reply(text_events(["Hi"]) + [sse(LONG + ECHO_KEY)]),
    "JSON event not an object": Reply([sse(json.dumps(LONG + ECHO_KEY))]),
    "HTML page": Reply(status=200, content_type="text/html", body=f"<p>{LONG}{ECHO_KEY}</p>".encode()),
    "broken chunk framing": Reply(text_events(["Hi"]) + [f"zz{ECHO_KEY}\r\n".encode()]),
    "unknown model, key as a model name": Reply.error(404, {"error": {"message": "model 'x' not found"}}),
}


@pytest.mark.parametrize("name", list(ECHOES))
def test_a_server_echoing_the_key_never_gets_it_into_an_error(server, name, caplog):
    caplog.set_level(logging.DEBUG)
    server.models = [ECHO_KEY, "fake-model"]
    server.replies = [ECHOES[name]]
    items, error = collect(make_llm(server, api_key=KEY).stream(MESSAGES))
    assert error is not None, items
    shown = [error.one_line(), str(error), repr(error), repr(error.args), error.hint or "",
             "".join(traceback.format_exception(error)), caplog.text]
    for text in shown:
        assert_no_key(text)
    assert "\n" not in error.one_line() and len(error.one_line()) < 600


def test_the_key_in_reply_text_and_tool_calls_is_masked_even_split_over_deltas(server):
    split = [f"Your key is {KEY[:5]}", KEY[5:20], f"{KEY[20:]}, keep it safe. s", "k-nope"]
    call = {"index": 0, "id": f"call_{ECHO_KEY}", "function": {"name": "note", "arguments": json.dumps({"t": ECHO_KEY})}}
    server.replies = [Reply(text_events(split) + [sse(chunk({"tool_calls": [call]}))] + ending("tool_calls"))]
    items, error = collect(make_llm(server, api_key=KEY).stream(MESSAGES))
    assert error is None
    text = "".join(i for i in items if isinstance(i, str))
    assert text == "Your key is ***, keep it safe. sk-nope"  # held-back text comes out once it is not the key
    (tool_call,) = [i for i in items if isinstance(i, ToolCall)]
    assert_no_key(repr(tool_call))
    assert json.loads(tool_call.arguments) == {"t": "***"}


def test_a_body_cut_at_the_read_limit_leaves_no_start_of_the_key():
    body = ("y" * 40 + KEY)[:55]  # what a read limit can leave: the key's first 15 characters
    assert mask_secret(body, KEY, cut=True) == "y" * 40 + "***"
    assert mask_secret(body, KEY) == body  # without cut=True only whole copies are masked
    assert mask_secret(f'"{KEY}" {KEY}', KEY) == '"***" ***'


def test_the_key_is_masked_in_the_model_list(server):
    server.models = [ECHO_KEY, "fake-model"]
    assert make_llm(server, api_key=KEY).models() == ["***", "fake-model"]


# --- bounds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["no newline", "one huge token"])
def test_a_flood_without_line_ends_is_refused_after_a_bounded_read(server, shape):
    piece = "z" * (256 << 10)
    if shape == "no newline":
        steps = text_events(["Hi"]) + ["data: "] + [piece] * 200  # 50 MB on one line
    else:
        steps = text_events(["Hi"]) + ['data: {"choices": [{"delta": {"content": "'] + [piece] * 200 + ['"}}]}\n\n']
    server.replies = [Reply(steps + ending())]
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        items, error = collect(make_llm(server).stream(MESSAGES))
        elapsed = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert items == ["Hi"]
    assert "longer than 1024 KiB" in error.message and error.partial_chars == 2
    assert peak < 24 << 20, f"peak {peak >> 20} MiB while reading a 50 MB line"
    assert elapsed < 10


def test_an_event_of_many_lines_is_capped_too(server):
    line = "data: " + "q" * (200 << 10) + "\n"
    server.replies = [Reply([line] * 10 + ["\n"] + ending())]
    _, error = collect(make_llm(server).stream(MESSAGES))
    assert "event larger than 1024 KiB" in error.message


def test_a_server_trickling_bytes_times_out_between_events(server):
    """httpx's read timeout restarts on every byte; the gap between whole events does not."""
    server.replies = [Reply(text_events(["Hi"]) + ["data: "] + [0.05, "z"] * 400 + ending())]
    t0 = time.monotonic()
    items, error = collect(make_llm(server, timeout_s=0.4).stream(MESSAGES))
    elapsed = time.monotonic() - t0
    assert items == ["Hi"]
    assert "stalled" in error.message and "0.4 s" in error.message and "--llm-timeout" in error.hint
    assert elapsed < 5  # 400 bytes at 20 a second would take 20 s


def test_a_reply_that_never_ends_hits_the_deadline(server):
    server.replies = [Reply(text_events(["go"]) + [0.02, sse(chunk({"content": "."}))] * 1000 + ending())]
    t0 = time.monotonic()
    items, error = collect(make_llm(server, timeout_s=5.0, deadline_s=0.6).stream(MESSAGES))
    elapsed = time.monotonic() - t0
    assert items[0] == "go" and 1 < len(items) < 1000
    assert "more than 0.6 s in all" in error.message and error.partial_chars == len("".join(items))
    assert elapsed < 10


def test_time_the_caller_holds_the_stream_is_not_the_servers(server):
    """A consumer slower than the gap limit (the engine waits while speech plays) is no stall."""
    server.replies = [Reply.stream(["One", " two", " three."])]
    items = []
    for item in make_llm(server, timeout_s=0.3, deadline_s=0.5).stream(MESSAGES):
        items.append(item)
        time.sleep(0.35)
    assert items == ["One", " two", " three."]


def test_closing_from_another_thread_ends_a_blocked_read(server):
    gate = threading.Event()
    server.replies = [Reply(text_events(["first"]) + [gate] + text_events(["never"]) + ending())]
    stream = make_llm(server, timeout_s=30.0).stream(MESSAGES)
    assert next(stream) == "first"
    got: dict = {}

    def reader():
        try:
            got["rest"] = list(stream)  # blocks: the server sends nothing until the gate opens
        except BaseException as e:  # noqa: BLE001 - the test asserts there is none
            got["error"] = e
        got["t"] = time.monotonic()

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    t0 = time.monotonic()
    stream.close()
    thread.join(5)
    gate.set()
    assert not thread.is_alive()
    assert got.get("rest") == [] and "error" not in got
    assert got["t"] - t0 < 5.0  # measured ~1 ms; the server would hold it 30 s: generous for a loaded machine
    assert server.client_gone.wait(3)  # the server, let go on, finds the client gone


def test_closing_while_waiting_for_the_response_headers(server):
    server.replies = [Reply.stream(["late"])]
    server.replies[0].delay_s = 20.0
    stream = make_llm(server, timeout_s=30.0).stream(MESSAGES)
    done = threading.Event()
    threading.Thread(target=lambda: (list(stream), done.set()), daemon=True).start()
    time.sleep(0.3)
    t0 = time.monotonic()
    stream.close()
    assert done.wait(10)
    assert time.monotonic() - t0 < 10.0  # the headers would come after 20 s


# --- shapes no OpenAI server sends ----------------------------------------------------------------


def tool_fragment(**fields) -> dict:
    return {"choices": [{"index": 0, "delta": {"tool_calls": [fields]}, "finish_reason": None}]}


MALFORMED = {
    "choices a number": {"choices": 5},
    "choices a string": {"choices": "abc"},
    "choices[0] a string": {"choices": ["x"]},
    "delta a string": {"choices": [{"delta": "hello"}]},
    "content a number": {"choices": [{"delta": {"content": 5}}]},
    "tool_calls an object": {"choices": [{"delta": {"tool_calls": {"index": 0}}}]},
    "tool call a string": {"choices": [{"delta": {"tool_calls": ["f"]}}]},
    "index a string": tool_fragment(index="0", function={"name": "f"}),
    "index a list": tool_fragment(index=[0], function={"name": "f"}),
    "index a float": tool_fragment(index=0.5, function={"name": "f"}),
    "index true": tool_fragment(index=True, function={"name": "f"}),
    "function a string": tool_fragment(index=0, function="get_time"),
    "name a number": tool_fragment(index=0, function={"name": 5}),
    "arguments a number": tool_fragment(index=0, function={"name": "f", "arguments": 5}),
    "finish_reason a number": {"choices": [{"delta": {}, "finish_reason": 1}]},
    "deeply nested JSON": "[" * 100_000 + "]" * 100_000,
    "a number too long to read": "1" * 5000,
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_shapes_are_one_line_and_the_conversation_goes_on(server, name):
    shape = MALFORMED[name]
    server.replies = [Reply(text_events(["Hi"]) + [sse(shape)] + ending("tool_calls")), Reply.stream(["next"])]
    llm = make_llm(server)
    items, error = collect(llm.stream(MESSAGES))
    assert items == ["Hi"]
    assert isinstance(error, LLMServerError) and "\n" not in error.one_line()
    assert "malformed" in error.message or "not JSON" in error.message
    assert collect(llm.stream(MESSAGES)) == (["next"], None)


def test_harmless_oddities_are_ignored(server):
    odd = [sse(tool_fragment(index=0, id=12345, function={"name": "get_time", "arguments": None})),
           sse({"choices": [], "usage": {"total_tokens": 3}}), sse({"choices": None}),
           sse({"choices": [{"delta": None}]}), sse({"choices": [{"delta": {"content": None, "role": 7}}]})]
    server.replies = [Reply(text_events(["ok"]) + odd + ending("tool_calls"))]
    items, error = collect(make_llm(server).stream(MESSAGES))
    assert error is None
    assert items == ["ok", ToolCall(name="get_time", arguments="{}", id="")]


def test_too_many_tool_calls_in_one_reply(server):
    frags = [sse(tool_fragment(index=i, id=f"c{i}", function={"name": "f", "arguments": "{}"})) for i in range(100)]
    server.replies = [Reply(frags + ending("tool_calls"))]
    _, error = collect(make_llm(server).stream(MESSAGES))
    assert "more than 64 tool calls" in error.message


def test_tool_call_arguments_are_capped(server):
    frag = sse(tool_fragment(index=0, function={"name": "f", "arguments": "a" * (100 << 10)}))
    server.replies = [Reply([frag] * 12 + ending("tool_calls"))]
    _, error = collect(make_llm(server).stream(MESSAGES))
    assert "KiB of tool-call arguments" in error.message
