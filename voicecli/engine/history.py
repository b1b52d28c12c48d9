"""The part of the conversation a model sees: the history trimmed to a token budget, oldest turns first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message (ChatML: about 5)
NEXT_QUESTION_TOKENS = 64  # room a prefetch leaves for the question to come


def prompt_size(messages: list[dict[str, Any]], count: Callable[[str], int]) -> int:
    return sum(count(str(m.get("content") or "")) + MESSAGE_OVERHEAD for m in messages)


def trim_history(messages: list[dict[str, Any]], count: Callable[[str], int], budget: int) -> list[dict[str, Any]]:
    """Drop the oldest turns (a user message and what followed it) until the prompt fits ``budget``.

    The system prompt and the latest user turn are always kept.
    """
    head = messages[:1] if messages and messages[0].get("role") == "system" else []
    body = messages[len(head):]
    starts = [i for i, m in enumerate(body) if m.get("role") == "user"]
    while len(starts) > 1 and prompt_size(head + body, count) > budget:
        body = body[starts[1]:]
        starts = [i for i, m in enumerate(body) if m.get("role") == "user"]
    return head + body


class HistoryWindow:
    """The part of the conversation the model sees: the system prompt and the turns from ``start`` on.

    When the prompt outgrows its budget, the window moves past enough old turns to come down to
    ``low`` of the budget, not just under it: it then stays put for many turns, so the prompt's
    prefix, which the model has evaluated and cached, stays the same and each turn evaluates only
    its own new words. Trimmed one turn at a time, the start of the prompt would change with every
    turn and every turn would re-evaluate the whole conversation (measured: the time to first audio
    rose by a third over 50 turns).
    """

    def __init__(self, low: float = 0.5):
        self.low = low
        self.start = 0  # index into the history (after the system prompt)

    def view(self, history: list[dict[str, Any]], count: Callable[[str], int], budget: int,
             expect: int = 0) -> list[dict[str, Any]]:
        """The messages to send; ``expect``: tokens still to come (the next question, for a prefetch)."""
        head = history[:1] if history and history[0].get("role") == "system" else []
        body = history[len(head):]
        self.start = min(self.start, len(body))
        if prompt_size(head + body[self.start:], count) + expect > budget:
            kept = trim_history(head + body[self.start:], count, int(budget * self.low) - expect)
            self.start = len(body) - (len(kept) - len(head))
        return head + body[self.start:]

    def reset(self) -> None:
        self.start = 0
