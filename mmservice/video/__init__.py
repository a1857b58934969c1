"""Video moderation (issue 19): keyframes and the soundtrack judged in parallel parts, put back
on one timeline as `segments`, with a whole-video verdict, list matches across frames and the
review artifacts (flagged-frame thumbnails, a contact sheet).

Modules: `keyframes` (which frames, one bounded ffmpeg pass), `parts` (one frame or one audio
chunk judged: runs in the fan-out's part tasks), `timeline` (segments, verdict, list matches)
and `sheet` (thumbnails and the contact sheet). The job step is `mmservice.steps.video`.
"""
