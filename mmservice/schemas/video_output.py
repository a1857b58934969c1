"""The video parts of a job's answer: time segments, keyframe counts, progress.

Why apart from `output.py`: one module per surface and each under 300 lines; these fields only
appear on video jobs (issue 19), and the README's "Video" section documents them.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

VERDICTS = ("allow", "review", "block")


class FrameRefSchema(Schema):
    index = fields.Integer(required=True, metadata={"description": "keyframe number"})
    time_s = fields.Float(required=True)


class SegmentSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf(("frame", "audio")))
    start_s = fields.Float(required=True)
    end_s = fields.Float(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    flagged = fields.Boolean(required=True)
    categories = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    category_scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    frame = fields.Nested(FrameRefSchema, metadata={
        "description": "frame segments: the keyframe with the highest score"})
    frames = fields.List(fields.Integer(), metadata={
        "description": "frame segments: every keyframe the segment merges"})
    thumbnail_url = fields.String(metadata={
        "description": "flagged frame segments: GET it for the keyframe's thumbnail"})
    text = fields.String(metadata={"description": "audio segments: what was said"})


class VideoFramesSchema(Schema):
    total = fields.Integer(metadata={"description": "keyframes judged"})
    flagged = fields.Integer()
    sample_interval_s = fields.Float(metadata={
        "description": "the minimum sampling interval used (widened for long videos)"})


class VerdictRuleSchema(Schema):
    rule = fields.String(validate=validate.OneOf(("worst", "share")))
    review_share = fields.Float()
    block_share = fields.Float()


class VideoTranscriptSchema(Schema):
    text = fields.String()
    language = fields.String(allow_none=True)
    model = fields.String(allow_none=True)


class ProgressSchema(Schema):
    frame_done = fields.Integer(metadata={"description": "keyframes judged so far"})
    frame_found = fields.Integer(metadata={
        "description": "keyframes found so far (judging starts while the video is decoded)"})
    frame_total = fields.Integer(metadata={
        "description": "keyframes to judge: present once the whole video is decoded"})
    audio_done = fields.Integer(metadata={"description": "soundtrack chunks done"})
    audio_found = fields.Integer(metadata={"description": "soundtrack chunks found so far"})
    audio_total = fields.Integer(metadata={
        "description": "soundtrack chunks: present once the whole video is decoded"})


def moderation_fields() -> dict:
    """Fields the moderation result has on a video job."""
    return {
        "segments": fields.List(fields.Nested(SegmentSchema), metadata={
            "description": "video: verdicts per time span, from keyframes and speech"}),
        "frames": fields.Nested(VideoFramesSchema),
        "verdict_rule": fields.Nested(VerdictRuleSchema, metadata={
            "description": "video: how the segments made the verdict (the policy's `video`)"}),
        "duration_s": fields.Float(),
        "contact_sheet_url": fields.String(metadata={
            "description": "video: GET it for a JPEG grid of the keyframes"}),
        "transcript": fields.Nested(VideoTranscriptSchema, metadata={
            "description": "video: what the soundtrack says"}),
        "audio_error": fields.Dict(metadata={
            "description": "video: why the soundtrack could not be judged"}),
    }
