"""The server backend against a real OpenAI-compatible server: ``llama_cpp.server`` on loopback,
serving the embedded GGUF. Needs ``llama-cpp-python[server]`` (the dev extra) and ``make models``.

``running_llama_server()`` and the module fixture ``llama_server_url`` can be imported by other tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from voicecli.config import resolve_model
from voicecli.engine.types import ToolCall
from voicecli.llm.openai import OpenAIChatLLM, list_models

pytestmark = pytest.mark.models

SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
START_TIMEOUT_S = 60.0


def why_no_llama_server() -> str | None:
    """Why a real server cannot be started here, or None when it can."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return f"llama_cpp.server needs {', '.join(missing)}: pip install 'llama-cpp-python[server]' (the dev extra)"
    if not resolve_model("llm").exists:
        return f"the embedded GGUF is missing ({resolve_model('llm').path}): run `make models`"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_llama_server(model: Path, *, n_ctx: int = 2048, timeout_s: float = START_TIMEOUT_S) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free loopback port; yield its base URL (``.../v1``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False"]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read()[-2000:]}")
                try:
                    if httpx.get(f"{url}/models", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"llama_cpp.server did not answer in {timeout_s:g} s:\n{log.read()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def llama_server_url() -> Iterator[str]:
    reason = why_no_llama_server()
    if reason:
        pytest.skip(reason)
    with running_llama_server(resolve_model("llm").path) as url:
        yield url


MESSAGES = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
            {"role": "user", "content": "What colour is the sky on a clear day?"}]


def test_streams_a_reply_from_llama_cpp_server(llama_server_url):
    with OpenAIChatLLM(llama_server_url, timeout_s=30, temperature=0.0, max_tokens=32) as llm:
        items = list(llm.stream(MESSAGES))
    assert items and all(isinstance(i, str) for i in items)
    assert len(items) > 1, "the reply came in one piece: not streamed"
    assert "blue" in "".join(items).lower(), items  # an answer to the question asked


def test_lists_the_served_model(llama_server_url):
    assert list_models(llama_server_url)  # llama_cpp.server names the model after its file path


def test_a_closed_stream_does_not_block_the_next_turn(llama_server_url):
    with OpenAIChatLLM(llama_server_url, timeout_s=30, temperature=0.0, max_tokens=32) as llm:
        stream = llm.stream(MESSAGES)
        assert isinstance(next(stream), str)
        stream.close()
        again = list(llm.stream(MESSAGES))
    assert "blue" in "".join(i for i in again if isinstance(i, str)).lower(), again


def test_a_named_tool_comes_back_as_a_tool_call(llama_server_url):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    with OpenAIChatLLM(llama_server_url, timeout_s=30, temperature=0.0, max_tokens=48) as llm:
        items = list(llm.stream(messages, tools=tools, tool_choice="get_weather"))
    calls = [i for i in items if isinstance(i, ToolCall)]
    assert [c.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].arguments)["city"] == "Paris"

    # The second round, with the call and its result in the history, is accepted and answered.
    messages += [{"role": "assistant", "content": None, "tool_calls": [c.as_message() for c in calls]},
                 {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21 degrees."}]
    with OpenAIChatLLM(llama_server_url, timeout_s=30, temperature=0.0, max_tokens=32) as llm:
        answer = "".join(i for i in llm.stream(messages) if isinstance(i, str))
    assert "21" in answer or "sunny" in answer.lower(), answer  # the answer carries the tool's result


def test_cli_chat_once_against_the_server(llama_server_url, tmp_path):
    """`voicecli chat --once ... --llm-url ... --json`: a spoken reply and a full turn record."""
    wav = tmp_path / "reply.wav"
    cmd = [sys.executable, "-m", "voicecli", "chat", "--once", "Say hello in five words.",
           "--llm-url", llama_server_url, "--json", "--output", str(wav), "--no-log", "--no-tools",
           "--max-tokens", "32"]
    env = {**os.environ, "VOICECLI_CONFIG": str(tmp_path / "none.toml")}  # no user config leaks in
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    record = json.loads(lines[0])
    assert record["backend"] == "openai"
    assert "hello" in record["response"].lower() and record["spoken"] == record["response"], record
    assert record["chunks"] and all(c["synth_ms"] >= 0 and c["audio_ms"] > 0 for c in record["chunks"])
    assert 0 < record["ttft_ms"] <= record["ttfc_ms"]
    assert record["ttfc_ms"] <= record["ttfa_ms"] or record["holding"]  # a slow first reply may get a phrase
    assert record["transcript"] is None and record["stt_ms"] is None
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() > 0.3  # something was spoken
