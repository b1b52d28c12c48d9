"""What is said versus what is shown: turn a chunk of a markdown reply into text for the TTS.

The screen shows the reply as the model wrote it; the voice should say what a person reading it
aloud would say. :func:`to_speech` (stateless) and :class:`SpeechText` (which remembers, across
chunks, whether a fenced code block is open) apply the same rules:

* markdown: headings, bullets, block quotes, emphasis (``**bold**``, ``*it*``, ``__b__``,
  ``~~s~~``) and inline code lose their markup; a link ``[text](url)`` says its text; a bare web
  address says its domain; tables say their cells; rules and fences say nothing; numbered items
  keep their number ("1. Preheat" is read "one. Preheat");
* fenced code blocks are not read symbol by symbol: the opening fence says ``code_placeholder``
  once and the code inside says nothing;
* emoji and decorative symbols (stars, check marks, box drawing, arrows used as bullets) are
  dropped; symbols a person says are spelled out: ``&`` "and", ``%`` "percent", ``°C``
  "degrees Celsius", an arrow between words "to", "e.g." "for example", "2–3" "2 to 3";
* numbers with what they measure are said as words (:mod:`voicecli.text.normalize`): money,
  temperatures, times, dates, years, fractions, ranges, ordinals, units, phone numbers and roman
  numerals in names ("21C (70F)" "21 degrees Celsius, or 70 degrees Fahrenheit"); plain numbers and
  versions stay digits, which the voice reads well ("391", "3.14", "v2.0.1");
* markers meant for the model, never for the listener, are dropped, even across chunks:
  ``[error: ...]``, ``[result of ...]``, ``[calling ...]``, ``[interrupted by the user]``.

A chunk with nothing speakable left (a lone bullet, an emoji, a code line) becomes ``""``: the
pipeline skips it. Apply this to the chunks handed to the TTS, never to the text shown.
"""

from __future__ import annotations

import re
import unicodedata

from voicecli.text.normalize import normalize

DEFAULT_CODE_PLACEHOLDER = "(code omitted)"

_FENCE = re.compile(r"```|~~~")
# What the program tells the model, never the listener (a small model may copy it into its reply).
_MARKER_WORDS = r"\[\s*(?:error\b|result of\b|calling\b|interrupted\b|tool result\b)"
_MARKER = re.compile(_MARKER_WORDS + r"[^\]\n]*\]", re.I)
_MARKER_OPEN = re.compile(_MARKER_WORDS, re.I)

# Line-level markdown (a chunk never spans lines, but a whole text passed to to_speech may).
# Markup at the start of a line: headings, block quotes, bullets (with task boxes), and emphasis
# markers before them; stripped repeatedly ("> - **item").
_LINE_START = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+•▪◦‣]\s+(?:\[[ xX]\]\s+)?|[*_]+(?=\S)|~~)")
_RULE = re.compile(r"^(?:([-*_])\s*)(?:\1\s*){2,}$")
_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+")

# Inline markdown.
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_LINK_TAIL = re.compile(r"\]\(\S*?\)")  # what is left of a link split across chunks
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+)>")
_URL = re.compile(r"(?<![^\W_])(?:https?|ftp)://(?:www\.)?([^\s/?#:]+)(?::\d+)?(?:[/?#]\S*?)?(?=[.,;:!?)\]]*(?:\s|$))")
_INLINE_CODE = re.compile(r"`([^`]*)`")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_EMPHASIS = re.compile(r"\*\*|__|~~|\*")
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")

