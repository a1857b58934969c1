"""A video's keyframes are judged while ffmpeg still decodes (the streaming split), and a split
that dies mid-stream loses no part and sends none twice.

The video step, the fan-out, its Redis hash, the recovery sweep, the job store and ffmpeg are the
real ones against a real Redis; what is supplied is the moderation provider (one that records,
on each keyframe it judges, whether the decode was still running) and the broker: `send_task`
either runs a part in place (so a part runs exactly when its message is published, and nothing
waits on a clock) or keeps the message for the test to deliver.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import psutil
import pytest

import videogen
from doubles import OneProvider
from mmservice.providers.base import RawModeration
from mmservice.testing.stack import wait_until


class _Frames:
    """Judges every image as calm; notes, per call, whether this process's keyframe ffmpeg
    (the one writing `mpjpeg`) was still running and whether the split had ended."""

    name, model = "test", "omni-test"

    def __init__(self, deps, key_of):
        self.deps, self.key_of, self.seen = deps, key_of, []

    def moderate_image(self, data: bytes, mime: str):
        decoding = bool(_keyframe_ffmpegs())
        self.seen.append({"decoding": decoding,
                          "split_ended": bool(self.deps.redis.hexists(self.key_of(), "_final"))})
        return RawModeration({"violence": 0.01}, ["violence"], self.model, self.name)

    def moderate_texts(self, texts: list[str]):
        return [RawModeration({"violence": 0.01}, ["violence"], self.model, self.name)
                for _ in texts]


def _keyframe_ffmpegs() -> list[psutil.Process]:
    """This process's running ffmpeg children that write keyframes (`-f mpjpeg`)."""
    out = []
    for p in psutil.Process().children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "mpjpeg" in p.cmdline():
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(scope="module")
def clip() -> bytes:
    """40 s of 640x360 at 10 fps, a cut every 5 s: 24 keyframes, 12 of them test patterns of
    ~20 KB, so ffmpeg's output is several times a pipe's 64 KB: it cannot have finished while
    the first part holds the reader."""
    scenes = [(5, "testsrc" if i % 2 == 0 else f"color={c}")
              for i, c in enumerate(["red", "navy", "green", "teal"] * 2)]
    return videogen.make(scenes, size=(640, 360), fps=10)


@pytest.fixture()
def env(base_cfg, tmp_path):
    from mmservice import config
    from mmservice.blobs import LocalBlobStore
    from mmservice.jobs import recovery
    from mmservice.jobs.deps import Deps
    from mmservice.jobs.store import JobStore
    from mmservice.redis_conn import get_redis

    r = get_redis(base_cfg["REDIS_URL"])
    store = JobStore(r, 600, prefix=f"mmsvs{uuid.uuid4().hex[:8]}")
    cfg = config.load({**base_cfg, "VIDEO_OCR": False}, environ={})
    deps = Deps(cfg=cfg, redis=r, store=store, blobs=LocalBlobStore(str(tmp_path / "blobs")),
                providers=None, enqueue_step=lambda job, step: None, send_task=None)
    yield deps
    recovery.set_runner("")


def _video_job(deps, data: bytes) -> dict:
    from mmservice.media.inspect import inspect_media

    ts = time.time()
    job = {"id": f"job_{uuid.uuid4().hex}", "tenant": f"t{uuid.uuid4().hex[:6]}",
           "status": "queued", "tasks": ["moderate"], "task_status": {"moderate": "pending"},
           "results": {}, "input": inspect_media(data, deps.cfg, "file"), "options": {},
           "_created_ts": ts, "_deadline_ts": ts + 300, "created_at": "x", "updated_at": "x"}
    job["_blob"] = f"{job['tenant']}/{job['id']}/input"
    deps.blobs.put(job["_blob"], data)
    deps.store.create(job)
    return job


def _key(deps, job) -> str:
    return deps.store.keys.fanout(job["tenant"], job["id"], "moderate")


def _expected_frames(deps, data: bytes, tmp_path) -> list:
    from mmservice.video.keyframes import extract

    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    return extract(str(path), "video/mp4", 40.0, deps.cfg)


