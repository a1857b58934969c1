"""Review artifacts of a video job: a thumbnail per flagged keyframe and one contact sheet.

Why stored as blobs next to the job's media: they are served by the job's own routes
(`GET /v1/jobs/<id>/frames/<n>`, `/contact-sheet`), so tenant isolation, retention (`JOB_TTL_S`)
and `DELETE /v1/jobs/<id>` cover them like any other artifact. The sheet marks flagged tiles
with a red border and their time; a review page shows it blurred until a moderator asks.
"""
from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image, ImageDraw

THUMB_SIDE = 320
TILE_W, TILE_H = 192, 108
SHEET_COLS = 8
SHEET_MAX_TILES = 96


def thumb_key(job: dict, index: int) -> str:
    return f"{job['tenant']}/{job['id']}/frames/{int(index)}.jpg"


def keyframe_key(job: dict, index: int) -> str:
    return f"{job['tenant']}/{job['id']}/keyframes/{int(index):05d}.jpg"


def sheet_key(job: dict) -> str:
    return f"{job['tenant']}/{job['id']}/contact-sheet.jpg"


def _jpeg(img: Image.Image, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def thumbnail(jpeg: bytes) -> bytes:
    img = Image.open(io.BytesIO(jpeg))
    img.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return _jpeg(img)


def pick(frames: list[dict[str, Any]], limit: int = SHEET_MAX_TILES) -> list[dict[str, Any]]:
    """Every flagged frame, then evenly spread others, up to `limit`, in time order."""
    flagged = [f for f in frames if f.get("flagged")][:limit]
    rest = [f for f in frames if not f.get("flagged")]
    room = limit - len(flagged)
    if room > 0 and rest:
        step = max(1.0, len(rest) / room)
        flagged += [rest[int(i * step)] for i in range(min(room, len(rest)))]
    return sorted(flagged, key=lambda f: f["index"])


def contact_sheet(tiles: list[tuple[dict[str, Any], bytes]]) -> bytes:
    """`(frame result, keyframe jpeg)` pairs -> one JPEG grid, flagged tiles outlined in red."""
    rows = max(1, math.ceil(len(tiles) / SHEET_COLS))
    cols = min(SHEET_COLS, max(1, len(tiles)))
    sheet = Image.new("RGB", (cols * TILE_W, rows * (TILE_H + 14)), "black")
    draw = ImageDraw.Draw(sheet)
    for n, (frame, jpeg) in enumerate(tiles):
        img = Image.open(io.BytesIO(jpeg)).convert("RGB")
        img.thumbnail((TILE_W - 4, TILE_H - 4))
        x, y = (n % SHEET_COLS) * TILE_W, (n // SHEET_COLS) * (TILE_H + 14)
        sheet.paste(img, (x + 2, y + 2))
        if frame.get("flagged"):
            draw.rectangle([x, y, x + TILE_W - 1, y + TILE_H - 1], outline=(230, 0, 0), width=3)
        label = f"#{frame['index']} {frame['t']:.1f}s"
        draw.text((x + 3, y + TILE_H + 1), label, fill=(255, 80, 80) if frame.get("flagged")
                  else (220, 220, 220))
    return _jpeg(sheet, 75)
