"""Request and response schemas of `/v1/lists`.

Why items are loaded per list kind in the view and not by one schema: a term item and a hash
item share nothing but `note`, and which one a body must hold depends on the stored list.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from mmservice.lists.records import ACTIONS, LIST_KINDS
from mmservice.lists.terms import KINDS as TERM_KINDS


def _str(description: str, **kw) -> fields.String:
    return fields.String(metadata={"description": description}, **kw)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


_UNTIL = fields.Float(allow_none=True, validate=validate.Range(0), metadata={
    "description": "unix seconds: the item does not match until then (null: enabled)"})
_NOTE = fields.String(allow_none=True, validate=validate.Length(max=500))
_SOURCE = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={
    "description": "where the item came from (a bank, a ticket)"})


class TermItemInSchema(_Strict):
    value = fields.String(required=True, validate=validate.Length(1, 300))
    kind = fields.String(validate=validate.OneOf(TERM_KINDS), metadata={
        "description": "word | phrase | regex (default: word, or phrase when it has spaces)"})
    note = _NOTE
    source = _SOURCE
    disabled_until = _UNTIL


class HashItemInSchema(_Strict):
    hash = _str("64 hex characters: a PDQ hash (ThreatExchange order) or a SHA-256",
                required=True)
    note = _NOTE
    source = _SOURCE
    disabled_until = _UNTIL


class ListInSchema(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(LIST_KINDS))
    action = fields.String(load_default="block", validate=validate.OneOf(ACTIONS), metadata={
        "description": "what a hit does: block, allow (known good) or review"})
    description = fields.String(validate=validate.Length(max=500))
    max_distance = fields.Integer(validate=validate.Range(0, 128), metadata={
        "description": "pdq only: the largest Hamming distance that matches (default 31)"})
    min_quality = fields.Integer(validate=validate.Range(0, 100), metadata={
        "description": "pdq only: hashes of lower PDQ quality are neither stored nor looked "
                       "up (default 50)"})
    flood_per_minute = fields.Integer(validate=validate.Range(1, 1_000_000), metadata={
        "description": "flood guard: above this many hits of one item in a minute, its block "
                       "hits go to review (default 100)"})
    items = fields.List(fields.Raw(), validate=validate.Length(max=1000), metadata={
        "description": "terms only: items to add now (as for POST .../items)"})

    @validates_schema
    def _per_kind(self, data, **_):
        if data["kind"] != "pdq":
            for f in ("max_distance", "min_quality"):
                if f in data:
                    raise ValidationError("only for pdq lists", field_name=f)
        if "items" in data and data["kind"] != "terms":
            raise ValidationError("add hash items with POST /v1/lists/<name>/items",
                                  field_name="items")


class ItemsInSchema(_Strict):
    items = fields.List(fields.Raw(), required=True, validate=validate.Length(1, 1000),
                        metadata={"description": "terms: `{value, kind?, note?}` objects or "
                                                 "plain strings; hash lists: `{hash, note?, "
                                                 "source?, disabled_until?}`"})


class ItemPatchSchema(_Strict):
    note = _NOTE
    source = _SOURCE
    disabled_until = _UNTIL


class ItemsQuerySchema(_Strict):
    cursor = fields.Integer(load_default=0, validate=validate.Range(0), metadata={
        "description": "`next_cursor` of the page before (0: the first page)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ListSchema(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LIST_KINDS))
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    description = fields.String()
    max_distance = fields.Integer()
    min_quality = fields.Integer()
    flood_per_minute = fields.Integer(required=True)
    items = fields.Integer(required=True, metadata={"description": "how many items it holds"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    actor = _str("the API key id that last changed the settings")


class ListListSchema(Schema):
    data = fields.List(fields.Nested(ListSchema), required=True)


class ItemSchema(Schema):
    id = fields.String(required=True)
    kind = _str("word | phrase | regex, or pdq | sha256", required=True)
    value = _str("term lists: the item as written")
    hash = _str("hash lists: the hash (hex); the media itself is never stored")
    quality = fields.Integer(metadata={"description": "pdq items added by upload: PDQ quality"})
    note = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    disabled_until = fields.Float(allow_none=True)
    created_at = fields.String(allow_none=True)


class ItemsPageSchema(Schema):
    data = fields.List(fields.Nested(ItemSchema), required=True)
    next_cursor = fields.Integer(required=True, metadata={"description": "0: the last page"})


class ItemsAddedSchema(Schema):
    data = fields.List(fields.Nested(ItemSchema), required=True, metadata={
        "description": "the items as stored (an item already there is replaced)"})