def test_keyframes_are_judged_while_ffmpeg_still_decodes(env, clip, tmp_path):
    """Each part runs the moment its message is published: the first keyframes are judged
    while ffmpeg is still running and before the split has ended (a serial split, publishing
    once the decode is done, fails both); the job is stitched once, with every keyframe."""
    from mmservice.jobs import fanout
    from mmservice.jobs.pipeline import run_step

    deps = env
    job = _video_job(deps, clip)
    provider = _Frames(deps, lambda: _key(deps, job))
    deps.providers = OneProvider(provider)
    outcomes: list[str] = []
    deps.send_task = lambda name, args, **kw: outcomes.append(fanout.run_part(deps, *args))
    assert run_step(job["tenant"], job["id"], "moderate", deps) == "fanned-out"
    expected = _expected_frames(deps, clip, tmp_path)
    assert len(expected) >= 15
    assert provider.seen[0] == {"decoding": True, "split_ended": False}, provider.seen[:3]
    assert not any(s["split_ended"] for s in provider.seen)
    # Every part ran before the decode ended, so none could stitch: the split did, once.
    assert outcomes == ["part-done"] * len(expected)
    saved = deps.store.get(job["tenant"], job["id"])
    assert saved["status"] == "succeeded", saved
    mod = saved["results"]["moderation"]
    assert mod["frames"]["total"] == len(expected)
    frames = [s for s in mod["segments"] if s["source"] == "frame"]
    assert sorted(i for s in frames for i in s["frames"]) == [f.index for f in expected]
    # The records say the same: each part's lease notes the decode still running.
    leases = {k.decode(): json.loads(v) for k, v in deps.redis.hgetall(_key(deps, job)).items()
              if k.startswith(b"_run:")}
    assert leases["_run:frame-0"]["split_open"] is True
    assert fanout.progress(deps, job["tenant"], job["id"], "moderate", ("frame", "audio")) == {
        "frame_done": len(expected), "frame_found": len(expected),
        "frame_total": len(expected), "audio_done": 0, "audio_found": 0, "audio_total": 0}


def test_parts_that_finish_after_the_decode_stitch_once(env, clip, tmp_path):
    """The other order: every message is delivered after the split ended; no part stitches
    before the last one, and the last one does."""
    from mmservice.jobs import fanout
    from mmservice.jobs.pipeline import run_step

    deps = env
    job = _video_job(deps, clip)
    deps.providers = OneProvider(_Frames(deps, lambda: _key(deps, job)))
    sent: list[list] = []
    deps.send_task = lambda name, args, **kw: sent.append(args)
    assert run_step(job["tenant"], job["id"], "moderate", deps) == "fanned-out"
    progress = fanout.progress(deps, job["tenant"], job["id"], "moderate", ("frame",))
    assert progress == {"frame_done": 0, "frame_found": len(sent), "frame_total": len(sent)}
    outcomes = [fanout.run_part(deps, *args) for args in sent]
    assert outcomes == ["part-done"] * (len(sent) - 1) + ["stitched"]
    assert deps.store.get(job["tenant"], job["id"])["status"] == "succeeded"
    assert len(sent) == len(_expected_frames(deps, clip, tmp_path))


