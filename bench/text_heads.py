"""Text engine v3 (issue 17): quality on the hand-written test set, calibration, speed, memory.

    .venv/bin/python bench/text_heads.py [--quiet]        (also `offline_quality.py --only heads`)

1. Quality on `mmservice/moderation/heads/data/test.tsv`, written after the heads were trained
   and never used to train, calibrate or choose anything: accuracy, precision, recall, F1 and
   the false-flag rate on hard negatives, per category and per language; non-English harmful
   lines count as caught when flagged *or* sent to review as unread (`unassessed_reason`).
   Decision = the default policy (review line 0.5, `MMS_UNREAD_LANGUAGE_VERDICT=review`).
2. Calibration: the dev-set table `train.py` wrote (heads.json, pooled over categories), and on
   the English test lines: per bin of a line's highest score, the share that were harmful.
3. Latency of `moderate_texts`: p50 of one text per call and of a batch of 32, against the v2
   engine (term lists + profanity model, same process, same texts) as the same-run baseline.
4. RSS of this process with every offline engine loaded (what a worker serving every queue
   holds), against the issue's 800 MiB ceiling.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench._machine import rss_mb  # noqa: E402

TEST = os.path.join(ROOT, "mmservice", "moderation", "heads", "data", "test.tsv")


def load_test() -> list[dict]:
    rows = []
    for line in open(TEST, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        label, cat, lang, kind, text = line.rstrip("\n").split("\t", 4)
        rows.append({"label": label, "category": cat, "lang": lang, "kind": kind, "text": text})
    return rows


def _prf(tp: int, fp: int, fn: int, tn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"accuracy": round((tp + tn) / max(1, tp + fp + fn + tn), 4), "precision": round(p, 4),
            "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "n": tp + fp + fn + tn}


def quality(engine, cfg) -> tuple[dict, list[dict]]:
    from mmservice.moderation import policy

    rows = load_test()
    raws = engine.moderate_texts([r["text"] for r in rows])
    for r, raw in zip(rows, raws):
        v = policy.verdict([raw], cfg=cfg, overrides=None, inputs=["text"])
        policy.apply_unassessed_reason(v, cfg["UNREAD_LANGUAGE_VERDICT"])
        r["flagged"] = v["flagged"]
        r["unread"] = raw.unassessed_reason == "language"
        r["language"] = raw.language
        r["scores"] = raw.category_scores
    harmful = [r for r in rows if r["label"] == "toxic"]
    tp = sum(r["flagged"] for r in harmful)
    fp = sum(r["flagged"] for r in rows if r["label"] == "benign")
    out = {"overall": _prf(tp, fp, len(harmful) - tp,
                           sum(r["label"] == "benign" for r in rows) - fp)}
    hard = [r for r in rows if r["kind"] == "hard"]
    out["false_flags_hard_negatives"] = {"rate": round(sum(r["flagged"] for r in hard)
                                                       / max(1, len(hard)), 4), "n": len(hard)}
    benign = [r for r in rows if r["label"] == "benign"]
    per_cat = {}
    for cat in sorted({r["category"] for r in harmful}):
        pos = [r for r in harmful if r["category"] == cat]
        c_tp = sum(r["flagged"] for r in pos)
        # per category: its harmful lines against every benign line
        per_cat[cat] = _prf(c_tp, fp, len(pos) - c_tp, len(benign) - fp)
    out["per_category"] = per_cat
    per_lang = {}
    for lang in sorted({r["lang"] for r in rows}):
        rs = [r for r in rows if r["lang"] == lang]
        h = [r for r in rs if r["label"] == "toxic"]
        b = [r for r in rs if r["label"] == "benign"]
        per_lang[lang] = {
            "harmful": len(h), "harmful_caught": sum(r["flagged"] for r in h),
            "harmful_allowed_with_zero_scores": sum(
                (not r["flagged"]) and max(r["scores"].values(), default=0.0) == 0.0 for r in h),
            "benign": len(b), "benign_flagged": sum(r["flagged"] for r in b),
            "unread": sum(r["unread"] for r in rs)}
    out["per_language"] = per_lang
    errors = [{"label": r["label"], "category": r["category"], "lang": r["lang"],
               "text": r["text"]} for r in rows if r["flagged"] != (r["label"] == "toxic")]
    return out, errors


def test_calibration(engine) -> list[dict]:
    """Per bin of a line's highest score: the share of test lines that were harmful (the test
    set has one label per line, so this is the "any category" calibration)."""
    import numpy as np

    from mmservice.moderation.heads.train import calibration_table

    rows = [r for r in load_test() if r["lang"] == "en"]
    raws = engine.moderate_texts([r["text"] for r in rows])
    p = [max(raw.category_scores.values(), default=0.0) for raw in raws]
    y = [r["label"] == "toxic" for r in rows]
    return calibration_table(np.array(p), np.array(y, dtype=float))


def speed(engine, texts: list[str], reps: int = 3) -> dict:
    from mmservice.providers.local import text_moderation as tm

    def rules_only(batch: list[str]) -> None:
        from mmservice.providers.local import models

        analyses = [tm.analyse(t) for t in batch]
        flat = [s for a in analyses for s in a.model_inputs]
        probs = models.get("profanity")(flat) if flat else []
        for a in analyses:
            tm.score(a, float(max(probs, default=0.0)))

    out = {}
    for name, fn in (("v3", engine.moderate_texts), ("v2_rules_baseline", rules_only)):
        single = []
        for _ in range(reps):
            for t in texts:
                t0 = time.perf_counter()
                fn([t])
                single.append((time.perf_counter() - t0) * 1000)
        batches = []
        for _ in range(reps):
            for i in range(0, len(texts) - 31, 32):
                t0 = time.perf_counter()
                fn(texts[i:i + 32])
                batches.append((time.perf_counter() - t0) * 1000)
        out[name] = {"single_p50_ms": round(statistics.median(single), 2),
                     "batch32_p50_ms": round(statistics.median(batches), 1)}
    out["ratio_single_v3_over_v2"] = round(out["v3"]["single_p50_ms"]
                                           / out["v2_rules_baseline"]["single_p50_ms"], 2)
    out["ratio_batch32_v3_over_v2"] = round(out["v3"]["batch32_p50_ms"]
                                            / out["v2_rules_baseline"]["batch32_p50_ms"], 2)
    return out


def run(quiet: bool = False) -> dict:
    from mmservice import config
    from mmservice.moderation.heads import model as heads_model
    from mmservice.providers.local import LocalModeration, models

    cfg = config.load(environ={})
    engine = LocalModeration(cfg)
    rss_before = rss_mb([os.getpid()])
    models.warm_up(cfg=cfg)
    rss_all = rss_mb([os.getpid()])
    q, errors = quality(engine, cfg)
    texts = [r["text"] for r in load_test()][:64]
    report = {"heads_version": heads_model.version(), "test_set": os.path.relpath(TEST, ROOT),
              "quality": q, "calibration_dev": heads_model.report().get("calibration_dev_pooled"),
              "calibration_test_en": test_calibration(engine),
              "speed": speed(engine, texts),
              "rss_mib": {"before_models": round(rss_before, 1),
                          "every_engine_loaded": round(rss_all, 1), "ceiling": 800},
              "cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}
    if not quiet:
        report["errors"] = errors
    return report


def main() -> int:
    report = run("--quiet" in sys.argv)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
