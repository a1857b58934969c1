"""`/readyz` follows the workers: a queue with no live consumer is 503 naming the queue, and each
capability says whether its engine is warm (workers' heartbeats, `mmservice.heartbeat`)."""
from __future__ import annotations

from mmservice.testing.stack import wait_until

QUEUES = ("moderation", "vision", "audio", "webhooks")


def _ready(s) -> tuple[int, dict]:
    r = s.client.get("/readyz")
    return r.status_code, r.json()


def _warm(s) -> bool:
    status, body = _ready(s)
    return status == 200 and all(c["warm"] for c in body["capabilities"].values())


def test_killed_worker_makes_readyz_503_naming_its_queues_until_another_starts(stack):
    s = stack({"WORKER_HEARTBEAT_TTL_S": 1.5})
    wait_until(lambda: _warm(s), 30, 0.1, "the worker's engines warm")
    status, body = _ready(s)
    assert status == 200 and body["status"] == "ready"
    assert body["checks"]["workers"] == {"ok": True, "live": 1, "queues": dict.fromkeys(QUEUES, 1)}
    assert body["capabilities"]["moderation"] == {"provider": "openai", "queue": "moderation",
                                                  "engine": "warm", "warm": True}
    assert body["capabilities"]["transcription"]["queue"] == "audio"

    s.worker.kill()  # SIGKILL: no goodbye, the heartbeat only expires
    wait_until(lambda: _ready(s)[0] == 503, 20, 0.1, "/readyz 503 after the heartbeat expired")
    status, body = _ready(s)
    assert body["status"] == "unavailable" and body["checks"]["workers"]["ok"] is False
    assert body["checks"]["workers"]["live"] == 0
    assert "no live worker consumes queue(s) audio, moderation, vision, webhooks" in body["reason"]
    assert {c["engine"] for c in body["capabilities"].values()} == {"no_worker"}
    assert body["checks"]["redis"]["ok"] and body["checks"]["broker"]["ok"]

    s.add_worker("heir")  # its heartbeat is written before it logs "ready."
    status, body = _ready(s)
    assert status == 200, body
    wait_until(lambda: _warm(s), 30, 0.1, "the new worker's engines warm")
    assert _ready(s)[1]["checks"]["workers"]["live"] == 1


def test_stopped_worker_withdraws_at_once_and_a_partial_worker_names_the_rest(stack):
    s = stack(queues="moderation,vision,audio")
    status, body = _ready(s)
    assert status == 503, body
    assert body["reason"].startswith("no live worker consumes queue(s) webhooks:")
    assert body["checks"]["workers"]["queues"] == {"moderation": 1, "vision": 1, "audio": 1,
                                                   "webhooks": 0}
    assert body["capabilities"]["moderation"]["engine"] in ("warming", "warm")

    s.worker.stop()  # SIGTERM: the worker removes its heartbeat on the way out (default TTL 30 s)
    status, body = _ready(s)
    assert status == 503 and body["checks"]["workers"]["live"] == 0
    assert "audio, moderation, vision, webhooks" in body["reason"]
