"""Hash list items in Redis and their in-memory indexes on every worker, kept in step by a stream.

Why a change feed and not a rebuild: a new item must match within seconds on every worker, and
reloading 1M hashes per change is out of the question. Layout (key names in `mmservice/keys.py`):

- `<t>:hashlists` (set): the tenant's hash list ids.
- `<t>:hashlist:<list>:items` (hash): item id -> JSON `{"kind": "pdq"|"sha256", "hash": hex,
  "disabled_until": unix seconds | null, "metadata": {...}}`. The source of truth.
- `<t>:hashlists:seq` (counter) and `<t>:hashlists:changes` (stream, trimmed with `MAXLEN ~`):
  one entry per change, fields `seq` (the counter's value), `op` (`add` | `remove` | `disable` |
  `drop`), `list`, `item`, `kind`, `hash`, `until` (empty when not set).

Every write is one Lua script, so the items hash, the counter and the stream never disagree.
A reader (`HashIndexes`) loads a tenant on first use (counter and last stream id read in one
transaction, then the items hashes by HSCAN), then on each lookup reads the stream after its last
id (one XRANGE; cheap when nothing is new). Replaying entries it already saw in the hashes is
harmless: every op sets a state. A hole in the sequence numbers (the stream was trimmed past the
reader, or Redis lost data) makes it reload the tenant from the hashes.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mmservice.keys import DEFAULT, Keys
from mmservice.lists.pdq import DEFAULT_MAX_DISTANCE, normalize_pdq_hex, normalize_sha256_hex
from mmservice.lists.pdq_index import PdqIndex

KINDS = ("pdq", "sha256")
STREAM_MAXLEN = 100_000  # changes kept; a reader further behind reloads from the hashes

_WRITE = """
-- KEYS: lists set, stream, seq, items hash. ARGV: list id, maxlen, op, then 5 per item:
-- item id, JSON record ('' unless add), kind, hash, until
redis.call('SADD', KEYS[1], ARGV[1])
local n = 0
for i = 4, #ARGV, 5 do
  local item, rec, kind, hash, untl = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local changed = true
  if ARGV[3] == 'add' then
    redis.call('HSET', KEYS[4], item, rec)
  elseif ARGV[3] == 'remove' then
    changed = redis.call('HDEL', KEYS[4], item) == 1
  elseif ARGV[3] == 'disable' then
    local cur = redis.call('HGET', KEYS[4], item)
    if cur then
      local r = cjson.decode(cur)
      if untl == '' then
        r['disabled_until'] = cjson.null
      else
        r['disabled_until'] = tonumber(untl)
      end
      redis.call('HSET', KEYS[4], item, cjson.encode(r))
      kind, hash = r['kind'], r['hash']
    else
      changed = false
    end
  elseif ARGV[3] == 'drop' then
    redis.call('DEL', KEYS[4])
    redis.call('SREM', KEYS[1], ARGV[1])
  end
  if changed then
    local seq = redis.call('INCR', KEYS[3])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'op', ARGV[3],
               'list', ARGV[1], 'item', item, 'kind', kind, 'hash', hash, 'until', untl)
    n = n + 1
  end
end
return n
"""


@dataclass(frozen=True)
class HashItem:
    item_id: str
    kind: str  # "pdq" | "sha256"
    hash: str  # hex
    disabled_until: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # note, source, ... (JSON-able)


@dataclass(frozen=True)
class HashMatch:
    list_id: str
    item_id: str
    kind: str
    distance: int  # 0 for sha256
    metadata: Mapping[str, Any] | None = None  # the item's stored metadata


def normalize_hash(kind: str, value: str) -> str:
    """The canonical hex of a hash of `kind`; ValueError with a message fit for a 422."""
    if kind == "pdq":
        return normalize_pdq_hex(value)
    if kind == "sha256":
        return normalize_sha256_hex(value)
    raise ValueError(f"unknown hash kind {kind!r} (expected one of {', '.join(KINDS)})")


def _write(r: redis.Redis, keys: Keys, tenant: str, list_id: str, op: str,
           args: list[str], maxlen: int) -> int:
    script = r.register_script(_WRITE)
    ks = [keys.hash_lists(tenant), keys.hash_list_changes(tenant), keys.hash_list_seq(tenant),
          keys.hash_list_items(tenant, list_id)]
    return int(script(keys=ks, args=[list_id, maxlen, op, *args]))


def add_items(r: redis.Redis, tenant: str, list_id: str, items: Iterable[HashItem], *,
              keys: Keys = DEFAULT, maxlen: int = STREAM_MAXLEN, chunk: int = 2000) -> int:
    """Add or replace items (validated, hashes normalized). Returns the number written."""
    n, args = 0, []
    for it in items:
        h = normalize_hash(it.kind, it.hash)
        rec = json.dumps({"kind": it.kind, "hash": h, "disabled_until": it.disabled_until,
                          "metadata": dict(it.metadata)}, separators=(",", ":"))
        until = "" if it.disabled_until is None else repr(float(it.disabled_until))
        args += [it.item_id, rec, it.kind, h, until]
        if len(args) >= chunk * 5:
            n += _write(r, keys, tenant, list_id, "add", args, maxlen)
            args = []
    if args:
        n += _write(r, keys, tenant, list_id, "add", args, maxlen)
    return n


def remove_item(r: redis.Redis, tenant: str, list_id: str, item_id: str, *,
                keys: Keys = DEFAULT, maxlen: int = STREAM_MAXLEN) -> bool:
    return _write(r, keys, tenant, list_id, "remove", [item_id, "", "", "", ""], maxlen) == 1


def disable_item(r: redis.Redis, tenant: str, list_id: str, item_id: str, until: float | None,
                 *, keys: Keys = DEFAULT, maxlen: int = STREAM_MAXLEN) -> bool:
    """Disable an item until the unix time `until` (None: enable it again). False if absent."""
    untl = "" if until is None else repr(float(until))
    return _write(r, keys, tenant, list_id, "disable", [item_id, "", "", "", untl], maxlen) == 1


def drop_list(r: redis.Redis, tenant: str, list_id: str, *, keys: Keys = DEFAULT,
              maxlen: int = STREAM_MAXLEN) -> None:
    """Delete a hash list and all its items."""
    _write(r, keys, tenant, list_id, "drop", ["", "", "", "", ""], maxlen)


def item_records(r: redis.Redis, tenant: str, list_id: str, item_ids: list[str], *,
                 keys: Keys = DEFAULT) -> list[dict | None]:
    """The stored records of `item_ids` (None where absent)."""
    raw = r.hmget(keys.hash_list_items(tenant, list_id), item_ids) if item_ids else []
    return [json.loads(x) if x is not None else None for x in raw]


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
                  lists: Collection[str] | None = None, now: float | None = None,
                  with_metadata: bool = True) -> list[HashMatch]:
        """PDQ items within the distance (per list if a mapping; lists absent from a mapping use
        the default 31) of `pdq_hex`, nearest first; disabled items are left out."""
        q = normalize_pdq_hex(pdq_hex)
        now = time.time() if now is None else now
        out: list[HashMatch] = []
        with self._lock:
            t = self._fresh(tenant)
            for list_id, li in self._chosen(t, lists):
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
