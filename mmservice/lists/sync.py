"""Every worker's in-memory indexes of its tenants' hash lists, kept in step with Redis by the
change stream that `store.py` writes.

Why a change feed and not a rebuild: a new item must match within seconds on every worker, and
reloading 1M hashes per change is out of the question (bench/lists.py: 7.8 s). A reader
(`HashIndexes`) loads a tenant on first use (counter and last stream id read in one transaction,
then the items hashes by HSCAN), then on each lookup reads the stream after its last id (one
XRANGE; cheap when nothing is new). Replaying entries it already saw in the hashes is harmless:
every op sets a state. A hole in the sequence numbers (the stream was trimmed past the reader,
or Redis lost data) makes it reload the tenant from the hashes. Redis errors propagate: the
caller decides (a moderation step retries, like every step that meets a Redis error).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.keys import DEFAULT, Keys
from mmservice.lists.pdq import (
    DEFAULT_MAX_DISTANCE,
    DEFAULT_MIN_QUALITY,
    normalize_pdq_hex,
    normalize_sha256_hex,
)
from mmservice.lists.pdq_index import PdqIndex


@dataclass(frozen=True)
class HashMatch:
    list_id: str
    item_id: str
    kind: str
    distance: int  # 0 for sha256
    metadata: Mapping[str, Any] | None = None  # the item's stored metadata


class _ListIndex:
    def __init__(self) -> None:
        self.pdq = PdqIndex()
        self.sha: dict[str, set[str]] = {}  # hash -> item ids
        self.sha_of: dict[str, str] = {}  # item id -> hash
        self.until: dict[str, float] = {}  # item id -> disabled until (only disabled items)

    def __len__(self) -> int:
        return len(self.pdq) + len(self.sha_of)

    def remove(self, item: str) -> None:
        self.pdq.remove(item)
        self.until.pop(item, None)
        h = self.sha_of.pop(item, None)
        if h is not None:
            ids = self.sha[h]
            ids.discard(item)
            if not ids:
                del self.sha[h]

    def add_sha(self, item: str, h: str) -> None:
        self.sha_of[item] = h
        self.sha.setdefault(h, set()).add(item)


class _Tenant:
    def __init__(self) -> None:
        self.lists: dict[str, _ListIndex] = {}
        self.last_id = "0-0"
        self.seq = 0
        self.checked = 0.0


class HashIndexes:
    """A worker's indexes of all the hash lists of the tenants it has seen, refreshed from the
    change stream before every lookup (at most every `refresh_interval` seconds). Thread-safe."""

    def __init__(self, r: redis.Redis, keys: Keys = DEFAULT, *, refresh_interval: float = 0.0,
                 batch: int = 10_000):
        self.r, self.keys = r, keys
        self.refresh_interval, self.batch = refresh_interval, batch
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.Lock()
        self.reloads = 0  # full loads (cold starts and gaps), for tests and metrics

    # -- lookups ---------------------------------------------------------------------------
    def match_pdq(self, tenant: str, pdq_hex: str, *,
                  max_distance: int | Mapping[str, int] = DEFAULT_MAX_DISTANCE,
                  quality: int | None = None,
                  min_quality: int | Mapping[str, int] = DEFAULT_MIN_QUALITY,
                  lists: Collection[str] | None = None, now: float | None = None,
                  with_metadata: bool = True) -> list[HashMatch]:
        """PDQ items within the distance (per list if a mapping; lists absent from a mapping use
        the default 31) of `pdq_hex`, nearest first; disabled items are left out. With the
        query's `quality`, lists whose minimum quality (default 50) it does not reach are
        skipped (HMA's rule: a low-quality hash matches noise)."""
        q = normalize_pdq_hex(pdq_hex)
        now = time.time() if now is None else now
        out: list[HashMatch] = []
        with self._lock:
            t = self._fresh(tenant)
            for list_id, li in self._chosen(t, lists):
                floor = (min_quality.get(list_id, DEFAULT_MIN_QUALITY)
                         if isinstance(min_quality, Mapping) else min_quality)
                if quality is not None and quality < floor:
                    continue
                d = (max_distance.get(list_id, DEFAULT_MAX_DISTANCE)
                     if isinstance(max_distance, Mapping) else max_distance)
                out += [HashMatch(list_id, item, "pdq", dist)
                        for item, dist in li.pdq.search(q, d)
                        if li.until.get(item, 0.0) <= now]
        out.sort(key=lambda m: (m.distance, m.list_id, m.item_id))
        return self._with_metadata(tenant, out) if with_metadata else out

    def match_sha256(self, tenant: str, sha_hex: str, *, lists: Collection[str] | None = None,
                     now: float | None = None, with_metadata: bool = True) -> list[HashMatch]:
        h = normalize_sha256_hex(sha_hex)
        now = time.time() if now is None else now
        with self._lock:
            t = self._fresh(tenant)
            out = [HashMatch(list_id, item, "sha256", 0)
                   for list_id, li in self._chosen(t, lists)
                   for item in sorted(li.sha.get(h, ()))
                   if li.until.get(item, 0.0) <= now]
        return self._with_metadata(tenant, out) if with_metadata else out

    def sizes(self, tenant: str) -> dict[str, int]:
        """Items per list as this worker sees them (after a refresh)."""
        with self._lock:
            return {k: len(v) for k, v in self._fresh(tenant).lists.items()}

    def refresh(self, tenant: str) -> None:
        with self._lock:
            self._fresh(tenant, force=True)

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _chosen(t: _Tenant, lists: Collection[str] | None) -> list[tuple[str, _ListIndex]]:
        return [(k, v) for k, v in t.lists.items() if lists is None or k in lists]

    def _with_metadata(self, tenant: str, matches: list[HashMatch]) -> list[HashMatch]:
        if not matches:
            return matches
        pipe = self.r.pipeline(transaction=False)
        for m in matches:
            pipe.hget(self.keys.hash_list_items(tenant, m.list_id), m.item_id)
        recs = pipe.execute()
        return [HashMatch(m.list_id, m.item_id, m.kind, m.distance,
                          json.loads(rec).get("metadata", {}) if rec else {})
                for m, rec in zip(matches, recs)]

    def _fresh(self, tenant: str, force: bool = False) -> _Tenant:
        t = self._tenants.get(tenant)
        if t is None:
            t = self._tenants[tenant] = self._load(tenant)
        now = time.monotonic()
        if force or now - t.checked >= self.refresh_interval:
            t.checked = now
            if not self._catch_up(tenant, t):  # a hole in the feed: start again from the hashes
                t = self._tenants[tenant] = self._load(tenant)
                self._catch_up(tenant, t)
        return t

    def _load(self, tenant: str) -> _Tenant:
        self.reloads += 1
        k = self.keys
        pipe = self.r.pipeline(transaction=True)
        pipe.get(k.hash_list_seq(tenant))
        pipe.xrevrange(k.hash_list_changes(tenant), count=1)
        pipe.smembers(k.hash_lists(tenant))
        seq, last, list_ids = pipe.execute()
        t = _Tenant()
        t.seq = int(seq or 0)
        t.last_id = last[0][0].decode() if last else "0-0"
        for raw_id in list_ids:
            list_id = raw_id.decode()
            li = t.lists[list_id] = _ListIndex()
            pdq: list[tuple[str, str]] = []
            for item_b, rec_b in self.r.hscan_iter(k.hash_list_items(tenant, list_id),
                                                   count=self.batch):
                item, rec = item_b.decode(), json.loads(rec_b)
                if rec.get("disabled_until"):
                    li.until[item] = float(rec["disabled_until"])
                if rec["kind"] == "pdq":
                    pdq.append((item, rec["hash"]))
                    if len(pdq) >= self.batch:
                        li.pdq.add_many(pdq)
                        pdq = []
                else:
                    li.add_sha(item, rec["hash"])
            li.pdq.add_many(pdq)
        return t

    def _catch_up(self, tenant: str, t: _Tenant) -> bool:
        """Apply the stream after `t.last_id`; False on a hole in the sequence numbers."""
        stream = self.keys.hash_list_changes(tenant)
        while True:
            entries: Any = self.r.xrange(stream, min="(" + t.last_id, count=self.batch)
            for entry_id, raw in entries:
                f = {k.decode(): v.decode() for k, v in raw.items()}
                seq = int(f["seq"])
                if seq != t.seq + 1:
                    return False
                self._apply(t, f)
                t.seq, t.last_id = seq, entry_id.decode()
            if len(entries) < self.batch:
                return True

    @staticmethod
    def _apply(t: _Tenant, f: dict[str, str]) -> None:
        op, list_id, item = f["op"], f["list"], f["item"]
        if op == "drop":
            t.lists.pop(list_id, None)
            return
        li = t.lists.get(list_id)
        if li is None:
            if op != "add":
                return
            li = t.lists[list_id] = _ListIndex()
        if op == "add":
            li.remove(item)
            if f["kind"] == "pdq":
                li.pdq.add(item, f["hash"])
            else:
                li.add_sha(item, f["hash"])
            if f["until"]:
                li.until[item] = float(f["until"])
        elif op == "remove":
            li.remove(item)
        elif op == "disable" and (item in li.pdq or item in li.sha_of):
            if f["until"]:
                li.until[item] = float(f["until"])
            else:
                li.until.pop(item, None)
