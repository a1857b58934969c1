"""Every Redis key name the service uses, in one place.

Why one module: key names are a storage contract (a rolling upgrade reads what the previous
version wrote), and the tenant namespace must never be forgotten. Per-tenant records live under
`<prefix>:t:<tenant>:...`, so one tenant's data can be listed, exported or deleted by prefix;
the few service-wide keys (metrics, the settle channel, the webhook due set) are named
here too. The prefix (`mms` by default) lets tests and several deployments share one Redis.
"""
from __future__ import annotations

import hashlib


class Keys:
    def __init__(self, prefix: str = "mms"):
        self.prefix = prefix

    def tenant(self, tenant: str) -> str:
        """The namespace of one tenant's records."""
        return f"{self.prefix}:t:{tenant}"

    # -- jobs -------------------------------------------------------------------------------
    def job(self, tenant: str, job_id: str) -> str:
        return f"{self.tenant(tenant)}:job:{job_id}"

    def jobs_index(self, tenant: str) -> str:
        return f"{self.tenant(tenant)}:jobs"

    def idempotency(self, tenant: str, key: str) -> str:
        return f"{self.tenant(tenant)}:idem:{key}"

    def enqueued(self, tenant: str, job_id: str, step: str) -> str:
        """Marker: this step's message has been published once."""
        return f"{self.tenant(tenant)}:enq:{job_id}:{step}"

    def queued_steps(self) -> str:
        """Sorted set of `tenant/job/step` whose message was published and which has not
        started, scored by when it was published (`mmservice.jobs.lost_messages`)."""
        return f"{self.prefix}:queued_steps"

    def fanout(self, tenant: str, job_id: str, step: str) -> str:
        """Hash of a fanned-out step's plan and its parts' results."""
        return f"{self.tenant(tenant)}:fanout:{job_id}:{step}"

    def fanout_stitch(self, tenant: str, job_id: str, step: str) -> str:
        return self.fanout(tenant, job_id, step) + ":stitch"

    def usage(self, tenant: str, day: str) -> str:
        return f"{self.tenant(tenant)}:usage:{day}"

    def settled_channel(self) -> str:
        """Pub/sub channel announcing `<tenant>/<job id>` when a job settles."""
        return f"{self.prefix}:settled"

    # -- webhooks ---------------------------------------------------------------------------
    def delivery(self, tenant: str, delivery_id: str) -> str:
        return f"{self.tenant(tenant)}:delivery:{delivery_id}"

    def deliveries_of(self, tenant: str, subject_id: str) -> str:
        """Index of the deliveries made for one subject (a job today)."""
        return f"{self.tenant(tenant)}:job:{subject_id}:deliveries"

    def event_marker(self, tenant: str, subject_id: str, event_type: str) -> str:
        """One delivery per (subject, event type): holds the delivery id."""
        return f"{self.tenant(tenant)}:whevent:{subject_id}:{event_type}"

    def endpoint_disabled(self, tenant: str, url: str) -> str:
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        return f"{self.tenant(tenant)}:webhook:disabled:{digest}"

    def webhook_secret(self, tenant: str = "default") -> str:
        """The signing secret generated at first use when none is configured: one per tenant
        (the `default` tenant's kept its service-wide name), so no tenant signs with another's."""
        if tenant == "default":
            return f"{self.prefix}:webhook:secret"
        return f"{self.tenant(tenant)}:webhook:secret"

    def webhook_due(self) -> str:
        """Sorted set of pending deliveries (`[tenant, id]`) scored by when each is next due."""
        return f"{self.prefix}:webhooks:due"

    # -- tenants, API keys, limits -----------------------------------------------------------
    def tenants(self) -> str:
        """Set of every tenant that has (or had) an API key or settings."""
        return f"{self.prefix}:tenants"

    def api_key(self, key_id: str) -> str:
        """Hash of one API key (its SHA-256, tenant, scopes, dates). Service-wide: a request's
        tenant is known only once its key is read."""
        return f"{self.prefix}:auth:key:{key_id}"

    def api_keys_of(self, tenant: str) -> str:
        """Set of the ids of a tenant's API keys."""
        return f"{self.tenant(tenant)}:apikeys"

    def tenant_settings(self, tenant: str) -> str:
        """Hash of a tenant's settings overrides (`config.overlay`), JSON values."""
        return f"{self.tenant(tenant)}:settings"

    def open_jobs(self, tenant: str) -> str:
        """Set of the ids of a tenant's unfinished jobs (the concurrent-jobs quota)."""
        return f"{self.tenant(tenant)}:open"

    def upload_bytes(self, tenant: str, day: str) -> str:
        """Bytes uploaded by a tenant on one UTC day (the daily upload quota)."""
        return f"{self.tenant(tenant)}:quota:bytes:{day}"

    def rate_limits(self) -> str:
        """Prefix of the request-rate counters (`limits`' Redis storage)."""
        return f"{self.prefix}:ratelimit"

    def auth_failures(self, window: int) -> str:
        """Failed authentications in one 10-second window (the burst log)."""
        return f"{self.prefix}:auth:failures:{window}"

    # -- hash lists (mmservice/lists/sync.py documents the layout) ---------------------------
    def hash_lists(self, tenant: str) -> str:
        """Set of the tenant's hash list ids (the ones a worker loads at a cold start)."""
        return f"{self.tenant(tenant)}:hashlists"

    def hash_list_items(self, tenant: str, list_id: str) -> str:
        """Hash: item id -> JSON record (kind, hash, disabled_until, metadata) of one list."""
        return f"{self.tenant(tenant)}:hashlist:{list_id}:items"

    def hash_list_changes(self, tenant: str) -> str:
        """Stream: the change feed of all the tenant's hash lists (trimmed; see sync.py)."""
        return f"{self.tenant(tenant)}:hashlists:changes"

    def hash_list_seq(self, tenant: str) -> str:
        """Counter: the sequence number of the tenant's last hash list change."""
        return f"{self.tenant(tenant)}:hashlists:seq"

    # -- policies, lists, audit -------------------------------------------------------------
    def policy(self, tenant: str, name: str) -> str:
        """Hash of one policy: `latest` (version number), `deleted_at`, and `v:<n>` -> the
        JSON of version n (immutable once written)."""
        return f"{self.tenant(tenant)}:policy:{name}"

    def policies(self, tenant: str) -> str:
        """Set of a tenant's policy names (deleted ones stay: their versions stay readable)."""
        return f"{self.tenant(tenant)}:policies"

    def policy_default(self, tenant: str) -> str:
        """The name of the tenant's default policy (absent: the builtin one)."""
        return f"{self.tenant(tenant)}:policies:default"

    def policy_shadows(self, tenant: str) -> str:
        """Set of the names of a tenant's live (not deleted) policies in `shadow` mode."""
        return f"{self.tenant(tenant)}:policies:shadow"

    def list_names(self, tenant: str) -> str:
        """Set of the names of a tenant's lists: the contract the lists package fills and
        `policies.store.lists_exist` reads (named as issue 15's plan gives it)."""
        return f"{self.prefix}:lists:{tenant}:names"

    def audit(self, tenant: str) -> str:
        """Stream of a tenant's audit events, hash-chained (`mmservice.audit`)."""
        return f"{self.prefix}:audit:{tenant}"

    def audit_head(self, tenant: str) -> str:
        """The hash of the last entry of a tenant's audit stream (the chain's head)."""
        return f"{self.prefix}:audit:{tenant}:head"

    def audit_pending(self, tenant: str) -> str:
        """Stream of a tenant's staged audit events, not chained yet (`audit_staging`)."""
        return f"{self.prefix}:audit:{tenant}:pending"

    def audit_pending_tenants(self) -> str:
        """Set of the tenants with staged audit events (`audit_staging.fold_all`)."""
        return f"{self.prefix}:audit-pending"

    # -- review queue (mmservice/review/) ----------------------------------------------------
    def review(self, tenant: str, *parts: str) -> str:
        """Everything of a tenant's review queue: `item:<id>` (JSON record), `open` (hash
        content sha256 -> open item id), `items` (zset of every item by creation),
        `q:<name>` (zset: priority), `qage:<name>` (zset: creation time), `queues` (set),
        `lease:<id>` (string `token|reviewer`, expiring), `leased` (hash item -> token of a
        lease not yet ended), `fence` (counter: fencing tokens), `skip:<reviewer>` (set),
        `exclude` (hash item -> reviewer never offered it), `sev` (hash item -> severity
        0..3), `exposure:<reviewer>` (zset of high-severity hand-outs), `reported:<sha256>`
        (list of reports waiting for their content's moderation), `routing` (JSON),
        `stats` (hash of counters), `ttd` (list of decision times)."""
        return ":".join((f"{self.tenant(tenant)}:review", *parts))

    def review_session(self, sid_hash: str) -> str:
        """A `/review` page session (service-wide: the cookie names no tenant)."""
        return f"{self.prefix}:reviewsession:{sid_hash}"

    # -- result cache -----------------------------------------------------------------------
    def result_cache(self, tenant: str | None, digest: str) -> str:
        """One cached provider result (`mmservice.cache`), named by the digest of what was asked
        (task, provider, model, options, content hash). Under the tenant's namespace; `None`:
        the pool shared by the tenants that opt in (`MMS_CACHE_SHARED`)."""
        if tenant is None:
            return f"{self.prefix}:cache:shared:{digest}"
        return f"{self.tenant(tenant)}:cache:{digest}"

    # -- list records and term items (mmservice/lists/records.py) -----------------------------
    def list_record(self, tenant: str, name: str) -> str:
        """JSON of one list's settings (kind, action, thresholds, dates)."""
        return f"{self.tenant(tenant)}:list:{name}"

    def term_items(self, tenant: str, name: str) -> str:
        """Hash: item id -> JSON (kind, value, note, disabled_until) of one term list."""
        return f"{self.tenant(tenant)}:termlist:{name}:items"

    def term_version(self, tenant: str, name: str) -> str:
        """Counter bumped by every change of a term list: workers rebuild on a new value."""
        return f"{self.tenant(tenant)}:termlist:{name}:version"

    def list_flood(self, tenant: str, name: str, item_id: str, minute: int) -> str:
        """Hits of one list item in one clock minute (the flood guard's window)."""
        return f"{self.tenant(tenant)}:listflood:{name}:{item_id}:{minute}"

    # -- metrics ----------------------------------------------------------------------------
    def facade_call(self, call_id: str) -> str:
        """A facade call handed to a worker (its parameters and media; short-lived)."""
        return f"{self.prefix}:facade:call:{call_id}"

    def facade_reply(self, call_id: str) -> str:
        """The worker's answer to a facade call (a list the API pops with BLPOP)."""
        return f"{self.prefix}:facade:reply:{call_id}"

    def metrics(self, name: str) -> str:
        return f"{self.prefix}:metrics:{name}"


DEFAULT = Keys()
