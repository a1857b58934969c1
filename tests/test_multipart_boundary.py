"""The API's multipart decoder (`mmservice.api.multipart_boundary`) against werkzeug's own: the
same events for bodies built to confuse a boundary search, fed in chunks of many sizes, and the
same form and files through a whole request."""
from __future__ import annotations

import io
import random

import pytest
import werkzeug.formparser as formparser
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    Preamble,
)

from mmservice.api.multipart_boundary import LiteralFirstDecoder, install

BOUNDARY = b"----mms7Fq2boundary"
DELIM = b"--" + BOUNDARY


def _part(name: str, data: bytes, filename: str | None = None, lb: bytes = b"\r\n") -> bytes:
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = b"Content-Disposition: " + disp.encode() + lb
    if filename:
        head += b"Content-Type: application/octet-stream" + lb
    return DELIM + lb + head + lb + data + lb


def _bodies() -> list[bytes]:
    rng = random.Random(7)
    tricky = [
        DELIM,  # the boundary inside data with no line break before it
        b"x" + DELIM + b"y",
        b"\r\n" + DELIM + b"garbage",  # a line break, then the boundary with a bad suffix
        b"\n" + DELIM + b"-",  # one dash short of the closing delimiter
        b"\r" + DELIM[:-1],  # a partial boundary
        b"-" * 300 + BOUNDARY,
        b"\r\n\r\n\r\r\n\n",
    ]
    out = []
    for i in range(60):
        lb = [b"\r\n", b"\n", b"\r"][i % 3] if i % 5 == 0 else b"\r\n"
        parts = []
        for j in range(rng.randint(1, 4)):
            payload = rng.randbytes(rng.choice([0, 1, 17, 4000, 70_000]))
            for t in rng.sample(tricky, rng.randint(0, 3)):
                at = rng.randint(0, len(payload))
                payload = payload[:at] + t + payload[at:]
            parts.append(_part(f"f{j}", payload, "a.bin" if j % 2 else None, lb))
        preamble = b"" if i % 4 else b"a preamble " + DELIM + b"x\r\n"
        out.append(preamble + b"".join(parts) + DELIM + b"--" + lb + b"epilogue")
    return out


def _events(decoder_cls: type, body: bytes, chunk: int) -> list:
    d = decoder_cls(BOUNDARY, max_form_memory_size=None)
    events: list = []
    for i in range(0, len(body) + 1, chunk):
        piece = body[i:i + chunk]
        d.receive_data(piece if piece else None)
        while True:
            try:
                e = d.next_event()
            except ValueError as exc:  # a body the decoder refuses: the same refusal
                events.append(("error", str(exc)))
                return events
            if isinstance(e, NeedData):
                break
            events.append(_plain(e))
            if isinstance(e, Epilogue):
                return events
        if not piece:
            break
    return events


def _plain(e) -> tuple:
    if isinstance(e, (Field, File)):
        return (type(e).__name__, e.name, getattr(e, "filename", None), list(e.headers.items()))
    if isinstance(e, Data):
        return ("Data", bytes(e.data), e.more_data)
    if isinstance(e, (Preamble, Epilogue)):
        return (type(e).__name__, bytes(e.data))
    return (type(e).__name__,)


def _merged(events: list) -> list:
    """Data events joined per part: chunking may split data differently, never change it."""
    out: list = []
    for e in events:
        if e[0] == "Data" and out and out[-1][0] == "Data" and out[-1][2]:
            out[-1] = ("Data", out[-1][1] + e[1], e[2])
        else:
            out.append(e)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 65_536, 10 ** 7])
def test_same_events_as_werkzeugs_decoder(chunk):
    bodies = _bodies()
    if chunk < 64:  # byte-by-byte feeding is slow: the smaller bodies are enough
        bodies = [b for b in bodies if len(b) < 20_000]
    for body in bodies:
        ours = _events(LiteralFirstDecoder, body, chunk)
        theirs = _events(MultipartDecoder, body, chunk)
        assert _merged(ours) == _merged(theirs)
        assert any(e[0] in ("Field", "File") for e in theirs), "a body with no part tests little"


def _parsed(body: bytes) -> tuple[dict, dict]:
    env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE":
           "multipart/form-data; boundary=" + BOUNDARY.decode(),
           "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    _, form, files = formparser.parse_form_data(env)
    return dict(form.items()), {k: f.read() for k, f in files.items()}


def test_installed_by_the_api_and_a_whole_form_parses_the_same(monkeypatch):
    assert install()  # what `create_app` does
    assert formparser.MultipartDecoder is LiteralFirstDecoder
    bodies = _bodies()[:12]
    ours = [_parsed(b) for b in bodies]
    monkeypatch.setattr(formparser, "MultipartDecoder", MultipartDecoder)
    assert ours == [_parsed(b) for b in bodies]
    assert any(files for _form, files in ours) and any(form for form, _files in ours)
