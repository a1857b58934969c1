"""Subtitle formats and text splitting for TTS and moderation."""
from __future__ import annotations

import re

import pytest

from mmservice.media import split_for_moderation, split_sentences, to_srt, to_vtt

SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 1.5, "text": " Hello there."},
    {"id": 1, "start": 62.345, "end": 3725.5, "text": "General Kenobi!"},
    {"id": 2, "start": 3726.0, "end": 3727.0, "text": "   "},  # nothing to show: skipped
]


def test_srt_format():
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n"
        "\n"
        "2\n00:01:02,345 --> 01:02:05,500\nGeneral Kenobi!\n"
    )
    assert to_srt([]) == ""


def test_vtt_format():
    vtt = to_vtt(SEGMENTS + [{"start": 3727.0, "end": 3728.0, "text": "a <b> & c --> d"}])
    assert vtt.startswith("WEBVTT\n\n")
    assert "00:00:00.000 --> 00:00:01.500\nHello there.\n" in vtt
    assert "00:01:02.345 --> 01:02:05.500\nGeneral Kenobi!\n" in vtt
    assert "a &lt;b> &amp; c --&gt; d" in vtt
    assert vtt.count(" --> ") == 3


def test_blank_lines_inside_a_cue_do_not_end_it():
    srt = to_srt([{"start": 0, "end": 1, "text": "one\n\n\ntwo"}])
    assert srt == "1\n00:00:00,000 --> 00:00:01,000\none\ntwo\n"


def words(text: str) -> list[str]:
    return text.split()


def test_split_sentences_packs_whole_sentences():
    sentences = [f"Sentence number {i} says something rather ordinary{'!' if i % 3 else '.'}"
                 for i in range(400)]
    text = " ".join(sentences)
    pieces = split_sentences(text, 4096)
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert all(p.endswith((".", "!")) for p in pieces)
    assert words(" ".join(pieces)) == words(text)
    assert split_sentences("Short one.", 4096) == ["Short one."]
    assert split_sentences("   ", 10) == []


def test_split_falls_back_to_words_then_characters():
    long_sentence = " ".join(f"word{i}" for i in range(300))  # no sentence end at all
    pieces = split_sentences("Intro. " + long_sentence, 100)
    assert pieces[0] == "Intro."
    assert all(len(p) <= 100 for p in pieces)
    assert words(" ".join(pieces)) == words("Intro. " + long_sentence)  # no word was cut
    huge = "x" * 250
    pieces = split_sentences(f"a {huge} b", 100)
    assert all(len(p) <= 100 for p in pieces)
    assert "".join(pieces).replace(" ", "") == f"a{huge}b"


def test_split_handles_quotes_and_cjk():
    text = 'He said "stop." Then he left! ' + "这是第一句。这是第二句！" * 3
    pieces = split_sentences(text, 20)
    assert pieces[0] == 'He said "stop."'
    assert all(len(p) <= 20 for p in pieces)
    assert all(re.search(r"[.!。！]\"?$", p) for p in pieces)


def test_split_for_moderation_uses_lines():
    chat = "\n".join(f"user{i}: hello there friend" for i in range(50))
    pieces = split_for_moderation(chat, 120)
    assert all(len(p) <= 120 for p in pieces)
    assert all(line.startswith("user") for p in pieces for line in p.splitlines())
    assert words(" ".join(pieces)) == words(chat)
    assert split_for_moderation("fits", 100) == ["fits"]


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError):
        split_sentences("text", 0)
