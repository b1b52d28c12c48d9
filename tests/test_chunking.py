"""Chunking strategies: table-driven cases per category and strategy, the regression corpus,
property tests (no text lost, no empty chunk, same chunks whatever the delta cuts, no mid-word
split), latency (a chunk comes out of the feed call that completes it), max_chars, errors, and the
sync/async wrappers."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecli.bench.baselines import ALL_STRATEGIES
from voicecli.bench.baselines import make_bench_chunker as make_chunker
from voicecli.chunking import make_chunker as public_make_chunker
from voicecli.engine.types import Chunker
from voicecli.errors import VoicecliError
from voicecli.text.chunking import (
    STRATEGIES,
    achunk_stream,
    boundary_kind,
    chunk_stream,
    default_options,
)

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "chunking_corpus.jsonl").read_text().splitlines() if line.strip()]
REAL = [c for c in ALL_STRATEGIES if not c.startswith("seed")]


def chunks(name: str, text: str, sizes: list[int] | None = None, **options) -> list[str]:
    """Feed ``text`` cut into pieces of the given sizes (cycled; default: one piece)."""
    chunker = make_chunker(name, **options)
    out: list[str] = []
    i, k = 0, 0
    while i < len(text):
        size = sizes[k % len(sizes)] if sizes else len(text)
        out += chunker.feed(text[i : i + size])
        i, k = i + size, k + 1
    return out + chunker.flush()


def normalised(text: str) -> str:
    return " ".join(text.split())


def cut_points(text: str, result: list[str]) -> list[int]:
    """Word counts after which ``result`` cuts ``text`` (texts with spaces between words)."""
    points, n = [], 0
    for chunk in result[:-1]:
        n += len(chunk.split())
        points.append(n)
    return points


# --- Table-driven: each category, each strategy -------------------------------------------------

# (category, text, the sentences). Sentence cuts exactly there; phrase and adaptive cut only at
# those sentence ends or after a clause mark; word emits exactly the words.
TABLE = [
    ("abbreviation", "Dr. Smith met Mr. Jones on Main St. near the U.S. border. They talked.",
     ["Dr. Smith met Mr. Jones on Main St. near the U.S. border.", "They talked."]),
    ("abbreviation", "Bring snacks, e.g. nuts, i.e. protein, vs. candy, etc. and water. Then go.",
     ["Bring snacks, e.g. nuts, i.e. protein, vs. candy, etc. and water.", "Then go."]),
    ("abbreviation", "See Fig. 4 and No. 12 in the report. It was fine.", ["See Fig. 4 and No. 12 in the report.", "It was fine."]),
    ("initials", "The book by J. K. Rowling sold well. Readers loved it.", ["The book by J. K. Rowling sold well.", "Readers loved it."]),
    ("time", "We open at 9 a.m. and close at 5 p.m. every day. At 10:30 we rest.", ["We open at 9 a.m. and close at 5 p.m. every day.", "At 10:30 we rest."]),
    ("time", "The shop closes at 5 p.m. Come early.", ["The shop closes at 5 p.m.", "Come early."]),
    ("decimal", "The value 3.14 is close to pi. So is 22.7 divided by 7.23 roughly.", ["The value 3.14 is close to pi.", "So is 22.7 divided by 7.23 roughly."]),
    ("price", "It costs $29.95 today. Tomorrow it is $35.", ["It costs $29.95 today.", "Tomorrow it is $35."]),
    ("version", "Install version 1.2.3 now. Then upgrade to 2.0.", ["Install version 1.2.3 now.", "Then upgrade to 2.0."]),
    ("phone", "Call 555.123.4567 or (555) 765-4321 today. We answer fast.", ["Call 555.123.4567 or (555) 765-4321 today.", "We answer fast."]),
    ("url", "Go to https://example.com/a.b?c=1 for help. Or mail help@example.org.", ["Go to https://example.com/a.b?c=1 for help.", "Or mail help@example.org."]),
    ("filename", "Edit main.py and notes.txt first. Then run it.", ["Edit main.py and notes.txt first.", "Then run it."]),
    ("ellipsis", "I think... no, wait... Yes! That works.", ["I think... no, wait...", "Yes!", "That works."]),
    ("quote", 'She said "Go home. Now." Then she left. "Why?" he asked.', ['She said "Go home. Now."', "Then she left.", '"Why?" he asked.']),
    ("bracket", "The plan (see p. 4. It is long.) works well. We start now.", ["The plan (see p. 4. It is long.) works well.", "We start now."]),
    ("terminator", "Really?! Wow... Amazing!!! Is it true??", ["Really?!", "Wow...", "Amazing!!!", "Is it true??"]),
    ("closing", 'He said "Done." Then he slept. (It was late.) Good night.', ['He said "Done."', "Then he slept.", "(It was late.)", "Good night."]),
    ("year", "It happened in 1980. Then it changed in 1995. 12 years later, it ended.", ["It happened in 1980.", "Then it changed in 1995.", "12 years later, it ended."]),
    ("newline", "Things to buy:\n- Milk\n- Bread\n\nThat is all", ["Things to buy:", "- Milk", "- Bread", "That is all"]),
]


@pytest.mark.parametrize(("category", "text", "sentences"), TABLE, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TABLE)])
def test_sentence_strategy_cuts_exactly_at_sentence_ends(category, text, sentences):
    assert chunks("sentence", text) == sentences


@pytest.mark.parametrize(("category", "text", "sentences"), TABLE, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TABLE)])
def test_word_strategy_emits_whole_words_with_their_punctuation(category, text, sentences):
    words = text.split()
    expected = []
    for w in words:  # a list marker belongs with the word after it
        if expected and expected[-1] == "-":
            expected[-1] += " " + w
        else:
            expected.append(w)
    assert chunks("word", text) == expected


@pytest.mark.parametrize("name", ["phrase", "adaptive"])
@pytest.mark.parametrize(("category", "text", "sentences"), TABLE, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TABLE)])
def test_phrase_and_adaptive_never_cut_where_the_sentence_rules_protect(name, category, text, sentences):
    allowed = set(cut_points(text, sentences))
    words = text.split()
    allowed |= {i + 1 for i, w in enumerate(words) if w.rstrip("\"')”").endswith((",", ";", ":"))}
    result = chunks(name, text)
    cuts = cut_points(text, result)
    if name == "adaptive":  # its first chunk may end at any word, after a few words
        cuts = cuts[1:]
    assert set(cuts) <= allowed, result
    assert " ".join(result) == normalised(text)


def test_phrase_cuts_at_clauses_once_min_chars_accumulated():
    text = "Yes, of course, I can help with that, and with more; just ask. Okay."
    assert chunks("phrase", text) == ["Yes, of course, I can help with that,", "and with more; just ask.", "Okay."]
    assert chunks("phrase", text, min_chars=5) == ["Yes, of course,", "I can help with that,", "and with more;", "just ask.", "Okay."]


def test_phrase_never_cuts_inside_numbers_with_commas_or_colons():
    text = "About 1,000,000 people came at 10:30, which was a record for the city."
    assert chunks("phrase", text) == ["About 1,000,000 people came at 10:30,", "which was a record for the city."]


def test_adaptive_first_chunk_is_the_first_clause_or_a_few_words():
    assert chunks("adaptive", "Sure, here is the answer you need. It is long.")[0] == "Sure,"
    first = chunks("adaptive", "The capital city of the country is Paris, which is nice.")[0]
    assert first == "The capital city"  # three words
    assert chunks("adaptive", "The capital city of the country is Paris.", first_max_words=2)[0] == "The capital"


def test_adaptive_grows_from_a_clause_to_whole_sentences():
    text = ("Sure, I can do that. First, open the settings menu, then pick a theme, and save it. "
            "Next, restart the app, and you are done.")
    assert chunks("adaptive", text) == [
        "Sure,",
        "I can do that.",
        "First, open the settings menu, then pick a theme, and save it.",
        "Next, restart the app, and you are done.",
    ]
    # With more clause chunks, the third chunk may also end at a (long enough) clause.
    assert chunks("adaptive", text, clause_chunks=2)[2] == "First, open the settings menu,"


def test_adaptive_first_min_chars_skips_a_tiny_first_clause():
    assert chunks("adaptive", "Oh, that is a good question, really.")[0] == "Oh,"
    assert chunks("adaptive", "Oh, that is a good question, really.", first_min_chars=10)[0] == "Oh, that is a good"


def test_seed_sentence_baseline_splits_naively():
    """The baseline the benchmark compares against: it does split after "Dr." and "1."."""
    assert chunks("seed-sentence", "Dr. Smith is here. Bye.") == ["Dr.", "Smith is here.", "Bye."]
    assert chunks("seed-phrase", "Hello, world. This is a longer clause, right? Yes.") == [
        "Hello, world. This is a longer clause,",
        "right? Yes.",
    ]


# --- The regression corpus --------------------------------------------------------------------------


def test_corpus_is_big_and_covers_the_categories():
    assert len(CORPUS) >= 60
    categories = {c["category"] for c in CORPUS}
    assert {"abbreviation", "initials", "decimal", "price", "version", "time", "phone", "url", "filename",
            "ellipsis", "quote", "bracket", "newline", "fullwidth", "markdown", "llm"} <= categories


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_expected_chunks(case):
    for name in STRATEGIES:
        if name in case:
            assert chunks(name, case["text"]) == case[name], name
            assert chunks(name, case["text"], sizes=[1]) == case[name], name


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_invariants_for_every_strategy(case):
    text = case["text"]
    tight = bool(re.search(r"[。！？，、；：][」』）”]*\S", text))  # boundaries with no space after them
    for name in ALL_STRATEGIES:
        result = chunks(name, text)
        assert all(c and c == c.strip() for c in result), name
        if tight:
            assert "".join(result).replace(" ", "") == "".join(text.split()), name
        else:
            assert " ".join(result) == normalised(text), name
        for sizes in ([1], [3, 1, 7], [10, 2]):
            assert chunks(name, text, sizes=sizes) == result, (name, sizes)


# --- Property tests -------------------------------------------------------------------------------

TRICKY = [
    "Dr.", "Mr.", "e.g.", "i.e.", "etc.", "a.m.", "p.m.", "U.S.", "Fig.", "No.", "vs.", "J.", "Inc.",
    "3.14", "$29.95", "v2.0.1", "10:30", "555-1234", "https://x.org/a.b", "notes.txt", "1980.",
    "wait...", "what?!", "Yes!", "Why?", "…", "(see", "it.)", '"Stop.', 'now."', "“Hi,”", "**bold**",
    "`code`", "[link](http://a.b)", "- ", "1. ", "## ", "🎉", "1,000", "Paris,", "hello;", "note:",
    "The", "cat", "sat", "on", "the", "mat", "Then", "and", "it", "ran", "fast", "Sure", "I", "can", "help",
]
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", "\n\n", " \n ", "\t"]


@st.composite
def texts(draw) -> str:
    words = draw(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=40))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(words), max_size=len(words)))
    text = draw(st.sampled_from(["", " ", "\n"])) + "".join(w + s for w, s in zip(words, seps, strict=True))
    return text.rstrip() if draw(st.booleans()) else text  # with or without trailing whitespace


real_texts = st.sampled_from([c["text"] for c in CORPUS if not re.search(r"[。！？，、；：]", c["text"])])
any_text = st.one_of(texts(), real_texts)
cuts = st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=30)
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(name=st.sampled_from(ALL_STRATEGIES), text=any_text, sizes=cuts)
def test_same_chunks_whatever_the_delta_cuts(name, text, sizes):
    assert chunks(name, text, sizes=sizes) == chunks(name, text)


@PROPS
@given(name=st.sampled_from(ALL_STRATEGIES), text=any_text, sizes=cuts)
def test_no_text_lost_no_empty_chunk_no_mid_word_split(name, text, sizes):
    result = chunks(name, text, sizes=sizes)
    assert all(c.strip() for c in result)
    assert all(c == normalised(c) for c in result)
    assert " ".join(result) == normalised(text)
    # Every chunk is made of whole words of the input: a split word would change the word list.
    assert [w for c in result for w in c.split()] == text.split()


@PROPS
@given(name=st.sampled_from(REAL), text=any_text, limit=st.integers(min_value=5, max_value=60), sizes=cuts)
def test_max_chars_bounds_every_chunk(name, text, limit, sizes):
    result = chunks(name, text, sizes=sizes, max_chars=limit)
    assert all(c and c == normalised(c) for c in result)
    assert "".join(result).replace(" ", "") == "".join(text.split())  # a word cut for the limit joins with no space
    if all(len(w) <= limit for w in text.split()):
        assert " ".join(result) == normalised(text)
    for chunk in result:
        assert len(chunk) <= limit, (chunk, limit)
    assert result == chunks(name, text, max_chars=limit)


CLOSING = "\"'”’)]}»*_`~"
ITEM = re.compile(r"[•⁃]?\(?(?:\d{1,3}|[a-zA-Z])(?:\.\)|[.)])\s|[•⁃]\s")


def _emission_feeds(name: str, text: str, **options) -> list[tuple[str, int]]:
    """Feed ``text`` a character at a time; each chunk with the index of the character whose feed
    emitted it (``len(text)`` for flush)."""
    chunker = make_chunker(name, **options)
    out = []
    for i, ch in enumerate(text):
        out += [(c, i) for c in chunker.feed(ch)]
    return out + [(c, len(text)) for c in chunker.flush()]


@PROPS
@given(name=st.sampled_from(REAL), text=any_text, limit=st.sampled_from([None, 25, 60]))
def test_a_chunk_is_emitted_by_the_feed_that_completes_it(name, text, limit):
    """Latency: a chunk comes out no later than the feed that delivers the first non-space
    character after it (or the newline after it). With ``max_chars``, a chunk cut because the text
    grew too long comes out with the character that made it too long (later than that first
    character), so the bound is the later of the two. Never held until flush when text follows."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if limit is not None and spans:  # words cut for the limit: see test_unbroken_text_is_split_at_max_chars
        limit = max(limit, max(b - a for a, b in spans))
    k = 0
    for chunk, fed in _emission_feeds(name, text, max_chars=limit):
        n = len(chunk.split())
        start, end = spans[k][0], spans[k + n - 1][1]
        k += n
        assert fed >= end - 1  # not before it is all there
        following = re.compile(r"\S|\n").search(text, end)
        deadline = following.start() if following else len(text)
        if following and following.group() != "\n" and (chunk.rstrip(CLOSING).endswith((".", "!")) or ITEM.match(text, deadline)):
            # After an abbreviation, an initial or a brand ("U.S." | "Army"/"Then"), or before an item
            # marker ("item" | "2. Next"), the whole next word decides: its end is the deadline.
            nxt = re.compile(r"\s").search(text, deadline)
            deadline = nxt.start() if nxt else len(text)
        if limit is not None:
            too_long = (i for i in range(end, len(text)) if not text[i].isspace() and len(normalised(text[start : i + 1])) > limit)
            deadline = max(deadline, next(too_long, deadline))
        assert fed <= deadline, (chunk, fed, deadline)


