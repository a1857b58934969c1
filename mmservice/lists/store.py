"""Hash list items in Redis: the writer side (the lists API calls these), one Lua script per
write so the items hash, the change counter and the change stream never disagree.

Layout (key names in `mmservice/keys.py`; `<t>` is the tenant's namespace):

- `<t>:hashlists` (set): the tenant's hash list ids.
- `<t>:hashlist:<list>:items` (hash): item id -> JSON `{"kind": "pdq"|"sha256", "hash": hex,
  "disabled_until": unix seconds | null, "metadata": {...}}`. The source of truth.
- `<t>:hashlists:seq` (counter) and `<t>:hashlists:changes` (stream, trimmed with `MAXLEN ~`):
  one entry per change, fields `seq` (the counter's value), `op` (`add` | `remove` | `disable` |
  `drop`), `list`, `item`, `kind`, `hash`, `until` (empty when not set).

The readers are `HashIndexes` (sync.py). Only hashes are stored, never media. The script names
four keys of one tenant; on Redis Cluster they would need a hash tag (`{<t>}`) to share a slot.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mmservice.keys import DEFAULT, Keys
from mmservice.lists.pdq import normalize_pdq_hex, normalize_sha256_hex

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
