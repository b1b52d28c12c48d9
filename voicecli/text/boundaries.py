"""Where a sentence may end: the rules the chunker applies to each word, and what they know.

The chunker (:mod:`voicecli.text.chunking`) finds words in the stream; this module says how strong
the gap after each word is (:class:`Gap`), from the word itself and, where that is not enough, from
the next character or the next word. One set of rules for every strategy: ``sentence`` cuts where
they say a sentence ends, ``adaptive`` and ``phrase`` never cut where they say a unit goes on
(:data:`Gap.BOUND`), and a cut forced by ``max_chars`` avoids those gaps unless nothing else fits.

A word ending in ``. ! ? …`` (before closing quotes or brackets) ends a sentence unless:

* it sits inside an open bracket or quote;
* it is an abbreviation the data file ``data/abbreviations.txt`` knows, by category: a **title**
  ("Dr.", "Gen.", "Atty."; capitalised) or a **term** word ("e.g.", "vs.", "approx.") never ends
  one; a **number** word ("No.", "Fig.", "Apt.", "Jan.") does not before a digit; a **common**
  abbreviation ("Inc.", "Co.", "etc.", "Calif.", "Ave.") or an **initialism** ("U.S.", "N.Y.",
  "Ph.D.") ends one only before a word that starts sentences (see below);
* it is "a.m."/"p.m." followed by a time zone or a day ("5 p.m. Eastern");
* it is a single capital letter: an initial ("J. K. Rowling", "Albert I. Jones") after a
  capitalised word or at the start of a sentence; after a lowercase word it is a letter used as a
  name ("plan B. I changed it."), an end only before a sentence starter;
* it is a brand name that ends in "!" ("Yahoo! Mail"), again decided by the next word;
* the next character is lowercase ("etc. and", "wait... what"), or a digit after a number word;
* it closes an opening adverbial of at most four words ("At 5 a.m. Mr. Smith left": a sentence is
  not just "At 5 a.m.");
* it is part of a spaced ellipsis of three dots (". . ." is an omission; four dots end a sentence).

**Deciding on the next word.** After an initialism or a common abbreviation, a capitalised word
either continues the sentence ("the U.S. Army", "Apple Inc. Chairman") or starts the next one
("in the U.S. Then ..."). The rule: the sentence ends if that word is one that starts sentences
(pronouns, determiners, conjunctions, question words, auxiliaries, sentence adverbs,
prepositions and the imperatives an assistant starts instructions with: :data:`STARTERS`), as
pySBD's rules do for "U.S.". Abbreviations that usually close what they are in ("etc.", "ft.",
"Jan.", "Ave.", "Jr."; the **final** kind) end a sentence before any capitalised word instead. The cost is latency: such a
boundary is known only when the next word is complete (one token later), and only there.

Numbers keep what completes them: the gap after a bare number ("9.5", "$29.95", "1980", "5th",
"21C") is :data:`Gap.BOUND`, so "She scored 9.5" | "out of 10." is never a cut a policy chooses.
Names too: between two capitalised words ("Air Force", "Judge Wu", "Jonas E. Smith") the gap is
``BOUND`` (unless the first is a sentence starter: "Then Paris").

Terminators with no space after them, in scripts that write them so (CJK ``。！？``, the Devanagari
danda ``।``, Arabic ``؟`` and ``۔``, Armenian ``։``, Ethiopic ``።``, Burmese ``။``), end a sentence
right after the mark; their clause marks (``，、；：``, Arabic ``،؛``) end a clause.
"""

from __future__ import annotations

import re
from enum import IntEnum
from functools import lru_cache
from importlib import resources


class Gap(IntEnum):
    """How strong a boundary between two words is; a policy cuts at strong enough ones."""

    NONE = 0  # after a list marker or a lone symbol: never a cut but for max_chars
    BOUND = 1  # inside a unit (abbreviation + name, number + unit, brackets): only ``word`` cuts here
    WORD = 2
    CLAUSE = 3
    SENTENCE = 4
    LINE = 5


NONE, BOUND, WORD, CLAUSE, SENTENCE, LINE = Gap

