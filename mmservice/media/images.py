"""Image checks at submission and image preparation in workers (Pillow).

Why check the size before decoding: a PNG of 60000x60000 one-bit pixels is a few hundred
kilobytes on disk and gigabytes in memory. `Image.open` reads only the header, so the pixel
count is known (and refused) before any pixel is decoded. The limit is per call, not Pillow's
process-wide `MAX_IMAGE_PIXELS`, so API and workers can differ without touching a global.
Only the four formats we accept are handed to Pillow, so no exotic decoder sees uploads.
"""
from __future__ import annotations

import base64
import io
import math
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from ..errors import Invalid, UnsupportedMedia
from .sniff import sniff

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_SIDE_RATIO = 20.0
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_ORIENTATION_TAG = 0x0112
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    mime: str
    width: int
    height: int
    original_width: int  # as displayed, i.e. after EXIF orientation
    original_height: int
    original_bytes: int
    tokens: int

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def _too_large(max_pixels: int) -> Invalid:
    return Invalid(f"the image has more than {max_pixels} pixels", code="image_too_large_pixels",
                   field="file")


def _corrupt() -> Invalid:
    return Invalid("the image is corrupt or truncated", code="corrupt_image", field="file")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse oversized images before anything is decoded."""
    found = sniff(data)
    if not found or found[0] != "image":
        raise UnsupportedMedia("images must be PNG, JPEG, WEBP or GIF",
                               code="unsupported_image_format", field="file")
    with warnings.catch_warnings():
        # Pillow's global warning threshold is not ours; our own check follows at once.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=_FORMATS)
        except Image.DecompressionBombError:
            raise _too_large(max_pixels) from None
        except Exception:  # UnidentifiedImageError and the decoders' own complaints
            raise _corrupt() from None
    if img.format == "MPO":
        # A multi-picture JPEG (many phone cameras write one): its first picture, the one we
        # use, is an ordinary JPEG; the format label is all that differs.
        img.format = "JPEG"
    w, h = img.size
    if w <= 0 or h <= 0:
        raise _corrupt()
    if w * h > max_pixels:
        raise _too_large(max_pixels)
    return img


def _load(img: Image.Image, max_pixels: int) -> None:
    """Decode the current frame; any decoder complaint means a corrupt or truncated file."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(max_pixels) from None
        except Exception:
            raise _corrupt() from None


# A marker that ends entropy-coded data: 0xFF followed by anything but 0x00 (a stuffed 0xFF
# byte), 0xD0-0xD7 (restart markers, part of the scan) or 0xFF (fill bytes before a marker).
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_FILL = re.compile(rb"\xff+")
_SOF_HUFFMAN = {0xC0: False, 0xC1: False, 0xC2: True}  # SOF0/1 sequential, SOF2 progressive
# Real files have a few dozen segments and scans. The walk is Python, so a file made of
# millions of tiny segments is left to libjpeg (C) rather than walked.
_MAX_SEGMENTS = 512


