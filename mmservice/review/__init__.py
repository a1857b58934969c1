"""The moderation review queue (issue 16): items, queues, leases, decisions, reports, appeals.

Why a package of small modules: what an item is (`items`), where it goes (`routing`), in what
order (`priority`), who holds it (`leases`: one Lua script hands an item to one reviewer with a
fencing token), what a reviewer decides (`decisions`), what users send (`reports`, `appeals`),
how much harm one reviewer sees (`wellness`), what operators read (`stats`) and do in bulk
(`bulk`) change for different reasons. `enqueue.from_verdict` is the one call site from the job
pipeline into the queue (the moderate step calls it; the OpenAI-compatible facade calls the same
function). The `/review` page (`page`) and the `/v1/review` API call the same functions.

Every change is appended to the tenant's hash-chained audit log (`mmservice.audit`).
"""
from __future__ import annotations

from mmservice.review.enqueue import from_verdict

__all__ = ["from_verdict"]
