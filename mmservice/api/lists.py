"""`/v1/lists`: a tenant's block/allow/review lists (terms, SHA-256, PDQ) and their items. `admin`.

Why `admin` for reads too: a list is policy (what gets blocked unseen), like `/v1/policies`,
and a block list's items are often the very content a tenant must not spread.
Why the views stay thin: storage lives in `lists.records` (terms) and `lists.store` (hashes);
a view parses, validates the items for the list's kind, writes, appends the audit event and
answers. Uploads are hashed here and only the hash is kept.
"""
from __future__ import annotations

import time
from typing import Any

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError

from mmservice import audit
from mmservice.api import list_examples as ex
from mmservice.api.context import services, tenant, tenant_cfg
from mmservice.api.errors import first_validation_error
from mmservice.auth.scopes import requires
from mmservice.errors import BadRequest, Invalid
from mmservice.jobs.store import now_iso
from mmservice.lists import terms
from mmservice.lists.apply import image_pdq
from mmservice.lists.pdq import sha256_hex
from mmservice.lists.records import ListStore
from mmservice.lists.store import normalize_hash
from mmservice.policies.store import NAME_RE
from mmservice.schemas.lists import (
    HashItemInSchema,
    ItemPatchSchema,
    ItemsAddedSchema,
    ItemSchema,
    ItemsInSchema,
    ItemsPageSchema,
    ItemsQuerySchema,
    ListInSchema,
    ListListSchema,
    ListSchema,
    TermItemInSchema,
)
from mmservice.schemas.output import ApiErrorSchema

bp = Blueprint("lists", __name__, url_prefix="/v1/lists",
               description="Block, allow and review lists: terms, SHA-256 and PDQ hashes")
NOT_FOUND = {"error": {"code": "list_not_found", "message": "no list 'insults'"}}
INVALID = {"error": {"code": "validation_error", "field": "items.0.value",
                     "message": "items.0.value: unsafe regular expression: nested repeat"}}
_ITEMS_DOC = {"content": {
    "application/json": {"schema": ItemsInSchema, "example": ex.ITEMS_IN},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary", "description": "an image (pdq lists) "
                 "or any file (sha256 lists): only its hash is stored"},
        "note": {"type": "string"}, "source": {"type": "string"}}}}}}


def _store() -> ListStore:
    svc = services()
    return ListStore(svc.redis, svc.store.keys)


def _actor() -> str:
    key = g.get("key")
    return key.prefix if key is not None else "auth-disabled"


def _audit(event: dict[str, Any]) -> None:
    svc = services()
    audit.append(svc.redis, svc.store.keys, tenant(), {"actor": _actor(), **event})


def _load(schema: Schema, body: Any, prefix: str = "") -> dict:
    if not isinstance(body, dict):
        raise Invalid(f"{prefix or 'the body'} must be a JSON object", code="validation_error",
                      field=prefix or None)
    try:
        return schema.load(body)
    except ValidationError as e:
        field, msg = first_validation_error(e.messages, prefix)
        if msg == "Unknown field.":
            raise Invalid(f"unknown field {field!r}", code="unknown_field", field=field) from None
        raise Invalid(f"{field}: {msg}", code="validation_error", field=field) from None


def _json() -> Any:
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise BadRequest("send a JSON object", code="malformed_json")
    return body


def _term_items(raw: list[Any]) -> list[dict]:
    out = []
    for i, it in enumerate(raw):
        if isinstance(it, str):
            it = {"value": it}
        item = _load(TermItemInSchema(), it, f"items.{i}")
        item.setdefault("kind", "phrase" if len(item["value"].split()) > 1 else "word")
        why = terms.validate_item(item["kind"], item["value"])
        if why:
            raise Invalid(f"items.{i}.value: {why}", code="invalid_item", field=f"items.{i}.value")
        out.append(item)
    return out


def _hash_items(kind: str, raw: list[Any]) -> list[dict]:
    out = []
    for i, it in enumerate(raw):
        item = _load(HashItemInSchema(), it, f"items.{i}")
        try:
            item["hash"] = normalize_hash(kind, item["hash"])
        except ValueError as e:
            raise Invalid(f"items.{i}.hash: {e}", code="invalid_hash",
                          field=f"items.{i}.hash") from None
        out.append(item)
    return out


def _uploaded(rec: dict) -> list[dict]:
    """A multipart upload -> one hash item (the file itself is dropped here)."""
    f = request.files.get("file")
    if f is None:
        raise Invalid("send the file in the `file` field", code="missing_file", field="file")
    data = f.read()
    if not data:
        raise Invalid("the file is empty", code="empty_file", field="file")
    item: dict[str, Any] = {"note": request.form.get("note"),
                            "source": request.form.get("source") or "upload"}
    if rec["kind"] == "sha256":
        return [{**item, "hash": sha256_hex(data)}]
    hex_hash, quality = image_pdq(data, int(tenant_cfg().get("MAX_IMAGE_PIXELS", 50_000_000)))
    if quality < int(rec["min_quality"]):
        raise Invalid(f"the image's PDQ quality is {quality}, below the list's min_quality "
                      f"{rec['min_quality']} (a flat or tiny image hashes to noise)",
                      code="low_quality", field="file")
    return [{**item, "hash": hex_hash, "quality": quality}]


def _name_ok(name: str) -> None:
    if not NAME_RE.match(name):
        raise Invalid("a list name is 1-64 of a-z, 0-9, `_`, `.`, `-`, starting with a letter "
                      "or digit", code="invalid_list_name", field="name")