# Symbols a person would say.
_ABBREVIATIONS = [
    (re.compile(r"\be\.g\.", re.I), "for example"),
    (re.compile(r"\bi\.e\.", re.I), "that is"),
    (re.compile(r"\bvs\.(?=\s|$)", re.I), "versus"),
    (re.compile(r"\betc\.(?=\s|$)", re.I), "et cetera."),
]
_ETC_MID = re.compile(r"et cetera\.(?=\s+[a-z])")
_RANGE = re.compile(r"(\d)\s?[–—]\s?(?=\d)")
_ARROW_BETWEEN = re.compile(r"(?<=\w)\s*(?:→|->|=>|⟶|⇒|➔|➜)\s*(?=\w)")
_ARROW = re.compile(r"→|->|=>|⟶|⇒|➔|➜|←|<-|↔")
_NUMBER_SIGN = re.compile(r"#(?=\d)")
_SHARP = re.compile(r"(?<=\b[CF])#(?!\w)")
_SPACED = [  # a symbol between spaces (or numbers) is an operator a person reads out
    (re.compile(r"(?<=[\d\s])\+(?=\s?\d)"), " plus "),
    (re.compile(r"(?<=\s)=(?=\s)"), " equals "),
    (re.compile(r"(?<=\d)\s\*\s(?=\d)"), " times "),
]
_SYMBOLS = {
    "&": " and ",
    "%": " percent",
    "°C": " degrees Celsius",
    "°F": " degrees Fahrenheit",
    "°": " degrees",
    "±": " plus or minus ",
    "×": " times ",
    "÷": " divided by ",
    "≈": " about ",
    "≤": " at most ",
    "≥": " at least ",
    "≠": " not equal to ",
    "@": " at ",
}
_SYMBOL = re.compile("|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True)))
_APPROX = re.compile(r"~\s?(?=\d)")
_SILENT = re.compile(r"[\[\]{}|#`*~<>^\\•·▪◦‣]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")
_SPACE_AFTER_OPEN = re.compile(r"([(])\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\"\s*\"")
_REPEATED_PUNCT = re.compile(r"([,;:])(?:\s*[,;:])+")
_SPEAKABLE = re.compile(r"[^\W_]")
# Left at the start once inner markup is gone ("`- item`"): a dash bullet or stray punctuation.
_LEADING_JUNK = re.compile(r"^(?:[-–—]\s+|[,;:.)]\s*)+")

# Emoji joiners, variation selectors, keycap, skin tones, tags: invisible parts of emoji.
_EMOJI_PARTS = frozenset("\u200d\ufe0e\ufe0f\u20e3") | frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


def _drop_symbols(text: str) -> str:
    """Drop emoji and decorative symbols (Unicode "other symbol", private use) and emoji glue."""
    if text.isascii():
        return text
    return "".join(
        " " if unicodedata.category(ch) in ("So", "Co", "Cs") else ""
        if ch in _EMOJI_PARTS or (0xE0020 <= ord(ch) <= 0xE007F) else ch
        for ch in text
    )


def _speak_line(line: str) -> str:
    """One line of markdown, as a person would read it."""
    line = line.strip()
    if not line or _RULE.match(line) or _TABLE_SEPARATOR.match(line):
        return ""
    if line.startswith("|") and line.endswith("|") and len(line) > 1:
        line = ", ".join(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
    while (stripped := _LINE_START.sub("", line, count=1)) != line:
        line = stripped.lstrip()
    line = _NUMBERED.sub(r"\1. ", line)

    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _REF_LINK.sub(r"\1", line)
    line = _LINK_TAIL.sub("", line)
    line = _AUTOLINK.sub(r"\1", line)
    line = _URL.sub(r"\1", line)
    line = _INLINE_CODE.sub(r"\1", line)
    line = _HTML_TAG.sub(" ", line)

    for pattern, spoken in _SPACED:
        line = pattern.sub(spoken, line)
    line = _EMPHASIS.sub("", line)
    line = _EDGE_UNDERSCORE.sub("", line)
    line = line.replace("_", " ")
    line = normalize(line)

    for pattern, spoken in _ABBREVIATIONS:
        line = pattern.sub(spoken, line)
    line = _ETC_MID.sub("et cetera", line)
    line = _RANGE.sub(r"\1 to ", line)
    line = _ARROW_BETWEEN.sub(" to ", line)
    line = _ARROW.sub(" ", line)
    line = _NUMBER_SIGN.sub("number ", line)
    line = _SHARP.sub(" sharp", line)
    line = _APPROX.sub("about ", line)
    line = _SYMBOL.sub(lambda m: _SYMBOLS[m.group()], line)
    line = _drop_symbols(line)
    line = _SILENT.sub(" ", line)

    while (emptied := _EMPTY_BRACKETS.sub(" ", line)) != line:  # "(( ))", what emoji leave behind
        line = emptied
    line = " ".join(line.split())
    line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
    line = _SPACE_AFTER_OPEN.sub(r"\1", line)
    line = _REPEATED_PUNCT.sub(r"\1", line)
    line = _LEADING_JUNK.sub("", line)
    return line if _SPEAKABLE.search(line) else ""


def _join_phrases(phrases: list[str]) -> str:
    """Join spoken phrases; one without closing punctuation gets a full stop, so list items,
    headings and the code placeholder read as separate phrases instead of running together."""
    phrases = [p for p in phrases if p]
    return " ".join([p if p[-1] in ".!?,;:" else p + "." for p in phrases[:-1]] + phrases[-1:])


class SpeechText:
    """The speech text of a stream of chunks, one call per chunk, in order.

    It remembers whether a fenced code block (```` ``` ```` or ``~~~``) is open: the chunk that
    opens one says ``code_placeholder`` (once per block), the chunks inside say nothing, and speech
    resumes after the closing fence. Call :meth:`reset` (or make a new one) for a new reply.
    """

    def __init__(self, code_placeholder: str = DEFAULT_CODE_PLACEHOLDER):
        self.code_placeholder = code_placeholder
        self.in_code = False
        self.in_marker = False

    def reset(self) -> None:
        self.in_code = False
        self.in_marker = False

    def _drop_markers(self, chunk: str) -> str:
        """Remove ``[error: ...]`` and the like; one left open goes on into the next chunks."""
        if self.in_marker:
            end = chunk.find("]")
            if end < 0:
                return ""
            chunk, self.in_marker = chunk[end + 1 :], False
        chunk = _MARKER.sub(" ", chunk)
        opened = _MARKER_OPEN.search(chunk)
        if opened:
            chunk, self.in_marker = chunk[: opened.start()], True
        return chunk

    def __call__(self, chunk: str) -> str:
        chunk = self._drop_markers(chunk)
        spoken: list[str] = []
        for i, part in enumerate(_FENCE.split(chunk)):
            if i:  # a fence before this part
                self.in_code = not self.in_code
                if self.in_code and self.code_placeholder:
                    spoken.append(self.code_placeholder)
            if not self.in_code:
                spoken.extend(_speak_line(line) for line in part.splitlines())
        return _join_phrases(spoken)


def to_speech(text: str, code_placeholder: str = DEFAULT_CODE_PLACEHOLDER) -> str:
    """``text`` (a chunk, or a whole reply) as a person would say it; ``""`` if nothing is speakable.

    Stateless: a code fence opened in ``text`` ends with it. For a stream of chunks use
    :class:`SpeechText`, which carries an open code block from one chunk to the next.
    """
    return SpeechText(code_placeholder)(text)
