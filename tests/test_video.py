"""Video moderation (issue 19), driven like a client: videos made here with ffmpeg (test
patterns, colour fields, Pillow frames with a written threat, a photo on a PDQ list, a tone
soundtrack), uploaded to a real API, judged by a real worker against the upstream stub (the stub
scores the text the offline OCR reads in a frame: "kill" is violence).
"""
from __future__ import annotations

import io
import os
import time

import pytest
import requests
from PIL import Image

import videogen
from mediagen import wav
from mmservice import config
from mmservice.auth.keystore import SCOPES
from mmservice.errors import MMSError
from mmservice.media.inspect import inspect_media
from mmservice.testing.client import Client
from mmservice.video import timeline
from test_lists_pdq import photo
from test_openapi import Spec, _checked

THREAT = videogen.caption("I WILL KILL YOU")


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack({"MAX_VIDEO_DURATION_S": 60}, name="video")


@pytest.fixture(scope="module")
def spec(s) -> Spec:
    return Spec(requests.get(s.api_url + "/openapi.json", timeout=10).json())


def tenant_client(s, tenant: str) -> Client:
    key, _ = s.services.auth.keys.create(tenant, SCOPES)
    return Client(s.api_url, key)


def submitted(c: Client, data: bytes, name: str = "v.mp4", mime: str = "video/mp4",
              **fields) -> str:
    r = c.submit_file(name, data, mime, fields)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def flagged_frames(mod: dict) -> list[dict]:
    return [seg for seg in mod["segments"] if seg["source"] == "frame" and seg["flagged"]]


@pytest.fixture(scope="module")
def threat_job(s):
    """Calm test pattern 0-6 s, the written threat 6-12 s, a blue field 12-18 s, a tone."""
    c = tenant_client(s, "vid-a")
    data = videogen.make([(6, "testsrc"), (6, THREAT), (6, "color=blue")],
                         soundtrack=wav(3.0))
    job = c.poll(submitted(c, data), timeout=240)
    return c, job


def test_the_threat_frame_is_flagged_at_its_time_and_nowhere_else(threat_job, spec, s):
    c, job = threat_job
    assert job["status"] == "succeeded", job
    assert job["input"]["kind"] == "video" and job["input"]["has_audio"] is True
    assert abs(job["input"]["duration_s"] - 18) < 0.5
    mod = job["results"]["moderation"]
    flagged = flagged_frames(mod)
    assert flagged, mod["segments"]
    for seg in flagged:
        assert 6 - 0.2 <= seg["start_s"] and seg["end_s"] <= 12 + 0.2, seg
        assert seg["categories"]["violence"] is True
    assert min(seg["start_s"] for seg in flagged) == pytest.approx(6, abs=0.3)
    calm = [seg for seg in mod["segments"] if seg["source"] == "frame" and not seg["flagged"]]
    assert calm and all(seg["end_s"] <= 6.2 or seg["start_s"] >= 11.8 for seg in calm)
    assert mod["verdict"] in ("review", "block") and mod["flagged"] is True
    assert mod["frames"]["total"] >= 9  # one every 2 s at least, plus the two cuts
    # The soundtrack was transcribed and its segments judged on the same timeline.
    spoken = [seg for seg in mod["segments"] if seg["source"] == "audio"]
    assert spoken and mod["transcript"]["text"]
    assert all(0 <= seg["start_s"] <= seg["end_s"] <= 18.5 for seg in spoken)
    assert "progress" not in job
    _checked(spec, c.get(f"/v1/jobs/{job['id']}"), "/v1/jobs/{job_id}")


