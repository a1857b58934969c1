"""What a client of the API does (submit, poll, read errors), over real HTTP with `requests`.

Why a helper and not raw `requests` in every test: polling to a terminal status with a deadline
is the same loop everywhere, and its failure message must say where the job got stuck.
"""
from __future__ import annotations

import io
import time

import requests


class Client:
    """`key`: the API key every request sends (`Authorization: Bearer`); None sends none."""

    def __init__(self, base: str, key: str | None = None):
        self.base = base
        self.key = key
        self.s = requests.Session()
        if key:
            self.s.headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kw):
        return self.s.get(self.url(path), **{"timeout": 30, **kw})

    def post(self, path: str, **kw):
        return self.s.post(self.url(path), **{"timeout": 60, **kw})

    def delete(self, path: str, **kw):
        return self.s.delete(self.url(path), **{"timeout": 30, **kw})

    def submit(self, payload: dict, headers: dict | None = None):
        return self.post("/v1/jobs", json=payload, headers=headers or {})

    def submit_file(self, name: str, data: bytes, mime: str, fields: dict | None = None):
        return self.post("/v1/jobs", files={"file": (name, io.BytesIO(data), mime)},
                         data=fields or {})

    def poll(self, job_id: str, timeout: float = 60, until=("succeeded", "failed", "canceled")):
        deadline = time.monotonic() + timeout
        job: dict = {}
        while time.monotonic() < deadline:
            r = self.get(f"/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job = r.json()
            if job["status"] in until:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} not in {until} after {timeout}s: {job}")

    def run(self, payload: dict, timeout: float = 60) -> dict:
        r = self.submit(payload)
        # 200: a cache hit judged at intake, answered settled (`cache.at_intake`).
        assert r.status_code in (200, 202), r.text
        assert (r.status_code == 200) == (r.json()["status"] == "succeeded"), r.text
        return self.poll(r.json()["id"], timeout)
