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
                ("Mail me@example.com", "Mail me at example.com"), ("about ~5 minutes", "about about 5 minutes"), ("C# code", "C sharp code")],
    "abbreviations": [("Fruit, e.g. apples, i.e. food", "Fruit, for example apples, that is food"),
                      ("Apples, pears, etc.", "Apples, pears, et cetera."), ("Cats vs. dogs", "Cats versus dogs")],
    "kept as is": [("It costs $29.95.", "It costs $29.95."), ("At 10:30 on 2024-05-01, v2.0.1 shipped.", "At 10:30 on 2024-05-01, v2.0.1 shipped."),
                   ("Call 555-123-4567.", "Call 555-123-4567.")],
    "nothing to say": [("---", ""), ("-", ""), ("##", ""), ("***", ""), ("<br>", ""), ("", ""), ("🎉", ""), ("| |", "")],
}


@pytest.mark.parametrize(("category", "shown", "said"), [(c, a, b) for c, pairs in CASES.items() for a, b in pairs])
def test_to_speech(category, shown, said):
    assert to_speech(shown) == said


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
