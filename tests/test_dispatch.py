"""The API's own task publisher (`RedisTaskPublisher`) against the real Celery + kombu + Redis.

The publisher writes Celery's message format itself, so this pins that format: a message built
here must equal, field by field, the one `send_task` puts on the Redis list. A Celery or kombu
upgrade that changes the envelope fails here. The end-to-end tests (test_jobs_api,
test_media_jobs, ...) then show a real worker consuming what the API published this way.
"""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis

from mmservice import config as mms_config
from mmservice.celery_init import make_celery
from mmservice.jobs.dispatch import RedisTaskPublisher, make_enqueue_step, marker_key

QUEUE = "test-dispatch-pinned"  # no worker consumes it


@pytest.fixture()
def setup(redis_server):
    cfg = mms_config.load({"REDIS_URL": redis_server.url}, environ={})
    r = redis.Redis.from_url(cfg["REDIS_URL"])
    r.delete(QUEUE)
    yield cfg, make_celery(cfg), r
    r.delete(QUEUE)


def _decoded(raw: bytes) -> dict:
    msg = json.loads(raw)
    assert msg["properties"]["body_encoding"] == "base64"
    msg["body"] = json.loads(base64.b64decode(msg["body"]))
    return msg


def test_message_is_what_send_task_publishes(setup):
    cfg, app, r = setup
    args = ["default", "job_0199aabbccddeeff00112233", "moderate"]
    app.send_task("mms.moderate", args=args, task_id=args[1], queue=QUEUE)
    RedisTaskPublisher(app, r)("mms.moderate", args, args[1], QUEUE)
    assert r.llen(QUEUE) == 2
    ours, theirs = _decoded(r.lindex(QUEUE, 0)), _decoded(r.lindex(QUEUE, 1))
    # The delivery tag is a fresh uuid per message (kombu: the unacked-hash key).
    tags = [m["properties"].pop("delivery_tag") for m in (ours, theirs)]
    assert all(str(uuid.UUID(t)) == t for t in tags) and tags[0] != tags[1]
    assert ours == theirs
    assert ours["body"] == [args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                       "chord": None}]
    # A step task id, as the workers' next steps use, is carried the same way.
    task_id = f"{args[1]}.describe"
    app.send_task("mms.describe", args=args, task_id=task_id, queue=QUEUE)
    RedisTaskPublisher(app, r)("mms.describe", args, task_id, QUEUE)
    ours, theirs = _decoded(r.lindex(QUEUE, 0)), _decoded(r.lindex(QUEUE, 1))
    for m in (ours, theirs):
        m["properties"].pop("delivery_tag")
    assert ours == theirs and ours["headers"]["id"] == ours["headers"]["root_id"] == task_id


def test_only_the_configuration_it_was_written_for(setup, base_cfg):
    cfg, app, r = setup
    assert RedisTaskPublisher.usable(app, cfg["REDIS_URL"])
    # What the end-to-end tests' API runs with: they exercise this publisher.
    assert RedisTaskPublisher.usable(make_celery(mms_config.load(base_cfg, environ={})),
                                     base_cfg["REDIS_URL"])
    assert not RedisTaskPublisher.usable(app, cfg["REDIS_URL"] + "1")  # another broker db
    app.conf.broker_transport_options = {**app.conf.broker_transport_options,
                                         "global_keyprefix": "x:"}
    assert not RedisTaskPublisher.usable(app, cfg["REDIS_URL"])
    other = make_celery(cfg)
    other.conf.task_routes = {"mms.*": {"queue": "elsewhere"}}
    assert not RedisTaskPublisher.usable(other, cfg["REDIS_URL"])
    other = make_celery(cfg)
    other.conf.task_serializer = "pickle"
    assert not RedisTaskPublisher.usable(other, cfg["REDIS_URL"])


def test_failed_publish_releases_the_marker(setup):
    cfg, app, r = setup
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,  # nothing listens
                       retry=Retry(NoBackoff(), 0))
    enqueue = make_enqueue_step(app, r, 60, publish=RedisTaskPublisher(app, dead))
    job = {"tenant": "default", "id": f"job_{uuid.uuid4().hex}", "tasks": ["moderate"]}
    with pytest.raises(redis.exceptions.ConnectionError):
        enqueue(job, "moderate")
    assert r.get(marker_key(job, "moderate")) is None  # a retry may enqueue it again


def test_first_message_rides_in_the_record_transaction(setup):
    """The API's first task message is queued into the MULTI that creates the job record: the
    same message `step_task` + the publisher build, on the step's queue, in one transaction."""
    from mmservice.jobs.dispatch import step_task

    cfg, app, r = setup
    publisher = RedisTaskPublisher(app, r)
    job = {"id": "job_0199aabbccddeeff00112299", "tenant": "default",
           "tasks": ["transcribe", "moderate"]}
    pipe = r.pipeline(transaction=True)
    publisher.queue_first_step(pipe, job)
    [(cmd, _opts)] = pipe.command_stack
    assert cmd[:2] == ("LPUSH", "audio")
    msg = _decoded(cmd[2])
    assert msg["headers"]["task"] == "mms.transcribe" and msg["headers"]["id"] == job["id"]
    assert msg["body"][0] == ["default", job["id"], "transcribe"]
    assert step_task(job, "moderate") == ("mms.moderate", ["default", job["id"], "moderate"],
                                          f"{job['id']}.moderate", "moderation")
    pipe.reset()