def test_a_chunk_cut_for_max_chars_comes_with_the_character_that_makes_it_too_long():
    text = "Dr. Smith will see you now. Please wait."
    emitted = _emission_feeds("sentence", text, max_chars=25)
    assert emitted[0] == ("Dr. Smith will see you", text.index("now") + 2)  # "...you now" is 26


def test_ambiguous_end_waits_for_exactly_the_next_character():
    chunker = make_chunker("sentence")
    assert chunker.feed("It was 1980.") == []
    assert chunker.feed("5") == []  # 1980.5 is a number
    assert chunker.feed(" percent. ") == []  # "percent." might precede "e.g."... or a lowercase word
    assert chunker.feed("T") == ["It was 1980.5 percent."]
    assert chunker.feed("hen.") == []
    assert chunker.flush() == ["Then."]


def test_word_chunk_needs_only_the_space_after_it():
    chunker = make_chunker("word")
    assert chunker.feed("Par") == []
    assert chunker.feed("is") == []
    assert chunker.feed(" ") == ["Paris"]
    assert chunker.feed("is nice.") == ["is"]
    assert chunker.feed(" ") == ["nice."]  # no need to wait for the next word: every word is a cut


def test_newline_ends_a_chunk_at_once():
    chunker = make_chunker("sentence")
    assert chunker.feed("- Milk") == []
    assert chunker.feed("\n") == ["- Milk"]


