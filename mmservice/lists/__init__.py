"""The matching engines behind tenant block/allow/review lists (issue 15): plain functions and
small classes that the lists API, the policy and the moderation step call.

- `pdq`: PDQ perceptual hashes (ThreatExchange hex format) and SHA-256 of media bytes.
- `pdq_index`: an exact in-memory index answering "which hashes lie within N bits of this one".
- `store`: hash list items in Redis (an items hash per list, a per-tenant change stream); the
  writer functions the lists API calls.
- `sync`: the per-worker `HashIndexes` that follows the stream, so a new item matches on every
  worker at its next lookup, without a rebuild.
- `records`: the lists API's storage: list records (kind, action, thresholds), term items with
  a version counter, hash items through `store`; keeps `Keys.list_names` in step for policies.
- `apply`: the worker side: `ListMatcher` (one per worker process) matches a job's text,
  transcript, media bytes and image against the lists that apply, and runs the flood guard.
- `terms`: compiled term lists (words, phrases, bounded regexes) matched on the moderation
  normalizer's text, with hits reported at their offsets in the original text;
  `regex_safety` decides which regexes a list accepts.

Why a package apart from `moderation/`: these engines hold tenant data and Redis state;
`moderation/` holds the fixed domain (categories, policy arithmetic, built-in terms).
"""
