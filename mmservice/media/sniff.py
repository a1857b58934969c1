"""What an upload really is, from its first bytes.

Why magic bytes and not the client's Content-Type or file name: both are whatever the client says,
and the type decides which decoder touches the bytes. The returned mime also picks ffmpeg's
demuxer (see `ffmpeg.DEMUXERS`) and the file extension sent upstream.
"""
from __future__ import annotations

# ISO-BMFF brands that are MP4/M4A audio (or video with an audio track). HEIF/AVIF brands
# (heic, mif1, avif) share the `ftyp` box and must not be taken for audio.
_MP4_BRANDS = {
    b"M4A ", b"M4B ", b"M4P ", b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41",
    b"mp42", b"dash", b"avc1", b"MSNV", b"NDAS", b"F4A ", b"F4V ", b"qt  ", b"3gp4", b"3gp5",
    b"3gp6", b"3g2a", b"mp71",
}

EXTENSIONS = {
    "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
    "audio/wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac", "audio/ogg": "ogg",
    "audio/webm": "webm", "audio/mp4": "m4a", "audio/aac": "aac",
}


def extension_for(mime: str) -> str:
    """File extension for a sniffed mime: OpenAI's upload endpoints judge the file by its name."""
    return EXTENSIONS.get(mime, "bin")


def _mpeg_audio(data: bytes, pos: int = 0) -> str | None:
    """MPEG audio frame header at `pos`: MP3 (layers I-III) or AAC in ADTS (layer bits 00)."""
    if len(data) < pos + 4 or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[pos + 1], data[pos + 2]
    if b1 & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 00
        return "audio/aac"
    version, layer = (b1 >> 3) & 0x03, (b1 >> 1) & 0x03
    bitrate, rate = b2 >> 4, (b2 >> 2) & 0x03
    if version == 1 or layer == 0 or bitrate == 0x0F or rate == 0x03:  # reserved values
        return None
    return "audio/mpeg"


def _after_id3(data: bytes) -> str:
    """ID3 tags can precede FLAC or ADTS as well as MP3: look past the tag when we have it."""
    if len(data) >= 10:
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
        if data[pos:pos + 4] == b"fLaC":
            return "audio/flac"
        found = _mpeg_audio(data, pos)
        if found:
            return found
    return "audio/mpeg"


def sniff(data: bytes) -> tuple[str, str] | None:
    """`(kind, mime)` such as `("image", "image/png")`, or None when we do not accept the bytes."""
    head = bytes(data[:64])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head.startswith(b"ID3"):
        return "audio", _after_id3(bytes(data[:1 << 20]))
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac"
    if head.startswith(b"OggS"):
        return "audio", "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio", "audio/webm"
    if head[4:8] == b"ftyp" and head[8:12] in _MP4_BRANDS:
        return "audio", "audio/mp4"
    mpeg = _mpeg_audio(head)
    if mpeg:
        return "audio", mpeg
    return None
