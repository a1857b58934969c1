"""What the API answers: every response is dumped through one of these schemas.

Why an allow-list: a stored record carries internal fields (leases, blob keys, deadlines, the
text itself); dumping through the schema sends exactly what is declared here, and the OpenAPI
document is generated from the same declarations, so it describes what is really sent. A field
added to a record reaches clients only when it is declared here, with a description.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from mmservice.schemas.list_hits import MatchedListSchema
from mmservice.schemas.video_output import ProgressSchema, moderation_fields

_VIDEO = moderation_fields()

STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
TASK_STATES = ("pending", "running", "succeeded", "failed", "skipped", "canceled")
VERDICTS = ("allow", "review", "block")


def _str(description: str, **kw) -> fields.String:
    return fields.String(metadata={"description": description}, **kw)


class ErrorBodySchema(Schema):
    code = _str("stable snake_case code", required=True)
    message = _str("what went wrong, for a person", required=True)
    field = _str("the request field or header at fault")
    failed_tasks = fields.List(fields.String(), metadata={
        "description": "on a failed job: the tasks that failed or were skipped"})
    failed_chunks = fields.Integer(metadata={
        "description": "on a failed chunked transcription: how many chunks failed"})
    scope = _str("on a 403 `forbidden`: the scope the API key lacks")
    decision = _str("on a 409 `decision_conflict`: the decision this lease already made")
    count = fields.Integer(metadata={"description": "on a 409 `count_changed`: the items the "
                                                    "bulk filter takes now"})


class ApiErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class InputSchema(Schema):
    kind = fields.String(required=True,
                         validate=validate.OneOf(("text", "image", "audio", "video")))
    mime = fields.String(allow_none=True, metadata={
        "description": "null until a remote image (`image_url`) has been fetched"})
    bytes = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    chars = fields.Integer(metadata={"description": "text jobs: length of the text"})
    text_chars = fields.Integer(metadata={"description": "media jobs that also carry text"})
    duration_s = fields.Float()
    width = fields.Integer()
    height = fields.Integer()
    fps = fields.Float(metadata={"description": "video: frames per second"})
    has_audio = fields.Boolean(metadata={"description": "video: it has a soundtrack"})
    remote = fields.Boolean(metadata={"description": "true until the image URL is fetched"})


class ThresholdPairSchema(Schema):
    review = fields.Float(required=True)
    block = fields.Float(required=True)


_USAGE = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
    "description": "what the provider reports it used (tokens, images, audio seconds...)"})
_ELAPSED = fields.Float(metadata={"description": "time the step took, in milliseconds"})


class PolicyRefSchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "0: the builtin policy"})


class ShadowVerdictSchema(Schema):
    policy = fields.Nested(PolicyRefSchema, required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    flagged_categories = fields.List(fields.String(), required=True)


DECIDERS = ("policy", "list", "review")


def _cached() -> fields.Boolean:
    return fields.Boolean(metadata={"description": (
        "true when every measurement came from the result cache (identical content seen "
        "within MMS_CACHE_TTL_S): no upstream call was made, and no `usage` is reported")})


class ModerationResultSchema(Schema):
    flagged = fields.Boolean(required=True, metadata={
        "description": "true exactly when the verdict is not `allow`"})
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    categories = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    category_scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    assessed_categories = fields.List(fields.String(), required=True, metadata={
        "description": "categories the provider judged; others are absent, never a fake 0"})
    inputs = fields.List(fields.String(), metadata={
        "description": "which inputs were judged: text, image, transcript"})
    thresholds = fields.Dict(keys=fields.String(), values=fields.Nested(ThresholdPairSchema))
    model = fields.String()
    provider = fields.String()
    upstream_flagged = fields.Boolean(metadata={"description": "the engine's own opinion"})
    details = fields.List(fields.Dict(), metadata={
        "description": "per judged piece, what the engine saw (matched terms, detections)"})
    usage = _USAGE
    pieces = fields.Integer(metadata={"description": "long text was judged in this many pieces"})
    language = fields.Dict(metadata={
        "description": "the judged text's language, `{\"code\": ISO 639-1, \"confidence\"}` "
                       "(offline engine; the longest piece's when there are several)"})
    unassessed_reason = fields.String(metadata={
        "description": "`language`: a text was in a language no engine here reads; it was not "
                       "scored and the verdict is `MMS_UNREAD_LANGUAGE_VERDICT` (default review)"})
    ocr_text = fields.String(metadata={
        "description": "the text read in the image (first 1000 characters), judged as text "
                       "with the image"})
    note = fields.String()
    cached = _cached()
    elapsed_ms = _ELAPSED
    policy = fields.Nested(PolicyRefSchema, metadata={
        "description": "the policy version that decided (`GET /v1/policies/<name>/versions/<n>`)"})
    decided_by = fields.String(validate=validate.OneOf(DECIDERS), metadata={
        "description": "`policy` (thresholds on the scores), `list` (a list hit, no model "
                       "call) or `review` (a moderator)"})
    scores_by_kind = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Float()), metadata={
        "description": "per input kind (text, image, transcript): the max score per category, "
                       "what the policy judged (and what a backtest re-decides)"})
    unassessed = fields.List(fields.String(), metadata={
        "description": "categories the policy names that no piece was assessed for (sent to "
                       "review when the policy says `unassessed: review`)"})
    matched_lists = fields.List(fields.Nested(MatchedListSchema), metadata={
        "description": "list hits (at most 50), in the order found"})
    policy_verdict = fields.String(validate=validate.OneOf(VERDICTS), metadata={
        "description": "when a list decided after the model ran: the policy's own verdict"})
    flood = fields.Boolean(metadata={"description": "a hit was turned to review by the flood "
                                                    "guard"})
    segments = _VIDEO["segments"]
    frames = _VIDEO["frames"]
    verdict_rule = _VIDEO["verdict_rule"]
    duration_s = _VIDEO["duration_s"]
    contact_sheet_url = _VIDEO["contact_sheet_url"]
    transcript = _VIDEO["transcript"]
    audio_error = _VIDEO["audio_error"]
    shadow = fields.List(fields.Nested(ShadowVerdictSchema), metadata={
        "description": "the tenant's shadow policies' would-be verdicts on the same scores"})


class SentImageSchema(Schema):
    sent_width = fields.Integer()
    sent_height = fields.Integer()
    sent_bytes = fields.Integer()
    original_width = fields.Integer()
    original_height = fields.Integer()
    original_bytes = fields.Integer()
    detail = fields.String()


class DescriptionResultSchema(Schema):
    text = fields.String(metadata={"description": "the model's answer"})
    data = fields.Raw(metadata={"description": "structured answer (`json_schema` or offline)"})
    warning = fields.String()
    model = fields.String()
    provider = fields.String()
    usage = _USAGE
    image = fields.Nested(SentImageSchema)
    image_tokens_estimate = fields.Integer()
    prompt = fields.String()
    cached = _cached()
    elapsed_ms = _ELAPSED


class ChunkSpanSchema(Schema):
    start_s = fields.Float()
    end_s = fields.Float()


class TranscriptionResultSchema(Schema):
    text = fields.String(required=True)
    language = fields.String(allow_none=True)
    duration_s = fields.Float()
    model = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    response_format = fields.String()
    segments = fields.List(fields.Dict(), metadata={"description": "start, end, text"})
    srt = fields.String()
    vtt = fields.String()
    chunks = fields.List(fields.Nested(ChunkSpanSchema), metadata={
        "description": "a long clip was transcribed in these chunks"})
    no_speech_dropped = fields.Integer(metadata={
        "description": "segments dropped because the engine marked them as no speech "
                       "(Whisper's words on silence, e.g. \"You\")"})
    note = fields.String(metadata={"description": "\"no speech in the audio\" when the "
                                                  "transcript is empty"})
    usage = _USAGE
    cached = _cached()
    elapsed_ms = _ELAPSED


class SpeechResultSchema(Schema):
    format = fields.String()
    content_type = fields.String()
    duration_s = fields.Float()
    bytes = fields.Integer()
    url = _str("where to GET the audio")
    voice = fields.String()
    speed = fields.Float()
    pieces = fields.Integer()
    model = fields.String()
    provider = fields.String()
    usage = _USAGE
    elapsed_ms = _ELAPSED


class ResultsSchema(Schema):
    moderation = fields.Nested(ModerationResultSchema)
    description = fields.Nested(DescriptionResultSchema)
    transcription = fields.Nested(TranscriptionResultSchema)
    speech = fields.Nested(SpeechResultSchema)


class FinalVerdictSchema(Schema):
    verdict = fields.String(required=True, validate=validate.OneOf(("allow", "block")))
    decided_by = fields.String(required=True, validate=validate.OneOf(("review",)))
    review_item = fields.String(required=True, metadata={"description": "`/v1/review/<id>`"})
    decision = fields.String(metadata={"description": "approve, reject, uphold or overturn"})
    at = fields.String()


class JobSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    started_at = fields.String()
    finished_at = fields.String()
    tasks = fields.List(fields.String(), required=True)
    task_status = fields.Dict(keys=fields.String(),
                              values=fields.String(validate=validate.OneOf(TASK_STATES)),
                              required=True)
    input = fields.Nested(InputSchema, required=True)
    options = fields.Dict(required=True, metadata={"description": "the options as submitted"})
    results = fields.Nested(ResultsSchema, required=True)
    error = fields.Nested(ErrorBodySchema, metadata={"description": "on a failed job"})
    task_errors = fields.Dict(keys=fields.String(), values=fields.Nested(ErrorBodySchema),
                              metadata={"description": "per failed or skipped task"})
    metadata = fields.Dict(required=True)
    webhook_url = fields.String()
    progress = fields.Nested(ProgressSchema, metadata={
        "description": "a running video job: keyframes and soundtrack chunks done / total"})
    final_verdict = fields.Nested(FinalVerdictSchema, metadata={
        "description": "set when a reviewer decided the content (issue 16): overrides "
                       "`results.moderation.verdict`"})
    media_deleted = fields.Boolean(metadata={
        "description": "true after DELETE: media, text and results are gone"})


class JobListSchema(Schema):
    data = fields.List(fields.Nested(JobSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


JOB_SCHEMA = JobSchema()
