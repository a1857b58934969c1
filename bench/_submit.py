"""Jobs without the HTTP API, for benchmarks of the worker alone: a submitter that creates jobs
exactly as `POST /v1/jobs` does, in this process; sample texts; job timestamps as numbers.
"""
from __future__ import annotations

import random


class Submitter:
    """Creates jobs exactly as `POST /v1/jobs` does (`mmservice.jobs.intake.submit` on the
    composition root's services: record and first message together), in this process: for
    benchmarks of the worker alone."""

    def __init__(self, cfg: dict):
        from mmservice import config as mms_config
        from mmservice.services import build

        self.cfg = mms_config.load(dict(cfg), environ={})
        self.services = build(self.cfg, role="api")
        self.r = self.services.redis
        self.store = self.services.store
        self._finished = self.store.keys.metrics("jobs_finished")

    def text(self, text: str, **fields) -> str:
        from mmservice.jobs.intake import submit

        job, _ = submit({"text": text, **fields}, None, self.services.deps,
                        tenant=self.cfg["TENANT"], idempotency_key=None)
        return job["id"]

    def settled(self) -> int:
        return sum(int(v or 0) for v in self.r.hmget(self._finished, ["succeeded", "failed"]))

    def failed(self) -> int:
        return int(self.r.hget(self._finished, "failed") or 0)

    def job(self, job_id: str) -> dict:
        return self.store.get(self.cfg["TENANT"], job_id)


def texts(n: int, seed: int = 1, words: int = 12) -> list[str]:
    rng = random.Random(seed)
    vocab = ("the quick brown fox jumps over a lazy dog while the moderator reads every "
             "message carefully before lunch and nobody gets hurt today").split()
    return [" ".join(rng.choice(vocab) for _ in range(words)) + f" #{seed}-{i}" for i in range(n)]


def iso_ms(value: str) -> float:
    """A job timestamp (ISO, ms, Z) as epoch milliseconds."""
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
