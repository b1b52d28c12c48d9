"""What every LLM backend has unless it says otherwise: the capability defaults of ``engine.types.LLM``."""

from __future__ import annotations

from typing import Any


class LLMBase:
    """Defaults: an unknown context window, a 256-token reply, no warm-up, tokens guessed from characters."""

    backend = "llm"
    context_tokens: int | None = None
    reply_tokens = 256
    prefetch = False
    cancellable = False  # the stream's close() may be called from another thread while it waits

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        return None

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1  # about four characters per token in English
