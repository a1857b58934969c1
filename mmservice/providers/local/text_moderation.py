"""Local text moderation: the built-in term lists, matched on normalized text, plus
alt-profanity-check.

Why both: the profanity model (a linear SVM over a bag of words, shipped in the wheel) knows
offensive language well but nothing else (it cannot tell a threat from a swear word), while the
term lists carry the category structure OpenAI's names need (threats, hate, self-harm intent,
sexual, illicit). The model's probability feeds `harassment` only: fully when the text addresses
someone ("you ..."), at half weight when it does not (swearing about a thing is not harassment).

The normalizer and the pattern compiler live in `mmservice.moderation.textmatch` (tenant lists
match on the same text) and the lists in `mmservice.moderation.terms`; this module holds what
is particular to this engine: which rules matched, how their weights and the model combine, and
the context cues that damp them. Benign phrases ("kill the process", "shoot a photo", "this
slaps") are cut out before any rule or the model sees the text.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from mmservice.moderation.categories import CATEGORIES
from mmservice.moderation.heads import model as heads_model
from mmservice.moderation.terms import TermLists, builtin
from mmservice.moderation.textmatch import PatternCompiler, normalize
from mmservice.moderation.textmatch.normalize import SPACES as _SPACES
from mmservice.moderation.textmatch.normalize import Normalized
from mmservice.providers.base import RawModeration

__all__ = ["LocalTextModeration", "Matcher", "analyse", "matcher", "normalize", "score"]

PROVIDER = "local"

# Someone is addressed: the profanity model's probability then counts fully as harassment.
_TARGET = re.compile(r"(?<![a-z0-9])(?:you|u|ur|your|youre|ya|yall|yourself|urself|thou|thee)"
                     r"(?![a-z0-9])")


@dataclass
class _Rule:
    id: str
    scores: dict[str, float]
    regex: re.Pattern


@dataclass
class _Context:
    id: str
    factor: float
    categories: tuple[str, ...]
    needs_quotes: bool
    regex: re.Pattern


# A quotation: a pair of double quotes (straight, curly, guillemets) or of single quotes that
# open after a space or colon (so apostrophes in "I'll" or "dad's" do not count).
_QUOTED = re.compile(r"[\"\u201c\u201d\u00ab\u00bb\u201e][^\"\u201c\u201d\u00ab\u00bb\u201e]{3,}"
                     r"[\"\u201c\u201d\u00ab\u00bb]|(?:^|[\s:])['\u2018][^'\u2018\u2019]{3,}['\u2019]"
                     r"(?=[\s.,!?;:]|$)")


class Matcher:
    """The compiled term lists. Built once per process, then shared read-only."""

    def __init__(self, terms: TermLists | None = None) -> None:
        terms = builtin() if terms is None else terms
        self.terms = terms
        compiler = PatternCompiler(terms.slots)
        for rule in terms.rules:
            unknown = set(rule["scores"]) - set(terms.assessed)
            if unknown:
                raise ValueError(f"rule {rule['id']} scores unassessed categories {unknown}")
        self.rules = [_Rule(r["id"], dict(r["scores"]), compiler.compile(r["patterns"]))
                      for r in terms.rules]
        self.benign = compiler.compile(terms.benign)
        for c in terms.contexts:
            unknown = set(c["categories"]) - set(terms.assessed)
            if unknown:
                raise ValueError(f"context {c['id']} damps unassessed categories {unknown}")
        self.contexts = [_Context(c["id"], float(c["factor"]), tuple(c["categories"]),
                                  bool(c.get("needs_quotes")), compiler.compile(c["patterns"]))
                         for c in terms.contexts]

    def context(self, cleaned: list[str], quoted: bool) -> dict[str, dict]:
        """-> {context id: {"factor", "categories", "match"}} for the cues found in the text."""
        found: dict[str, dict] = {}
        for ctx in self.contexts:
            if ctx.needs_quotes and not quoted:
                continue
            for text in cleaned:
                m = ctx.regex.search(text)
                if m:
                    found[ctx.id] = {"factor": ctx.factor, "categories": ctx.categories,
                                     "match": m.group(0)}
                    break
        return found

    def match(self, norm: Normalized) -> tuple[dict[str, dict], list[str], list[str]]:
        """-> ({rule id: {"scores", "match"}}, benign phrases cut, texts after the cut)"""
        hits: dict[str, dict] = {}
        benign: list[str] = []
        cleaned: list[str] = []
        for variant in norm.variants:
            for cut in self.benign.finditer(variant):
                if cut.group(0) not in benign:
                    benign.append(cut.group(0))
            # "#" marks where a sentence starts (imperatives: "# bomb the station"); a cut benign
            # phrase leaves "%", a barrier no pattern crosses that is not a sentence start.
            text = "# " + self.benign.sub(" % ", variant)
            cleaned.append(text)
            for rule in self.rules:
                if rule.id in hits:
                    continue
                m = rule.regex.search(text)
                if m:
                    hits[rule.id] = {"scores": rule.scores, "match": m.group(0)}
        return hits, benign, cleaned


_matcher: Matcher | None = None
_matcher_lock = threading.Lock()


def matcher() -> Matcher:
    global _matcher
    if _matcher is None:
        with _matcher_lock:
            if _matcher is None:
                _matcher = Matcher()
    return _matcher


# ------------------------------------------------------------------------------- scoring ------

# How much of the profanity model's probability becomes a harassment score.
PROFANITY_WEIGHT_INSULT = 0.9  # the text addresses someone and a harassment rule matched
# Addresses someone but no insult or threat term matched ("can you fix this stupid regex",
# "you are so f*cking good"): the model alone never crosses the default review line (0.5).
PROFANITY_WEIGHT_DIRECTED = 0.49
PROFANITY_WEIGHT_UNDIRECTED = 0.45  # swearing at nobody in particular stays below review (0.5)
MAX_SCORE = 0.99


def _noisy_or(weights: list[float]) -> float:
    p = 1.0
    for w in weights:
        p *= 1.0 - w
    return min(MAX_SCORE, 1.0 - p)


@dataclass
class _Analysis:
    hits: dict[str, dict]
    benign: list[str]
    model_inputs: list[str]  # benign phrases cut, barriers removed
    directed: bool
    context: dict[str, dict]  # reporting / quotation / fiction / history / counter-speech cues


def analyse(raw: str) -> _Analysis:
    norm = normalize(raw)
    m = matcher()
    hits, benign, cleaned = m.match(norm)
    inputs: list[str] = []
    extra = [m.benign.sub(" % ", s) for s in norm.model_inputs]  # the letter-run readings too
    for t in cleaned + extra:
        t = _SPACES.sub(" ", t.replace("#", " ").replace("%", " ")).strip()
        if t and t not in inputs:
            inputs.append(t)
    directed = any(_TARGET.search(t) for t in cleaned)
    context = m.context(cleaned, bool(_QUOTED.search(raw)))
    return _Analysis(hits, benign, inputs, directed, context)


def damping(a: _Analysis) -> dict[str, float]:
    """Context cues (news reporting, quoted speech, fiction and games, history, counter-speech)
    damp the categories they concern: the strongest cue per category, applied once."""
    damp: dict[str, float] = {}
    for ctx in a.context.values():
        for cat in ctx["categories"]:
            damp[cat] = min(damp.get(cat, 1.0), ctx["factor"])
    return damp


def score(a: _Analysis, profanity: float) -> tuple[dict[str, float], dict[str, Any]]:
    per_cat: dict[str, list[float]] = {c: [] for c in builtin().assessed}
    for hit in a.hits.values():
        for cat, w in hit["scores"].items():
            per_cat[cat].append(w)
    scores = {c: _noisy_or(ws) for c, ws in per_cat.items()}
    if not a.directed:
        weight = PROFANITY_WEIGHT_UNDIRECTED
    elif per_cat["harassment"]:
        weight = PROFANITY_WEIGHT_INSULT
    else:
        weight = PROFANITY_WEIGHT_DIRECTED
    scores["harassment"] = max(scores["harassment"], min(MAX_SCORE, profanity * weight))
    # Hate that also carries violence is hate/threatening, at the weaker of the two.
    scores["hate/threatening"] = max(scores["hate/threatening"],
                                     min(scores["hate"], scores["violence"]))
    damp = damping(a)
    for cat, f in damp.items():
        scores[cat] *= f
    scores = {c: round(float(s), 4) for c, s in scores.items()}
    details = {
        "matched": [{"rule": rid, "match": h["match"], "categories": sorted(h["scores"])}
                    for rid, h in a.hits.items()][:25],
        "profanity_score": round(float(profanity), 4),
        "addressed_to_someone": a.directed,
        "benign_phrases": a.benign[:25],
        "context": [{"cue": cid, "match": c["match"], "factor": c["factor"],
                     "categories": list(c["categories"])} for cid, c in a.context.items()],
        "terms_version": builtin().version,
    }
    return scores, details


RULES_MODEL = f"alt-profanity-check+{builtin().version}"
TEXT_MODEL = f"{heads_model.ENCODER}+{heads_model.version()}+{builtin().version}"


class LocalTextModeration:
    name = PROVIDER
    model = TEXT_MODEL

    def moderate_texts(self, texts: list[str]) -> list[RawModeration]:
        from mmservice.providers.local import models, semantic

        cfg = getattr(self, "cfg", None)
        analyses = [analyse(t or "") for t in texts]
        flat = [s for a in analyses for s in a.model_inputs]
        probs: list[float] = []
        if flat:
            predict_prob = models.get("profanity")
            probs = [float(p) for p in predict_prob(flat)]
        cut = [(a.model_inputs[0] if a.benign and a.model_inputs else None) for a in analyses]
        sems = semantic.assess([t or "" for t in texts], cfg, cut)
        out, k = [], 0
        for text, a, sem in zip(texts, analyses, sems):
            n = len(a.model_inputs)
            p = max(probs[k:k + n], default=0.0)
            k += n
            rules, details = score(a, p)
            details["language"] = sem.language
            usage = {"characters": len(text or "")}
            if sem.unread:
                details["unassessed_reason"] = "language"
                out.append(RawModeration(
                    category_scores={}, assessed_categories=[], model=TEXT_MODEL,
                    provider=PROVIDER, details=details, usage=usage, language=sem.language,
                    unassessed_reason="language"))
                continue
            scores = combine(sem.scores, rules, damping(a))
            details["head_scores"] = {c: round(v, 4) for c, v in sem.scores.items()}
            details["heads_version"] = heads_model.load().version  # the heads that scored
            out.append(RawModeration(
                category_scores=scores, assessed_categories=list(scores), model=TEXT_MODEL,
                provider=PROVIDER, upstream_flagged=None, details=details, usage=usage,
                language=sem.language))
        return out


# How much a term-list score counts next to the heads (0: the heads alone decide the categories
# they cover; the lists then only damp, through their context cues). Chosen on the dev set: any
# weight that let the lists raise a score on their own added false flags on hard negatives.
RULES_WEIGHT = 0.0
# ... except where they corroborate: a head already near the line (>= CORROBORATE_HEAD) and a
# strong list match (>= CORROBORATE_RULE) in the same category take the list's score (dev set:
# recall +0.5 point, no new false flag).
CORROBORATE_HEAD = 0.4
CORROBORATE_RULE = 0.7


def combine(heads: dict[str, float], rules: dict[str, float],
            damp: dict[str, float]) -> dict[str, float]:
    """Final scores, in the design's category order: each head's calibrated score damped by the
    context cues (raised to the lists' score where they corroborate it, see above), and the
    lists alone for any category no head covers."""
    out: dict[str, float] = {}
    for cat in CATEGORIES:
        if cat in heads:
            h, r = heads[cat] * damp.get(cat, 1.0), rules.get(cat, 0.0)
            s = max(h, r * RULES_WEIGHT)
            if h >= CORROBORATE_HEAD and r >= CORROBORATE_RULE:
                s = max(s, r)
        elif cat in rules:
            s = rules[cat]
        else:
            continue
        out[cat] = round(float(min(MAX_SCORE, s)), 4)
    return out
