"""The content-hash result cache: identical content, asked the same question of the same model,
reuses the provider's earlier answer instead of calling it again.

Why the provider's answer and not the job's result: scores, transcripts and descriptions are
measurements of the content; the verdict is the tenant's current rule. A hit hands the cached
measurements (`RawModeration`, a transcript, a vision answer) to the same code that judges fresh
ones, so a threshold or list change decides the very next job, with no invalidation.

The pieces:
- `store.py`: what a cache entry is named by (task, provider identity, call options and the
  content's SHA-256), text normalization, and the Redis reads and writes (MGET, SET with PX);
- `wrappers.py`: provider wrappers with the providers' own interface, which answer from the cache
  and ask the real provider only for what is missing; a text-moderation lookup happens before
  micro-batching, so a hit never waits for a batch;
- `steps.py`: what the job steps call: the job's cache (its tenant's namespace, or the shared
  pool when the tenant opts in; none when `MMS_CACHE` or `options.cache` says no), and the
  result's `cached` flag and metrics.

Capabilities (`mmservice.capabilities`) stay content-level: they only see a provider.
"""
