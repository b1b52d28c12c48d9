"""Speech text: what the TTS is given for each chunk, versus what is shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicecli.text.chunking import STRATEGIES, chunk_stream, make_chunker
from voicecli.text.speech import DEFAULT_CODE_PLACEHOLDER, SpeechText, to_speech

CASES = {
    "heading": [("## Ingredients", "Ingredients"), ("# Summary of results", "Summary of results")],
    "bullet": [("- Eggs", "Eggs"), ("* Milk and bread", "Milk and bread"), ("• Butter", "Butter"), ("- [x] Done task", "Done task")],
    "numbered": [("1. Preheat the oven.", "1. Preheat the oven."), ("2) Mix it", "2. Mix it")],
    "emphasis": [("**Bold** and *italic* and __strong__ and ~~gone~~", "Bold and italic and strong and gone"),
                 ("**Note:** read this", "Note: read this"), ("snake_case_name stays _readable_", "snake case name stays readable")],
    "inline code": [("Run `pip install voicecli` now.", "Run pip install voicecli now.")],
    "link": [("See [the docs](https://docs.python.org/3/) for more.", "See the docs for more."),
             ("Visit https://www.example.com/path?x=1.", "Visit example.com."),
             ("![a diagram](img.png)", "a diagram"), ("[the", "the"), ("guide](https://x.org/g).", "guide.")],
    "quote and table": [("> Quoted words", "Quoted words"), ("| Name | Age |", "Name, Age"), ("|---|:---:|", "")],
    "emoji": [("Great job! 🎉🎉", "Great job!"), ("✅ Done", "Done"), ("I ❤️ tea", "I tea"), ("👍🏽", ""), ("★★★★☆ rating", "rating")],
    "symbols": [("Tom & Jerry", "Tom and Jerry"), ("It rose 50% today", "It rose 50 percent today"),
                ("Paris → London", "Paris to London"), ("→ Next step", "Next step"), ("It is 25°C", "It is 25 degrees Celsius"),
                ("2 + 2 = 4", "2 plus 2 equals 4"), ("5–6 hours", "5 to 6 hours"), ("#1 hit", "number 1 hit"),
                ("Mail me@example.com", "Mail me at example.com"), ("about ~5 minutes", "about 5 minutes"),
                ("~5 minutes", "about 5 minutes"), ("C# code", "C sharp code")],
    "abbreviations": [("Fruit, e.g. apples, i.e. food", "Fruit, for example apples, that is food"),
                      ("Apples, pears, etc.", "Apples, pears, et cetera."), ("Cats vs. dogs", "Cats versus dogs")],
    "kept as is": [("It is 391.", "It is 391."), ("Pi is 3.14 and 1,000 is a thousand.", "Pi is 3.14 and 1,000 is a thousand."),
                   ("Version v2.0.1 shipped.", "Version v2.0.1 shipped."), ("COVID-19 and Phil. 4:8", "COVID-19 and Phil. 4:8"),
                   ("Malcolm X and Part I", "Malcolm X and Part I"), ("It was 2m wide", "It was 2m wide")],
    "nothing to say": [("---", ""), ("-", ""), ("##", ""), ("***", ""), ("<br>", ""), ("", ""), ("🎉", ""), ("| |", "")],
}


# Numbers with what they measure, said as words (voicecli.text.normalize); the display keeps the original.
SPOKEN = {
    "temperature": [("It is 21C (70F) today.", "It is 21 degrees Celsius, or 70 degrees Fahrenheit, today."),
                    ("It is -5°C.", "It is minus 5 degrees Celsius."), ("Normal is 98.6 °F.", "Normal is 98.6 degrees Fahrenheit."),
                    ("Just 1°C warmer", "Just 1 degree Celsius warmer"), ("It is 25°C", "It is 25 degrees Celsius")],
    "currency": [("It costs $29.95.", "It costs 29 dollars and 95 cents."), ("Only $1.", "Only 1 dollar."), ("It is $0.99.", "It is 99 cents."),
                 ("They raised $5 million.", "They raised 5 million dollars."), ("It was $2.5bn.", "It was 2.5 billion dollars."),
                 ("Tea is £3.50.", "Tea is 3 pounds and 50 pence."), ("Pay €12.50 now", "Pay 12 euros and 50 cents now"),
                 ("Pay 100 EUR", "Pay 100 euros"), ("A ¥500 coin", "A 500 yen coin"), ("$1,200 rent", "1,200 dollars rent")],
    "percentage": [("It rose 50% today", "It rose 50 percent today"), ("Rates of 10–20%", "Rates of 10 to 20 percent"),
                   ("Only 4.5% left", "Only 4.5 percent left")],
    "time": [("Meet at 10:30.", "Meet at ten thirty."), ("At 10:05 p.m.", "At ten oh five p.m."), ("At 9am.", "At nine a.m."),
             ("Open 9 a.m. to 5 p.m.", "Open nine a.m. to five p.m."), ("At 7:00 sharp", "At seven o'clock sharp"),
             ("The 14:30 train", "The fourteen thirty train"), ("A 16:9 screen", "A 16:9 screen")],
    "date": [("On 2024-05-01 we met.", "On May first, twenty twenty-four we met."), ("Due May 5, 2024.", "Due May fifth, twenty twenty-four."),
             ("On 5 May 2024.", "On the fifth of May, twenty twenty-four."), ("The 4th of July.", "The fourth of July."),
             ("Since Jan. 3", "Since January third"), ("Sept. 11, 2001", "September eleventh, two thousand and one")],
    "year": [("It was built in 1984.", "It was built in nineteen eighty-four."), ("Music of the 1990s", "Music of the nineteen nineties"),
             ("In 2024, sales rose.", "In twenty twenty-four, sales rose."), ("From 1990-2000 it grew.", "From nineteen ninety to two thousand it grew."),
             ("1984 people came", "1984 people came")],
    "fraction": [("Add 3/4 cup.", "Add three quarters cup."), ("Add 1 1/2 cups.", "Add 1 and a half cups."), ("Add ½ tsp", "Add one half tsp"),
                 ("About 2/3 of us", "About two thirds of us"), ("Open 24/7", "Open twenty-four seven"), ("Use 5/8 inch", "Use five eighths inch"),
                 ("On 5/8/2024", "On 5/8/2024")],
    "range": [("Wait 5-6 hours.", "Wait 5 to 6 hours."), ("Read pages 10–12.", "Read pages 10 to 12."), ("Won 3-2", "Won 3 to 2"),
              ("Compute 10 - 5", "Compute 10 - 5")],
    "ordinal": [("The 21st century", "The twenty-first century"), ("She came 2nd.", "She came second."), ("The 3rd time", "The third time"),
                ("The 11th hour", "The eleventh hour"), ("A 1th typo", "A 1th typo")],
    "unit": [("Run 5km.", "Run 5 kilometers."), ("Drive at 60 mph", "Drive at 60 miles per hour"), ("It weighs 1 kg", "It weighs 1 kilogram"),
             ("A 2 GB file", "A 2 gigabytes file"), ("I am 5 ft tall", "I am 5 feet tall"), ("Wait 30 min", "Wait 30 minutes"),
             ("A 100 m sprint", "A 100 meters sprint"), ("It is 17 x 23", "It is 17 times 23")],
    "roman numeral": [("Henry VIII had six wives.", "Henry the Eighth had six wives."), ("World War II ended.", "World War Two ended."),
                      ("Queen Elizabeth II", "Queen Elizabeth the Second"), ("Louis XIV built it", "Louis the Fourteenth built it"),
                      ("Pope John Paul II", "Pope John Paul the Second"), ("Super Bowl LVIII", "Super Bowl Fifty-eight"),
                      ("Type II diabetes", "Type Two diabetes"), ("Henry V", "Henry the Fifth")],
    "phone": [("Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
              ("Call (555) 765-4321 now", "Call five five five, seven six five, four three two one now"),
              ("Dial 555-1234", "Dial five five five, one two three four"), ("Or 555.123.4567", "Or five five five, one two three, four five six seven")],
    "internal marker": [("[error: 17 * 23 = 406]", ""), ("The calculate tool says: 391. [result of calculate: 391]", "The calculate tool says: 391."),
                        ("[calling calculate({})] Sure.", "Sure."), ("Fine [interrupted by the user]", "Fine"),
                        ("Keep [these] brackets", "Keep these brackets")],
}


@pytest.mark.parametrize(("category", "shown", "said"), [(c, a, b) for c, pairs in CASES.items() for a, b in pairs])
def test_to_speech(category, shown, said):
    assert to_speech(shown) == said


@pytest.mark.parametrize(("category", "shown", "said"), [(c, a, b) for c, pairs in SPOKEN.items() for a, b in pairs])
def test_numbers_and_units_are_said_as_words(category, shown, said):
    assert to_speech(shown) == said
    assert to_speech(said) == said  # stable: nothing left to rewrite


def test_an_internal_marker_split_across_chunks_is_never_spoken():
    speech = SpeechText()
    said = [speech(c) for c in ["[error: 17 * 23", "= 406]", "So it is 391.", "[result of", "calculate: 391] Done."]]
    assert said == ["", "", "So it is 391.", "", "Done."]
    speech.reset()
    assert speech("done] now") == "done now"  # a new reply: nothing is open


def test_code_block_across_chunks_is_announced_once_and_skipped():
    speech = SpeechText()
    said = [speech(c) for c in ["Here is the code:", "```python", "def f(x):", "return x * 2 # double", "```", "That doubles it."]]
    assert said == ["Here is the code:", DEFAULT_CODE_PLACEHOLDER, "", "", "", "That doubles it."]
    assert speech("```") == DEFAULT_CODE_PLACEHOLDER  # a second block is announced again
    assert speech("print(1)") == ""
    speech.reset()
    assert speech("print(1)") == "print(1)"


def test_code_placeholder_is_configurable_and_can_be_silent():
    assert SpeechText("I put the code on screen.")("```js") == "I put the code on screen."
    assert SpeechText("")("```js") == ""


def test_to_speech_on_a_whole_reply_keeps_lines_apart():
    reply = "# Title\nSome text\n- first\n- second\n```\nx = 1\n```\nBye"
    assert to_speech(reply) == "Title. Some text. first. second. (code omitted). Bye"


REPLIES = [json.loads(line)["text"] for line in (Path(__file__).parent / "data" / "chunking_corpus.jsonl").read_text().splitlines()
           if json.loads(line)["category"] in ("markdown", "llm")]
MARKUP = re.compile(r"\*|`|#|\]\(|^\s*[-•]\s|https?://|\|")


@pytest.mark.parametrize("name", STRATEGIES)
def test_chunked_markdown_replies_are_spoken_without_markup(name):
    for reply in REPLIES:
        speech = SpeechText()
        said = [speech(chunk) for chunk in chunk_stream([reply], make_chunker(name))]
        assert not any(MARKUP.search(s) for s in said), said
        assert all(s == s.strip() and "  " not in s for s in said)
        if "```" in reply:
            assert said.count(DEFAULT_CODE_PLACEHOLDER) == 1
            assert not any("3.5" in s or "print(" in s for s in said)  # the code itself is not read


PIECES = ["**", "*", "_", "`", "# ", "- ", "1. ", "[a](http://b.c/d)", "https://e.f/g", "🎉", "✓", "→", "&", "50%",
          "$9.99", "word", "Dr.", "e.g.", "(", ")", '"', "|", "~", ">", "°C", "---", "\n", " ", " "]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join))
def test_speech_text_is_clean_and_stable(text):
    said = to_speech(text)
    assert said == said.strip() and "  " not in said
    assert not re.search(r"[*`#|~<>\[\]]", said)
    assert said == "" or re.search(r"\w", said)
    assert to_speech(said) == said  # nothing left to clean


# Round trip on a sample: Piper says the speech text, Whisper writes down what it heard. Whisper
# writes numbers its own way ("1984", "$29.95", "8th"), so each case names what must be heard, in
# any of the forms Whisper may write it. Whisper runs its library default here (the 30 s window):
# the fast short-window path repeats itself on some of these ("Henry the 886 wise."). Piper's
# synthesis is sampled (VITS noise), so the audio differs from run to run: the patterns allow for it.
ROUND_TRIP = [
    ("It is 21C (70F) today.", [r"degrees? celsius", r"fahrenheit", r"\b(21|twenty.one)\b", r"\b(70|seventy)\b"]),
    ("It costs $29.95.", [r"\b(29|twenty.nine)\b", r"(95|ninety.five)"]),
    ("Henry VIII had six wives.", [r"henry.{0,6}(8|eight|viii)"]),  # Whisper tiny writes "VIII", "v8", "the 8th"
    ("World War II ended.", [r"war (two|2|ii)\b"]),
    ("Meet at 10:05.", [r"10[.:]?05|\b(10|ten)\b.{0,3}\b(oh|o|0)\b.?(5|five)\b"]),
    ("Add 3/4 cup of milk.", [r"(three|3).quarters?|3/4|¾"]),
    ("Call 555-123-4567 now.", [r"5\D{0,3}5\D{0,3}5\D{0,3}1\D{0,3}2\D{0,3}3\D{0,3}4\D{0,3}5\D{0,3}6\D{0,3}7|five five five"]),
    ("Run 5km today.", [r"kilomet"]),
    ("It was built in 1984.", [r"1984|nineteen eighty.four"]),
    ("It is the 21st century.", [r"21st|twenty.first"]),
]


@pytest.mark.models
def test_speech_text_round_trips_through_piper_and_whisper():
    from voicecli.config import resolve_model
    from voicecli.engine.types import Audio
    from voicecli.stt import WhisperSTT
    from voicecli.tts import PiperTTS

    tts = PiperTTS(resolve_model("tts").require())
    stt = WhisperSTT(resolve_model("stt").require())
    missed = []
    for shown, heard in ROUND_TRIP:
        said = to_speech(shown)
        assert said != shown  # the sample is made of things the normalisation rewrites
        attempts = []
        for _ in range(3):  # Piper samples (VITS noise): one of three takes heard right is a right wording
            text = stt.transcribe_result(Audio(tts.synthesize(said), tts.sample_rate), fast=False).text.lower()
            attempts.append((text, [p for p in heard if not re.search(p, text)]))
            if not attempts[-1][1]:
                break
        else:
            missed.append((shown, said, attempts))
    assert missed == []
