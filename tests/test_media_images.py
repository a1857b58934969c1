"""Image sniffing, submission checks and preparation, on images generated here with Pillow."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from mmservice.errors import Invalid, UnsupportedMedia
from mmservice.media import (
    estimate_image_tokens,
    inspect_image,
    prepare_for_moderation,
    prepare_for_vision,
    sniff,
)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noisy(size: tuple[int, int]) -> Image.Image:
    """Content that does not compress away, so truncation really cuts pixel data."""
    return Image.merge("RGB", [Image.effect_noise(size, 60) for _ in range(3)])


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def bomb_png(side: int = 60000) -> bytes:
    """A real 1-bit side x side PNG: ~2 MB on disk, 3.6 gigapixels once decoded."""
    row = b"\x00" * (1 + side // 8)  # filter byte + packed bits
    comp = zlib.compressobj(1)
    idat = b"".join(comp.compress(row * 128) for _ in range(side // 128))
    idat += comp.compress(row * (side % 128)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def photo_12mp() -> bytes:
    img = noisy((1000, 750)).resize((4000, 3000))
    return encode(img, "JPEG", quality=90)


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                      ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_sniff_images(fmt, mime):
    data = encode(Image.new("RGB", (8, 8), "red"), fmt)
    assert sniff(data) == ("image", mime)
    info = inspect_image(data)
    assert (info["width"], info["height"], info["mime"], info["frames"]) == (8, 8, mime, 1)


def test_wrong_magic():
    assert sniff(b"hello world, not an image") is None
    assert sniff(b"") is None
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert sniff(heic) is None  # ISO-BMFF, but not audio
    with pytest.raises(UnsupportedMedia) as exc:
        inspect_image(b"GIF? no: plain text")
    assert exc.value.code == "unsupported_image_format" and exc.value.status == 415


def test_decompression_bomb_refused_without_decoding(monkeypatch):
    real_load, loaded = ImageFile.ImageFile.load, []

    def load(self):
        loaded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    data = bomb_png()
    assert len(data) < 3_000_000
    with pytest.raises(Invalid) as exc:
        inspect_image(data, max_pixels=50_000_000)
    assert loaded == []  # refused from the header
    assert exc.value.code == "image_too_large_pixels" and exc.value.status == 422
    with pytest.raises(Invalid) as exc:
        prepare_for_vision(data)
    assert exc.value.code == "image_too_large_pixels"


def test_per_call_pixel_limit():
    data = encode(Image.new("L", (3000, 3000)), "PNG")
    with pytest.raises(Invalid) as exc:
        inspect_image(data, max_pixels=1_000_000)
    assert exc.value.code == "image_too_large_pixels"
    assert inspect_image(data, max_pixels=10_000_000)["width"] == 3000


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_corrupt(fmt):
    data = encode(noisy((300, 300)), fmt)
    with pytest.raises(Invalid) as exc:
        inspect_image(data[: len(data) // 2])
    assert exc.value.code == "corrupt_image"


def test_aspect_ratio():
    assert inspect_image(encode(Image.new("RGB", (2000, 100)), "PNG"))["width"] == 2000
    with pytest.raises(Invalid) as exc:
        inspect_image(encode(Image.new("RGB", (2100, 100)), "PNG"))
    assert exc.value.code == "image_aspect_ratio"
    with pytest.raises(Invalid):
        inspect_image(encode(Image.new("RGB", (10, 110)), "PNG"), max_side_ratio=10)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "lime", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def test_animated_gif_first_frame():
    data = animated_gif()
    info = inspect_image(data)
    assert info["frames"] == 3 and info["mime"] == "image/gif"
    out, mime = prepare_for_moderation(data, "image/gif")
    assert mime in ("image/png", "image/jpeg")
    still = Image.open(io.BytesIO(out))
    assert getattr(still, "n_frames", 1) == 1 and still.size == (64, 48)
    r, g, b = still.convert("RGB").getpixel((10, 10))
    assert r > 200 and g < 50 and b < 50
    prepared = prepare_for_vision(data)
    assert Image.open(io.BytesIO(prepared.data)).convert("RGB").getpixel((10, 10))[0] > 200


def test_moderation_passthrough_and_downscale():
    small = encode(Image.new("RGB", (300, 200), "navy"), "PNG")
    assert prepare_for_moderation(small, "image/png") == (small, "image/png")
    big = encode(Image.new("RGB", (3000, 1000), "navy"), "PNG")
    out, mime = prepare_for_moderation(big, "image/png")
    assert mime == "image/jpeg" and Image.open(io.BytesIO(out)).size == (2048, 683)
    webp = encode(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "WEBP", lossless=True)
    out, mime = prepare_for_moderation(webp, "image/webp")
    assert mime == "image/png" and sniff(out) == ("image", "image/png")


def exif_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    """Left half red, right half blue, stored sideways with an EXIF Orientation tag."""
    img = Image.new("RGB", size, "blue")
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_applied():
    prepared = prepare_for_vision(exif_jpeg((400, 200), 6))
    assert (prepared.width, prepared.height) == (200, 400)
    assert (prepared.original_width, prepared.original_height) == (200, 400)
    img = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    # Orientation 6 = rotate 90 degrees clockwise to display: the left (red) half goes on top.
    assert img.getpixel((100, 50))[0] > 200 and img.getpixel((100, 350))[2] > 200
    big = prepare_for_vision(exif_jpeg((4000, 3000), 6))
    assert (big.width, big.height) == (768, 1024)


def test_alpha_flattened_onto_white():
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # invisible black
    img.paste((255, 0, 0, 255), (0, 0, 50, 100))
    prepared = prepare_for_vision(encode(img, "PNG"))
    out = Image.open(io.BytesIO(prepared.data))
    assert out.mode == "RGB"
    assert out.getpixel((80, 50)) == (255, 255, 255)
    assert out.getpixel((20, 50))[0] > 240


def test_draft_makes_12mp_jpeg_fast(photo_12mp, monkeypatch):
    prepare_for_vision(photo_12mp, detail="low")  # warm-up: imports, codec init
    decoded_at = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        decoded_at.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    high = prepare_for_vision(photo_12mp, detail="high")
    assert decoded_at == [(2000, 1500)]  # DCT-scaled by 1/2, never decoded at 12 MP
    assert (high.width, high.height, high.mime) == (1024, 768, "image/jpeg")
    assert (high.original_width, high.original_height) == (4000, 3000)
    assert high.original_bytes == len(photo_12mp) and high.tokens == 765
    low = prepare_for_vision(photo_12mp, detail="low")
    assert (low.width, low.height, low.tokens) == (512, 384, 85)
    assert Image.open(io.BytesIO(high.data)).size == (1024, 768)
    assert high.data_url.startswith("data:image/jpeg;base64,")


def test_token_estimates():
    assert estimate_image_tokens(1024, 768, "high") == 765  # OpenAI's documented example
    assert estimate_image_tokens(1024, 1024, "high") == 765
    assert estimate_image_tokens(2048, 4096, "high") == 1105
    assert estimate_image_tokens(4096, 8192, "auto") == 1105
    assert estimate_image_tokens(4000, 3000, "low") == 85
    assert estimate_image_tokens(512, 512, "high") == 255  # never upscaled: one tile


def test_invalid_detail():
    with pytest.raises(Invalid) as exc:
        prepare_for_vision(encode(Image.new("RGB", (8, 8)), "PNG"), detail="ultra")
    assert exc.value.code == "invalid_detail"
