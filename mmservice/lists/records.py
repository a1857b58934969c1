"""A tenant's lists as the API sees them: list records (kind, action, thresholds) and items.

Why term items live apart from hash items: hash items feed the per-worker PDQ/SHA-256 indexes
through a change stream (`store.py`, `sync.py`); a term list is compiled whole (`TermMatcher`),
so it needs only a version counter that every change bumps: a worker keeps the compiled
matcher per (tenant, list, version) and rebuilds only when the counter moved.

Why item ids derive from the item: adding the same word or hash twice replaces the first
(its note, source and disabled_until), so a re-imported bank never duplicates entries.

Layout (names in `mmservice/keys.py`): `list:<name>` (JSON record), the set `Keys.list_names`
(what `policies.store.lists_exist` reads: SADD at creation, SREM at deletion, in the same
transaction as the record), `termlist:<name>:items` (hash: id -> JSON), `termlist:<name>:version`.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import redis

from mmservice.errors import Invalid, NotFound
from mmservice.jobs.store import now_iso
from mmservice.keys import Keys
from mmservice.lists import store as hash_store

LIST_KINDS = ("terms", "sha256", "pdq")
ACTIONS = ("block", "allow", "review")
DEFAULT_FLOOD_PER_MINUTE = 100
MAX_TERM_ITEMS = 10_000  # per term list: a 10k-item build takes about 1 s (cached per version)


def item_id(kind: str, value: str) -> str:
    return "it_" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:16]


class ListStore:
    def __init__(self, r: redis.Redis, keys: Keys):
        self.r, self.keys = r, keys

    # -- list records ---------------------------------------------------------------------
    def get(self, tenant: str, name: str) -> dict[str, Any]:
        raw = self.r.get(self.keys.list_record(tenant, name))
        if raw is None:
            raise NotFound(f"no list {name!r}", code="list_not_found")
        rec = json.loads(raw)
        rec["items"] = self.count(tenant, rec)
        return rec

    def find(self, tenant: str, names: list[str]) -> list[dict[str, Any]]:
        """The records of those of `names` that exist (no item counts: the worker's path)."""
        if not names:
            return []
        raws = self.r.mget([self.keys.list_record(tenant, n) for n in names])
        return [json.loads(x) for x in raws if x is not None]

    def names(self, tenant: str) -> list[str]:
        return sorted(n.decode() for n in self.r.smembers(self.keys.list_names(tenant)))  # type: ignore[union-attr]

    def listing(self, tenant: str) -> list[dict[str, Any]]:
        return [dict(rec, items=self.count(tenant, rec))
                for rec in self.find(tenant, self.names(tenant))]

    def count(self, tenant: str, rec: dict[str, Any]) -> int:
        return int(self.r.hlen(self._items_key(tenant, rec)))

    def _items_key(self, tenant: str, rec: dict[str, Any]) -> str:
        return (self.keys.term_items(tenant, rec["name"]) if rec["kind"] == "terms"
                else self.keys.hash_list_items(tenant, rec["name"]))

    def put(self, tenant: str, name: str, body: dict[str, Any], *, actor: str,
            now: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Create or change a list's settings; its kind never changes (422). -> (after, before)"""
        try:
            before: dict[str, Any] | None = self.get(tenant, name)
        except NotFound:
            before = None
        if before is not None and before["kind"] != body["kind"]:
            raise Invalid(f"list {name!r} is a {before['kind']} list; delete it to change its "
                          "kind", code="list_kind_immutable", field="kind")
        rec = {k: v for k, v in body.items() if k != "items"}
        rec.update(name=name, actor=actor, updated_at=now,
                   created_at=before["created_at"] if before else now)
        rec.setdefault("flood_per_minute", DEFAULT_FLOOD_PER_MINUTE)
        if rec["kind"] == "pdq":
            rec.setdefault("max_distance", hash_store_defaults()[0])
            rec.setdefault("min_quality", hash_store_defaults()[1])
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.keys.list_record(tenant, name), json.dumps(rec, sort_keys=True))
        pipe.sadd(self.keys.list_names(tenant), name)
        pipe.execute()
        if before:
            before.pop("items", None)
        return rec, before

    def delete(self, tenant: str, name: str) -> dict[str, Any]:
        rec = self.get(tenant, name)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.list_record(tenant, name), self.keys.term_items(tenant, name))
        pipe.incr(self.keys.term_version(tenant, name))
        pipe.srem(self.keys.list_names(tenant), name)
        pipe.execute()
        if rec["kind"] != "terms":
            hash_store.drop_list(self.r, tenant, name, keys=self.keys)
        return rec

    # -- items ----------------------------------------------------------------------------
    def add_terms(self, tenant: str, name: str, items: list[dict[str, Any]]) -> list[dict]:
        """Store validated term items (`{kind, value, note?, disabled_until?}`)."""
        key = self.keys.term_items(tenant, name)
        have = int(self.r.hlen(key))
        out = []
        now = now_iso(time.time())
        for it in items:
            rec = {"kind": it["kind"], "value": it["value"], "note": it.get("note"),
                   "source": it.get("source"), "disabled_until": it.get("disabled_until"),
                   "created_at": now}
            out.append({"id": item_id(it["kind"], it["value"]), **rec})
        new_ids = [o["id"] for o in out]
        exists = self.r.hmget(key, new_ids) if new_ids else []
        fresh = sum(1 for x in exists if x is None)
        if have + fresh > MAX_TERM_ITEMS:
            raise Invalid(f"a term list holds at most {MAX_TERM_ITEMS} items", code="list_full",
                          field="items")
        pipe = self.r.pipeline(transaction=True)
        for o in out:
            pipe.hset(key, o["id"], json.dumps({k: v for k, v in o.items() if k != "id"}))
        pipe.incr(self.keys.term_version(tenant, name))
        pipe.execute()
        return out

    def add_hashes(self, tenant: str, rec: dict[str, Any], items: list[dict[str, Any]]
                   ) -> list[dict]:
        """Store hash items (`{hash, note?, source?, disabled_until?}`, hashes normalized)."""
        kind, now = rec["kind"], now_iso(time.time())
        items = [{**it, "hash": hash_store.normalize_hash(kind, it["hash"])} for it in items]
        made = [hash_store.HashItem(
            item_id(kind, it["hash"]), kind, it["hash"], it.get("disabled_until"),
            {"note": it.get("note"), "source": it.get("source"), "created_at": now,
             **({"quality": it["quality"]} if "quality" in it else {})}) for it in items]
        hash_store.add_items(self.r, tenant, rec["name"], made, keys=self.keys)
        return [self._hash_out(h.item_id, {"kind": kind, "hash": h.hash,
                                           "disabled_until": h.disabled_until,
                                           "metadata": dict(h.metadata)}) for h in made]

    @staticmethod
    def _hash_out(iid: str, raw: dict[str, Any]) -> dict[str, Any]:
        meta = raw.get("metadata") or {}
        out = {"id": iid, "kind": raw["kind"], "hash": raw["hash"],
               "disabled_until": raw.get("disabled_until"), "note": meta.get("note"),
               "source": meta.get("source"), "created_at": meta.get("created_at")}
        if meta.get("quality") is not None:
            out["quality"] = meta["quality"]
        return out

    def _out(self, rec: dict[str, Any], iid: str, raw: bytes | str) -> dict[str, Any]:
        data = json.loads(raw)
        return {"id": iid, **data} if rec["kind"] == "terms" else self._hash_out(iid, data)

    def item(self, tenant: str, rec: dict[str, Any], iid: str) -> dict[str, Any]:
        raw = self.r.hget(self._items_key(tenant, rec), iid)
        if raw is None:
            raise NotFound(f"list {rec['name']!r} has no item {iid!r}", code="item_not_found")
        return self._out(rec, iid, raw)

    def items(self, tenant: str, rec: dict[str, Any], cursor: int, limit: int
              ) -> tuple[list[dict[str, Any]], int]:
        """One page (HSCAN: a cursor, not an offset, so a big hash list pages cheaply)."""
        got: Any = self.r.hscan(self._items_key(tenant, rec), cursor=cursor, count=limit)
        nxt, page = got
        out = [self._out(rec, k.decode(), v) for k, v in page.items()]
        return sorted(out, key=lambda o: o["id"]), int(nxt)

    def patch_item(self, tenant: str, rec: dict[str, Any], iid: str,
                   changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change an item's note and/or disabled_until. -> (after, before)"""
        before = self.item(tenant, rec, iid)
        if rec["kind"] == "terms":
            after = {**before, **changes}
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self.keys.term_items(tenant, rec["name"]), iid,
                      json.dumps({k: v for k, v in after.items() if k != "id"}))
            pipe.incr(self.keys.term_version(tenant, rec["name"]))
            pipe.execute()
            return after, before
        if "note" in changes or "source" in changes:
            merged = {**before, **changes}
            self.add_hashes(tenant, rec, [{**merged, "hash": before["hash"]}])
        elif "disabled_until" in changes:
            hash_store.disable_item(self.r, tenant, rec["name"], iid, changes["disabled_until"],
                                    keys=self.keys)
        return self.item(tenant, rec, iid), before

    def delete_item(self, tenant: str, rec: dict[str, Any], iid: str) -> dict[str, Any]:
        before = self.item(tenant, rec, iid)
        if rec["kind"] == "terms":
            pipe = self.r.pipeline(transaction=True)
            pipe.hdel(self.keys.term_items(tenant, rec["name"]), iid)
            pipe.incr(self.keys.term_version(tenant, rec["name"]))
            pipe.execute()
        else:
            hash_store.remove_item(self.r, tenant, rec["name"], iid, keys=self.keys)
        return before


def hash_store_defaults() -> tuple[int, int]:
    from mmservice.lists.pdq import DEFAULT_MAX_DISTANCE, DEFAULT_MIN_QUALITY

    return DEFAULT_MAX_DISTANCE, DEFAULT_MIN_QUALITY
