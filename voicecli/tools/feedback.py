"""Short phrases spoken while tools run, so a pause sounds deliberate rather than broken.

The runtime synthesises ``phrases`` ahead of time (they are few and fixed) and speaks
``FeedbackPicker.pick()`` only when the tools do not finish within a short threshold.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

FEEDBACK_PHRASES: tuple[str, ...] = (
    "One moment.",
    "Let me check.",
    "Just a second.",
    "Give me a moment.",
    "Let me see.",
    "Checking.",
)


class FeedbackPicker:
    """Picks a phrase at random, never the same one twice in a row (when there are two or more)."""

    def __init__(self, phrases: Sequence[str] = FEEDBACK_PHRASES, rng: random.Random | None = None):
        self.phrases = tuple(p.strip() for p in phrases if p.strip())
        self._rng = rng or random.Random()
        self._last: str | None = None

    def pick(self) -> str | None:
        """The next phrase, or None when there are no phrases (feedback switched off)."""
        choices = [p for p in self.phrases if p != self._last] or list(self.phrases)
        if not choices:
            return None
        self._last = self._rng.choice(choices)
        return self._last
