"""A walk of a JPEG's marker structure that tells whether libjpeg would decode it without error.

Why it exists: submission checks every image by decoding it; for a JPEG whose structure is sound
the decode can be skipped, which carries the intake benchmark figure (BENCHMARKS.md). It is a
hand-kept model of libjpeg's acceptance rules, fenced in this module with its own fuzz tests
(tests/test_jpeg_structure.py): anything it is not sure of goes to the real decode. Delete it the
day the intake target or the upload mix no longer needs it.
"""
from __future__ import annotations

import re

# A marker that ends entropy-coded data: 0xFF followed by anything but 0x00 (a stuffed 0xFF
# byte), 0xD0-0xD7 (restart markers, part of the scan) or 0xFF (fill bytes before a marker).
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_FILL = re.compile(rb"\xff+")
_SOF_HUFFMAN = {0xC0: False, 0xC1: False, 0xC2: True}  # SOF0/1 sequential, SOF2 progressive
# Real files have a few dozen segments and scans. The walk is Python, so a file made of
# millions of tiny segments is left to libjpeg (C) rather than walked.
_MAX_SEGMENTS = 512


def jpeg_well_formed(data: bytes) -> bool:
    """True when a JPEG's marker structure is one libjpeg decodes without an error: every
    segment length, DQT/DHT/SOF/SOS field libjpeg validates, all scans present, and each scan's
    entropy-coded data ends at the next marker with EOI after the last scan (a truncated file has
    no EOI). False means "not sure", never "corrupt": the caller then decodes.

    Why: decoding (even at 1/8 scale) costs ~1.3 ms for a 100 KB photo, all of it Huffman
    decoding; this walk costs ~0.1 ms. libjpeg treats damage *inside* entropy-coded data (bad
    Huffman codes, a short scan) as warnings, which Pillow ignores, so a decode rejects no
    structurally sound file; `tests/test_media_images.py` pins that on mutated files.
    Deliberately narrow: Huffman baseline/extended/progressive, 8-bit, 1/3/4 components, sampling
    factors 1 or 2; anything else (arithmetic coding, DNL, 4:1:1, ...) takes the decode.
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    comps: dict[int, tuple[int, int, int]] | None = None  # id -> (h, v, quant table)
    progressive = False
    quant: set[int] = set()
    dc: set[int] = set()
    ac: set[int] = set()
    dc_done: set[int] = set()  # components whose (first) DC scan was seen
    scans = 0
    pos = 2
    for _ in range(_MAX_SEGMENTS):
        if pos + 2 > n or data[pos] != 0xFF:
            return False
        fill = _FILL.match(data, pos)  # matches: data[pos] is 0xFF (checked above)
        pos = (fill.end() if fill else pos + 1) - 1  # skip fill bytes: the last 0xFF starts it
        if pos + 2 > n:
            return False
        marker = data[pos + 1]
        pos += 2
        if marker == 0xD9:  # EOI: every component must have been coded
            return comps is not None and scans > 0 and dc_done == set(comps)
        if pos + 2 > n:
            return False
        end = pos + ((data[pos] << 8) | data[pos + 1])
        if end < pos + 2 or end > n:
            return False
        p = pos + 2
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn, COM: skipped by libjpeg
            pass
        elif marker == 0xDB:  # DQT
            while p < end:
                pq, tq = data[p] >> 4, data[p] & 15
                if pq != 0 or tq > 3 or p + 65 > end or data.find(b"\0", p + 1, p + 65) >= 0:
                    return False
                quant.add(tq)
                p += 65
            if p != end:
                return False
        elif marker == 0xC4:  # DHT
            while p < end:
                tc, th = data[p] >> 4, data[p] & 15
                if tc > 1 or th > 3 or p + 17 > end:
                    return False
                counts = data[p + 1:p + 17]
                total = sum(counts)
                if total == 0 or p + 17 + total > end:
                    return False
                code, last = 0, max(i for i, c in enumerate(counts) if c) + 1
                for size in range(1, last + 1):  # libjpeg's canonical-code check
                    code += counts[size - 1]
                    if code >= 1 << size:
                        return False
                    code <<= 1
                if tc == 0 and max(data[p + 17:p + 17 + total]) > 15:
                    return False
                (ac if tc else dc).add(th)
                p += 17 + total
            if p != end:
                return False
        elif marker == 0xDD:  # DRI
            if end - pos != 4:
                return False
        elif marker in _SOF_HUFFMAN:
            if comps is not None or end - p < 6:
                return False
            progressive = _SOF_HUFFMAN[marker]
            nf = data[p + 5]
            height, width = data[p + 1] << 8 | data[p + 2], data[p + 3] << 8 | data[p + 4]
            if (data[p] != 8 or not 0 < height <= 65500 or not 0 < width <= 65500  # libjpeg's max
                    or nf not in (1, 3, 4) or end - p != 6 + 3 * nf):
                return False
            comps = {}
            for i in range(nf):
                cid, hv, tq = data[p + 6 + 3 * i:p + 9 + 3 * i]
                h, v = hv >> 4, hv & 15
                if cid in comps or h not in (1, 2) or v not in (1, 2) or tq > 3:
                    return False
                comps[cid] = (h, v, tq)
        elif marker == 0xDA:  # SOS, then its entropy-coded data
            if comps is None:
                return False
            ns = data[p]
            if not 1 <= ns <= 4 or end - p != 4 + 2 * ns:
                return False
            ss, se, ah, al = data[end - 3], data[end - 2], data[end - 1] >> 4, data[end - 1] & 15
            in_scan = []
            for i in range(ns):
                cid, tables = data[p + 1 + 2 * i], data[p + 2 + 2 * i]
                if cid not in comps or cid in in_scan or comps[cid][2] not in quant:
                    return False
                in_scan.append(cid)
                needs_dc = ss == 0 and ah == 0
                needs_ac = se > 0
                if (needs_dc and tables >> 4 not in dc) or (needs_ac and tables & 15 not in ac):
                    return False
            if progressive:
                if ss == 0:
                    if se != 0:
                        return False
                    if ah == 0:
                        dc_done.update(in_scan)
                elif ss > se or se > 63 or ns != 1 or not set(in_scan) <= dc_done:
                    return False
                if (ah != 0 and al != ah - 1) or al > 13:
                    return False
            else:
                if scans or ss != 0 or se != 63 or ah or al or ns != len(comps):
                    return False
                dc_done.update(in_scan)
            if ns > 1 and sum(comps[c][0] * comps[c][1] for c in in_scan) > 10:
                return False
            scans += 1
            found = _ENTROPY_END.search(data, end)
            if found is None:  # the data runs out inside the scan: truncated
                return False
            end = found.start()
        else:  # SOF3/5-15 (lossless, hierarchical, arithmetic), DAC, DNL, EXP, SOI, RST, ...
            return False
        pos = end
    return False