def test_a_policy_share_rule_decides_the_whole_video(threat_job, s):
    c, job = threat_job
    rule = {"rule": "share", "review_share": 0.9, "block_share": 0.95}
    r = c.s.put(c.url("/v1/policies/lenient-video"), json={"video": rule}, timeout=30)
    assert r.status_code in (200, 201), r.text
    assert r.json()["video"] == rule
    data = videogen.make([(6, "testsrc"), (6, THREAT), (6, "color=blue")])
    again = c.poll(submitted(c, data, options='{"policy": "lenient-video"}'), timeout=240)
    mod = again["results"]["moderation"]
    assert flagged_frames(mod), mod["segments"]  # the frames are still flagged ...
    assert mod["verdict"] == "allow" and mod["verdict_rule"] == rule  # ... the video is not
    assert mod["policy"]["name"] == "lenient-video"


def test_flagged_frames_and_the_contact_sheet_are_artifacts(threat_job, s):
    c, job = threat_job
    mod = job["results"]["moderation"]
    seg = flagged_frames(mod)[0]
    r = c.get(seg["thumbnail_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(r.content))
    assert max(img.size) <= 320
    calm = next(seg for seg in mod["segments"] if seg["source"] == "frame" and not seg["flagged"])
    r = c.get(f"/v1/jobs/{job['id']}/frames/{calm['frame']['index']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "frame_not_found"
    sheet = c.get(mod["contact_sheet_url"])
    assert sheet.status_code == 200 and Image.open(io.BytesIO(sheet.content)).width > 0
    other = tenant_client(s, "vid-b")
    for path in (seg["thumbnail_url"], mod["contact_sheet_url"]):
        r = other.get(path)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "job_not_found"


def test_a_frame_on_a_pdq_list_is_matched_with_its_share_and_time_range(s):
    c = tenant_client(s, "vid-pdq")
    r = c.s.put(c.url("/v1/lists/bad-frames"), json={"kind": "pdq", "action": "block"},
                timeout=30)
    assert r.status_code == 200, r.text
    known = photo(21, size=(640, 360))
    r = c.post("/v1/lists/bad-frames/items",
               files={"file": ("k.png", io.BytesIO(videogen.png(known)), "image/png")})
    assert r.status_code == 201, r.text
    item_id = r.json()["data"][0]["id"]
    data = videogen.make([(4, "color=green"), (6, known), (4, "testsrc")])
    job = c.poll(submitted(c, data), timeout=240)
    assert job["status"] == "succeeded", job
    mod = job["results"]["moderation"]
    hit = next(h for h in mod["matched_lists"] if h["item_id"] == item_id)
    assert hit["kind"] == "pdq" and hit["input"] == "frame" and hit["distance"] <= 31
    total = mod["frames"]["total"]
    assert hit["frames"] >= 3 and hit["share"] == pytest.approx(hit["frames"] / total, abs=1e-3)
    assert len(hit["time_ranges"]) == 1
    start, end = hit["time_ranges"][0]
    assert start == pytest.approx(4, abs=0.3) and end == pytest.approx(10, abs=0.3)
    assert mod["verdict"] == "block" and mod["decided_by"] == "list"
    # The matched frames' thumbnails are kept for a reviewer.
    assert c.get(f"/v1/jobs/{job['id']}/frames/{hit['frame_indexes'][0]}").status_code == 200


def test_progress_counts_frames_while_the_vision_queue_waits(stack):
    st = stack({"MAX_VIDEO_DURATION_S": 60}, queues="moderation,audio,webhooks")
    c = st.client
    jid = submitted(c, videogen.make([(6, "testsrc"), (4, "color=red")], size=(320, 180)))
    deadline = time.monotonic() + 60
    job: dict = {}
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{jid}").json()
        if "frame_total" in job.get("progress", {}):  # the decode has ended: the total is known
            break
        time.sleep(0.1)
    assert job["status"] == "running" and job["progress"]["frame_total"] >= 5, job
    assert job["progress"]["frame_found"] == job["progress"]["frame_total"]
    assert job["progress"]["frame_done"] == 0  # no worker takes the `vision` queue yet
    assert job["progress"]["audio_total"] == job["progress"]["audio_found"] == 0
    st.add_worker("vision", queues="vision")
    job = c.poll(jid, timeout=120)
    assert job["status"] == "succeeded", job
    assert job["results"]["moderation"]["frames"]["total"] == job["progress"]["frame_total"] \
        if "progress" in job else True


def test_webm_and_an_animated_gif_when_asked_are_videos(s):
    c = tenant_client(s, "vid-fmt")
    webm = videogen.make([(3, "testsrc")], size=(320, 180), fmt="webm")
    job = c.poll(submitted(c, webm, "v.webm", "video/webm"), timeout=120)
    assert job["status"] == "succeeded", job
    assert job["input"]["kind"] == "video" and job["input"]["mime"] == "video/webm"
    assert job["results"]["moderation"]["segments"]
    buf = io.BytesIO()
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "green", "blue")]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=1000, loop=0)
    r = c.submit_file("a.gif", buf.getvalue(), "image/gif", {"options": '{"as_video": true}'})
    assert r.status_code == 202 and r.json()["input"]["kind"] == "video", r.text
    assert c.poll(r.json()["id"], timeout=120)["status"] == "succeeded"
    r = c.submit_file("a.gif", buf.getvalue(), "image/gif")
    assert r.status_code == 202 and r.json()["input"]["kind"] == "image"


