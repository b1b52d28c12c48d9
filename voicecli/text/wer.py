"""Word error rate, with a light normalisation so that formatting is not counted as a mistake.

``normalize(text)``, applied to both sides before counting:

- lower case; "&" → "and", "%" → "percent";
- whole numbers written in digits become words ("10" → "ten", "1,250" → "one thousand two hundred
  fifty"), because Whisper writes "10 minutes" where a reference says "ten minutes";
- hyphens and slashes separate words; other punctuation is dropped, except an apostrophe inside a
  word ("what's" stays one word, different from "what is": a contraction is a real difference).

``wer(ref, hyp)`` is the word-level Levenshtein distance (substitutions + deletions + insertions)
divided by the number of reference words; ``corpus_wer`` sums the distances and the reference words
over many pairs (so long utterances weigh more, as usual for WER).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]


def number_words(n: int) -> str:
    """``1250`` → ``"one thousand two hundred fifty"`` (non-negative integers)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _digits(match: re.Match[str]) -> str:
    digits = match.group(0).replace(",", "")
    return f" {number_words(int(digits))} " if len(digits) <= 12 else match.group(0)


def normalize(text: str) -> list[str]:
    """The words of ``text`` as compared by ``wer``."""
    text = text.lower().replace("&", " and ").replace("%", " percent ")
    text = re.sub(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+", _digits, text)
    text = re.sub(r"[-/]", " ", text)
    text = re.sub(r"[’`]", "'", text)
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes inside a word
    return text.split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists (one row of the table at a time)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def wer(ref: str, hyp: str) -> float:
    """Word error rate of ``hyp`` against ``ref`` (0.0 is perfect; can exceed 1.0 with insertions).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 for anything else.
    """
    r, h = normalize(ref), normalize(hyp)
    if not r:
        return 0.0 if not h else 1.0
    return edit_distance(r, h) / len(r)


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """WER over many (reference, hypothesis) pairs: total edits / total reference words."""
    edits = words = 0
    for ref, hyp in pairs:
        r, h = normalize(ref), normalize(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return edits / words if words else 0.0