def _jpeg_well_formed(data: bytes) -> bool:
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
        pos = _FILL.match(data, pos).end() - 1  # type: ignore[union-attr]  # skip fill bytes: the last 0xFF starts the marker
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


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block is not a reason to refuse the picture
        return 1


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_side_ratio: float = DEFAULT_MAX_SIDE_RATIO) -> dict:
    """Validate an upload at submission: format, pixel budget, aspect ratio, and that it decodes
    (for a JPEG whose structure `_jpeg_well_formed` vouches for, without decoding it).

    Raises UnsupportedMedia `unsupported_image_format`, Invalid `image_too_large_pixels`,
    `image_aspect_ratio` or `corrupt_image`.
    """
    img = _open(data, max_pixels)
    w, h = img.size
    if max(w, h) / min(w, h) > max_side_ratio:
        raise Invalid(f"the image aspect ratio {w}x{h} exceeds {max_side_ratio:g}:1",
                      code="image_aspect_ratio", field="file")
    try:
        frames = int(getattr(img, "n_frames", 1))  # parses frame headers, decodes nothing
        img.seek(0)
    except Exception:
        raise _corrupt() from None
    if img.format == "JPEG":
        if _jpeg_well_formed(data):
            # Nothing a decode could refuse: see `_jpeg_well_formed`. Skips ~1.3 ms per photo.
            return {"width": w, "height": h, "format": "JPEG", "mime": _MIME["JPEG"],
                    "frames": frames}
        # Decode at 1/8 scale: the whole entropy-coded stream is still read (truncation and
        # corruption are still caught) but the inverse DCT does 1/64 of the work.
        img.draft("RGB", (max(1, w // 8), max(1, h // 8)))
    _load(img, max_pixels)  # first frame only: that is all we ever send anywhere
    return {"width": w, "height": h, "format": img.format, "mime": _MIME[img.format],  # type: ignore[index]
            "frames": frames}


def _fit(w: int, h: int, box: int) -> tuple[int, int]:
    scale = min(1.0, box / w, box / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def vision_size(w: int, h: int, detail: str = "high") -> tuple[int, int]:
    """The size OpenAI's vision models work at; we send exactly that, so nothing is wasted."""
    if detail == "low":
        return _fit(w, h, 512)
    w, h = _fit(w, h, 2048)
    short = min(w, h)
    if short > 768:  # only ever downscale
        w, h = max(1, round(w * 768 / short)), max(1, round(h * 768 / short))
    return w, h


def estimate_image_tokens(w: int, h: int, detail: str = "high", *, base: int = 85,
                          per_tile: int = 170) -> int:
    """OpenAI's tile rule (GPT-4o class). `auto` is counted as high: the upper bound."""
    if detail == "low":
        return base
    tw, th = vision_size(w, h, "high")
    return base + per_tile * math.ceil(tw / 512) * math.ceil(th / 512)


def _decode(data: bytes, max_pixels: int, target_of) -> tuple[Image.Image, str, int, int]:
    """First frame, decoded as small as `target_of(w, h)` allows, EXIF orientation applied.

    Returns the image (not yet resized), its format and its displayed (upright) size.
    """
    img = _open(data, max_pixels)
    fmt = img.format
    orientation = _orientation(img)
    w, h = img.size
    ow, oh = (h, w) if orientation in _SWAPS_SIDES else (w, h)
    if fmt == "JPEG":
        # DCT scaling decodes at 1/2, 1/4 or 1/8 directly: a 12 MP photo never exists in full.
        target = target_of(ow, oh)
        img.draft("RGB", target[::-1] if orientation in _SWAPS_SIDES else target)
    img.seek(0)
    _load(img, max_pixels)
    if orientation != 1:
        ImageOps.exif_transpose(img, in_place=True)
    return img, fmt, ow, oh  # type: ignore[return-value]


def _resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    if img.mode == "P" or "transparency" in img.info:
        img = img.convert("RGBA")  # palette resizing would fall back to nearest-neighbour
    elif img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def _flatten(img: Image.Image) -> Image.Image:
    """Vision models see transparent pixels as whatever colour hides under them: use white."""
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        out = Image.new("RGB", img.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img if img.mode == "RGB" else img.convert("RGB")


def prepare_for_vision(data: bytes, *, detail: str = "high",
                       max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Upright, opaque, resized to the model's working size, JPEG q85 (PNG for few-colour PNGs).

    Why resize ourselves: the upstream would do it anyway, after we paid to upload the full
    picture; what we send is what the tokens are counted on.
    """
    if detail not in ("high", "low", "auto"):
        raise Invalid("detail must be high, low or auto", code="invalid_detail", field="detail")
    size_rule = "low" if detail == "low" else "high"
    img, fmt, ow, oh = _decode(data, max_pixels, lambda w, h: vision_size(w, h, size_rule))
    img = _flatten(_resize(img, vision_size(ow, oh, size_rule)))
    buf = io.BytesIO()
    if fmt == "PNG" and img.getcolors(256) is not None:  # diagrams, screenshots: keep crisp
        img.save(buf, "PNG")
        mime = "image/png"
    else:
        img.save(buf, "JPEG", quality=85)
        mime = "image/jpeg"
    return PreparedImage(data=buf.getvalue(), mime=mime, width=img.width, height=img.height,
                         original_width=ow, original_height=oh, original_bytes=len(data),
                         tokens=estimate_image_tokens(img.width, img.height, detail))


def prepare_for_moderation(data: bytes, mime: str | None = None, *, max_side: int = 2048,
                           max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, str]:
    """A still PNG or JPEG no larger than `max_side`, re-encoded only when it is not one already.

    Why: moderation endpoints take PNG/JPEG stills; animated GIFs are judged on the first frame.
    Alpha is kept (PNG) rather than flattened, so nothing is hidden from the moderator. `mime`
    is accepted for the callers' convenience; the bytes decide.
    """
    img = _open(data, max_pixels)
    fmt, (w, h) = img.format, img.size
    if (fmt in ("PNG", "JPEG") and not getattr(img, "is_animated", False)
            and max(w, h) <= max_side):
        _load(img, max_pixels)
        return data, _MIME[fmt]
    img, _, ow, oh = _decode(data, max_pixels, lambda w, h: _fit(w, h, max_side))
    img = _resize(img, _fit(ow, oh, max_side))
    buf = io.BytesIO()
    if "A" in img.getbands():
        img.save(buf, "PNG")
        return buf.getvalue(), "image/png"
    img.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue(), "image/jpeg"