# --- max_chars ------------------------------------------------------------------------------------


def test_max_chars_prefers_the_last_clause_then_the_last_word():
    text = "This sentence, which is long, goes on and on without any end in sight at all."
    assert chunks("sentence", text, max_chars=40) == ["This sentence, which is long,", "goes on and on without any end in sight", "at all."]


def test_a_word_longer_than_max_chars_is_cut_into_pieces_at_soft_breaks():
    url = "https://example.com/" + "a" * 60
    assert chunks("sentence", f"See {url} now. Ok.", max_chars=30) == ["See", "https://example.com/", "a" * 30, "a" * 30, "now.", "Ok."]
    text = "Visit https://docs.python.org/3/library/functions.html#built-in-functions-and-more today."
    assert chunks("sentence", text, max_chars=40) == [
        "Visit", "https://docs.python.org/3/library/", "functions.html#built-in-functions-and-", "more today."]


@pytest.mark.parametrize("name", REAL)
def test_unbroken_text_is_split_at_max_chars(name):
    """Issue 14: text with no spaces at all was one chunk, however long."""
    for sizes in (None, [1], [7, 300]):
        result = chunks(name, "a" * 5000, sizes=sizes)
        assert result == ["a" * 200] * 25
    assert chunks(name, "x" * 450, max_chars=None) == ["x" * 450]


