"""`normalize_tracked` is `normalize` with a map back to the original text: same canonical text
and variants (compared on a corpus and on random text), and spans that point at the source."""
from __future__ import annotations

import random

import pytest

from mmservice.moderation.textmatch import normalize
from mmservice.moderation.textmatch.offsets import normalize_tracked

CORPUS = [
    "You are an IDIOT!", "1d10t", "k.i.l.l", "f*ck-ing", "idiooooot", "ｙｏｕ", "уоu",
    "i\u200bdiot", "café crème", "line one\nline two", "2026 and $5", "you are an i d i o t",
    "sooooo goooood.", "we watched Dick Van Dyke films", "Shut Up Dyke", "I'll K.I.L.L you, $h!t!",
    "  \n\n  lead and trail \t\n ", "a\r\nb\u2028c\u3000d\xa0e", "ΑΣ ς", "ﬁne ½ ㄱㅏ 가 e\u0301",
    "", " ", "\n", "#hashtag # . ! ?", "h3ll0 w0rld 1 am here", "x" * 50,
]
ALPHABET = (list("abcdeiklost ") * 5 + list("ABKIL.!?-_*'\n\t\r,;013457@$€£ ")
            + ["\u200b", "é", "е", "ｙ", "ß", "İ", "Σ", "ς", "\u0301", "ㄱ", "ㅏ", "가", "\u2028",
               "\x1c", "ﬁ", "½", "#", "\xa0", "\u3000", "Dick Van Dyke ", " Joe Coon ",
               "k i l l ", "i d i o t"])


def random_texts(n: int, seed: int = 11):
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))


@pytest.mark.parametrize("raw", CORPUS)
def test_same_text_and_variants_as_normalize(raw):
    a, b = normalize(raw), normalize_tracked(raw)
    assert (b.text, b.variants) == (a.text, a.variants)


def test_same_as_normalize_on_random_text_and_spans_stay_inside():
    for raw in random_texts(4000):
        a, b = normalize(raw), normalize_tracked(raw)
        assert (b.text, b.variants) == (a.text, a.variants), raw
        for v, canon in enumerate(b.variants):
            pos = 0
            for tok in canon.split(" "):
                if tok:
                    s, e = b.span(pos, pos + len(tok), v)
                    assert 0 <= s < e <= len(raw), (raw, canon, tok)
                pos += len(tok) + 1


def tokens_back(raw: str, variant: int = 0) -> list[tuple[str, str]]:
    t = normalize_tracked(raw)
    out, pos = [], 0
    for tok in t.variants[variant].split(" "):
        s, e = t.span(pos, pos + len(tok), variant)
        out.append((tok, raw[s:e]))
        pos += len(tok) + 1
    return out


def test_spans_point_at_the_original_words():
    assert tokens_back("You are a 1d10t, really.") == [
        ("you", "You"), ("are", "are"), ("a", "a"), ("idiot", "1d10t"), ("really", "really"),
        ("#", ".")]
    assert tokens_back("hey i d i o t!", 1) == [("hey", "hey"), ("idiot", "i d i o t"),
                                                 ("#", "!")]
    assert tokens_back("K.I.L.L   you") == [("kill", "K.I.L.L"), ("you", "you")]
    assert tokens_back("so idiooooot") == [("so", "so"), ("idioot", "idiooooot")]
    assert tokens_back("уоu аrе dumb") == [("you", "уоu"), ("are", "аrе"), ("dumb", "dumb")]
    assert tokens_back("  ｙｏｕ\u200b re") == [("you", "ｙｏｕ"), ("re", "re")]
