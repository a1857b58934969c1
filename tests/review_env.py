"""Helpers of the review tests: a tenant of its own per test (its own queues), reviewers with
their own keys, and items made the way the pipeline makes them (`review.from_verdict`)."""
from __future__ import annotations

import hashlib
import itertools
import secrets
from typing import Any

from mmservice import review
from mmservice.review.context import Ctx
from mmservice.testing.client import Client
from mmservice.testing.procs import make_key

_n = itertools.count()
MILD = "you are a bit of an idiot"  # the stub scores it low for harassment
REVIEW_ALL = {"thresholds": {"harassment": {"review": 0.05, "block": 1.0}}}


class Tenant:
    """A fresh tenant on a stack: `admin` (all scopes) and reviewers with `review` only."""

    def __init__(self, stack: Any, name: str | None = None):
        self.stack = stack
        self.name = name or f"rt{next(_n)}-{secrets.token_hex(3)}"
        url = stack.cfg["REDIS_URL"]
        self.admin = Client(stack.api_url, make_key(url, tenant=self.name))
        self._url = url

    def reviewer(self, scopes: tuple[str, ...] = ("review",)) -> Client:
        return Client(self.stack.api_url, make_key(self._url, tenant=self.name, scopes=scopes))

    @property
    def ctx(self) -> Ctx:
        return Ctx(self.stack.services.deps, self.name)

    def item(self, *, text: str | None = None, scores: dict | None = None,
             verdict: str = "review", kind: str = "text", lists: list | None = None,
             job_id: str | None = None) -> dict:
        """An item as the moderate step makes one, for a job that need not exist."""
        text = text if text is not None else "content " + secrets.token_hex(6)
        scores = scores if scores is not None else {"harassment": 0.6}
        job = {"id": job_id or "job_fake" + secrets.token_hex(6), "tenant": self.name,
               "input": {"kind": kind, "sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "mime": "text/plain"}, "_text": text}
        result = {"verdict": verdict, "category_scores": scores,
                  "categories": {c: s >= 0.5 for c, s in scores.items()},
                  "policy": {"name": "builtin", "version": 0}, "matched_lists": lists or []}
        item = review.from_verdict(self.stack.services.deps, job, result)
        assert item is not None
        return item

    def next(self, who: Client, queue: str = "default"):
        return who.post(f"/v1/review/queues/{queue}/next", json={})

    def decide(self, who: Client, item_id: str, token: str, decision: str = "reject", **kw):
        return who.post(f"/v1/review/{item_id}/decision",
                        json={"decision": decision, "lease_token": token, **kw})