@pytest.fixture(scope="module")
def file_server(tmp_path_factory):
    """A static HTTP server on loopback (the test stack allow-lists 127.0.0.1)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_video_url_is_fetched_and_checked_by_the_worker(s, file_server):
    root, base = file_server
    (root / "clip.mp4").write_bytes(videogen.make([(3, "testsrc")], size=(320, 180)))
    (root / "tone.wav").write_bytes(wav(1.0))
    c = tenant_client(s, "vid-url")
    r = c.submit({"video_url": f"{base}/clip.mp4"})
    assert r.status_code == 202 and r.json()["input"] == {
        "kind": "video", "mime": None, "bytes": None, "sha256": None, "remote": True}, r.text
    job = c.poll(r.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    assert job["input"]["mime"] == "video/mp4" and "remote" not in job["input"]
    assert job["results"]["moderation"]["segments"]
    job = c.run({"video_url": f"{base}/tone.wav"}, timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_media_type"
    r = c.submit({"video_url": "ftp://example.com/v.mp4"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "video_url"


# ------------------------------------------------------------------- hostile containers ---

def _refused(c: Client, data: bytes, name: str, mime: str, fields: dict | None = None) -> dict:
    r = c.submit_file(name, data, mime, fields)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    return r.json()["error"]


def test_hostile_containers_are_refused_at_submission(s):
    c = tenant_client(s, "vid-bad")
    good = videogen.make([(2, "testsrc")], size=(320, 180))
    corrupt = good[:4000] + os.urandom(4000)
    assert _refused(c, corrupt, "bad.mp4", "video/mp4")["code"] == "undecodable_media"
    err = _refused(c, videogen.gif_with_frames(100_000), "many.gif", "image/gif",
                   {"options": '{"as_video": true}'})
    assert err["code"] == "video_too_many_frames"
    err = _refused(c, videogen.gif_claiming_size(65535, 65535), "huge.gif", "image/gif",
                   {"options": '{"as_video": true}'})
    assert err["code"] == "video_frame_too_large"
    # A video stream holding no frame at all.
    err = _refused(c, videogen.no_frames(), "empty.mp4", "video/mp4")
    assert err["code"] in ("empty_video", "undecodable_video", "undecodable_media"), err
    too_long = videogen.make([(61, "color=black")], size=(64, 36), fps=2)
    assert _refused(c, too_long, "long.mp4", "video/mp4")["code"] == "video_too_long"


def test_size_and_resolution_limits_are_checked_before_decoding():
    cfg = {**config.DEFAULTS, "MAX_VIDEO_BYTES": 20_000}
    data = videogen.make([(3, "testsrc")], size=(320, 180))
    assert len(data) > 20_000
    with pytest.raises(MMSError) as e:
        inspect_media(data, cfg, "file")
    assert e.value.code == "video_too_large" and e.value.status == 413
    with pytest.raises(MMSError) as e:
        inspect_media(data, {**config.DEFAULTS, "MAX_VIDEO_PIXELS": 320 * 179}, "file")
    assert e.value.code == "video_frame_too_large" and e.value.status == 422
    info = inspect_media(data, dict(config.DEFAULTS), "file")
    assert info["kind"] == "video" and (info["width"], info["height"]) == (320, 180)


# ------------------------------------------------------------------------------ timeline ---

def _frame(index: int, t: float, verdict: str, cats=(), score: float = 0.1) -> dict:
    return {"index": index, "t": t, "verdict": verdict, "flagged": verdict != "allow",
            "categories": list(cats), "category_scores": {"violence": score}}


def test_adjacent_frames_with_the_same_verdict_merge_into_one_segment():
    frames = [_frame(0, 0, "allow"), _frame(1, 2, "block", ["violence"], .9),
              _frame(2, 4, "block", ["violence"], .95), _frame(3, 6, "allow")]
    segs = timeline.frame_segments(frames, 8.0, "/v1/jobs/j/frames")
    assert [(x["start_s"], x["end_s"], x["verdict"]) for x in segs] == [
        (0, 2, "allow"), (2, 6, "block"), (6, 8, "allow")]
    assert segs[1]["frames"] == [1, 2] and segs[1]["frame"] == {"index": 2, "time_s": 4}
    assert segs[1]["thumbnail_url"] == "/v1/jobs/j/frames/2"
    assert "thumbnail_url" not in segs[0]


def test_the_whole_video_verdict_is_the_worst_segment_or_a_share_rule():
    items = [_frame(i, i, "allow") for i in range(19)] + [_frame(19, 19, "block", ["violence"])]
    assert timeline.whole_verdict(items, {"rule": "worst"}) == "block"
    assert timeline.whole_verdict(items, {"rule": "share", "block_share": 0.1,
                                          "review_share": 0.05}) == "review"
    assert timeline.whole_verdict(items, {"rule": "share", "block_share": 0.05}) == "block"
    assert timeline.whole_verdict(items, {"rule": "share", "block_share": 0.5,
                                          "review_share": 0.5}) == "allow"


def test_a_video_for_review_opens_an_item_showing_its_contact_sheet(s):
    """A video's whole verdict goes to the review queue like any job's; the moderator page
    shows its contact sheet (an image, never the video)."""
    import re

    c = tenant_client(s, "vid-review")
    rule = {"rule": "share", "review_share": 0.05, "block_share": 0.99}
    r = c.s.put(c.url("/v1/policies/review-video"), json={"video": rule}, timeout=30)
    assert r.status_code in (200, 201), r.text
    data = videogen.make([(4, "testsrc"), (4, THREAT)])
    job = c.poll(submitted(c, data, options='{"policy": "review-video"}'), timeout=240)
    assert job["results"]["moderation"]["verdict"] == "review", job["results"]["moderation"]
    claimed = c.s.post(c.url("/v1/review/queues/default/next"), json={}, timeout=30)
    assert claimed.status_code == 200, claimed.text
    item = claimed.json().get("item") or claimed.json()
    assert item["content"]["kind"] == "video" and item["jobs"] == [job["id"]]
    page = requests.Session()
    login = page.get(s.api_url + "/review", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    key, _ = s.services.auth.keys.create("vid-review", ("review",))
    ok = page.post(s.api_url + "/review/login", data={"key": key, "csrf": csrf}, timeout=10,
                   allow_redirects=False)
    assert ok.status_code == 303, ok.text
    sheet = page.get(s.api_url + f"/review/api/{item['id']}/media", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(sheet.content)).width > 0