def test_max_chars_none_means_no_limit():
    text = " ".join(["word"] * 100) + "."
    assert chunks("sentence", text, max_chars=None) == [text]
    assert max(len(c) for c in chunks("sentence", text)) <= default_options("sentence")["max_chars"]


# --- Reuse, helpers, errors, wrappers ------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_STRATEGIES)
def test_a_chunker_is_ready_for_a_new_stream_after_flush(name):
    chunker = make_chunker(name)
    text = "Hello there, Dr. Who. How are you today, my friend? Fine.\n- Item"
    first = [c for d in text for c in chunker.feed(d)] + chunker.flush()
    second = [c for d in text for c in chunker.feed(d)] + chunker.flush()
    assert first == second == chunks(name, text)
    assert chunker.flush() == []


@pytest.mark.parametrize(
    ("chunk", "kind"),
    [("Hello world.", "sentence"), ("Really?!", "sentence"), ('He said "Stop."', "sentence"), ("(It was late.)", "sentence"),
     ("你好。", "sentence"), ("Wait...", "sentence"), ("Sure,", "clause"), ("**Note:**", "clause"), ("one; two;", "clause"),
     ("The capital of", "word"), ("- Milk", "word"), ("3.14", "word")],
)
def test_boundary_kind(chunk, kind):
    assert boundary_kind(chunk) == kind


