"""alt-profanity-check's probability, computed with numpy from its fitted estimators.

Why not its own `predict_prob`: the wheel's model is a `CalibratedClassifierCV` of five
`LinearSVC` folds behind a `TfidfVectorizer`, and every call goes through sklearn's input
validation (check_array, narwhals' dataframe sniffing, `inspect.signature`, a `LabelEncoder`
fitted per fold per call): about 5 ms per call on an idle core, for a product of a handful of
non-zero tf-idf entries with five weight vectors. Text v3 calls it once per `moderate_texts`, so
for one line that overhead was a fifth of the whole non-encoder time (issue 17's latency target).

What stays sklearn's: the unpickling (joblib, once, at load) and the word analyzer
(`build_analyzer()`: lower-casing, the `\\b\\w\\w+\\b` tokens, the English stop words), which
is plain Python. Everything after is the same arithmetic as sklearn's, in the same order:

    x      = counts * idf, L2-normalized            (TfidfVectorizer.transform)
    f_k    = x . coef_k + intercept_k               (LinearSVC.decision_function, fold k)
    p_k    = expit(-(a_k * f_k + b_k))              (_SigmoidCalibration.predict)
    p      = mean_k p_k                             (CalibratedClassifierCV.predict_proba[:, 1])

tests/test_local_engines.py checks the result equals sklearn's `predict_proba` to 1e-9 on every
line of the heads' data. Only the estimator shapes the wheel ships are supported (sigmoid
calibration, binary, linear folds); anything else is refused at load rather than mis-scored.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ProfanityScorer:
    """`scorer(texts) -> (n,) float64`: the probability that each text is profane."""

    def __init__(self, vectorizer: Any, model: Any) -> None:
        import numpy as np

        folds = model.calibrated_classifiers_
        if (getattr(vectorizer, "norm", None) != "l2" or not vectorizer.use_idf
                or vectorizer.sublinear_tf or vectorizer.binary or len(model.classes_) != 2):
            raise ValueError("unsupported profanity vectorizer/model configuration")
        coefs, intercepts, a, b = [], [], [], []
        for fold in folds:
            if fold.method != "sigmoid" or len(fold.calibrators) != 1:
                raise ValueError("profanity model: only binary sigmoid calibration is supported")
            coefs.append(np.asarray(fold.estimator.coef_, dtype=np.float64).reshape(-1))
            intercepts.append(float(np.asarray(fold.estimator.intercept_).reshape(-1)[0]))
            a.append(float(fold.calibrators[0].a_))
            b.append(float(fold.calibrators[0].b_))
        self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        # (n_features, k): one row per vocabulary term, so a text gathers only its terms' rows.
        self._coef = np.ascontiguousarray(np.stack(coefs, axis=1))
        self._intercept = np.array(intercepts)
        self._a = np.array(a)
        self._b = np.array(b)

    def decision(self, texts: list[str]):
        """(n, k) LinearSVC decision values of each fold (before calibration)."""
        import numpy as np

        out = np.empty((len(texts), len(self._intercept)))
        vocab = self._vocabulary
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            for token in self._analyze(text):
                j = vocab.get(token)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                out[i] = self._intercept
                continue
            idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            order = np.argsort(idx)  # sklearn sorts a row's indices: same summation order
            idx = idx[order]
            x = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))[order]
            x *= self._idf[idx]
            x /= np.sqrt(np.dot(x, x))
            out[i] = x @ self._coef[idx] + self._intercept
        return out

    def __call__(self, texts: list[str]):
        import numpy as np

        if not texts:
            return np.zeros(0)
        f = self.decision(texts)
        p = 1.0 / (1.0 + np.exp(self._a * f + self._b))  # expit(-(a f + b))
        return p.mean(axis=1)


def load() -> tuple[ProfanityScorer, Any]:
    """(our scorer, the wheel's own `predict_prob`): the latter only for tests and benchmarks."""
    from profanity_check import profanity_check as pc

    return ProfanityScorer(pc.vectorizer, pc.model), pc.predict_prob