@bp.route("", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="The tenant's lists, with their item counts")
@bp.response(200, ListListSchema, example=ex.LIST_LIST)
def list_lists():
    return {"data": _store().listing(tenant())}


@bp.route("/<list_name>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="One list's settings and item count")
@bp.response(200, ListSchema, example=ex.LIST)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
def get_list(list_name: str):
    return _store().get(tenant(), list_name)


@bp.route("/<list_name>", methods=["PUT"])
@requires(bp, "admin")
@bp.doc(summary="Create a list or change its settings (its kind is fixed once created)",
        description="`kind` terms|sha256|pdq, `action` block|allow|review, pdq: `max_distance` "
                    "(31) and `min_quality` (50); `flood_per_minute` (100); terms: `items`.",
        requestBody={"content": {"application/json": {"schema": ListInSchema,
                                                      "example": ex.LIST_IN}}})
@bp.response(200, ListSchema, example=ex.LIST)
@bp.alt_response(422, schema=ApiErrorSchema, example=INVALID)
def put_list(list_name: str):
    _name_ok(list_name)
    body = _load(ListInSchema(), _json())
    items = _term_items(body.get("items") or [])
    st = _store()
    after, before = st.put(tenant(), list_name, body, actor=_actor(),
                           now=now_iso(time.time()))
    _audit({"type": "list.put", "list": list_name, "before": before, "after": after})
    if items:
        added = st.add_terms(tenant(), list_name, items)
        _audit({"type": "list.items.add", "list": list_name, "before": None, "after": added})
    return st.get(tenant(), list_name)


@bp.route("/<list_name>", methods=["DELETE"])
@requires(bp, "admin")
@bp.doc(summary="Delete a list and all its items (policies naming it then skip it)")
@bp.response(200, ListSchema, example=ex.LIST)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
def delete_list(list_name: str):
    rec = _store().delete(tenant(), list_name)
    _audit({"type": "list.delete", "list": list_name, "before": rec, "after": None})
    return rec


@bp.route("/<list_name>/items", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Add items: JSON, or one file uploaded (only its hash is kept)",
        description="Terms: `{items: [{value, kind?, note?}]}` or strings. Hash lists: "
                    "`{items: [{hash, note?, source?, disabled_until?}]}`, or multipart with "
                    "`file` (pdq: an image, refused below the list's `min_quality`).",
        requestBody=_ITEMS_DOC)
@bp.response(201, ItemsAddedSchema, example=ex.ITEMS_ADDED)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
@bp.alt_response(422, schema=ApiErrorSchema, example=INVALID)
def add_items(list_name: str):
    st = _store()
    rec = st.get(tenant(), list_name)
    if request.mimetype == "multipart/form-data":
        if rec["kind"] == "terms":
            raise Invalid("a term list takes JSON items, not files", code="file_not_allowed",
                          field="file")
        added = st.add_hashes(tenant(), rec, _uploaded(rec))
    else:
        raw = _load(ItemsInSchema(), _json())["items"]
        added = (st.add_terms(tenant(), list_name, _term_items(raw)) if rec["kind"] == "terms"
                 else st.add_hashes(tenant(), rec, _hash_items(rec["kind"], raw)))
    _audit({"type": "list.items.add", "list": list_name, "before": None, "after": added})
    return {"data": added}, 201


@bp.route("/<list_name>/items", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="A page of a list's items (follow `next_cursor` until it is 0)")
@bp.arguments(ItemsQuerySchema, location="query")
@bp.response(200, ItemsPageSchema, example=ex.ITEMS_PAGE)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
def list_items(query, list_name: str):
    st = _store()
    rec = st.get(tenant(), list_name)
    data, nxt = st.items(tenant(), rec, query["cursor"], query["limit"])
    return {"data": data, "next_cursor": nxt}


@bp.route("/<list_name>/items/<item_id>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="One item")
@bp.response(200, ItemSchema, example=ex.TERM_ITEM)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
def get_item(list_name: str, item_id: str):
    st = _store()
    return st.item(tenant(), st.get(tenant(), list_name), item_id)


@bp.route("/<list_name>/items/<item_id>", methods=["PATCH"])
@requires(bp, "admin")
@bp.doc(summary="Change an item's note, source or `disabled_until` (pause it)",
        requestBody={"content": {"application/json": {"schema": ItemPatchSchema,
                                                      "example": ex.PATCH_IN}}})
@bp.response(200, ItemSchema, example=ex.TERM_ITEM)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
@bp.alt_response(422, schema=ApiErrorSchema, example=INVALID)
def patch_item(list_name: str, item_id: str):
    st = _store()
    rec = st.get(tenant(), list_name)
    changes = _load(ItemPatchSchema(), _json())
    after, before = st.patch_item(tenant(), rec, item_id, changes)
    _audit({"type": "list.item.patch", "list": list_name, "item": item_id,
            "before": before, "after": after})
    return after


@bp.route("/<list_name>/items/<item_id>", methods=["DELETE"])
@requires(bp, "admin")
@bp.doc(summary="Remove an item")
@bp.response(200, ItemSchema, example=ex.TERM_ITEM)
@bp.alt_response(404, schema=ApiErrorSchema, example=NOT_FOUND)
def delete_item(list_name: str, item_id: str):
    st = _store()
    before = st.delete_item(tenant(), st.get(tenant(), list_name), item_id)
    _audit({"type": "list.item.delete", "list": list_name, "item": item_id,
            "before": before, "after": None})
    return before
