"""The media hash engines of the block/allow lists: PDQ hashing and the exact PDQ index."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from mmservice.lists.pdq import hamming, normalize_pdq_hex, pdq_hash, sha256_hex
from mmservice.lists.pdq_index import PdqIndex


def photo(seed: int, size=(480, 360)) -> Image.Image:
    """A photo-like image: a colour gradient, a dozen shapes, a little blur and sensor noise."""
    rng = random.Random(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 6.28)
    base = np.stack([(np.cos(a) * x + np.sin(a) * y) / (w + h) * 255 * rng.uniform(.5, 1)
                     + rng.uniform(0, 80) for _ in range(3)], -1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = [x0, y0, x0 + rng.randrange(20, w // 2), y0 + rng.randrange(20, h // 2)]
        fill = tuple(rng.randrange(256) for _ in range(3))
        (d.ellipse if rng.random() < .5 else d.rectangle)(box, fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    noise = np.random.default_rng(seed).normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))


def near_duplicate(img: Image.Image) -> Image.Image:
    """Re-encoded at JPEG q70, resized to 90 %, then 1 % cropped off every side (4 % of the
    area). PDQ is sensitive to crops: at 2 % a side these images drift to 22-56 bits."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    im = im.resize((int(im.width * .9), int(im.height * .9)), Image.Resampling.BILINEAR)
    dx, dy = int(im.width * .01), int(im.height * .01)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def random_hex(rng: np.random.Generator) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip_bits(hex_hash: str, n: int, rng: np.random.Generator) -> str:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), np.uint8))
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits).tobytes().hex()


# ------------------------------------------------------------------------------- hashing ---

def test_near_duplicates_match_and_unrelated_images_do_not():
    originals = [photo(seed) for seed in range(6)]
    hashes = []
    for img in originals:
        h, quality = pdq_hash(img)
        assert len(h) == 64 and quality >= 50
        near, near_quality = pdq_hash(near_duplicate(img))
        assert near_quality >= 50
        assert hamming(h, near) <= 31, (h, near)
        hashes.append(h)
    for i, a in enumerate(hashes):
        for b in hashes[i + 1:]:
            assert hamming(a, b) > 31


def test_flat_images_have_low_quality():
    for img in (Image.new("RGB", (300, 300), (120, 120, 120)), Image.new("L", (64, 64), 0),
                Image.new("RGBA", (100, 80), (0, 0, 255, 128))):
        assert pdq_hash(img)[1] < 50


def test_hex_format_is_the_reference_bit_order():
    # The binding's vector starts with bit 255; the reference hex prints word 15 first, so the
    # first hex digit holds bits 255..252 = vector[0..3]. A left half white, right half black
    # image and its mirror differ, and re-reading the hex as bits gives the vector back.
    import pdqhash

    img = Image.new("RGB", (128, 128), (0, 0, 0))
    ImageDraw.Draw(img).rectangle([0, 0, 63, 127], fill=(255, 255, 255))
    bits, _ = pdqhash.compute(np.asarray(img))
    h, _ = pdq_hash(img)
    assert np.array_equal(np.unpackbits(np.frombuffer(bytes.fromhex(h), np.uint8)), bits)
    assert format(int("".join(str(int(b)) for b in bits), 2), "064x") == h


def test_sha256_hamming_and_hex_validation():
    assert sha256_hex(b"abc").startswith("ba7816bf")
    assert hamming("0" * 64, "f" * 64) == 256 and hamming("a" * 64, "A" * 64) == 0
    assert normalize_pdq_hex(" " + "AB" * 32) == "ab" * 32
    for bad in ("ab", "zz" * 32):
        with pytest.raises(ValueError):
            normalize_pdq_hex(bad)


# --------------------------------------------------------------------------------- index ---

def brute_force(items: dict[str, str], q: str, radius: int) -> list[tuple[str, int]]:
    found = [(k, hamming(v, q)) for k, v in items.items()]
    return sorted([(k, d) for k, d in found if d <= radius], key=lambda x: (x[1], x[0]))


def test_index_is_exact_against_brute_force_with_planted_neighbours():
    rng = np.random.default_rng(7)
    items = {f"item{i}": random_hex(rng) for i in range(20_000)}
    ix = PdqIndex()
    ix.add_many(list(items.items()))
    assert len(ix) == 20_000
    keys = list(items)
    for n in range(60):
        target = items[keys[n * 97]]
        q = flip_bits(target, n % 40, rng)  # distances 0..39 around the threshold
        for radius in (31, 20):
            assert ix.search(q, radius) == brute_force(items, q, radius)
    q = random_hex(rng)  # random queries: nothing within 31 bits of 20k random hashes
    assert ix.search(q, 31) == brute_force(items, q, 31) == []


def test_index_boundary_removal_replacement_and_compaction():
    rng = np.random.default_rng(3)
    ix = PdqIndex()
    base = random_hex(rng)
    ix.add("a", flip_bits(base, 31, rng))
    ix.add("b", flip_bits(base, 32, rng))
    assert ix.search(base, 31) == [("a", 31)]
    assert ix.remove("a") and not ix.remove("a")
    assert ix.search(base, 31) == [] and len(ix) == 1
    ix.add("b", base)  # replaces b's hash
    assert ix.search(base, 0) == [("b", 0)] and len(ix) == 1 and ix.hex_of("b") == base
    many = [(f"x{i}", random_hex(rng)) for i in range(3000)]
    ix.add_many(many)
    for item_id, _ in many[:2500]:
        ix.remove(item_id)
    assert len(ix) == 501 and len(ix._items) < 3000  # compacted
    assert ix.search(base, 0) == [("b", 0)]
    for item_id, h in many[2500:]:
        assert ix.search(h, 0) == [(item_id, 0)] and ix.hex_of(item_id) == h
    assert ix.memory_bytes() > 501 * 32
