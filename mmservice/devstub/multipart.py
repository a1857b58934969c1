"""Minimal multipart/form-data parsing for the upload endpoints.

Not `cgi` (deprecated, gone in 3.13) nor `email` (slow and memory-hungry on a 25 MB clip): the
openai client always sends a well-formed body with a fresh boundary, so a split is enough.
"""
from __future__ import annotations

import re

_PARAM = re.compile(r'(\w+\*?)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


def _params(header_value: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(header_value)}


def parse_multipart(body: bytes, content_type: str):
    """Returns (form: {name: [text values]}, files: {name: {filename, content_type, data}})."""
    boundary = _params(content_type).get("boundary")
    if not boundary:
        raise ValueError("multipart body without boundary")
    form: dict[str, list[str]] = {}
    files: dict[str, dict] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without header terminator")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disp = _params(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None:
            continue
        if "filename" in disp or "filename*" in disp:
            files[name] = {"filename": disp.get("filename") or disp.get("filename*", ""),
                           "content_type": headers.get("content-type",
                                                       "application/octet-stream"),
                           "data": data}
        else:
            form.setdefault(name, []).append(data.decode("utf-8", "replace"))
    return form, files
