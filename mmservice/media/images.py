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
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from ..errors import Invalid, UnsupportedMedia
from . import decode_budget
from .jpeg_structure import jpeg_well_formed
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


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block is not a reason to refuse the picture
        return 1


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_side_ratio: float = DEFAULT_MAX_SIDE_RATIO) -> dict:
    """Validate an upload at submission: format, pixel budget, aspect ratio, and that it decodes
    (for a JPEG whose structure `jpeg_structure.jpeg_well_formed` vouches for, without decoding
    it).

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
        if jpeg_well_formed(data):
            # Nothing a decode could refuse: see `jpeg_structure.jpeg_well_formed`.
            return {"width": w, "height": h, "format": "JPEG", "mime": _MIME["JPEG"],
                    "frames": frames}
        # Decode at 1/8 scale: the whole entropy-coded stream is still read (truncation and
        # corruption are still caught) but the inverse DCT does 1/64 of the work.
        img.draft("RGB", (max(1, w // 8), max(1, h // 8)))
    dw, dh = img.size  # what the decode holds: the draft's size for a JPEG
    with decode_budget.budget().take(dw * dh):
        _load(img, max_pixels)  # first frame only: that is all we ever send anywhere
    return {"width": w, "height": h, "format": img.format, "mime": _MIME[str(img.format)],
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
    fmt = str(img.format)  # one of _FORMATS: `_open` refuses the rest
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
    return img, fmt, ow, oh


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