TERMINATORS = ".!?…"
# Sentence and clause marks of scripts that need no space after them: a boundary right after.
TIGHT_SENTENCE = "。！？।॥؟۔։።፧။"
TIGHT_CLAUSE = "，、；：،؛"
TIGHT = TIGHT_SENTENCE + TIGHT_CLAUSE
# Stripped from the end of a word before looking at its punctuation: closing quotes and brackets,
# and markdown emphasis ("**Note:**", "*Paris*.").
CLOSERS = "\"'”’)]}»」』）】*_`~"
OPENERS = "\"'“‘([{«「『（【*_`~"
BRACKET_OPEN = "([{“«「『（【"
BRACKET_CLOSE = ")]}”»」』）】"

_ALNUM = re.compile(r"[^\W_]")
_LINE_MARKER = re.compile(r"[•⁃]?\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})(?:\.\)|[.)])|[-*+•⁃>]+|#{1,6}")
_BULLET = re.compile(r"[-*+•⁃>]+|#{1,6}")
# An item marker inside a line ("1. First 2. Second", "• 9. One • 10. Two"): numbered or lettered
# like the marker that started the line, one step on; or the same round bullet.
_ITEM = re.compile(r"([•⁃]?)\(?(\d{1,3}|[a-zA-Z])(\.\)|[.)])")
# A number, possibly with its unit glued on ("21C", "5km", "4B", "1990s", "5th", "50%").
_NUMBER = re.compile(r"[-+±~≈]?[$€£¥₹]?\d[\d,.:/]*(?:%|[A-Za-z°µ]{1,3})?")
_LETTERS = re.compile(r"[^\W\d_]*")
_OMISSION = re.compile(r"[\[(](?:\.{3}|…)[\])]$")
_INITIALISM = re.compile(r"[A-Za-z]{1,2}(?:\.[A-Za-z]{1,2})+")

# Rules for a possible end that the next character (or word) decides; see :func:`resolve`.
END = "end"  # an end unless the next character is lowercase
NUMBER = "number"  # as END, but not an end before a digit either
NEXT_WORD = "next-word"  # lowercase or digit next: no end; a capitalised word: an end if it is a starter
TIME = "time"  # as NEXT_WORD, but every capitalised word ends the sentence except a time zone or day
DOTS = "dots"  # a lone dot: no cut before another lone dot (". . ."); else as END
NAME = "name"  # a capitalised word: inside a name (BOUND) before another capital, else a word gap
NUMBERS = "numbers"  # a number and a comma: BOUND before another number, else a clause
DATE = "date"  # a month's name: inside a date (BOUND) before a digit or a capital, else a word gap

STARTERS = frozenset("""
i you he she it we they me my your his her its our their this that these those there here
the a an some many most much all each every another any no none both either neither few several
and but or so yet nor then however also still now thus therefore hence meanwhile moreover furthermore
instead otherwise finally first second third next later today yesterday tomorrow tonight soon
unfortunately fortunately luckily sadly sometimes perhaps maybe please yes well oh hi hello thanks
what when where who whom whose why how which whatever whenever wherever
is are was were be do does did can could will would should shall may might must have has had let
in on at for from with after before during since until if as while although though because once by
to of about into over under without within between among through across against toward towards
not never always often usually again only even just such other one two three
someone somebody something everyone everybody everything nobody nothing anyone anybody anything
don won isn aren wasn weren doesn didn haven hasn shouldn wouldn couldn
add ask avoid bake bring buy call check choose click come consider cook enjoy follow get give go
keep let look make mix note pick place pour preheat put read remember remove see select serve start
stir take tell try turn use visit wait watch write
""".split())
"""Capitalised, these words start sentences: "U.S. Then" ends one, "U.S. Army" does not."""

_MONTH_NAMES = frozenset("january february march april may june july august september october november december".split())
_OPENING_PREPOSITIONS = frozenset("at by before after until till from since around about on in".split())


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, frozenset[str]]:
    """The abbreviation knowledge: ``{kind: words}`` from ``data/abbreviations.txt`` (see its header)."""
    kinds: dict[str, set[str]] = {}
    current: set[str] | None = None
    text = resources.files("voicecli.text").joinpath("data/abbreviations.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            current = kinds.setdefault(line[1 : line.index("]")], set())
        elif current is not None:
            current.update(line.lower().split())
    return {k: frozenset(v) for k, v in kinds.items()}


