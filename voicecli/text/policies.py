"""The chunking policies: at which boundaries each strategy cuts (the engine, ``segmenter``, finds them).

A policy must be monotone in the kind (if it cuts at a weaker boundary, it cuts at a stronger one
with the same length): the engine relies on it to cut before a possible sentence end is resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from voicecli.text.boundaries import Gap

_NONE, _BOUND, _WORD, _CLAUSE, _SENTENCE, _LINE = Gap


class Policy(Protocol):
    avoid_weak_end: bool  # a cut forced at a plain word boundary moves past a function word

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        """Cut here? ``chars``/``words``: the chunk's size if cut here; ``index``: chunks emitted so far."""
        ...


# Articles, prepositions, conjunctions, auxiliaries, pronouns and determiners: a spoken phrase does not
# end on them, so a cut forced at a word boundary moves past them.
WEAK_END_WORDS = frozenset("""
a an the this that these those my your his her its our their some any no every each
of to in on at by for with from into onto about as than like over under after before between through
and or but nor so yet if because while when where who whom whose which what how why
is are was were be been being am do does did have has had will would shall should can could may might must
i you he she it we they me him us them not very just also more most out per
""".split())
INITIAL = re.compile(r"[A-Z]\.")
WEAK_STRIP = "\"'“”‘’()[]{}"


@dataclass(frozen=True)
class WordPolicy:
    avoid_weak_end = False

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _BOUND


@dataclass(frozen=True)
class SentencePolicy:
    avoid_weak_end = False

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _SENTENCE


@dataclass(frozen=True)
class PhrasePolicy:
    min_chars: int = 20
    avoid_weak_end = False

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _CLAUSE and chars >= self.min_chars


@dataclass(frozen=True)
class AdaptivePolicy:
    """Small first, then bigger: the first chunk buys playback time to synthesise the next ones.

    Piper synthesises a chunk in about 3 ms per character and it plays for about 65 ms per
    character, so a first chunk of a few words is ready in well under 100 ms and plays for over half
    a second, while the next (longer) chunk is generated and synthesised.

    * chunk 1: ends at its first clause or sentence boundary once it has ``first_min_chars``
      characters, or at the word boundary after ``first_max_words`` words;
    * the next ``clause_chunks`` chunks: end at a sentence end, or at a clause boundary once they
      have ``clause_min_chars`` characters (a shorter clause, "for example,", sounds choppy);
    * then whole sentences.

    A chunk cut at a plain word boundary never ends on a function word ("The capital of France is" |
    "Paris." sounds like "Francis" because Piper ends each chunk with a falling tone): the cut moves
    to the next word that can carry the end of a phrase.
    """

    first_min_chars: int = 3
    first_max_words: int = 3  # measured by `voicecli bench`: 5 gave 1.7x sentence TTFA, 3 gives >2x
    clause_chunks: int = 1
    clause_min_chars: int = 20

    avoid_weak_end: bool = True

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        if index == 0:
            return (kind >= _CLAUSE and chars >= self.first_min_chars) or (
                kind >= _WORD and words >= self.first_max_words
            )
        if index <= self.clause_chunks:
            return kind >= _SENTENCE or (kind >= _CLAUSE and chars >= self.clause_min_chars)
        return kind >= _SENTENCE
