"""The local model: llama.cpp through llama-cpp-python, streaming chat completions.

- The model's own chat template (from the GGUF) formats the prompt. Greedy decoding by default
  (temperature 0): the 135M model sampled at 0.2-0.6 drifted into French or nonsense on simple questions.
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
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voicecli.engine.types import StreamItem, ToolCall
from voicecli.errors import LLMError, ModelMissing, VoicecliError
from voicecli.llm.base import LLMBase, quiet_stderr
from voicecli.llm.markup import ToolMarkupFilter, detect_tool_format


class LlamaCppLLM(LLMBase):
    backend = "llama.cpp"
    prefetch = True  # the KV cache keeps what a warm-up evaluated: worth doing between turns

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        temperature: float = 0.0,
        top_p: float = 0.9,
        max_tokens: int = 200,
        repeat_penalty: float = 1.1,
        seed: int | None = None,
        verbose: bool = False,
    ):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelMissing(f"LLM model not found: {model_path}", "run `voicecli fetch` or pass --llm-model PATH.gguf")
        from llama_cpp import Llama

        try:
            with contextlib.nullcontext() if verbose else quiet_stderr():
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
                "check that the file is a complete GGUF model (re-run `voicecli fetch` for the default)",
            ) from None
        self.path = model_path
        self.context_tokens = n_ctx
        self.reply_tokens = max_tokens
        self.params = dict(temperature=temperature, top_p=top_p, max_tokens=max_tokens, repeat_penalty=repeat_penalty)
        self.chat_template: str = self.llm.metadata.get("tokenizer.chat_template", "") or ""
        self.template_knows_tools = "tool" in self.chat_template
        self.lock = threading.RLock()  # one user of the KV cache at a time (a turn, a warm-up, the end-of-turn score)

    # -- token accounting, for trimming the history to the context window
    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        """Evaluate the prompt prefix once, so the next real turn only evaluates the user's new words.

        Called at start-up (the system prompt) and after each turn, in the background, while the user
        is listening and speaking (the conversation so far, including the reply just spoken).
        """
        for _ in self.stream(messages + [{"role": "user", "content": "Hi"}], tools=tools, max_tokens=1):
            pass

    def prompt_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``messages`` as this model's template is given them for a turn (``_prepare``)."""
        return self._prepare(messages, None)

    def _prepare(self, messages: list[dict[str, Any]], forced: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Messages this model's template can render.

        A template that knows tools gets the OpenAI shapes, with arguments as objects (Qwen-style
        templates apply ``tojson`` to them). Otherwise tool traffic becomes plain turns a small model
        can repeat (see :func:`tool_result_turn`): the assistant's call is left out, and each result
        is a user turn in plain words. A forced tool is described in the system prompt, so the model
        knows what its JSON arguments are for.
        """
        out: list[dict[str, Any]] = []
        for m in messages:
            role, content = m.get("role"), m.get("content") or ""
            if self.template_knows_tools:
                m = dict(m)
                if m.get("tool_calls"):
                    m["tool_calls"] = [_with_parsed_arguments(c) for c in m["tool_calls"]]
                out.append(m)
            elif role == "tool":
                out.append({"role": "user", "content": tool_result_turn(m.get("name") or "tool", content)})
            elif role == "assistant" and m.get("tool_calls"):
                if content.strip():  # the call itself is not shown: the result's turn names the tool
                    out.append({"role": "assistant", "content": content})
            else:
                out.append({"role": role, "content": content})
        if forced is not None:
            fn = forced["function"]
            note = (f"Call the tool {fn['name']}: {fn.get('description', '')} "
                    "Reply with only its arguments as a JSON object.")
            if out and out[0]["role"] == "system":
                out[0] = {**out[0], "content": out[0]["content"] + "\n\n" + note}
            else:
                out.insert(0, {"role": "system", "content": note})
        return out

    def stream(self, messages, *, tools=None, tool_choice=None, max_tokens: int | None = None) -> Iterator[StreamItem]:
        """One generation at a time: a background ``warm_up`` and a turn never interleave on the KV cache."""
        with self.lock:
            yield from self._stream(messages, tools, tool_choice, max_tokens)

    def _stream(self, messages, tools, tool_choice, max_tokens: int | None) -> Iterator[StreamItem]:
        params = dict(self.params)
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if tool_choice and tool_choice not in ("auto", "none"):
            yield from self._forced_call(messages, tools or [], tool_choice, params)
            return
        if tool_choice == "none" or not self.template_knows_tools:
            tools = None  # a model never taught tools cannot choose one; it answers in text
        markup = None
        if tools:
            markup = ToolMarkupFilter(detect_tool_format(self.chat_template))
        chunks = self._complete(messages=self._prepare(messages, None), tools=tools, **params)
        try:
            for chunk in chunks:
                text = (chunk["choices"][0].get("delta") or {}).get("content")
                if text:
                    if markup is None:
                        yield text
                    else:
                        yield from markup.feed(text)
            if markup is not None:
                yield from markup.flush()
        finally:
            chunks.close()

    def _forced_call(self, messages, tools, name: str, params: dict[str, Any]) -> Iterator[StreamItem]:
        """``--tool-choice NAME``: generate the tool's arguments under a grammar made from its JSON schema.

        Sampled greedily and bounded in length: a tiny model sampled at temperature wanders inside a
        JSON string until max_tokens.
        """
        from llama_cpp import LlamaGrammar

        tool = next((t for t in tools if t["function"]["name"] == name), None)
        if tool is None:
            known = ", ".join(t["function"]["name"] for t in tools) or "none (tools are off)"
            raise LLMError(f"--tool-choice {name}: no such tool", f"choose one of: {known}")
        grammar = LlamaGrammar.from_json_schema(json.dumps(tool["function"].get("parameters") or {}), verbose=False)
        params.update(temperature=0.0, max_tokens=min(params["max_tokens"], 96))
        chunks = self._complete(messages=self._prepare(messages, tool), grammar=grammar, **params)
        try:
            args = "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks)
        finally:
            chunks.close()
        yield ToolCall(name, args.strip() or "{}", f"call_{uuid.uuid4().hex[:8]}")

    def _complete(self, **kw) -> Iterator[dict[str, Any]]:
        """The completion's chunks; llama-cpp-python checks the prompt's size lazily, on the first chunk."""
        chunks = None
        try:
            chunks = self.llm.create_chat_completion(stream=True, **kw)
            yield from chunks
        except ValueError as e:  # e.g. the prompt does not fit the context window
            raise LLMError(f"the local model refused the request: {str(e)[:160]}",
                           "shorten the message or start a new conversation (/reset); --n-ctx sets the context window") from None
        finally:
            if chunks is not None:
                chunks.close()


def tool_result_turn(name: str, content: str) -> str:
    """A tool's result as a plain sentence, for a model whose chat template knows no tools.

    Measured on the embedded SmolLM2-135M with six tool answers (calculations, a conversion, the time,
    an error): "The calculate tool says: 391" was repeated correctly in 6 of 6, while the bracketed
    form ("[result of calculate: 391]") was echoed with its brackets, and an invented "[error: ...]"
    followed. Bare results ("Tool result: 391") or call syntax ("calculate(17 * 23) = 391") led the
    model to redo the arithmetic, wrongly, in 2 to 4 of 6. Nothing in brackets: whatever the model
    copies from here is speakable.
    """
    return f"The {name.replace('_', ' ')} tool says: {content}"


def _with_parsed_arguments(call: dict[str, Any]) -> dict[str, Any]:
    fn = dict(call.get("function") or {})
    try:
        fn["arguments"] = json.loads(fn.get("arguments") or "{}")
    except (TypeError, json.JSONDecodeError):
        pass
    return {**call, "function": fn}
