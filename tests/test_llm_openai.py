"""The OpenAI-compatible server backend against a fake server on loopback that misbehaves on purpose."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fake_openai_server import FakeOpenAIServer, Reply, chunk, ending, refused_url, sse, text_events

from voicecli.engine.types import LLM, ToolCall
from voicecli.errors import LLMError, VoicecliError
from voicecli.llm.openai import (
    LLMServerError,
    OpenAIChatLLM,
    iter_sse_data,
    list_models,
    normalize_base_url,
    tool_choice_param,
)

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
KEY = "sk-test-Zq8Xw2SECRET"
TIMEOUT_S = 0.3  # read timeout for the stall tests: tight, yet far above loopback latency


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


def collect(llm: OpenAIChatLLM, **kw) -> tuple[list, LLMServerError | None]:
    """Everything the stream yielded before it ended or failed, and the failure."""
    items: list = []
    try:
        for item in llm.stream(MESSAGES, **kw):
            items.append(item)
    except LLMServerError as e:
        return items, e
    return items, None


# --- the happy path -------------------------------------------------------------------------------


def test_is_an_llm_backend_named_openai(server):
    llm = make_llm(server)
    assert isinstance(llm, LLM)
    assert llm.backend == "openai"


def test_streams_text_deltas_in_order(server):
    server.replies = [Reply.stream(["Hel", "lo", " there", "."])]
    items, error = collect(make_llm(server))
    assert error is None
    assert items == ["Hel", "lo", " there", "."]


def test_first_delta_arrives_before_the_server_sends_the_rest(server):
    gate = threading.Event()
    server.replies = [Reply(text_events(["first"]) + [gate] + text_events(["second"]) + ending())]
    stream = make_llm(server).stream(MESSAGES)
    assert next(stream) == "first"  # would block until the gate opens if the client buffered
    assert not gate.is_set()
    gate.set()
    assert list(stream) == ["second"]


def test_request_carries_stream_messages_model_tools_and_key(server):
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    llm = make_llm(server, model_name="qwen2.5:7b", api_key=KEY, temperature=0.2, max_tokens=64)
    collect(llm, tools=tools, tool_choice="get_time")
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    body = request.json
    assert body["stream"] is True
    assert body["messages"] == MESSAGES
    assert body["model"] == "qwen2.5:7b"
    assert body["tools"] == tools
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_a_tool_calling_turn_is_sent_with_empty_content_not_null(server):
    call = ToolCall(name="get_time", arguments="{}", id="call_1")
    history = [*MESSAGES, {"role": "assistant", "content": None, "tool_calls": [call.as_message()]},
               {"role": "tool", "tool_call_id": "call_1", "content": "noon"}]
    list(make_llm(server).stream(history))
    sent = server.requests[0].json["messages"]
    assert sent[2] == {"role": "assistant", "content": "", "tool_calls": [call.as_message()]}
    assert sent[:2] == MESSAGES and sent[3] == history[3]
    assert history[2]["content"] is None  # the caller's history is not changed


def test_without_model_name_tools_or_key_those_fields_are_left_out(server):
    collect(make_llm(server))
    (request,) = server.requests
    assert set(request.json) == {"messages", "stream"}
    assert "Authorization" not in request.headers


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_keywords_pass_through(server, choice):
    collect(make_llm(server), tools=[{"type": "function", "function": {"name": "x"}}], tool_choice=choice)
    assert server.requests[0].json["tool_choice"] == choice


def test_api_key_from_env_voicecli_first_then_openai(server, monkeypatch, isolated_env):
    from voicecli.app.session import make_llm as app_llm
    from voicecli.config import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    collect(app_llm(Settings.load({"llm_url": server.url})))
    monkeypatch.setenv("VOICECLI_LLM_API_KEY", "sk-voicecli")
    collect(app_llm(Settings.load({"llm_url": server.url})))
    assert [r.headers["Authorization"] for r in server.requests] == ["Bearer sk-openai", "Bearer sk-voicecli"]


def test_tool_call_fragments_are_assembled_into_tool_calls(server):
    def frag(index, id=None, name=None, arguments=None):
        function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
        return sse(chunk({"tool_calls": [{"index": index, **({"id": id} if id else {}), "function": function}]}))

    steps = text_events(["Let me check."]) + [
        frag(0, id="call_a", name="get_weather", arguments=""),
        frag(0, arguments='{"city": '),
        frag(1, id="call_b", name="get_time", arguments='{"tz"'),
        frag(0, arguments='"Paris"}'),
        frag(1, arguments=': "UTC"}'),
    ] + ending("tool_calls")
    server.replies = [Reply(steps)]
    items, error = collect(make_llm(server), tools=[{"type": "function", "function": {"name": "get_weather"}}])
    assert error is None
    assert items == [
        "Let me check.",
        ToolCall(name="get_weather", arguments='{"city": "Paris"}', id="call_a"),
        ToolCall(name="get_time", arguments='{"tz": "UTC"}', id="call_b"),
    ]


def test_tool_calls_are_yielded_at_done_when_the_finish_reason_is_stop(server):
    steps = [sse(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "now", "arguments": "{}"}}]}))]
    server.replies = [Reply(steps + ending("stop"))]
    items, error = collect(make_llm(server))
    assert error is None and items == [ToolCall(name="now", arguments="{}", id="c1")]


def test_a_finish_reason_without_done_is_a_complete_reply(server):
    server.replies = [Reply(text_events(["Fine."]) + [sse(chunk({}, "length"))])]
    items, error = collect(make_llm(server))
    assert error is None and items == ["Fine."]


def test_closing_the_generator_closes_the_connection(server):
    server.replies = [Reply(text_events(["tick"]) + [0.02, sse(chunk({"content": " tick"}))] * 200 + ending())]
    stream = make_llm(server).stream(MESSAGES)
    assert next(stream) == "tick"
    stream.close()
    assert server.client_gone.wait(3), "the server kept streaming to a client that had stopped listening"


def test_the_connection_is_reused_for_the_next_turn(server):
    llm = make_llm(server)
    assert collect(llm) == collect(llm) == (["Hello", "!"], None)
    assert server.requests[0].client_port == server.requests[1].client_port


def test_a_stall_after_done_does_not_spoil_a_complete_reply(server):
    server.replies = [Reply(text_events(["All", " said."]) + ending() + [30.0])]
    items, error = collect(make_llm(server, timeout_s=TIMEOUT_S))
    assert error is None and items == ["All", " said."]


def test_warm_up_asks_for_one_token_and_leaves_a_connection_for_the_first_turn(server):
    llm = make_llm(server, max_tokens=200)
    llm.warm_up(MESSAGES[:1])
    collect(llm)
    warm, turn = server.requests
    assert warm.json["max_tokens"] == 1 and warm.json["messages"][0] == MESSAGES[0]
    assert turn.json["max_tokens"] == 200 and turn.json["messages"] == MESSAGES
    assert warm.client_port == turn.client_port


def test_warm_up_reports_a_server_that_is_down():
    with pytest.raises(LLMServerError, match="connection refused"):
        OpenAIChatLLM(refused_url()).warm_up(MESSAGES[:1])


def test_list_models(server):
    server.models = ["llama-3.1-8b", "qwen2.5-7b"]
    assert list_models(server.url) == ["llama-3.1-8b", "qwen2.5-7b"]
    assert server.requests[0].path == "/v1/models"


# --- failures: one line, what happened and how to fix it ------------------------------------------


def test_connection_refused_names_the_url_and_says_start_the_server():
    url = refused_url()
    _, error = collect(OpenAIChatLLM(url, connect_timeout_s=2.0))
    assert isinstance(error, LLMError)
    assert url in error.message and "connection refused" in error.message
    assert "start the server" in error.hint and "--llm-url" in error.hint


def test_dns_failure_names_the_host(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    _, error = collect(OpenAIChatLLM("http://gpu-box.lan:8000/v1"))
    assert "cannot resolve" in error.message and "gpu-box.lan" in error.message
    assert "host name" in error.hint


def test_http_500_quotes_the_server_message(server):
    server.replies = [Reply.error(500, {"error": {"message": "CUDA out of memory", "type": "server_error"}})]
    items, error = collect(make_llm(server))
    assert items == []
    assert error.status == 500
    assert "HTTP 500" in error.message and "CUDA out of memory" in error.message
    assert "log" in error.hint


def test_unknown_model_hints_at_model_name_and_lists_the_served_models(server):
    server.models = ["llama3.2:3b", "qwen2.5:7b"]
    server.replies = [Reply.error(404, {"error": {"message": 'model "lama3" not found, try pulling it first'}})]
    _, error = collect(make_llm(server, model_name="lama3"))
    assert "HTTP 404" in error.message and 'model "lama3" not found' in error.message
    assert "--llm-model-name" in error.hint and "llama3.2:3b" in error.hint and "qwen2.5:7b" in error.hint


def test_vllm_style_top_level_error_message(server):
    server.replies = [Reply.error(400, {"object": "error", "message": "The model `x` does not exist.", "code": 400})]
    _, error = collect(make_llm(server))
    assert "The model `x` does not exist." in error.message and "--llm-model-name" in error.hint


def test_wrong_path_hints_at_the_v1_base(server):
    _, error = collect(OpenAIChatLLM(f"http://127.0.0.1:{server.port}", timeout_s=5.0))  # no /v1
    assert "HTTP 404" in error.message and "/v1" in error.hint


def test_long_error_bodies_are_cut_to_a_snippet(server):
    server.replies = [Reply.error(502, "<html>" + "bad gateway " * 500 + "</html>")]
    _, error = collect(make_llm(server))
    assert "HTTP 502" in error.message and "bad gateway" in error.message
    assert len(error.one_line()) < 400 and "\n" not in error.one_line()


def test_401_without_a_key_says_set_one(server):
    server.replies = [Reply.error(401, {"error": {"message": "Missing bearer token"}})]
    _, error = collect(make_llm(server))
    assert "HTTP 401" in error.message and "Missing bearer token" in error.message
    assert "set VOICECLI_LLM_API_KEY" in error.hint


def test_403_with_a_key_says_check_it_and_never_shows_it(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.replies = [Reply.error(403, {"error": {"message": f"Incorrect API key provided: {KEY}"}})]
    _, error = collect(make_llm(server, api_key=KEY))
    assert "HTTP 403" in error.message and "Incorrect API key provided: ***" in error.message
    assert "check VOICECLI_LLM_API_KEY" in error.hint
    assert KEY not in error.one_line() and KEY not in str(error)
    assert KEY not in caplog.text


def test_the_key_is_not_in_repr_logs_or_transport_errors(caplog):
    caplog.set_level(logging.DEBUG)
    llm = OpenAIChatLLM(refused_url(), api_key=KEY)
    _, error = collect(llm)
    assert error is not None
    assert KEY not in repr(llm) and KEY not in error.one_line() and KEY not in caplog.text
    assert KEY not in repr(error.__cause__)


def test_a_password_in_the_url_is_masked_in_messages():
    llm = OpenAIChatLLM(refused_url().replace("http://", "http://me:hunter2@"))
    _, error = collect(llm)
    assert "hunter2" not in error.one_line() and "me:***@" in error.one_line()


def test_broken_sse_is_reported_after_the_text_already_delivered(server):
    server.replies = [Reply(text_events(["Good ", "morning"]) + [sse("{not json")] + ending())]
    items, error = collect(make_llm(server))
    assert items == ["Good ", "morning"]
    assert "broken stream event" in error.message and "{not json" in error.message
    assert error.partial_chars == len("Good morning")


def test_an_error_event_mid_stream_is_reported(server):
    server.replies = [Reply(text_events(["Once"]) + [sse({"error": {"message": "context size exceeded"}})])]
    items, error = collect(make_llm(server))
    assert items == ["Once"]
    assert "context size exceeded" in error.message and error.partial_chars == 4


def test_server_dying_mid_stream_keeps_what_was_delivered(server):
    server.replies = [Reply(text_events(["The answer ", "is"]), end="cut")]
    items, error = collect(make_llm(server))
    assert items == ["The answer ", "is"]
    assert "stopped mid-stream" in error.message and "13 characters" in error.message
    assert error.partial_chars == 13
    assert "log" in error.hint


def test_a_stream_that_ends_without_done_or_finish_reason_is_truncated(server):
    server.replies = [Reply(text_events(["Half a"]))]  # the body ends cleanly, but the reply did not
    items, error = collect(make_llm(server))
    assert items == ["Half a"]
    assert "stopped mid-stream" in error.message and "[DONE]" in error.message


def test_stall_mid_stream_is_a_read_timeout_that_names_the_flag(server):
    server.replies = [Reply(text_events(["Thinking"]) + [30.0] + ending())]
    t0 = time.monotonic()
    items, error = collect(make_llm(server, timeout_s=TIMEOUT_S))
    elapsed = time.monotonic() - t0
    assert items == ["Thinking"]
    assert "stalled" in error.message and "0.3 s" in error.message and error.partial_chars == 8
    assert "--llm-timeout" in error.hint
    assert elapsed < 5


def test_a_server_slow_to_answer_at_all_times_out(server):
    server.replies = [Reply.stream(["late"])]
    server.replies[0].delay_s = 30.0
    items, error = collect(make_llm(server, timeout_s=TIMEOUT_S))
    assert items == []
    assert "did not answer within 0.3 s" in error.message and "--llm-timeout" in error.hint


def test_connect_timeout_says_which_timeout(monkeypatch):
    llm = OpenAIChatLLM("http://10.0.0.9:8080/v1", connect_timeout_s=1.5)

    def too_slow(*args, **kwargs):
        raise httpx.ConnectTimeout("timed out")

    monkeypatch.setattr(httpx.Client, "send", too_slow)
    _, error = collect(llm)
    assert "could not connect" in error.message and "1.5 s" in error.message
    assert "VOICECLI_LLM_CONNECT_TIMEOUT" in error.hint


def test_an_html_page_is_not_an_event_stream(server):
    server.replies = [Reply(status=200, content_type="text/html", body=b"<html><h1>Welcome</h1></html>")]
    _, error = collect(make_llm(server))
    assert "text/html" in error.message and "/v1" in error.hint


def test_the_conversation_continues_after_a_failure(server):
    server.replies = [Reply(text_events(["cut"]), end="cut"), Reply.stream(["whole"])]
    llm = make_llm(server)
    _, first = collect(llm)
    items, second = collect(llm)
    assert first is not None and second is None and items == ["whole"]


# --- parts ----------------------------------------------------------------------------------------


def test_sse_parser_follows_the_event_stream_rules():
    lines = [": keep-alive", "event: message", "data: one", "", "data:two", "data: lines", "", "id: 7", "",
             "data: last"]
    assert list(iter_sse_data(lines)) == ["one", "two\nlines", "last"]


def test_tool_choice_param():
    assert tool_choice_param("auto") == "auto"
    assert tool_choice_param("get_time") == {"type": "function", "function": {"name": "get_time"}}


def test_base_url_is_normalised_and_checked():
    assert normalize_base_url(" http://h:1/v1/ ") == "http://h:1/v1"
    assert normalize_base_url("http://h:1/v1/chat/completions") == "http://h:1/v1"
    with pytest.raises(VoicecliError, match="http://"):
        normalize_base_url("localhost:8080/v1")


def test_the_server_backend_is_built_from_settings_and_rejects_bad_timeouts(monkeypatch, isolated_env):
    from voicecli.app.session import make_llm as app_llm
    from voicecli.config import Settings

    monkeypatch.setenv("VOICECLI_LLM_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VOICECLI_LLM_MODEL_NAME", "m")
    monkeypatch.setenv("VOICECLI_LLM_TIMEOUT", "12.5")
    llm = app_llm(Settings.load())
    assert (llm.base_url, llm.model_name, llm.timeout_s) == ("http://127.0.0.1:9/v1", "m", 12.5)
    flags = {"llm_url": "http://other:1/v1", "llm_timeout": 3.0}
    assert app_llm(Settings.load(flags)).timeout_s == 3.0  # a flag wins
    monkeypatch.setenv("VOICECLI_LLM_TIMEOUT", "soon")
    with pytest.raises(VoicecliError, match="VOICECLI_LLM_TIMEOUT"):
        Settings.load()


# --- through the CLI: a failed turn is one line, keeps what was spoken, and the chat goes on --------


@pytest.mark.models
def test_chat_survives_a_server_dying_mid_reply(server, tmp_path):
    """First turn: the server dies after some text. Second turn: fine. The partial reply was spoken,
    stays in the history the server sees next, and the chat carries on."""
    server.answer_warm_ups = True
    server.replies = [Reply(text_events(["The answer ", "is forty."]), end="cut"), Reply.stream(["Second ", "reply."])]
    cmd = [sys.executable, "-m", "voicecli", "chat", "--llm-url", server.url, "--no-audio", "--no-log", "--json",
           "--no-tools"]
    env = {**os.environ, "VOICECLI_CONFIG": str(tmp_path / "none.toml")}
    done = subprocess.run(cmd, input="first\nsecond\n/quit\n", capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = (json.loads(line) for line in done.stdout.splitlines() if line.strip())
    assert first["backend"] == "openai" and "stopped mid-stream" in first["error"]
    assert first["response"] == "The answer is forty." and first["chunks"]
    assert second["error"] is None and second["response"] == "Second reply."
    assert "error: the LLM server stopped mid-stream" in done.stderr
    history = server.requests[-1].json["messages"]
    assert {"role": "assistant", "content": "The answer is forty."} in history
    assert history[-1] == {"role": "user", "content": "second"}


@pytest.mark.models
def test_chat_once_with_the_server_down_is_one_line_and_exit_1(tmp_path):
    cmd = [sys.executable, "-m", "voicecli", "chat", "--once", "hi", "--llm-url", refused_url(), "--no-audio",
           "--no-log"]
    env = {**os.environ, "VOICECLI_CONFIG": str(tmp_path / "none.toml")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "connection refused" in errors[0] and "Traceback" not in done.stderr
