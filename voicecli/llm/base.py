"""What every LLM backend has unless it says otherwise: the capability defaults of ``engine.types.LLM``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """llama.cpp prints its model-loading log on fd 2, even with verbose=False in places: keep the terminal clean."""
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
