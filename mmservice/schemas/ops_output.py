"""What the operational routes answer (health, readiness, providers, usage, webhook
deliveries): dumped through these schemas, like the job answers in `output`, so the OpenAPI
document describes exactly what is sent. Apart from `output` only to keep each module small.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from mmservice.schemas.output import ErrorBodySchema


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok",)))


class CapabilityReadySchema(Schema):
    provider = fields.String(required=True, metadata={"description": "`local` or `openai`"})
    queue = fields.String(required=True, metadata={"description": "the queue its steps run on"})
    engine = fields.String(required=True, validate=validate.OneOf(
        ("warm", "warming", "cold", "failed", "no_worker")), metadata={
        "description": "best state among the live workers consuming `queue`"})
    warm = fields.Boolean(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ready", "unavailable")))
    checks = fields.Dict(required=True, metadata={
        "description": "redis, broker, workers (live count, consumers per queue) and each "
                       "configured upstream: ok, ms or error"})
    providers = fields.Dict(required=True, metadata={
        "description": "what serves each capability (see /v1/providers)"})
    reason = fields.String(metadata={
        "description": "why not ready: an upstream, or queues no live worker consumes"})
    capabilities = fields.Dict(
        keys=fields.String(), values=fields.Nested(CapabilityReadySchema), metadata={
            "description": "per capability: provider, queue, engine state (warm, warming, "
                           "cold, failed, no_worker) and `warm`, from the workers' heartbeats"})


class ProvidersSchema(Schema):
    data = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True, metadata={
        "description": "per capability: provider, model, base URL (never a key), availability"})


class UsageRowSchema(Schema):
    capability = fields.String(required=True)
    upstream = fields.String(required=True, metadata={"description": "`<kind>:<host>` or local"})
    model = fields.String(required=True)
    requests = fields.Float()
    prompt_tokens = fields.Float()
    completion_tokens = fields.Float()
    total_tokens = fields.Float()
    audio_seconds = fields.Float()
    images = fields.Float()
    image_tokens = fields.Float()
    characters = fields.Float()


class UsageSchema(Schema):
    object = fields.String(required=True, validate=validate.OneOf(("usage",)))
    tenant = fields.String(required=True)
    day = fields.String(required=True)
    data = fields.List(fields.Nested(UsageRowSchema), required=True)
    totals = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)


class AttemptSchema(Schema):
    attempt = fields.Integer(required=True)
    started_at = fields.String(required=True)
    finished_at = fields.String()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.Nested(ErrorBodySchema, allow_none=True)
    response_body = fields.String(metadata={"description": "the receiver's answer, cut short"})
    outcome = fields.String(required=True, metadata={
        "description": "in_flight, succeeded, retry_scheduled, failed, skipped, "
                       "endpoint_disabled, interrupted"})
    next_attempt_at = fields.String(allow_none=True)


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "also the `webhook-id` header"})
    job_id = fields.String()
    type = fields.String(required=True, metadata={"description": "the event type"})
    url = fields.String(required=True)
    status = fields.String(required=True,
                           validate=validate.OneOf(("pending", "succeeded", "failed", "skipped")))
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    attempt_count = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True, required=True)
    error = fields.Nested(ErrorBodySchema, allow_none=True, required=True)
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    manual_retries = fields.Integer(metadata={"description": "redeliveries asked for by hand"})


class DeliveryListSchema(Schema):
    data = fields.List(fields.Nested(DeliverySchema), required=True)