def item_marker(word: str) -> tuple[str, int] | None:
    """``(style, value)`` of a list marker ("1." -> ("1.", 1), "b)" -> ("a)", 2), "•" -> ("•", 0))."""
    if word in ("•", "⁃"):
        return word, 0
    m = _ITEM.fullmatch(word)
    if m is None:
        return None
    bullet, value, mark = m.groups()
    if value.isdigit():
        return f"{bullet}1{mark}", int(value)
    return f"{bullet}{'a' if value.islower() else 'A'}{mark}", ord(value.lower()) - ord("a") + 1


def is_bullet(word: str) -> bool:
    """A marker made of symbols only ("-", "•", "##"): the word after it still starts the line."""
    return _BULLET.fullmatch(word) is not None


def is_number(word: str) -> bool:
    return _NUMBER.fullmatch(word) is not None


def weak(word: str) -> Gap:
    """The gap after a word that ends no clause: a word boundary; a unit goes on after a number;
    nothing after a lone symbol."""
    if word.isalpha():  # the common case, without a regular expression
        return WORD
    if not _ALNUM.search(word):
        return NONE
    return BOUND if is_number(word.strip(CLOSERS + OPENERS)) else WORD


def _capitalised(word: str) -> bool:
    word = word.lstrip(OPENERS)
    return bool(word) and word[0].isupper()


def _name_like(word: str) -> bool:
    """A capitalised word with no punctuation after it, or an initial: what comes before an initial."""
    word = word.lstrip(OPENERS)
    return bool(word) and word[0].isupper() and (word.isalpha() or (len(word) == 2 and word[1] == "."))


class Context:
    """What the rules need to know about the words before the current one."""

    __slots__ = ("prev", "sentence_words", "first", "dots")

    def __init__(self) -> None:
        self.prev = ""  # the word before (as written)
        self.sentence_words = 0  # words of the current sentence, the current one included
        self.first = ""  # the first word of the current sentence
        self.dots = 0  # lone dots in a row just before (". . ."), the period before them included


def word_gap(word: str, line_start: bool, nested: bool, ctx: Context) -> tuple[Gap, str | None]:
    """The kind of the gap after ``word``: ``(kind, None)`` when the word decides it, or
    ``(fallback, rule)`` when the next character or word decides between ``fallback`` and a sentence end."""
    if line_start and _LINE_MARKER.fullmatch(word):
        return NONE, None
    core = word.rstrip(CLOSERS)
    if not core:
        return NONE, None
    last = core[-1]
    if last in TIGHT_SENTENCE:
        return (BOUND if nested else SENTENCE), None
    if last in ",;:" or last in TIGHT_CLAUSE:
        if not nested and last == "," and is_number(core[:-1].lstrip(OPENERS)):
            return BOUND, NUMBERS  # "May 5, 2024", "3, 4 or 5": the numbers go on
        return (BOUND if nested else CLAUSE), None
    if last not in TERMINATORS:
        g = weak(word)
        if nested:
            return min(g, BOUND), None
        if g == WORD and core[0].isupper() and core.lower() not in STARTERS:
            if core.lower() in _MONTH_NAMES:
                return BOUND, DATE  # "May 5, 2024": a date goes on
            return BOUND, NAME  # "Judge Wu", "Air Force", "Jonas E. Smith": a name goes on
        return g, None
    if nested or _OMISSION.search(core + word[len(core) : len(core) + 1]):
        return min(weak(word), BOUND), None  # inside brackets, or an omission mark "[...]"
    if core == ".":  # a lone dot: part of a spaced ellipsis, three of which are an omission
        return (NONE, None) if ctx.dots == 3 else (NONE, DOTS)
    stem = core.rstrip(TERMINATORS).lstrip(OPENERS)
    marks = core[len(core.rstrip(TERMINATORS)):]
    if marks == "!" and stem.lower() in abbreviations()["brand"]:
        return WORD, NEXT_WORD
    if marks != ".":
        return weak(word), END
    return _period(stem, ctx)


