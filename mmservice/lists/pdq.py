"""Media hashes for hash lists: PDQ (perceptual, 256 bits) and SHA-256 (exact bytes).

Why PDQ and this hex format: Meta's Hasher-Matcher-Actioner and ThreatExchange exchange PDQ hashes
as 64 lower-case hex characters, and a tenant must be able to paste a hash from such a bank. The
`pdqhash` binding returns the 256 bits as a vector whose element 0 is bit 255 of the reference
`Hash256` (`hash_to_vector` reverses the word/bit order), so reading the vector as one big-endian
binary number gives exactly the reference `Hash256::format()` text (word 15 first, `%04hx` each),
the same conversion ThreatExchange's own Python code does (`"".join(bits)` -> `int(..., 2)` ->
hex). Hamming distance does not depend on the order, but cross-system matching does.

Quality is PDQ's own gradient-based score (0-100); HMA ignores hashes below 50 (flat or nearly
blank images hash to noise), and so should callers (the per-list minimum lives with the list).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pdqhash
from PIL import Image

PDQ_HEX_LEN = 64
PDQ_BYTES = 32
DEFAULT_MAX_DISTANCE = 31  # HMA's default match threshold
DEFAULT_MIN_QUALITY = 50  # HMA's default: below it a hash is not used


def pdq_hash(image: Image.Image) -> tuple[str, int]:
    """The PDQ hash of `image` as 64 hex chars (ThreatExchange format) and its quality 0-100.

    The image is converted to RGB first (PDQ hashes luminance; palette, alpha and 16-bit modes
    would otherwise reach the binding as the wrong array shape)."""
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    bits, quality = pdqhash.compute(rgb)
    return bits_to_hex(np.asarray(bits, dtype=np.uint8)), int(quality)


def bits_to_hex(bits: np.ndarray) -> str:
    """256 bits, most significant first (the binding's order), to 64 hex chars."""
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def hex_to_bytes(hex_hash: str) -> bytes:
    """Validate and decode a PDQ hex hash (case-insensitive) to its 32 bytes."""
    if len(hex_hash) != PDQ_HEX_LEN:
        raise ValueError(f"a PDQ hash is {PDQ_HEX_LEN} hex characters, got {len(hex_hash)}")
    try:
        return bytes.fromhex(hex_hash)
    except ValueError:
        raise ValueError("a PDQ hash is hexadecimal (0-9, a-f)") from None


def normalize_pdq_hex(hex_hash: str) -> str:
    """The canonical (lower-case) form of a PDQ hex hash; ValueError if it is not one."""
    return hex_to_bytes(hex_hash.strip()).hex()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_sha256_hex(hex_hash: str) -> str:
    """The canonical (lower-case) form of a SHA-256 hex digest; ValueError if it is not one."""
    h = hex_hash.strip().lower()
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError("a SHA-256 hash is 64 hex characters")
    return h


def hamming(a_hex: str, b_hex: str) -> int:
    """Hamming distance of two PDQ hex hashes (number of differing bits, 0-256)."""
    return (int.from_bytes(hex_to_bytes(a_hex), "big")
            ^ int.from_bytes(hex_to_bytes(b_hex), "big")).bit_count()
