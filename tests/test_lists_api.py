"""`/v1/lists` through the API (real Redis, the in-process API): CRUD of term, SHA-256 and PDQ
lists and their items, validation with the field at fault, uploads hashed (never stored),
the list names policies check, the audit events, and answers that fit the OpenAPI document.
"""
from __future__ import annotations

import hashlib
import io

import pytest
import requests
from PIL import Image

from mmservice.auth.keystore import SCOPES
from mmservice.testing.client import Client
from test_lists_pdq import photo
from test_openapi import Spec, _checked


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="lstapi")


@pytest.fixture(scope="module")
def spec(s) -> Spec:
    return Spec(requests.get(s.api_url + "/openapi.json", timeout=10).json())


def tenant_client(s, tenant: str) -> Client:
    key, _ = s.services.auth.keys.create(tenant, SCOPES)
    return Client(s.api_url, key)


def put(c: Client, name: str, body: dict):
    return c.s.put(c.url(f"/v1/lists/{name}"), json=body, timeout=30)


def patch(c: Client, path: str, body: dict):
    return c.s.patch(c.url(path), json=body, timeout=30)


def jpeg(img: Image.Image, q: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def test_term_list_crud_and_policy_names(s, spec):
    c = tenant_client(s, "crud")
    r = put(c, "insults", {"kind": "terms", "action": "block",
                           "items": ["idiot", {"value": "free crypto", "note": "spam"}]})
    assert r.status_code == 200, r.text
    body = _checked(spec, r, "/v1/lists/{list_name}", "put")
    assert body["items"] == 2 and body["flood_per_minute"] == 100 and body["kind"] == "terms"
    assert c.s.put(c.url("/v1/policies/p"), json={"lists": ["insults"]},
                   timeout=10).status_code == 200  # the name policies check exists
    r = c.post("/v1/lists/insults/items", json={"items": [
        {"value": "scam+er", "kind": "regex"}, "idiot"]})  # idiot again: replaced, not doubled
    assert r.status_code == 201, r.text
    _checked(spec, r, "/v1/lists/{list_name}/items", "post")
    page = _checked(spec, c.get("/v1/lists/insults/items?limit=10"),
                    "/v1/lists/{list_name}/items")
    assert sorted(i["value"] for i in page["data"]) == ["free crypto", "idiot", "scam+er"]
    kinds = {i["value"]: i["kind"] for i in page["data"]}
    assert kinds == {"free crypto": "phrase", "idiot": "word", "scam+er": "regex"}
    item = next(i for i in page["data"] if i["value"] == "idiot")
    r = patch(c, f"/v1/lists/insults/items/{item['id']}", {"disabled_until": 4e9, "note": "x"})
    assert r.status_code == 200 and r.json()["disabled_until"] == 4e9, r.text
    _checked(spec, r, "/v1/lists/{list_name}/items/{item_id}", "patch")
    listing = _checked(spec, c.get("/v1/lists"), "/v1/lists")
    assert [x["name"] for x in listing["data"]] == ["insults"]
    assert c.delete(f"/v1/lists/insults/items/{item['id']}").status_code == 200
    assert c.get(f"/v1/lists/insults/items/{item['id']}").status_code == 404
    assert c.get("/v1/lists/insults").json()["items"] == 2
    r = c.delete("/v1/lists/insults")
    assert r.status_code == 200
    _checked(spec, r, "/v1/lists/{list_name}", "delete")
    assert c.get("/v1/lists/insults").status_code == 404
    r = c.s.put(c.url("/v1/policies/p"), json={"lists": ["insults"]}, timeout=10)
    assert r.status_code == 422 and r.json()["error"]["code"] == "list_not_found"


@pytest.mark.parametrize("body,field,code", [
    ({"kind": "words"}, "kind", "validation_error"),
    ({"kind": "terms", "action": "delete"}, "action", "validation_error"),
    ({"kind": "terms", "max_distance": 10}, "max_distance", "validation_error"),
    ({"kind": "pdq", "max_distance": 300}, "max_distance", "validation_error"),
    ({"kind": "sha256", "items": ["x"]}, "items", "validation_error"),
    ({"kind": "terms", "colour": "red"}, "colour", "unknown_field"),
    ({"kind": "terms", "items": [{"value": "(a+)+$", "kind": "regex"}]}, "items.0.value",
     "invalid_item"),
    ({"kind": "terms", "items": ["ok", {"value": "two words", "kind": "word"}]},
     "items.1.value", "invalid_item"),
    ({"kind": "terms", "items": [{"value": "x", "kind": "glob"}]}, "items.0.kind",
     "validation_error"),
])
def test_invalid_lists_are_refused_naming_the_field(s, body, field, code):
    c = tenant_client(s, "val")
    r = put(c, "l1", body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert (err["field"], err["code"]) == (field, code), err
    assert c.get("/v1/lists/l1").status_code == 404  # nothing stored


def test_item_validation_kind_change_and_names(s):
    c = tenant_client(s, "val2")
    assert put(c, "h", {"kind": "sha256"}).status_code == 200
    r = c.post("/v1/lists/h/items", json={"items": [{"hash": "abc"}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "items.0.hash"
    r = c.post("/v1/lists/h/items", json={"items": [{"value": "idiot"}]})  # a term item
    assert r.status_code == 422 and r.json()["error"]["field"] in ("items.0.hash",
                                                                   "items.0.value")
    r = put(c, "h", {"kind": "terms"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "list_kind_immutable"
    assert put(c, "Bad Name", {"kind": "terms"}).json()["error"]["code"] == "invalid_list_name"
    assert c.post("/v1/lists/nope/items", json={"items": ["x"]}).status_code == 404
    assert put(c, "t", {"kind": "terms"}).status_code == 200
    r = c.post("/v1/lists/t/items", files={"file": ("a.txt", io.BytesIO(b"x"), "text/plain")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_not_allowed"


def test_hash_uploads_store_only_the_hash(s, spec):
    c = tenant_client(s, "hashes")
    assert put(c, "bad-pdq", {"kind": "pdq", "action": "block"}).status_code == 200
    data = jpeg(photo(7))
    r = c.post("/v1/lists/bad-pdq/items", files={"file": ("p.jpg", io.BytesIO(data),
                                                          "image/jpeg")},
               data={"note": "ticket 1"})
    assert r.status_code == 201, r.text
    item = _checked(spec, r, "/v1/lists/{list_name}/items", "post")["data"][0]
    assert len(item["hash"]) == 64 and item["quality"] >= 50 and item["note"] == "ticket 1"
    assert item["source"] == "upload"
    flat = jpeg(Image.new("RGB", (300, 300), (120, 120, 120)))
    r = c.post("/v1/lists/bad-pdq/items", files={"file": ("f.jpg", io.BytesIO(flat),
                                                          "image/jpeg")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "low_quality", r.text
    r = c.post("/v1/lists/bad-pdq/items", files={"file": ("x.jpg", io.BytesIO(b"not an image"),
                                                          "image/jpeg")})
    assert r.status_code in (415, 422), r.text
    assert put(c, "exact", {"kind": "sha256"}).status_code == 200
    r = c.post("/v1/lists/exact/items", files={"file": ("a.bin", io.BytesIO(b"\x00bytes"),
                                                        "application/octet-stream")})
    assert r.json()["data"][0]["hash"] == hashlib.sha256(b"\x00bytes").hexdigest()
    r = c.post("/v1/lists/exact/items", json={"items": [
        {"hash": "AB" * 32, "note": "bank", "source": "hma"}]})
    assert r.status_code == 201 and r.json()["data"][0]["hash"] == "ab" * 32
    got = c.get("/v1/lists/exact").json()
    assert got["items"] == 2
    # Nothing but hashes in Redis: no key holds the uploaded bytes.
    for key in s.redis.scan_iter(match=f"{s.services.store.keys.tenant('hashes')}:*"):
        if s.redis.type(key) == b"hash":
            assert not any(data[:64] in v for v in s.redis.hvals(key))


def test_list_changes_are_audit_events(s):
    c = tenant_client(s, "aud")
    put(c, "l", {"kind": "terms", "action": "review"})
    put(c, "l", {"kind": "terms", "action": "block"})
    iid = c.post("/v1/lists/l/items", json={"items": ["spam"]}).json()["data"][0]["id"]
    patch(c, f"/v1/lists/l/items/{iid}", {"note": "n"})
    c.delete(f"/v1/lists/l/items/{iid}")
    c.delete("/v1/lists/l")
    events = [e["event"] for e in c.get("/v1/audit?type=list").json()["data"]]
    types = [e["type"] for e in events]
    assert sorted(types) == sorted(["list.put", "list.put", "list.items.add",
                                    "list.item.patch", "list.item.delete", "list.delete"])
    second = [e for e in events if e["type"] == "list.put" and e["before"]]
    assert second[0]["before"]["action"] == "review" and second[0]["after"]["action"] == "block"
    assert all(e["actor"].startswith("mms_") for e in events)
    assert c.get("/v1/audit/verify").json()["ok"] is True


def test_lists_need_the_admin_scope(s):
    key, _ = s.services.auth.keys.create("scoped", ["submit", "read"])
    c = Client(s.api_url, key)
    assert c.get("/v1/lists").status_code == 403
    assert put(c, "x", {"kind": "terms"}).status_code == 403


def test_a_worker_compiles_a_term_list_once_per_version(s):
    """The worker side in-process: a term list is built once and reused until it changes."""
    from mmservice.lists.apply import ListMatcher

    c = tenant_client(s, "cache")
    put(c, "t", {"kind": "terms", "action": "block", "items": ["quokka"]})
    m = ListMatcher(s.redis, s.services.store.keys)
    recs = m.lists("cache", None)
    for _ in range(3):
        hits = m.match("cache", recs, texts={"text": "a QU0KKA here"})
        assert [h["value"] for h in hits] == ["quokka"] and hits[0]["offsets"] == [2, 8]
    assert m.builds == 1
    c.post("/v1/lists/t/items", json={"items": ["wombat"]})
    hits = m.match("cache", recs, texts={"text": "quokka and wombat", "transcript": "wombat"})
    assert sorted((h["value"], h["input"]) for h in hits) == [
        ("quokka", "text"), ("wombat", "text"), ("wombat", "transcript")]
    assert m.builds == 2
    assert m.lists("cache", ()) == [] and m.lists("cache", ("t", "gone")) == recs
