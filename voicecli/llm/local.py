"""The local model: llama.cpp through llama-cpp-python, streaming chat completions.

- The model's own chat template (from the GGUF) formats the prompt.
- Loaded once and kept warm; llama-cpp-python reuses the KV cache for the longest prompt prefix it
  shares with the previous call, so a growing conversation only evaluates the new turn.
  ``warm_up()`` evaluates the system prompt at start-up so the first turn starts from a warm prefix.
- Tools: a named ``tool_choice`` constrains generation to the tool's JSON schema (llama.cpp grammar)
  and comes back as a tool call. With ``tool_choice`` auto, a model whose template knows tools writes
  calls in its own markup (``<tool_call>{...}</tool_call>``); the markup filter turns them into
  ``ToolCall``s and they are never spoken. A template that knows nothing of tools (the embedded
  SmolLM2) gets the tool descriptions in its system prompt instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voicecli.errors import LLMError, ModelMissing, VoicecliError
from voicecli.interfaces import StreamItem, ToolCall


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints its load log on fd 2 even with verbose=False in places; keep the terminal clean."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


class LlamaCppLLM:
    backend = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.2,
        top_p: float = 0.9,
        max_tokens: int = 200,
        repeat_penalty: float = 1.1,
        seed: int | None = None,
        verbose: bool = False,
    ):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelMissing(f"LLM model not found: {model_path}", "run `make models` or pass --llm-model PATH.gguf")
        from llama_cpp import Llama

        try:
            with contextlib.nullcontext() if verbose else _quiet_stderr():
                self.llm = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=n_threads or min(4, os.cpu_count() or 2),
                    seed=seed if seed is not None else 0xC0FFEE,
                    verbose=verbose,
                )
        except (ValueError, RuntimeError) as e:
            raise VoicecliError(
                f"cannot load the GGUF model {model_path}: {str(e).splitlines()[0][:160]}",
                "check that the file is a complete GGUF model (re-run `make models` for the default)",
            ) from None
        self.path = model_path
        self.n_ctx = n_ctx
        self.params = dict(temperature=temperature, top_p=top_p, max_tokens=max_tokens, repeat_penalty=repeat_penalty)
        self.chat_template: str = self.llm.metadata.get("tokenizer.chat_template", "") or ""
        self.template_knows_tools = "tools" in self.chat_template

    # -- token accounting, for trimming the history to the context window
    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def warm_up(self, messages: list[dict[str, Any]]) -> None:
        """Evaluate the prompt prefix (system prompt) once, so the first real turn reuses it."""
        for _ in self.stream(messages + [{"role": "user", "content": "Hi"}], max_tokens=1):
            pass

    def _prepare(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        msgs = [dict(m) for m in messages]
        if self.template_knows_tools:
            return msgs
        # Templates without tool support: describe tools in the system prompt, and turn tool traffic
        # into plain turns the template can render.
        out: list[dict[str, Any]] = []
        for m in msgs:
            if m.get("role") == "tool":
                out.append({"role": "user", "content": f"[result of {m.get('name', 'tool')}: {m.get('content')}]"})
            elif m.get("role") == "assistant" and m.get("tool_calls"):
                calls = "; ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in m["tool_calls"])
                out.append({"role": "assistant", "content": (m.get("content") or "") + f" [calling {calls}]"})
            else:
                out.append({"role": m["role"], "content": m.get("content") or ""})
        if tools:
            desc = "\n".join(f"- {t['function']['name']}: {t['function'].get('description', '')}" for t in tools)
            note = f"You can use these tools:\n{desc}"
            if out and out[0]["role"] == "system":
                out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + note}
            else:
                out.insert(0, {"role": "system", "content": note})
        return out

    def stream(self, messages, *, tools=None, tool_choice=None, max_tokens: int | None = None) -> Iterator[StreamItem]:
        params = dict(self.params)
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        choice: Any = None
        if tool_choice and tool_choice not in ("auto", "none"):
            if not tools or not any(t["function"]["name"] == tool_choice for t in tools):
                known = ", ".join(t["function"]["name"] for t in tools or []) or "none"
                raise LLMError(f"--tool-choice {tool_choice}: no such tool", f"choose one of: {known}")
            choice = {"type": "function", "function": {"name": tool_choice}}
            # Arguments are constrained to the tool's JSON schema; sampling them greedily keeps a tiny
            # model from wandering inside a string until max_tokens.
            params.update(temperature=0.0, max_tokens=min(params["max_tokens"], 96))
        elif tool_choice == "none":
            tools = None
        try:
            chunks = self.llm.create_chat_completion(
                messages=self._prepare(messages, tools), tools=tools if self.template_knows_tools or choice else None,
                tool_choice=choice, stream=True, **params,
            )
        except ValueError as e:  # e.g. the prompt does not fit the context window
            raise LLMError(f"the local model refused the request: {str(e)[:160]}", "start a new conversation (/reset)") from None
        markup = None
        if tools and choice is None and self.template_knows_tools:
            from voicecli.tools import ToolMarkupFilter

            markup = ToolMarkupFilter()
        calls: dict[int, dict[str, str]] = {}
        try:
            for chunk in chunks:
                delta = chunk["choices"][0].get("delta") or {}
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(tc.get("index", 0), {"id": "", "name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    slot["id"] = tc.get("id") or slot["id"]
                    slot["name"] = fn.get("name") or slot["name"]
                    slot["arguments"] += fn.get("arguments") or ""
                text = delta.get("content")
                if text:
                    if markup is None:
                        yield text
                    else:
                        yield from markup.feed(text)
            if markup is not None:
                yield from markup.flush()
            for i, c in sorted(calls.items()):
                yield ToolCall(c["name"], c["arguments"] or "{}", c["id"] or f"call_{i}")
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

