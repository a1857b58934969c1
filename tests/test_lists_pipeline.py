"""Lists in the moderation pipeline (real Redis, real Celery workers, the devstub upstream):
precedence (a block or allow hit decides without a model call under `halt_on_match`), term
offsets in the original text, PDQ near-duplicates, SHA-256 exact matches, a new item matching on
a second worker process, per-item disable, and the flood guard.

Model calls are counted at the devstub (`/moderations` requests); scores are set exactly with
its `[[score:hate=0.95]]` marker (the settings lines are the defaults: review 0.5, block 0.85).
"""
from __future__ import annotations

import io
import time

import pytest
import requests

from mmservice.auth.keystore import SCOPES
from mmservice.testing.client import Client
from test_lists_pdq import near_duplicate, photo
from test_openapi import Spec, _checked


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="lstpipe")


def tenant_client(s, tenant: str) -> Client:
    key, _ = s.services.auth.keys.create(tenant, SCOPES)
    return Client(s.api_url, key)


def put(c: Client, path: str, body: dict) -> dict:
    r = c.s.put(c.url(path), json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def spec(s) -> Spec:
    return Spec(requests.get(s.api_url + "/openapi.json", timeout=10).json())


def moderation_of(c: Client, r) -> dict:
    # 200: a repeated text whose scores are cached, judged (lists included) at intake.
    assert r.status_code in (200, 202), r.text
    assert (r.status_code == 200) == (r.json()["status"] == "succeeded"), r.text
    job = c.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    return job["results"]["moderation"]


def moderate_text(c: Client, text: str, **options) -> dict:
    return moderation_of(c, c.submit({"text": text, **({"options": options} if options
                                                        else {})}))


def jpeg(img, q: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def model_calls(stub) -> int:
    return len(stub.requests.matching("/moderations"))


def test_a_block_term_decides_without_a_model_call_with_offsets(s, stub, spec):
    c = tenant_client(s, "blk")
    put(c, "/v1/lists/bad-words", {"kind": "terms", "action": "block", "items": ["zorblax"]})
    stub.reset()
    text = "totally harmless Z0RBL4X here [[score:hate=0.01]]"
    mod = moderate_text(c, text)
    assert mod["verdict"] == "block" and mod["flagged"] and mod["decided_by"] == "list", mod
    assert model_calls(stub) == 0
    hit = mod["matched_lists"][0]
    assert (hit["list"], hit["kind"], hit["action"], hit["input"]) == (
        "bad-words", "terms", "block", "text")
    start, end = hit["offsets"]
    assert text[start:end] == "Z0RBL4X" == hit["matched"] and hit["value"] == "zorblax"
    assert mod["policy"] == {"name": "builtin", "version": 0}
    jobs = c.get("/v1/jobs?limit=1")
    assert jobs.json()["data"][0]["results"]["moderation"]["matched_lists"]
    _checked(spec, jobs, "/v1/jobs")  # the result with matched_lists fits the document
    # Clean text: the model decides as before.
    clean = moderate_text(c, "a nice day [[score:hate=0.01]]")
    assert clean["decided_by"] == "policy" and "matched_lists" not in clean
    assert model_calls(stub) == 1


def test_allow_beats_the_model_and_block_beats_allow(s, stub):
    c = tenant_client(s, "alw")
    put(c, "/v1/lists/known-good", {"kind": "terms", "action": "allow",
                                    "items": ["quarterly report"]})
    stub.reset()
    flagged = "the quarterly report says [[score:hate=0.95]]"
    mod = moderate_text(c, flagged)
    assert mod["verdict"] == "allow" and mod["decided_by"] == "list" and not mod["flagged"]
    assert model_calls(stub) == 0
    # halt_on_match false: the model runs and its scores are kept; the list still decides.
    put(c, "/v1/policies/observe", {"halt_on_match": False})
    mod = moderate_text(c, flagged, policy="observe")
    assert model_calls(stub) == 1
    assert mod["verdict"] == "allow" and mod["decided_by"] == "list"
    assert mod["policy_verdict"] == "block" and mod["category_scores"]["hate"] == 0.95
    # A policy naming no lists ([]) applies none: the model's block stands.
    put(c, "/v1/policies/nolists", {"lists": []})
    assert moderate_text(c, flagged, policy="nolists")["verdict"] == "block"
    # Block wins over allow when both hit.
    put(c, "/v1/lists/bad", {"kind": "terms", "action": "block", "items": ["swindle"]})
    mod = moderate_text(c, "the quarterly report is a swindle")
    assert mod["verdict"] == "block" and {h["list"] for h in mod["matched_lists"]} == {
        "known-good", "bad"}
    # A policy naming only the allow list: the block list does not apply.
    put(c, "/v1/policies/only-good", {"lists": ["known-good"]})
    mod = moderate_text(c, "the quarterly report is a swindle", policy="only-good")
    assert mod["verdict"] == "allow"


def test_a_review_term_sends_to_review_after_the_model(s, stub):
    c = tenant_client(s, "rvw")
    put(c, "/v1/lists/watch", {"kind": "terms", "action": "review",
                               "items": [{"value": "wire( the)? money", "kind": "regex"}]})
    stub.reset()
    mod = moderate_text(c, "please WIRE THE MONEY today [[score:hate=0.01]]")
    assert mod["verdict"] == "review" and mod["decided_by"] == "list"
    assert model_calls(stub) == 1
    mod = moderate_text(c, "wire money now [[score:hate=0.95]]")
    assert mod["verdict"] == "block" and mod["decided_by"] == "policy"


def test_pdq_near_duplicate_matches_and_an_unrelated_image_does_not(s, stub):
    c = tenant_client(s, "pdq")
    put(c, "/v1/lists/known-bad", {"kind": "pdq", "action": "block"})
    original = photo(11)
    r = c.post("/v1/lists/known-bad/items", files={"file": ("o.jpg", io.BytesIO(jpeg(original)),
                                                            "image/jpeg")})
    assert r.status_code == 201, r.text
    item_id = r.json()["data"][0]["id"]
    stub.reset()
    near = jpeg(near_duplicate(original), 70)  # JPEG q70, resized 90 %, cropped
    mod = moderation_of(c, c.submit_file("near.jpg", near, "image/jpeg"))
    assert mod["verdict"] == "block" and mod["decided_by"] == "list", mod
    hit = mod["matched_lists"][0]
    assert hit["item_id"] == item_id and hit["kind"] == "pdq" and hit["distance"] <= 31
    assert hit["input"] == "image" and hit["metadata"]["source"] == "upload"
    assert model_calls(stub) == 0
    other = moderation_of(c, c.submit_file("other.jpg", jpeg(photo(12)), "image/jpeg"))
    assert "matched_lists" not in other and other["decided_by"] == "policy"


def test_sha256_exact_match(s):
    c = tenant_client(s, "sha")
    put(c, "/v1/lists/exact", {"kind": "sha256", "action": "block"})
    data = jpeg(photo(21))
    c.post("/v1/lists/exact/items", files={"file": ("a.jpg", io.BytesIO(data), "image/jpeg")})
    mod = moderation_of(c, c.submit_file("a.jpg", data, "image/jpeg"))
    assert mod["verdict"] == "block" and mod["matched_lists"][0]["kind"] == "sha256"
    one_byte_off = data[:-3] + bytes([data[-3] ^ 1]) + data[-2:]
    mod = moderation_of(c, c.submit_file("b.jpg", one_byte_off, "image/jpeg"))
    assert not any(h["kind"] == "sha256" for h in mod.get("matched_lists") or [])


def test_disabled_items_do_not_match_until_enabled(s):
    c = tenant_client(s, "dis")
    put(c, "/v1/lists/l", {"kind": "terms", "action": "block", "items": ["plonk"]})
    iid = c.get("/v1/lists/l/items").json()["data"][0]["id"]
    assert moderate_text(c, "plonk")["verdict"] == "block"
    r = c.s.patch(c.url(f"/v1/lists/l/items/{iid}"), json={"disabled_until": time.time() + 3600},
                  timeout=10)
    assert r.status_code == 200
    assert moderate_text(c, "plonk")["verdict"] == "allow"
    c.s.patch(c.url(f"/v1/lists/l/items/{iid}"), json={"disabled_until": None}, timeout=10)
    assert moderate_text(c, "plonk")["verdict"] == "block"
    # Hash items too.
    put(c, "/v1/lists/h", {"kind": "sha256", "action": "block"})
    data = jpeg(photo(31))
    hid = c.post("/v1/lists/h/items", files={"file": ("a.jpg", io.BytesIO(data), "image/jpeg")}
                 ).json()["data"][0]["id"]
    c.s.patch(c.url(f"/v1/lists/h/items/{hid}"), json={"disabled_until": time.time() + 3600},
              timeout=10)
    assert moderation_of(c, c.submit_file("a.jpg", data, "image/jpeg"))["verdict"] == "allow"


def test_the_flood_guard_turns_block_into_review(s):
    c = tenant_client(s, "fld")
    put(c, "/v1/lists/shared-bank", {"kind": "terms", "action": "block", "items": ["blorp"],
                                     "flood_per_minute": 1})
    # Three hits: whatever minute boundary falls between them, one window holds two.
    mods = [moderate_text(c, f"blorp number {i}") for i in range(3)]
    assert mods[0]["verdict"] == "block" and "flood" not in mods[0]
    flooded = [m for m in mods if m.get("flood")]
    assert flooded, mods
    for m in flooded:
        assert m["verdict"] == "review" and m["decided_by"] == "list"
        assert m["matched_lists"][0]["action"] == "review" and m["matched_lists"][0]["flood"]
    events = c.get("/v1/audit?type=list.flood").json()["data"]
    assert 1 <= len(events) <= 2 and events[0]["event"]["list"] == "shared-bank"
    metrics = s.client.get("/metrics").text
    assert 'mms_list_floods_total{list="shared-bank",tenant="fld"}' in metrics


def test_a_new_item_matches_on_a_second_worker(s):
    """Worker 2 loads the tenant's hash lists at its first job; an item added afterwards
    matches at its next job (the change stream), with no rebuild and no restart."""
    c = tenant_client(s, "two")
    put(c, "/v1/lists/known-bad", {"kind": "pdq", "action": "block"})
    w2 = s.add_worker("lstpipe-second")
    s.worker.stop()  # from now on only the second worker takes jobs
    try:
        first = photo(41)
        mod = moderation_of(c, c.submit_file("a.jpg", jpeg(first), "image/jpeg"))
        assert "matched_lists" not in mod  # worker 2 has the (empty) list loaded now
        added_at = time.monotonic()
        r = c.post("/v1/lists/known-bad/items", files={"file": ("a.jpg", io.BytesIO(jpeg(first)),
                                                                "image/jpeg")})
        assert r.status_code == 201
        mod = moderation_of(c, c.submit_file("b.jpg", jpeg(near_duplicate(first), 70),
                                              "image/jpeg"))
        assert mod["verdict"] == "block" and mod["matched_lists"][0]["list"] == "known-bad"
        assert time.monotonic() - added_at < 10
        assert w2.alive()
    finally:
        s.workers.remove(s.worker)


def test_a_term_list_reads_the_text_written_in_an_image(s, stub):
    """A caption in the picture is content too: term lists match the OCR text of an image job
    (read by the offline OCR engine in the worker), with offsets in that text."""
    from PIL import Image, ImageDraw, ImageFont

    c = tenant_client(s, "ocr")
    put(c, "/v1/lists/caption-words", {"kind": "terms", "action": "block", "items": ["zorblax"]})
    img = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(img).text((20, 60), "ZORBLAX NOW", fill="black",
                             font=ImageFont.load_default(size=64))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    stub.reset()
    mod = moderation_of(c, c.submit_file("caption.png", buf.getvalue(), "image/png"))
    assert mod["verdict"] == "block" and mod["decided_by"] == "list", mod
    hit = mod["matched_lists"][0]
    assert hit["input"] == "ocr" and hit["value"] == "zorblax", hit
    assert hit["matched"].lower() == "zorblax" and hit["offsets"][1] - hit["offsets"][0] == 7
    assert model_calls(stub) == 0
    # the same words typed in no picture: a plain image is not matched
    plain = Image.new("RGB", (640, 200), (30, 80, 200))
    buf = io.BytesIO()
    plain.save(buf, "PNG")
    other = moderation_of(c, c.submit_file("plain.png", buf.getvalue(), "image/png"))
    assert "matched_lists" not in other
