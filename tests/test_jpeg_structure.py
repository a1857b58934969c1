"""The JPEG structure walk (`media/jpeg_structure.py`) that lets a sound JPEG skip the decode at
submission: it must never pass a file that libjpeg refuses, fuzzed here on mutated files."""
from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, JpegImagePlugin

from mmservice.errors import Invalid
from mmservice.media import inspect_image
from test_media_images import encode, noisy


def _decodes(data: bytes) -> bool:
    """The reference: the 1/8-scale decode inspect_image used to run on every JPEG."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data), formats=("JPEG",))
            img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
        return True
    except Exception:
        return False


def _jpeg_variants() -> list[bytes]:
    out = []
    for size, kw in ([
            ((300, 300), {}), ((300, 200), {"progressive": True}),
            ((64, 48), {"quality": 95, "subsampling": 0}), ((257, 131), {"optimize": True}),
            ((200, 150), {"restart_marker_blocks": 4}),
            ((160, 120), {"progressive": True, "restart_marker_rows": 1}),
            ((120, 90), {"subsampling": 1, "comment": b"hi", "exif": Image.Exif().tobytes()})]):
        for mode in ("RGB", "L", "CMYK"):
            out.append(encode(noisy(size).convert(mode), "JPEG", **kw))
    return out


def _mutations(data: bytes, rng) -> list[bytes]:
    n = len(data)
    out = [data[:n * k // 100] for k in range(5, 100, 10)]  # truncated
    out += [data[:n * k // 100] + b"\xff\xd9" for k in range(5, 100, 30)]  # ... with an EOI
    out += [data[:-2], data + b"trailing bytes", data + b"\xff\xd8\xff\xe0junk"]
    for _ in range(25):  # damaged headers: tables, frame and scan parameters
        x = bytearray(data)
        x[rng.randrange(min(n, 700))] = rng.randrange(256)
        out.append(bytes(x))
    for _ in range(10):  # damaged entropy-coded data
        x = bytearray(data)
        for _ in range(rng.choice((1, 5, 30))):
            x[rng.randrange(n)] = rng.randrange(256)
        out.append(bytes(x))
    for _ in range(10):  # stray markers
        i = rng.randrange(2, n)
        out.append(data[:i] + bytes([0xFF, rng.choice([0xC4, 0xDB, 0xDA, 0xC0, 0xDD, 0xD9, 0xCC])])
                   + bytes(rng.randrange(256) for _ in range(6)) + data[i:])
    return out


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # damaged EXIF headers, on purpose
def test_jpeg_structure_walk_never_passes_what_decoding_refuses():
    """`jpeg_well_formed` lets inspect_image skip the decode; it must only say True for files
    the decode accepts (False just means "decode it"). ~2,000 damaged files here; 40,000 were
    checked when it was written, with no disagreement."""
    import random

    from mmservice.media.jpeg_structure import jpeg_well_formed

    rng = random.Random(20261124)
    walked = decoded_ok = refused = 0
    for base in _jpeg_variants():
        assert jpeg_well_formed(base) and _decodes(base)
        for m in _mutations(base, rng):
            try:
                Image.open(io.BytesIO(m), formats=("JPEG",))
            except Exception:
                continue  # refused at the header: never reaches either check
            ok = _decodes(m)
            if jpeg_well_formed(m):
                walked += 1
                assert ok, "the structure walk passed a JPEG that does not decode"
            decoded_ok += ok
            refused += not ok
            try:
                inspect_image(m)
                assert ok
            except Invalid as e:  # the header's size may be damaged into another refusal
                assert not ok or e.code != "corrupt_image", e.code
    assert walked > 500 and refused > 300  # both sides of the check were exercised


def test_jpeg_structure_walk_verdicts():
    from mmservice.media.jpeg_structure import jpeg_well_formed

    data = encode(noisy((300, 300)), "JPEG")
    assert jpeg_well_formed(data)
    assert jpeg_well_formed(encode(noisy((300, 300)), "JPEG", progressive=True))
    assert not jpeg_well_formed(data[:len(data) // 2])  # truncated inside the scan
    assert not jpeg_well_formed(data[:-2])  # no EOI
    assert not jpeg_well_formed(data[:300])  # cut in the headers
    progressive = encode(noisy((300, 300)), "JPEG", progressive=True)
    assert not jpeg_well_formed(progressive[:len(progressive) * 3 // 4])
    for cut in (len(data) // 2, len(data) * 9 // 10):  # and inspect_image still refuses them
        with pytest.raises(Invalid) as exc:
            inspect_image(data[:cut])
        assert exc.value.code == "corrupt_image"
    # A frame libjpeg refuses although its structure is sound: 65,501 rows (libjpeg's maximum
    # dimension is 65,500).
    sof = data.find(b"\xff\xc0")
    tall = data[:sof + 5] + struct.pack(">H", 65501) + data[sof + 7:]
    assert not jpeg_well_formed(tall)
    with pytest.raises(Invalid) as exc:
        inspect_image(tall, max_pixels=10**12, max_side_ratio=10**6)
    assert exc.value.code == "corrupt_image"


def test_sound_jpeg_is_not_decoded_at_submission(monkeypatch):
    """The point of the walk: the ~1.3 ms decode of a 100 KB photo is skipped."""
    data = encode(noisy((300, 300)), "JPEG")
    loads = []
    real_load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    assert inspect_image(data)["width"] == 300
    assert loads == []
    with pytest.raises(Invalid):
        inspect_image(data[:len(data) // 2])
    assert loads  # a doubtful file is decoded


def test_jpeg_structure_walk_stays_cheap_on_hostile_files():
    """The walk is Python: fill-byte runs are skipped by a regex, and a file of countless tiny
    segments is handed to the decode instead of being walked segment by segment (how long the
    walk takes is measured in bench/intake.py, not here)."""
    from mmservice.media.jpeg_structure import jpeg_well_formed

    data = encode(noisy((64, 48)), "JPEG")
    many = data[:2] + b"\xff\xfe\x00\x02" * 200_000 + data[2:]  # 200,000 empty COM segments
    padded = data[:2] + b"\xff" * 2_000_000 + data[2:]  # fill bytes before a marker
    assert not jpeg_well_formed(many)
    assert jpeg_well_formed(padded)
    assert jpeg_well_formed(data[:-2] + b"\xff" * 2_000_000 + b"\xd9")  # ... before the EOI
    assert _decodes(data[:-2] + b"\xff" * 2_000_000 + b"\xd9")
