"""Word error rate and its normalisation."""

from __future__ import annotations

import pytest

from voicecli.text.wer import corpus_wer, edit_distance, normalize, number_words, wer


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (99, "ninety nine"), (100, "one hundred"),
    (105, "one hundred five"), (1250, "one thousand two hundred fifty"), (2_000_000, "two million"),
])
def test_number_words(n, words):
    assert number_words(n) == words


def test_normalize_case_punctuation_numbers():
    assert normalize("Set a timer for 10 minutes!") == "set a timer for ten minutes".split()
    assert normalize("It's 1,250 km -- well-known & 5% off.") == (
        "it's one thousand two hundred fifty km well known and five percent off".split())
    assert normalize("'Quoted' words") == ["quoted", "words"]
    assert normalize("") == []


def test_edit_distance_counts_each_kind_of_error():
    assert edit_distance("a b c".split(), "a b c".split()) == 0
    assert edit_distance("a b c".split(), "a x c".split()) == 1  # substitution
    assert edit_distance("a b c".split(), "a c".split()) == 1  # deletion
    assert edit_distance("a b c".split(), "a b c d".split()) == 1  # insertion
    assert edit_distance([], "a b".split()) == 2


def test_wer():
    assert wer("Set a timer for ten minutes.", "set a timer for 10 minutes") == 0.0
    assert wer("a b c d", "a x c") == pytest.approx(0.5)
    assert wer("what is it", "what's it") == pytest.approx(2 / 3)  # a contraction is a difference
    assert wer("hello", "hello hello hello") == pytest.approx(2.0)  # insertions can exceed 1
    assert wer("", "") == 0.0
    assert wer("", "something") == 1.0


def test_corpus_wer_weighs_by_reference_length():
    pairs = [("one two three four five six seven eight nine ten", "one two three four five six seven eight nine ten"),
             ("hello", "goodbye")]
    assert corpus_wer(pairs) == pytest.approx(1 / 11)
    assert corpus_wer([]) == 0.0
