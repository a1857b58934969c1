"""Figure 5 - image preparation: a 12 MP JPEG (4000 x 3000, photo-like, 2 MB) to the size a
vision model works at, with `mmservice.media.images.prepare_for_vision` (EXIF-aware, JPEG
`Image.draft` DCT-domain downscale, LANCZOS, JPEG q85), against a naive full decode + LANCZOS
resize to the same size + JPEG q85, in the same process, alternating, median of 7.
Target: <= 0.4 x naive. Also: bytes sent upstream vs the original.

Last line: the time ratio (prepare_for_vision / naive).
"""
from __future__ import annotations

import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._media import jpeg_12mp  # noqa: E402
from bench._report import main_guard, report, result  # noqa: E402

REPS = int(os.environ.get("BENCH_IMAGE_REPS", "7"))
TARGET = 0.4


def naive(data: bytes, size: tuple[int, int]) -> bytes:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()  # every one of the 12 M pixels
    img = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t0) * 1000, out


def main() -> int:
    from mmservice.media.images import prepare_for_moderation, prepare_for_vision, vision_size

    data = jpeg_12mp()
    size = vision_size(4000, 3000, "high")
    prepare_for_vision(data)  # warm-up: imports, decoder tables
    naive(data, size)
    t_prep, t_naive, t_low, t_mod = [], [], [], []
    prep = low = None
    for _ in range(REPS):
        ms, prep = timed(prepare_for_vision, data)
        t_prep.append(ms)
        ms, naive_out = timed(naive, data, size)
        t_naive.append(ms)
        ms, low = timed(lambda d: prepare_for_vision(d, detail="low"), data)
        t_low.append(ms)
        ms, _ = timed(prepare_for_moderation, data)
        t_mod.append(ms)
    p_prep, p_naive = statistics.median(t_prep), statistics.median(t_naive)
    ratio = round(p_prep / p_naive, 3)
    bytes_ratio = round(len(prep.data) / len(data), 4)
    details = {
        "original": {"width": 4000, "height": 3000, "bytes": len(data)},
        "prepared_high": {"width": prep.width, "height": prep.height, "bytes": len(prep.data),
                          "mime": prep.mime, "tokens_estimate": prep.tokens,
                          "ms_median": round(p_prep, 1), "ms_all": [round(x, 1) for x in t_prep]},
        "prepared_low": {"width": low.width, "height": low.height, "bytes": len(low.data),
                         "ms_median": round(statistics.median(t_low), 1)},
        "prepare_for_moderation_ms_median": round(statistics.median(t_mod), 1),
        "naive": {"width": size[0], "height": size[1], "bytes": len(naive_out),
                  "ms_median": round(p_naive, 1), "ms_all": [round(x, 1) for x in t_naive]},
        "upstream_bytes_base64": {"prepared": (len(prep.data) + 2) // 3 * 4,
                                  "original": (len(data) + 2) // 3 * 4},
    }
    results = [
        result("image_prep_time_ratio", ratio, "x naive full decode + LANCZOS",
               f"naive {p_naive:.0f} ms, prepare_for_vision {p_prep:.0f} ms per 12 MP JPEG",
               f"<= {TARGET}", ratio <= TARGET),
        result("image_prep_bytes_ratio", bytes_ratio, "x original bytes (sent upstream)",
               f"original {len(data)} B -> {len(prep.data)} B ({prep.width}x{prep.height})",
               "smaller than the original (no numeric target)", bytes_ratio < 1.0),
    ]
    print(details)
    return report("image_prep", results, details, ratio)


if __name__ == "__main__":
    main_guard(main)