def _period(stem: str, ctx: Context) -> tuple[Gap, str | None]:
    """A word ending in a single period: an abbreviation, an initial, a number or a plain word."""
    kinds = abbreviations()
    key = stem.lower()
    abbreviation = False
    if _capitalised(stem) and key in kinds["title"]:
        street = ctx.sentence_words > 1 and _name_like(ctx.prev) and ctx.prev.lower() not in STARTERS
        if not (key in ("st", "dr") and street):
            return BOUND, None  # "Dr. Smith"; but "Mulholland Dr." is an address, as below
        abbreviation = True
    if key in kinds["term"]:
        return BOUND, None
    if len(stem) == 1 and stem.isalpha():
        if stem.islower():
            return (BOUND, NUMBER) if key in kinds["number"] else (WORD, END)
        if ctx.sentence_words <= 1 or _name_like(ctx.prev):
            return BOUND, None  # an initial: "J. K. Rowling", "Albert I. Jones", "B. Obama"
        return BOUND, NEXT_WORD  # "plan B. I changed it." / "by J. Smith"
    rule = None
    if key in kinds["time"]:
        rule = TIME
    elif abbreviation or key in kinds["common"] or _INITIALISM.fullmatch(stem):
        rule = NEXT_WORD
    if rule is not None:
        if ctx.sentence_words <= 4 and ctx.first.lstrip(OPENERS).lower() in _OPENING_PREPOSITIONS:
            return BOUND, None  # "At 5 a.m." | "Mr. Smith went": an opening adverbial, no sentence
        return BOUND, rule
    if key in kinds["number"] or key in kinds["final"]:
        return BOUND, NUMBER
    return weak(stem), END


def resolve(fallback: Gap, rule: str, nxt: str) -> Gap | None:
    """Decide a possible end from the next non-space character (``""``: the end of the stream).

    ``None``: the character does not decide; wait for the whole next word (:func:`resolve_word`).
    """
    if rule == NAME:
        return fallback if nxt[:1].isupper() else WORD
    if rule == NUMBERS:
        return fallback if nxt[:1].isdigit() else CLAUSE
    if rule == DATE:
        return fallback if nxt[:1].isupper() or nxt[:1].isdigit() else WORD
    if not nxt:
        return SENTENCE
    if nxt == ".":  # a spaced ellipsis follows (". . ."): the end, if any, comes after it
        return NONE if rule == DOTS else fallback
    if nxt.islower():
        return fallback
    if rule in (NEXT_WORD, TIME):
        return fallback if nxt.isdigit() else None
    if rule == NUMBER and nxt.isdigit():
        return fallback
    return SENTENCE


@lru_cache(maxsize=1)
def _prefixes() -> dict[str, frozenset[str]]:
    def of(words):
        return frozenset(w[:i] for w in words for i in range(len(w) + 1))

    return {NEXT_WORD: of(STARTERS), TIME: of(abbreviations()["zone"])}


def decided_early(rule: str, partial: str) -> bool:
    """Can the next word be judged from its first letters? When they begin no word of the rule's
    list (no sentence starter, no time zone), :func:`resolve_word` will say the same of the whole
    word: decide now instead of waiting for its end ("U.S. Arm|y": not "are", "around"...)."""
    letters = _LETTERS.match(partial.lstrip(OPENERS))
    return letters is not None and letters.group().lower() not in _prefixes()[rule]


def resolve_word(fallback: Gap, rule: str, word: str) -> Gap:
    """Decide a possible end after an abbreviation from the whole next word."""
    core = word.strip(OPENERS + CLOSERS + ".,;:!?…")
    if not core or not core[0].isupper():
        return fallback
    key = core.lower()
    if rule == TIME:
        return fallback if key in abbreviations()["zone"] else SENTENCE
    base = re.split(r"['’]", key, maxsplit=1)[0]
    return SENTENCE if key in STARTERS or base in STARTERS else fallback


def boundary_kind(chunk: str) -> str:
    """At what kind of boundary ``chunk`` ends, judged from its last characters.

    ``"sentence"`` (ends in ``. ! ? …`` or a tight terminator, before any closing quote or bracket),
    ``"clause"`` (``, ; :`` or a tight clause mark) or ``"word"``. A list item without final
    punctuation counts as ``"word"``.
    """
    core = chunk.rstrip().rstrip(CLOSERS)
    if not core:
        return "word"
    last = core[-1]
    if last in TERMINATORS or last in TIGHT_SENTENCE:
        return "sentence"
    if last in ",;:" or last in TIGHT_CLAUSE:
        return "clause"
    return "word"
