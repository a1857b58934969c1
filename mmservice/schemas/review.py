"""Request and response schemas of `/v1/review` and `/v1/reports`.

Why strict inputs: a misspelt `lease_tokn` must be a 422 naming it, not a decision that
silently went without its token and answered 409.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from mmservice.moderation.categories import CATEGORIES

QUEUE_NAME = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$",
                             error="a queue name is 1-64 of a-z, 0-9, `_`, `.`, `-`")
DECISIONS = ("approve", "reject", "escalate", "uphold", "overturn")
SOURCES = ("verdict", "report", "sample", "appeal", "job")
BANDS = ("low", "medium", "high")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _text(description: str, n: int = 2000, **kw) -> fields.String:
    return fields.String(validate=validate.Length(max=n), metadata={"description": description},
                         **kw)


class LeaseTokenSchema(_Strict):
    lease_token = fields.String(validate=validate.Length(1, 200), metadata={
        "description": "the token `next` handed out (an admin may release without it)"})


class DecisionInSchema(_Strict):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS), metadata={
        "description": "approve | reject | escalate; on an appeal: uphold | overturn"})
    lease_token = fields.String(required=True, validate=validate.Length(1, 200))
    categories = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)),
                             validate=validate.Length(max=13))
    reason = _text("why (required when the queue says `reason_required`)")
    note = _text("a note for other reviewers", 4000)
    queue = fields.String(validate=QUEUE_NAME, metadata={
        "description": "escalate: the queue to send it to (default `escalations`)"})


class AppealInSchema(_Strict):
    reason = _text("the appellant's words", required=True)
    appellant = _text("who appeals (the platform's user id)", 200)


class ReportInSchema(_Strict):
    job_id = fields.String(validate=validate.Length(1, 100))
    text = fields.String(validate=validate.Length(1, 100_000))
    reason = _text("why the user reported it", 2000, required=True)
    reporter_id = _text("the platform's id of the reporting user", 200, required=True)

    @validates_schema
    def _one(self, data, **_):
        if bool(data.get("job_id")) == bool(data.get("text")):
            raise ValidationError("send either job_id or text", field_name="job_id")


class RuleSchema(_Strict):
    queue = fields.String(required=True, validate=QUEUE_NAME)
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    severity = fields.String(validate=validate.OneOf(BANDS))
    kind = fields.String(validate=validate.OneOf(("text", "image", "audio")))
    source = fields.String(validate=validate.OneOf(SOURCES))


class QueueSettingsSchema(_Strict):
    reason_required = fields.Boolean()
    sla_s = fields.Integer(validate=validate.Range(1, 30 * 86400))


class RoutingSchema(_Strict):
    rules = fields.List(fields.Nested(RuleSchema), required=True,
                        validate=validate.Length(max=100), metadata={
                            "description": "first match wins"})
    default_queue = fields.String(required=True, validate=QUEUE_NAME)
    queues = fields.Dict(keys=fields.String(validate=QUEUE_NAME),
                         values=fields.Nested(QueueSettingsSchema), load_default=dict)


class BulkFilterSchema(_Strict):
    queue = fields.String(validate=QUEUE_NAME)
    list = fields.String()
    list_item = fields.String()
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    source = fields.String(validate=validate.OneOf(SOURCES))
    severity = fields.String(validate=validate.OneOf(BANDS))


class BulkInSchema(_Strict):
    filter = fields.Nested(BulkFilterSchema, required=True)
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    reason = _text("recorded on every decision")
    categories = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)))
    confirm_count = fields.Integer(validate=validate.Range(0), metadata={
        "description": "absent: only count; the count to apply the decision"})


# -- answers --------------------------------------------------------------------------------
class QueueSchema(Schema):
    name = fields.String(required=True)
    depth = fields.Integer(required=True)
    oldest_age_s = fields.Float(required=True)
    sla_s = fields.Integer(required=True)
    sla_breached = fields.Boolean(required=True)
    reason_required = fields.Boolean(required=True)


class QueueListSchema(Schema):
    data = fields.List(fields.Nested(QueueSchema), required=True)


class ReviewItemSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("open", "decided")))
    stage = fields.String(required=True, validate=validate.OneOf(("review", "appeal")))
    queue = fields.String(required=True)
    source = fields.String(required=True)
    sources = fields.List(fields.String())
    priority = fields.Float()
    severity = fields.String(validate=validate.OneOf(BANDS))
    content = fields.Dict(metadata={"description": "sha256, kind, mime, job_id, text?, "
                                                   "transcript?"})
    jobs = fields.List(fields.String())
    category_scores = fields.Dict(keys=fields.String(), values=fields.Float())
    flagged_categories = fields.List(fields.String())
    top_category = fields.String(allow_none=True)
    top_score = fields.Float()
    matched_lists = fields.List(fields.Dict())
    policy = fields.Dict(allow_none=True)
    verdict = fields.String(allow_none=True)
    reports = fields.List(fields.Dict())
    report_count = fields.Integer()
    history = fields.List(fields.Dict())
    decisions = fields.List(fields.Dict())
    final = fields.Dict(allow_none=True, metadata={
        "description": "verdict (allow|block), decision, stage, reviewer, at"})
    appeal = fields.Dict(allow_none=True)
    sample = fields.Boolean()
    created_at = fields.String()
    updated_at = fields.String()
    lease = fields.Dict(allow_none=True, metadata={
        "description": "token, fence, expires_in_s (only for the holder's `next`)"})
    lease_token = fields.String(metadata={"description": "= lease.token"})
    exposure = fields.Dict(metadata={"description": "high_last_hour, cap, capped"})


class DecisionOutSchema(Schema):
    item = fields.Nested(ReviewItemSchema, required=True)
    decision = fields.Dict(required=True)


class ReportOutSchema(Schema):
    report = fields.Dict(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("queued", "moderating")))
    item_id = fields.String()
    job_id = fields.String()


class BulkOutSchema(Schema):
    count = fields.Integer(required=True)
    applied = fields.Integer(required=True)
    item_ids = fields.List(fields.String(), required=True)


class OkSchema(Schema):
    ok = fields.Boolean(required=True)
    item_id = fields.String()
    revealed = fields.String()
    expires_in_s = fields.Float()


class MetricsSchema(Schema):
    queues = fields.List(fields.Nested(QueueSchema), required=True)
    time_to_decision_s = fields.Dict(required=True)
    decisions = fields.Integer()
    lease_expiries = fields.Integer()
    appeals = fields.Integer()
    appeals_decided = fields.Integer()
    overturned = fields.Integer()
    overturn_rate = fields.Float(allow_none=True)
    double_reviewed = fields.Integer()
    agreement_rate = fields.Float(allow_none=True)
