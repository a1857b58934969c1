"""Term lists: words, phrases and bounded regexes matched on normalized text, reported at their
offsets in the original text."""
from __future__ import annotations

import time

import pytest
import regex

from mmservice.lists.terms import TermItem, TermMatcher, validate_item


def hits(m: TermMatcher, text: str) -> list[tuple[str, str]]:
    found = m.match(text).hits
    for h in found:
        assert text[h.start:h.end] == h.matched
    return [(h.item_id, h.matched) for h in found]


@pytest.fixture(scope="module")
def matcher() -> TermMatcher:
    return TermMatcher([
        TermItem("w1", "word", "idiot", "insults"),
        TermItem("w2", "word", "ass", "insults"),
        TermItem("w3", "word", "good", "insults"),
        TermItem("p1", "phrase", "kill you", "threats"),
        TermItem("r1", "regex", r"\bbuy (cheap|free) \w+", "spam"),
    ])


@pytest.mark.parametrize("text,expected", [
    ("you 1d10t!", [("w1", "1d10t")]),
    ("you i d i o t", [("w1", "i d i o t")]),
    ("уоu іdіоt", [("w1", "іdіоt")]),  # Cyrillic look-alikes
    ("ＩＤＩＯＴ", [("w1", "ＩＤＩＯＴ")]),  # full-width
    ("i\u200bdiot", [("w1", "i\u200bdiot")]),  # zero-width space inside
    ("total idiooooot", [("w1", "idiooooot")]),
    ("two idiots", [("w1", "idiots")]),  # plural s
    ("I.D.I.O.T", [("w1", "I.D.I.O.T")]),
    ("first class", []),  # whole words only
    ("assassin passes", []),
    ("smart @ss", [("w2", "@ss")]),
    ("god", []),  # a double letter in the item needs two in the text
    ("gooood", [("w3", "gooood")]),
    ("I will K.I.L.L   you", [("p1", "K.I.L.L   you")]),
    ("kill. You", []),
    ("so I will kill y o u now", [("p1", "kill y o u")]),  # a phrase across a joined word
    ("the i d i o t s and more", [("w1", "i d i o t s")]),  # a sentence end breaks a phrase
    ("skill you", []),
])
def test_variants_hit_at_original_offsets(matcher, text, expected):
    assert hits(matcher, text) == expected


def test_offsets_several_hits_lists_and_regex(matcher):
    text = "Hey 1D10T,\n I'll KILL YOU!! Buy  FREE pills, idiot."
    found = matcher.match(text).hits
    assert [(h.list_id, h.item_id, text[h.start:h.end]) for h in found] == [
        ("insults", "w1", "1D10T"), ("threats", "p1", "KILL YOU"),
        ("spam", "r1", "Buy  FREE pills"), ("insults", "w1", "idiot")]
    assert found[0].start == 4 and found[0].end == 9
    assert matcher.match(text, first_only=True).hits[0].item_id == "w1"


def test_validation_refuses_unsafe_or_empty_items():
    assert validate_item("regex", r"(a+)+$") and "unsafe" in validate_item("regex", r"(a+)+$")
    assert "unsafe" in validate_item("regex", r"(\w*)*x")
    assert "backreference" in validate_item("regex", r"(\w+) \1")
    assert "unsafe" in validate_item("regex", r"(a|aa)+$")  # too slow on a hostile probe
    assert "repeat bounds" in validate_item("regex", r"a{1,5000}")
    assert "invalid" in validate_item("regex", "(unclosed")
    assert "empty" in validate_item("regex", "x*")
    assert validate_item("regex", r"\bkill\w{0,3} (you|him)\b") is None
    assert validate_item("word", "!!!") and validate_item("word", "  ")
    assert "phrase" in validate_item("word", "two words")
    assert validate_item("phrase", "two words") is None
    assert validate_item("color", "x")
    with pytest.raises(ValueError, match="'bad'.*unsafe"):
        TermMatcher([TermItem("bad", "regex", r"(a+)+$")])


def test_a_slow_regex_times_out_instead_of_hanging():
    m = TermMatcher([TermItem("ok", "word", "spam")], regex_timeout=0.05)
    # bypass validation on purpose: the timeout is the last line of defence
    # (letter runs are capped at two by the normalizer, so "a" * 5000 would be harmless)
    slow = TermItem("slow", "regex", r"(\w|\w\w)+$")
    assert validate_item(slow.kind, slow.value)
    m._regexes.append((slow, regex.compile(slow.value), ""))
    start = time.monotonic()
    result = m.match("spam " + "ab" * 2000 + " b")
    assert time.monotonic() - start < 5
    assert result.timed_out == ["slow"] and [h.item_id for h in result.hits] == ["ok"]


def test_many_items_share_words():
    items = [TermItem(f"i{n}", "phrase", f"bad thing {n}") for n in range(50)]
    items.append(TermItem("w", "word", "bad"))
    m = TermMatcher(items)
    assert m.size == 51
    assert hits(m, "a bad thing 7 here") == [("w", "bad"), ("i7", "bad thing 7")]
