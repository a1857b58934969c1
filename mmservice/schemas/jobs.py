"""Request and response schemas for the native job API (`/v1/jobs`).

Input schemas only: clients may send only what `JobRequestSchema` names (unknown fields are
rejected, so a typo is an error rather than a silently ignored option). What the API answers is
declared in `schemas/output.py`.
"""
from __future__ import annotations

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from mmservice.moderation.categories import CATEGORIES
from mmservice.moderation.policy import InvalidThresholds, check_order
from mmservice.schemas.output import (  # noqa: F401 (re-exported)
    ApiErrorSchema,
    JobListSchema,
    JobSchema,
)
from mmservice.steps import registry

TASKS = registry.NAMES
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
          "verse")
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "verbose_json", "text", "srt", "vtt")
# Which tasks read each option: an option none of a job's tasks reads is refused at submission
# (`option_not_applicable`) instead of being silently ignored.
OPTION_TASKS: dict[str, tuple[str, ...]] = {
    "thresholds": ("moderate",), "policy": ("moderate",), "prompt": ("describe", "transcribe"),
    "detail": ("describe",), "json_schema": ("describe",),
    "language": ("transcribe",), "response_format": ("transcribe",),
    "voice": ("speak",), "format": ("speak",), "speed": ("speak",), "instructions": ("speak",),
    "cache": ("moderate", "describe", "transcribe"), "as_video": ("moderate",),
}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class JsonBoolean(fields.Boolean):
    """A JSON `true` or `false` only: "false" or 0 is refused, not read as a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class ThresholdSchema(StrictSchema):
    review = fields.Float(validate=validate.Range(0, 1))
    block = fields.Float(validate=validate.Range(0, 1))


_THRESHOLD = ThresholdSchema()  # stateless: one instance validates every request


def _thresholds_ok(value: dict) -> None:
    for cat, th in value.items():
        if cat not in CATEGORIES:
            raise ValidationError(f"unknown category {cat!r}; expected one of OpenAI's 13")
        if isinstance(th, (int, float)) and not isinstance(th, bool):
            if not 0 <= th <= 1:
                raise ValidationError(f"threshold for {cat!r} must be within 0..1")
            continue
        errors = _THRESHOLD.validate(th if isinstance(th, dict) else {"_": th})
        if errors:
            raise ValidationError({cat: errors})
        try:
            check_order({cat: th}, "options.thresholds")
        except InvalidThresholds as e:
            raise ValidationError(str(e)) from None


class OptionsSchema(StrictSchema):
    thresholds = fields.Dict(keys=fields.String(), values=fields.Raw(), validate=_thresholds_ok,
                             metadata={"description": (
                                 "per category (OpenAI's names): {review?, block?} within 0..1, "
                                 "review not above block; or a bare number, which sets review "
                                 "and raises block to at least that number")})
    policy = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "the name of the tenant's policy that judges this job (default: the "
                       "tenant's default policy, else `builtin`); `thresholds` apply on top"})
    prompt = fields.String(validate=validate.Length(min=1, max=4000))
    detail = fields.String(validate=validate.OneOf(("low", "high", "auto")))
    json_schema = fields.Dict()
    language = fields.String(validate=validate.Length(min=2, max=16))
    response_format = fields.String(validate=validate.OneOf(TRANSCRIPT_FORMATS))
    voice = fields.String(validate=validate.OneOf(VOICES))
    format = fields.String(validate=validate.OneOf(SPEECH_FORMATS))
    speed = fields.Float(validate=validate.Range(0.25, 4.0))
    instructions = fields.String(validate=validate.Length(max=4000))
    as_video = JsonBoolean(metadata={"description": (
        "true: an animated GIF upload is moderated as a video (keyframes, segments) instead "
        "of as one image")})
    cache = JsonBoolean(metadata={"description": (
        "false: this job neither reuses nor stores provider results in the result cache "
        "(default true: identical content with the same task, model and options, measured "
        "within MMS_CACHE_TTL_S, is not sent upstream again; the current thresholds decide)")})


class JobRequestSchema(StrictSchema):
    text = fields.String(metadata={"description": "text to moderate, or to speak"})
    image_url = fields.String(metadata={"description": (
        "a data: URL, or an https URL (http only to hosts in MMS_ALLOW_PRIVATE_URLS)")})
    video_url = fields.String(validate=validate.Length(min=1, max=2048), metadata={
        "description": "an https URL of a video (http only to hosts in MMS_ALLOW_PRIVATE_URLS), "
                       "fetched and checked by the worker like an upload"})
    tasks = fields.List(fields.String(validate=validate.OneOf(TASKS)),
                        validate=validate.Length(min=1, max=len(TASKS)))
    options = fields.Nested(OptionsSchema)
    # Checked in intake (scheme, credentials, SSRF guard with MMS_WEBHOOK_ALLOWLIST), so the
    # error names the setting and never echoes a credential back.
    webhook_url = fields.String(validate=validate.Length(min=1, max=2048), metadata={
        "description": "http(s) endpoint for the job's events; private targets only when "
                       "allow-listed in MMS_WEBHOOK_ALLOWLIST"})
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(max=64)))

    @validates_schema
    def _has_input(self, data, **_):
        if "text" in data and not data["text"].strip():
            raise ValidationError("text is empty", field_name="text")
        if len(set(data.get("tasks") or [])) != len(data.get("tasks") or []):
            raise ValidationError("tasks are repeated", field_name="tasks")


class JobListQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(
        ("queued", "running", "succeeded", "failed", "canceled")))
    cursor = fields.String()
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))


JOB_WAIT_MAX_S = 30.0


class JobGetQuerySchema(StrictSchema):
    wait = fields.Float(load_default=0.0, validate=validate.Range(0, JOB_WAIT_MAX_S), metadata={
        "description": "long-poll: answer as soon as the job settles, or after this many "
                       "seconds (at most 30), whichever is first. Best effort: when the "
                       "server's waiter slots are taken it answers at once; check `status`."})
