"""Jobs without the HTTP API, for benchmarks of the worker alone: a submitter that creates jobs
exactly as `POST /v1/jobs` does, in this process; sample texts; job timestamps as numbers.
"""
from __future__ import annotations

import random


class Submitter:
    """Creates jobs exactly as `POST /v1/jobs` does (`mmservice.jobs.intake.submit`: record,
    then the Celery message), in this process: for benchmarks of the worker alone."""

    def __init__(self, cfg: dict):
        from mmservice import config as mms_config
        from mmservice.blobs import blob_store_from_config
        from mmservice.jobs.dispatch import make_enqueue_step
        from mmservice.jobs.store import JobStore
        from mmservice.redis_conn import get_redis
        from workers.celery_app import make_celery

        self.cfg = mms_config.load(dict(cfg), environ={})
        self.r = get_redis(self.cfg["REDIS_URL"])
        self.store = JobStore(self.r, self.cfg["JOB_TTL_S"])
        self.blobs = blob_store_from_config(self.cfg)
        self.celery = make_celery(self.cfg)
        self.enqueue_step = make_enqueue_step(self.celery, self.r, self.cfg["JOB_TTL_S"])

    def text(self, text: str, **fields) -> str:
        from mmservice.jobs.intake import submit

        job, _ = submit({"text": text, **fields}, None, cfg=self.cfg, store=self.store,
                        blobs=self.blobs,
                        enqueue=lambda j: self.enqueue_step(j, j["tasks"][0], marked=True),
                        tenant=self.cfg["TENANT"], idempotency_key=None)
        return job["id"]

    def settled(self) -> int:
        vals = self.r.mget(["mms:metrics:jobs_finished:succeeded",
                            "mms:metrics:jobs_finished:failed"])
        return sum(int(v or 0) for v in vals)

    def failed(self) -> int:
        return int(self.r.get("mms:metrics:jobs_finished:failed") or 0)

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
