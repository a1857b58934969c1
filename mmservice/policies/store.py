"""Where policies live: per tenant, versioned, in Redis.

Why versions are immutable and never removed: a job result cites `policy: {name, version}`, and
a reader (a moderator, an auditor, the backtest) must be able to see exactly the lines that
judged it, months later. A PUT adds version n+1; DELETE only marks the policy deleted (no new
job may name it; its versions stay readable).

Why Lua for PUT and DELETE: the version number, the "default" pointer and the shadow index
change together, and the answer carries the version before the change (the audit event's
`before`); one script makes that one step even with two admins writing at once.

The default is a tenant-level pointer (`Keys.policy_default`), not a flag inside each version,
so there is exactly one default or none (none: the builtin policy from settings, version 0), and
moving it is one write.
"""
from __future__ import annotations

import json
import re
from typing import Any

import redis

from mmservice.errors import Invalid, NotFound
from mmservice.keys import Keys
from mmservice.moderation.categories import CATEGORIES
from mmservice.moderation.policy import Thresholds
from mmservice.policies.model import BUILTIN

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
FIELDS = ("thresholds", "by_kind", "lists", "halt_on_match", "unassessed", "mode", "video")

_PUT = """
local prev_n = tonumber(redis.call('HGET', KEYS[1], 'latest') or '0')
local prev = false
if prev_n > 0 and redis.call('HEXISTS', KEYS[1], 'deleted_at') == 0 then
  prev = redis.call('HGET', KEYS[1], 'v:' .. prev_n)
end
local was_default = redis.call('GET', KEYS[3]) == ARGV[1]
local n = redis.call('HINCRBY', KEYS[1], 'latest', 1)
redis.call('HSET', KEYS[1], 'v:' .. n, ARGV[2])
redis.call('HDEL', KEYS[1], 'deleted_at')
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[3] == 'shadow' then redis.call('SADD', KEYS[4], ARGV[1])
else redis.call('SREM', KEYS[4], ARGV[1]) end
if ARGV[4] == '1' then redis.call('SET', KEYS[3], ARGV[1])
elseif ARGV[4] == '0' and was_default then redis.call('DEL', KEYS[3]) end
return {n, prev, was_default and 1 or 0}
"""

_DELETE = """
if redis.call('HEXISTS', KEYS[1], 'latest') == 0
   or redis.call('HEXISTS', KEYS[1], 'deleted_at') == 1 then return false end
local n = redis.call('HGET', KEYS[1], 'latest')
local prev = redis.call('HGET', KEYS[1], 'v:' .. n)
redis.call('HSET', KEYS[1], 'deleted_at', ARGV[2])
redis.call('SREM', KEYS[4], ARGV[1])
local was_default = redis.call('GET', KEYS[3]) == ARGV[1]
if was_default then redis.call('DEL', KEYS[3]) end
return {tonumber(n), prev, was_default and 1 or 0}
"""


def lists_exist(r: redis.Redis, keys: Keys, tenant: str, names: list[str]) -> list[str]:
    """The hook the lists package fills: which of `names` are NOT lists of `tenant`. Today it
    reads the set `Keys.list_names(tenant)`; the lists step keeps that set in step with its
    list records (SADD at creation, SREM at deletion)."""
    if not names:
        return []
    pipe = r.pipeline(transaction=False)
    for n in names:
        pipe.sismember(keys.list_names(tenant), n)
    return [n for n, ok in zip(names, pipe.execute()) if not ok]


def builtin_record(base: Thresholds, default: bool) -> dict[str, Any]:
    return {"name": BUILTIN, "version": 0, "thresholds": {c: dict(base[c]) for c in CATEGORIES},
            "by_kind": {}, "halt_on_match": True, "unassessed": "allow",
            "mode": "live", "default": default, "builtin": True}


