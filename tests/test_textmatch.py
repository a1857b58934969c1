"""The shared term-matching pieces: the normalizer, the pattern compiler and the term files."""
from __future__ import annotations

import re
import shutil

import pytest

from mmservice.moderation import terms
from mmservice.moderation.textmatch import (
    NameHints,
    PatternCompiler,
    bounded,
    normalize,
    pattern_regex,
)


def matches(pattern: str, text: str, slots: dict | None = None) -> bool:
    rx = PatternCompiler(slots or {}).compile([pattern])
    return rx.search(normalize(text, NameHints(frozenset(), frozenset())).text) is not None


# ------------------------------------------------------------------------------ normalizer ---

@pytest.mark.parametrize("raw,expected", [
    ("You are an IDIOT!", "you are an idiot #"),
    ("1d10t", "idiot"),
    ("k.i.l.l", "kill"),
    ("f*ck-ing", "fcking"),
    ("idiooooot", "idioot"),
    ("ｙｏｕ", "you"),
    ("уоu", "you"),  # Cyrillic look-alikes
    ("i\u200bdiot", "idiot"),  # zero-width space
    ("café crème", "cafe creme"),
    ("line one\nline two", "line one # line two"),
    ("2026 and $5", "2026 and 5"),
])
def test_normalize_text(raw, expected):
    assert normalize(raw).text == expected


def test_spaced_letters_and_model_inputs():
    n = normalize("you are an i d i o t")
    assert n.variants == ["you are an i d i o t", "you are an idiot"]
    assert "you are an idiot" in n.model_inputs
    long = normalize("sooooo goooood.")
    assert long.text == "soo good #"
    assert "so god" in long.model_inputs  # single-letter reading for the model


def test_names_are_masked_with_the_hints_given():
    hints = NameHints(ambiguous=frozenset({"dyke"}), not_evidence=frozenset({"shut", "up"}))
    assert "dyke" not in normalize("we watched Dick Van Dyke films", hints).text
    assert "dyke" in normalize("Shut Up Dyke", hints).text
    none = NameHints(frozenset(), frozenset())
    assert "dyke" in normalize("we watched Dick Van Dyke films", none).text


# -------------------------------------------------------------------------------- compiler ---

def test_word_forms():
    assert matches("idiot", "you idiots") and matches("idiot", "idioot")
    assert not matches("idiot=", "idiots") and matches("idiot=", "idiot")
    assert matches("kill~", "killing") and matches("kill~", "killers")
    assert matches("masturbat*", "masturbating") and not matches("kill", "skill")
    assert matches("cat", "two cats") and not matches("cat", "catalog")
    assert matches("a|b|cat", "the cat sat") and not matches("a|b|cat", "the dog sat")


def test_sequences_slots_and_optional_tokens():
    slots = {"you": ["you=", "u="], "insult": ["idiot", "{adj} fool"], "adj": ["big", "old"]}
    assert matches("{you} {insult}", "you idiot", slots)
    assert matches("{you} {insult}", "u big fool", slots)
    assert matches("{you} absolute? {insult}", "you absolute idiot", slots)
    assert not matches("{you} {insult}", "you are nice", slots)
    assert matches("(going to|gonna) go", "im gonna go", slots)
    assert matches("level <num>", "on level 3") and not matches("level <num>", "on level x")
    assert matches("in <year>", "in 1999") and not matches("in <year>", "in 1234")
    assert matches("the _ man", "the old man") and not matches("the _ man", "the man")


def test_sentence_start_marker():
    rx = PatternCompiler({}).compile(["# bomb"])
    assert rx.search("# " + normalize("Bomb it. Now").text)
    assert not rx.search("# " + normalize("da bomb").text)


def test_slot_errors_are_clear():
    with pytest.raises(ValueError, match=r"unknown slot \{nope\}"):
        pattern_regex("{nope}", {})
    with pytest.raises(ValueError, match="refers to itself"):
        pattern_regex("{a}", {"a": ["x {b}"], "b": ["{a}"]})
    with pytest.raises(ValueError, match="unbalanced|missing"):
        pattern_regex("(a|b", {})
    with pytest.raises(ValueError, match="missing }"):
        pattern_regex("{a", {"a": ["x"]})


def test_compilers_do_not_share_slots():
    a, b = PatternCompiler({"w": ["cat"]}), PatternCompiler({"w": ["dog"]})
    assert re.fullmatch(a.pattern("{w}"), "cat") and not re.fullmatch(a.pattern("{w}"), "dog")
    assert re.fullmatch(b.pattern("{w}"), "dog") and not re.fullmatch(b.pattern("{w}"), "cat")


def test_bounded_is_word_bounded_and_linear():
    rx = bounded([pattern_regex("kill", {})])
    assert rx.search("i kill") and not rx.search("skill") and not rx.search("killjoyx")
    hostile = normalize("l" * 10_000 + " kill").text  # runs capped at two letters
    assert len(hostile) < 20 and rx.search(hostile)


# ------------------------------------------------------------------------------ term files ---

def test_builtin_lists_load_and_compile():
    t = terms.builtin()
    assert t.version.startswith("terms-") and "harassment" in t.assessed
    assert [r["id"] for r in t.rules][:2] == ["harassment.insult", "harassment.adj_insult"]
    assert all(set(r["scores"]) <= set(t.assessed) for r in t.rules)
    compiler = PatternCompiler(t.slots)
    for r in t.rules:
        compiler.compile(r["patterns"])
    benign = compiler.compile(t.benign)
    assert benign.search(normalize("please kill the process").text)


def _copy_terms(to):
    for f in terms.HERE.glob("*.toml"):
        shutil.copy(f, to / f.name)
    assert terms.load(to) == terms.builtin()


def test_loader_refuses_a_rule_missing_from_the_order(tmp_path):
    _copy_terms(tmp_path)
    with (tmp_path / "illicit.toml").open("a") as f:
        f.write('\n[[rules]]\nid = "illicit.new"\nscores = { illicit = 0.5 }\npatterns = ["x"]\n')
    with pytest.raises(ValueError, match="illicit.new"):
        terms.load(tmp_path)


def test_loader_refuses_a_slot_defined_twice(tmp_path):
    _copy_terms(tmp_path)
    text = (tmp_path / "illicit.toml").read_text()
    twice = text.replace("[slots]\n", '[slots]\nsex_body = ["x"]\n', 1)
    (tmp_path / "illicit.toml").write_text(twice)
    with pytest.raises(ValueError, match=r"slot \{sex_body\} is defined twice"):
        terms.load(tmp_path)