def test_strategy_lists():
    assert STRATEGIES == ("word", "sentence", "phrase", "adaptive")
    assert set(STRATEGIES) < set(ALL_STRATEGIES) and {"seed-sentence", "seed-phrase"} <= set(ALL_STRATEGIES)
    for name in ALL_STRATEGIES:
        chunker = make_chunker(name)
        assert chunker.name == name
        assert isinstance(chunker, Chunker)  # the stage protocol the pipeline expects


def test_unknown_strategy_names_the_valid_choices():
    with pytest.raises(VoicecliError) as err:
        make_chunker("paragraph")
    assert "paragraph" in err.value.message
    assert all(name in err.value.hint for name in ALL_STRATEGIES)
    with pytest.raises(VoicecliError) as err:  # the user's API offers the four real strategies only
        public_make_chunker("seed-sentence")
    assert all(name in err.value.hint for name in STRATEGIES) and "seed" not in err.value.hint


@pytest.mark.parametrize(
    ("name", "options", "mentions"),
    [("sentence", {"min_chars": 5}, "max_chars"), ("phrase", {"min_chars": -1}, "min_chars"),
     ("adaptive", {"first_max_words": "many"}, "first_max_words"), ("word", {"max_chars": 0}, "max_chars"),
     ("phrase", {"min_chars": True}, "min_chars")],
)
def test_bad_options_are_user_errors(name, options, mentions):
    with pytest.raises(VoicecliError) as err:
        make_chunker(name, **options)
    assert mentions in err.value.one_line()


def test_options_accept_digit_strings_and_case_insensitive_names():
    assert chunks("Phrase", "Hello, wonderful world, again.", min_chars="5") == ["Hello,", "wonderful world,", "again."]


def test_chunk_stream_yields_each_chunk_before_reading_further_deltas():
    consumed = []

    def deltas():
        for d in ["Hello", " there", ".", " How", " are", " you", "?", " Bye", "."]:
            consumed.append(d)
            yield d

    stream = chunk_stream(deltas(), make_chunker("sentence"))
    assert next(stream) == "Hello there."
    assert consumed[-1] == " How"  # the first character after the "." decided it
    assert list(stream) == ["How are you?", "Bye."]


def test_achunk_stream_matches_chunk_stream():
    text = "Sure, I can help. First, do this; then that. Done!"

    async def deltas():
        for i in range(0, len(text), 3):
            await asyncio.sleep(0)
            yield text[i : i + 3]

    async def collect():
        return [c async for c in achunk_stream(deltas(), "adaptive")]

    assert asyncio.run(collect()) == list(chunk_stream([text], "adaptive")) == chunks("adaptive", text)


@pytest.mark.parametrize("text", [
    "The capital of France is Paris.",
    "What I would like to do with all of this is simple.",
    "It was the best of times and the worst of times for them.",
])
def test_adaptive_word_cuts_never_end_on_a_function_word(text):
    from voicecli.text.chunking import WEAK_END_WORDS

    for chunk in chunks("adaptive", text)[:-1]:
        assert chunk.split()[-1].lower().strip(",") not in WEAK_END_WORDS, chunk
