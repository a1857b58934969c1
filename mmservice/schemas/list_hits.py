"""A moderation result's `matched_lists` entries (issue 15): which list item matched what.

Apart from `output.py` so that module stays small; `output.ModerationResultSchema` nests it.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

ACTIONS = ("allow", "review", "block")


class MatchedListSchema(Schema):
    list = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "terms, sha256 or pdq"})
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS), metadata={
        "description": "what this hit did (a flood-guarded block hit says review)"})
    item_id = fields.String(required=True)
    input = fields.String(required=True, metadata={
        "description": "what matched: text, transcript, ocr (text read in the image), image, "
                       "or media (the bytes)"})
    value = fields.String(metadata={"description": "terms: the item as written"})
    matched = fields.String(metadata={"description": "terms: the original text that matched"})
    offsets = fields.List(fields.Integer(), metadata={
        "description": "terms: [start, end) in the original text, transcript or OCR text"})
    hash = fields.String(metadata={"description": "hash lists: the content's hash"})
    distance = fields.Integer(metadata={"description": "pdq: Hamming distance to the item"})
    flood = fields.Boolean(metadata={
        "description": "the item is over its list's flood_per_minute: block became review"})
    metadata = fields.Dict(metadata={"description": "the item's note and source"})
    frames = fields.Integer(metadata={"description": "video: keyframes the item matched"})
    share = fields.Float(metadata={"description": "video: share of the keyframes it matched"})
    frame_indexes = fields.List(fields.Integer(), metadata={
        "description": "video: the keyframes it matched (the first 50)"})
    time_ranges = fields.List(fields.List(fields.Float()), metadata={
        "description": "video: [start_s, end_s] spans of the matched keyframes"})

