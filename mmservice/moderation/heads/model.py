"""The trained per-category heads: a small network over sentence vectors (one hidden ReLU
layer shared by the categories, one output per category), each output followed by its
calibration (Platt scaling fitted on the dev set).

Why one output per category, not one multi-class model: a line is often several things at
once (a threat is harassment, harassment/threatening and violence). Why a hidden layer (issue
17; the heads up to heads-978ad7f23a were one logistic regression per category): on the same
vectors, five averaged one-hidden-layer networks beat the logistic regressions on the whole
dev and on its natural hand-written lines alike (train.py's docstring has the figures). The
averaged networks are one wider layer at run time, a (384 x 1280) and a (1280 x k) product:
about 0.03 ms for one text, 0.01 ms a text in a batch of 32, next to milliseconds for the
encoder.
Why calibrated: the policy's thresholds are probabilities ("review from 0.5"), so a head's 0.8
should mean that about 80 % of dev lines scored 0.8 were harmful; the raw network output
does not mean that.

The weights live in `heads.npz` beside this file (written by `train.py`, a few MB) with
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


def logits(vectors, hidden_weights, hidden_bias, weights, bias):
    """The network's uncalibrated outputs, (n, k): what the service applies and what
    `train.py` fits Platt scaling on (the same float32 arithmetic, so the same numbers)."""
    import numpy as np

    return np.maximum(vectors @ hidden_weights + hidden_bias, 0.0) @ weights + bias


@dataclass
class Heads:
    hidden_weights: object  # (dim, hidden) float32
    hidden_bias: object  # (hidden,)
    weights: object  # (hidden, k) float32
    bias: object  # (k,)
    platt_a: object  # (k,)  calibrated = sigmoid(a * logit + b)
    platt_b: object  # (k,)
    categories: tuple[str, ...]
    version: str

    def raw_logits(self, vectors):
        return logits(vectors, self.hidden_weights, self.hidden_bias, self.weights, self.bias)

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
        def f32(name: str):
            return z[name].astype(np.float32)

        return Heads(f32("hidden_weights"), f32("hidden_bias"), f32("weights"), f32("bias"),
                     f32("platt_a"), f32("platt_b"), cats, str(z["version"]))


def report() -> dict:
    return json.loads(REPORT.read_text(encoding="utf-8")) if REPORT.is_file() else {}
