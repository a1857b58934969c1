"""Request and response schemas of `/v1/policies` and `/v1/audit`.

Why one input schema for PUT and the backtest: a backtest's candidate is exactly what a PUT
would store, so a candidate that backtests well can be PUT unchanged.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from mmservice.moderation.categories import CATEGORIES
from mmservice.policies.model import KINDS, MODES, UNASSESSED
from mmservice.schemas.output import PolicyRefSchema


def _category() -> fields.String:
    return fields.String(validate=validate.OneOf(
        CATEGORIES, error="unknown category; expected one of OpenAI's 13"))


def _str(description: str, **kw) -> fields.String:
    return fields.String(metadata={"description": description}, **kw)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class LinesSchema(_Strict):
    review = fields.Float(required=True, validate=validate.Range(0, 1))
    block = fields.Float(required=True, validate=validate.Range(0, 1))

    @validates_schema
    def _order(self, data, **_):
        if data["review"] > data["block"]:
            raise ValidationError(f"review ({data['review']}) is above block ({data['block']})",
                                  field_name="review")


def _per_category(description: str) -> fields.Dict:
    return fields.Dict(keys=_category(), values=fields.Nested(LinesSchema),
                       metadata={"description": description})


class VideoRuleSchema(_Strict):
    rule = fields.String(required=True, validate=validate.OneOf(("worst", "share")), metadata={
        "description": "`worst`: the most severe segment decides; `share`: a verdict counts "
                       "once this share of the judged keyframes and spoken segments reach it"})
    review_share = fields.Float(validate=validate.Range(0, 1), metadata={
        "description": "share: review at or above it (default 0.02)"})
    block_share = fields.Float(validate=validate.Range(0, 1), metadata={
        "description": "share: block at or above it (default 0.1)"})


class PolicyInSchema(_Strict):
    thresholds = _per_category(
        "per category: {review, block} within 0..1, review <= block. Categories not named "
        "keep the tenant's settings lines (MMS_THRESHOLDS_*)")
    by_kind = fields.Dict(
        keys=fields.String(validate=validate.OneOf(KINDS, error="unknown input kind; expected "
                                                   "one of " + ", ".join(KINDS))),
        values=_per_category("lines for this kind only"),
        metadata={"description": "per input kind (text, image, transcript, video): lines that "
                                 "replace `thresholds` for that kind's pieces"})
    lists = fields.List(fields.String(validate=validate.Length(1, 64)),
                        validate=validate.Length(max=50),
                        metadata={"description": "names of the tenant's lists that apply "
                                                 "(absent: all of them; `[]`: none)"})
    halt_on_match = fields.Boolean(metadata={
        "description": "an allow/block list hit decides without a model call (default true)"})
    unassessed = fields.String(validate=validate.OneOf(UNASSESSED), metadata={
        "description": "`review`: a category the policy names that no piece was assessed for "
                       "sends the item to review (default `allow`)"})
    video = fields.Nested(VideoRuleSchema, metadata={
        "description": "how a video's segments make its verdict (default `worst`)"})
    mode = fields.String(validate=validate.OneOf(MODES), metadata={
        "description": "`live` judges jobs; `shadow` is evaluated beside the live policy on "
                       "every job and only recorded (default `live`)"})
    default = fields.Boolean(metadata={
        "description": "true: the tenant's default policy (moved from any other); false: no "
                       "longer the default; absent: unchanged"})

    @validates_schema
    def _shadow_not_default(self, data, **_):
        if data.get("default") and data.get("mode") == "shadow":
            raise ValidationError("a shadow policy cannot be the default", field_name="default")


class PolicySchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True, metadata={
        "description": "this version's number; the builtin policy is version 0"})
    latest_version = fields.Integer()
    thresholds = fields.Dict(keys=fields.String(), values=fields.Nested(LinesSchema),
                             required=True)
    by_kind = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Nested(LinesSchema)))
    lists = fields.List(fields.String())
    halt_on_match = fields.Boolean(dump_default=True)
    unassessed = fields.String(dump_default="allow")
    video = fields.Dict(metadata={"description": "the video verdict rule, when set"})
    mode = fields.String(dump_default="live")
    default = fields.Boolean(required=True)
    builtin = fields.Boolean(metadata={"description": "the policy from settings (no record)"})
    created_at = fields.String()
    actor = _str("the API key id that wrote this version")
    deleted_at = fields.String(metadata={"description": "set once the policy is deleted"})


class PolicyListSchema(Schema):
    data = fields.List(fields.Nested(PolicySchema), required=True)
    default = _str("the policy that judges jobs without `options.policy`", required=True)


class BacktestQuerySchema(_Strict):
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 1000), metadata={
        "description": "how many of the tenant's most recent moderation results to re-decide"})


class BacktestSchema(Schema):
    policy = fields.Nested(PolicyRefSchema, required=True, metadata={
        "description": "the stored policy, or `version` 0 with a `candidate` body"})
    candidate = fields.Boolean(required=True)
    jobs = fields.Integer(required=True, metadata={"description": "results re-decided"})
    unchanged = fields.Integer(required=True)
    changes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "`old->new` verdict -> count"})
    examples = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                           required=True, metadata={"description": "up to 5 job ids per change"})
    skipped = fields.Integer(required=True, metadata={
        "description": "recent jobs without scores to re-decide (failed, decided by a list)"})


class AuditQuerySchema(_Strict):
    since = _str("a stream id (`1733150000000-0`) or epoch milliseconds: entries after it")
    type = _str("only events of this type or type family (`policy` = `policy.*`)")
    item = _str("only events about this review item")
    job = _str("only events about this job")
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "jsonl")),
                           metadata={"description": "`jsonl`: one entry per line "
                                                    "(`application/x-ndjson`), for export"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 10000))


class AuditEntrySchema(Schema):
    id = _str("the stream id (time-ordered)", required=True)
    event = fields.Dict(required=True, metadata={
        "description": "`type`, `actor`, `ts` and the type's fields (`before`/`after`)"})
    prev = _str("the previous entry's hash (64 zeros for the first)", required=True)
    hash = _str("SHA-256 of this entry's canonical JSON ({event, prev})", required=True)


class AuditListSchema(Schema):
    data = fields.List(fields.Nested(AuditEntrySchema), required=True)


class AuditVerifySchema(Schema):
    ok = fields.Boolean(required=True)
    first_bad_id = fields.String(allow_none=True, required=True, metadata={
        "description": "the first entry whose hash or link is wrong (`head`: the chain's end "
                       "was cut)"})
    entries = fields.Integer(required=True)
