"""The trained per-category heads: one logistic regression per category over sentence vectors,
each followed by its calibration (Platt scaling fitted on the dev set).

Why a linear head per category, not one multi-class model: a line is often several things at
once (a threat is harassment, harassment/threatening and violence), a category can be dropped or
retrained alone, and a 384-weight dot product costs nothing next to the encoder. Why calibrated:
the policy's thresholds are probabilities ("review from 0.5"), so a head's 0.8 should mean that
about 80 % of dev lines scored 0.8 were harmful; the raw logistic output of a head trained on
balanced classes does not mean that.

The weights live in `heads.npz` beside this file (written by `train.py`, a few hundred KB) with
`heads.json` holding what they were trained on and how they scored on dev.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "heads.npz"
REPORT = HERE / "heads.json"
# Categories with a head, in the order of the weight matrix's columns.
HEAD_CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "self-harm",
    "self-harm/intent", "sexual", "sexual/minors", "violence",
)
# Categories the heads do not score directly but derive (none since hate/threatening got its
# own head: the weaker of hate and violence missed "kill all <group>", violence being low).
DERIVED: tuple[str, ...] = ()
MAX_SCORE = 0.99
ENCODER = "multilingual-e5-small-q4"


def version() -> str:
    """The heads' version without loading numpy (the API process reports it, never loads)."""
    return str(report().get("version", "heads-untrained"))


@dataclass
class Heads:
    weights: object  # (dim, k) float32
    bias: object  # (k,)
    platt_a: object  # (k,)  calibrated = sigmoid(a * logit + b)
    platt_b: object  # (k,)
    categories: tuple[str, ...]
    version: str

    def raw_logits(self, vectors):
        return vectors @ self.weights + self.bias

    def score(self, vectors) -> list[dict[str, float]]:
        """Calibrated scores per text: {category: probability}, derived categories included."""
        import numpy as np

        z = self.platt_a * self.raw_logits(vectors) + self.platt_b
        p = np.clip(1.0 / (1.0 + np.exp(-z)), 0.0, MAX_SCORE)
        out = []
        for row in p:
            out.append({c: float(row[i]) for i, c in enumerate(self.categories)})
        return out


@functools.lru_cache(maxsize=1)
def load(path: str = str(WEIGHTS)) -> Heads:
    import numpy as np

    with np.load(path) as z:
        cats = tuple(str(c) for c in z["categories"])
        if cats != HEAD_CATEGORIES:
            raise ValueError(f"{path} holds heads for {cats}, expected {HEAD_CATEGORIES}")
        return Heads(z["weights"].astype(np.float32), z["bias"].astype(np.float32),
                     z["platt_a"].astype(np.float32), z["platt_b"].astype(np.float32), cats,
                     str(z["version"]))


def report() -> dict:
    return json.loads(REPORT.read_text(encoding="utf-8")) if REPORT.is_file() else {}