class _WorkerDied(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs (a BaseException passes
    the step's `except Exception`, which would otherwise record the step failed)."""


def test_a_split_killed_mid_stream_is_rerun_without_losing_or_doubling_parts(env, clip,
                                                                            tmp_path):
    """The worker dies while publishing the 6th keyframe: 5 messages sent, the 6th part
    recorded but never sent. The recovery sweep re-publishes the step; its re-run decodes
    again, sends the 6th and the rest, never the first 5 again; parts judged before the crash
    keep their results; every keyframe is judged once and the job is stitched once."""
    from mmservice import heartbeat
    from mmservice.jobs import fanout, recovery
    from mmservice.jobs.pipeline import run_step

    deps = env
    job = _video_job(deps, clip)
    provider = _Frames(deps, lambda: _key(deps, job))
    deps.providers = OneProvider(provider)
    parts: list[list] = []
    steps: list[list] = []

    def broker(name, args, **kw):
        if name != "mms.fanout_part":
            steps.append(args)
        elif len(parts) == 5 and recovery.runner() == "doomed/1":
            raise _WorkerDied()
        else:
            parts.append(args)

    deps.send_task = broker
    recovery.set_runner("doomed/1")  # no heartbeat: once it stops, it is dead
    with pytest.raises(_WorkerDied):
        run_step(job["tenant"], job["id"], "moderate", deps, "token-a")
    key = _key(deps, job)
    assert not deps.redis.hexists(key, "_final")  # it died mid-stream
    assert deps.redis.hexists(key, "_part:frame-5") and not deps.redis.hexists(key,
                                                                               "_sent:frame-5")
    assert not _keyframe_ffmpegs()  # the dying split took its ffmpeg with it
    # Two of the sent parts are judged before anyone notices.
    assert [fanout.run_part(deps, *a) for a in parts[:2]] == ["part-done", "part-done"]
    heir = f"heir-{uuid.uuid4().hex[:6]}/2"
    heartbeat.publish(deps.redis, heir, queues=["moderation"], engines={}, pid=1, ttl_s=60)
    try:
        assert recovery.Sweeper(deps, heir).sweep()["requeued"] == 1
        assert steps == [[job["tenant"], job["id"], "moderate"]]
        recovery.set_runner(heir)
        assert run_step(job["tenant"], job["id"], "moderate", deps, "token-b") == "fanned-out"
    finally:
        heartbeat.withdraw(deps.redis, heir)
    expected = _expected_frames(deps, clip, tmp_path)
    ids = [a[3] for a in parts]
    assert Counter(ids).most_common(1)[0][1] == 1, ids  # no message sent twice
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [
        f"frame-{f.index}" for f in expected]  # none lost: the unsent 6th included
    assert ids[5] == "frame-5"
    outcomes = [fanout.run_part(deps, *a) for a in parts[2:]]
    assert outcomes[-1] == "stitched" and outcomes.count("stitched") == 1
    assert len(provider.seen) == len(expected)  # each keyframe judged once
    saved = deps.store.get(job["tenant"], job["id"])
    assert saved["status"] == "succeeded" and \
        saved["results"]["moderation"]["frames"]["total"] == len(expected)
    assert deps.redis.zcard(recovery.running_key(deps)) == 0


def test_a_worker_killed_mid_decode_loses_no_keyframe_and_judges_none_twice(stack, stub,
                                                                           tmp_path):
    """End to end: the worker running the split (the only one on `moderation`) is SIGKILLed
    while ffmpeg decodes and keyframes are already being judged by another worker; the
    recovery sweep hands the step to an heir, whose re-run sends only the keyframes never
    sent. The job succeeds with every keyframe, each judged by the upstream exactly once."""
    from mmservice import config

    s = stack({"WORKER_HEARTBEAT_TTL_S": 3.0, "MAX_VIDEO_DURATION_S": 900, "VIDEO_OCR": False},
              workers=0)
    s.add_worker("parts", queues="vision,audio,webhooks")
    doomed = s.add_worker("doomed", queues="moderation")
    # 90 s of 1280x720 at 25 fps: seconds of decoding (the first keyframe is judged in well
    # under one), a keyframe every 2 s.
    data = videogen.make([(30, "testsrc"), (30, "color=navy"), (30, "testsrc")],
                         size=(1280, 720), fps=25)
    path = tmp_path / "long.mp4"
    path.write_bytes(data)
    cfg = config.load({**s.cfg, "MAX_VIDEO_DURATION_S": 900}, environ={})
    from mmservice.video.keyframes import extract

    expected = [f.index for f in extract(str(path), "video/mp4", 90.0, cfg)]
    stub.reset()
    c = s.client
    r = c.submit_file("long.mp4", data, "video/mp4")
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    key = s.services.store.keys.fanout("default", jid, "moderate")  # the stack key's tenant

    def streaming() -> bool:  # keyframes found and judged, the decode still running
        got = c.get(f"/v1/jobs/{jid}").json().get("progress") or {}
        return got.get("frame_done", 0) >= 1 and "frame_total" not in got

    wait_until(streaming, 60, what="a keyframe judged while the split still decodes")
    doomed.kill()
    assert not s.redis.hexists(key, "_final"), "the split ended before the kill: too short"
    sent_before = {k for k in s.redis.hkeys(key) if k.startswith(b"_sent:")}
    s.add_worker("heir", queues="moderation")
    job = c.poll(jid, timeout=180)
    assert job["status"] == "succeeded", job
    mod = job["results"]["moderation"]
    frames = [i for seg in mod["segments"] if seg["source"] == "frame" for i in seg["frames"]]
    assert sorted(frames) == expected and mod["frames"]["total"] == len(expected)
    assert len(stub.requests.matching("/moderations")) == len(expected)  # each judged once
    assert sent_before < {k for k in s.redis.hkeys(key) if k.startswith(b"_sent:")}
