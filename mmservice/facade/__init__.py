"""The OpenAI-compatible facade: `OpenAI(base_url="http://mmservice:8000/v1")` works unchanged.

Routes (`routes.py`, beside the job API under `/v1`): `POST /v1/moderations`,
`/v1/chat/completions` (`stream: true` passed through chunk by chunk), `/v1/audio/transcriptions`,
`/v1/audio/translations`, `/v1/audio/speech` (streamed), `GET /v1/models`. Their field names,
status codes and error shape (`{"error": {"message", "type", "param", "code"}}`, `errors.py`) are
OpenAI's, so the official client parses every answer into its typed models.

What the facade adds is what the job path already has, called, not copied: moderation goes
through `steps.moderate.judge` (the tenant's policy, the result cache, block/allow lists, shadow
policies), transcription and speech through `mmservice.capabilities`, usage through
`accounting.writes_for`, the audit chain through `mmservice.audit`, auth and rate limits through
the gate and the guard every route has.

Where a call runs (`calls.py`):
- openai provider: in the API process, through the same provider object the workers build (the
  official client against the configured upstream). A synchronous gateway that added a queue hop
  to every call would add its latency too. A moderation's reads (default policy, list names,
  shadow names, cache entries) are one pipeline (`prefetch.py`); its counters are written by the
  background writer (`audit_writer.py`); a client that hangs up closes the upstream connection
  of its call (`providers.cancel`).
- local provider: the API process never loads a model, so the call is handed to a worker: its
  parameters and media go to a short-lived Redis hash, a `mms.facade_call` task goes to the
  capability's queue (`moderation`, `audio`), and the API waits for the reply with BLPOP (one
  second at a time, checking that the client is still there) up to
  `MMS_FACADE_WORKER_TIMEOUT_S`. A client that hangs up, or a wait that runs out, marks the call
  canceled: a worker that has not started it skips it.
"""