class PolicyStore:
    def __init__(self, r: redis.Redis, keys: Keys):
        self.r, self.keys = r, keys
        self._put = r.register_script(_PUT)
        self._delete = r.register_script(_DELETE)

    def _keys4(self, tenant: str, name: str) -> list[str]:
        k = self.keys
        return [k.policy(tenant, name), k.policies(tenant), k.policy_default(tenant),
                k.policy_shadows(tenant)]

    @staticmethod
    def _record(raw: bytes | str, name: str, version: int, default_name: str | None,
                deleted_at: str | None = None) -> dict[str, Any]:
        rec = json.loads(raw)
        rec.update(name=name, version=version, default=default_name == name)
        if deleted_at:
            rec["deleted_at"] = deleted_at
        return rec

    # -- writes ---------------------------------------------------------------------------------
    def put(self, tenant: str, name: str, body: dict[str, Any], *, actor: str,
            created_at: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Store a new version. `body["default"]`: True makes it the tenant's default, False
        stops it being the default, absent leaves the pointer as it is.
        Returns (the new version, the latest live version before it or None)."""
        stored = {f: body[f] for f in FIELDS if f in body}
        stored.update(created_at=created_at, actor=actor)
        flag = {True: "1", False: "0"}.get(body.get("default"), "")  # type: ignore[arg-type]
        n, prev, was_default = self._put(keys=self._keys4(tenant, name), args=[
            name, json.dumps(stored, sort_keys=True), stored.get("mode", "live"), flag])
        is_default = flag == "1" or (flag == "" and bool(was_default))
        new = self._record(json.dumps(stored), name, int(n), name if is_default else None)
        before = self._record(prev, name, int(n) - 1, name if was_default else None) \
            if prev else None
        return new, before

    def delete(self, tenant: str, name: str, *, deleted_at: str) -> dict[str, Any]:
        """Mark deleted; returns the last version (404 when absent or already deleted)."""
        got = self._delete(keys=self._keys4(tenant, name), args=[name, deleted_at])
        if not got:
            raise NotFound(f"no policy {name!r}", code="policy_not_found")
        n, prev, was_default = got
        return self._record(prev, name, int(n), name if was_default else None)

    # -- reads ----------------------------------------------------------------------------------
    def default_name(self, tenant: str) -> str | None:
        raw = self.r.get(self.keys.policy_default(tenant))
        return raw.decode() if raw else None  # type: ignore[union-attr]

    def get(self, tenant: str, name: str, version: int | None = None) -> dict[str, Any]:
        """The latest live version, or version `version` (readable after DELETE too)."""
        if not NAME_RE.match(name):
            raise NotFound(f"no policy {name!r}", code="policy_not_found")
        key = self.keys.policy(tenant, name)
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(key, ["latest", "deleted_at"])
        pipe.get(self.keys.policy_default(tenant))
        if version is not None:  # a job's step: one round trip
            pipe.hget(key, f"v:{version}")
        (latest, deleted_at), default, *known = pipe.execute()
        if latest is None or (version is None and deleted_at):
            raise NotFound(f"no policy {name!r}", code="policy_not_found")
        n = int(latest) if version is None else version
        raw = known[0] if known else self.r.hget(key, f"v:{n}")
        if raw is None:
            raise NotFound(f"policy {name!r} has no version {version}",
                           code="policy_version_not_found")
        rec = self._record(raw, name, n, default.decode() if default and not deleted_at
                           else None, deleted_at.decode() if deleted_at else None)
        rec["latest_version"] = int(latest)
        return rec

    def listing(self, tenant: str) -> list[dict[str, Any]]:
        names = sorted(n.decode() for n in self.r.smembers(self.keys.policies(tenant)))  # type: ignore[union-attr]
        out = []
        for n in names:
            try:
                out.append(self.get(tenant, n))
            except NotFound:  # deleted
                continue
        return out

    def shadows(self, tenant: str) -> list[dict[str, Any]]:
        """The latest version of each of the tenant's shadow-mode policies."""
        names = sorted(n.decode() for n in self.r.smembers(self.keys.policy_shadows(tenant)))  # type: ignore[union-attr]
        out = []
        for n in names:
            try:
                out.append(self.get(tenant, n))
            except NotFound:
                continue
        return out

    def resolve(self, tenant: str, name: str | None,
                field: str = "options.policy") -> dict[str, Any]:
        """The `{name, version}` a job is judged by: the named policy's latest version, or the
        tenant's default (none: builtin, version 0). Unknown or shadow-only -> 422 on `field`."""
        return self.resolve_record(tenant, name, field)[0]

    def resolve_record(self, tenant: str, name: str | None, field: str = "options.policy"
                       ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """`resolve`, with the version's record it read (None for the builtin policy): a
        caller that judges at once needs not read it again."""
        if name is None:
            name = self.default_name(tenant)
            if name is None:
                return {"name": BUILTIN, "version": 0}, None
        if name == BUILTIN:
            return {"name": BUILTIN, "version": 0}, None
        try:
            rec = self.get(tenant, name)
        except NotFound:
            raise not_usable(name, shadow=False, field=field) from None
        if rec.get("mode") == "shadow":
            raise not_usable(name, shadow=True, field=field)
        return {"name": name, "version": rec["version"]}, rec


def not_usable(name: str, *, shadow: bool, field: str = "options.policy") -> Invalid:
    """Why a job cannot name `name` (also for `mmservice.jobs.admission`'s refusals)."""
    if shadow:
        return Invalid(f"policy {name!r} is in shadow mode: it only observes; PUT it with "
                       "mode live to judge jobs", code="policy_in_shadow", field=field)
    return Invalid(f"no policy {name!r}", code="policy_not_found", field=field)
