"""Hash list items in Redis and the per-worker indexes kept in step by the change stream."""
from __future__ import annotations

import time

import numpy as np
import pytest
import redis

from mmservice.keys import Keys
from mmservice.lists.pdq import sha256_hex
from mmservice.lists.store import (
    HashItem,
    add_items,
    disable_item,
    drop_list,
    item_records,
    remove_item,
)
from mmservice.lists.sync import HashIndexes


@pytest.fixture()
def r(redis_databases):
    client = redis.Redis.from_url(redis_databases.allocate())
    yield client
    client.close()


KEYS = Keys("mmtest")


def rand_hex(rng) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def near(hex_hash: str, n: int) -> str:
    b = bytearray(bytes.fromhex(hex_hash))
    for i in range(n):
        b[i] ^= 1
    return bytes(b).hex()


def test_an_item_added_by_the_writer_matches_on_two_workers(r):
    rng = np.random.default_rng(0)
    w1, w2 = HashIndexes(r, KEYS), HashIndexes(r, KEYS)
    h = rand_hex(rng)
    assert w1.match_pdq("acme", h) == [] and w2.match_pdq("acme", h) == []  # both loaded, empty
    add_items(r, "acme", "bad", [HashItem("i1", "pdq", h.upper(), metadata={"note": "seen"})],
              keys=KEYS)
    for w in (w1, w2):
        [m] = w.match_pdq("acme", near(h, 10))
        assert (m.list_id, m.item_id, m.kind, m.distance) == ("bad", "i1", "pdq", 10)
        assert m.metadata == {"note": "seen"}
    assert w1.reloads == w2.reloads == 1  # no rebuild: the new item came from the stream
    assert w1.match_pdq("acme", near(h, 31)) and not w1.match_pdq("acme", near(h, 32))
    assert not w1.match_pdq("acme", near(h, 20), max_distance={"bad": 15})
    assert not w1.match_pdq("acme", h, lists=["other"])
    assert not w1.match_pdq("acme", h, quality=40)  # below the default minimum of 50
    assert w1.match_pdq("acme", h, quality=40, min_quality={"bad": 30})


def test_remove_disable_drop_and_sha256(r):
    rng = np.random.default_rng(1)
    w = HashIndexes(r, KEYS)
    h, digest = rand_hex(rng), sha256_hex(b"known bad bytes")
    add_items(r, "acme", "l1", [HashItem("p", "pdq", h), HashItem("s", "sha256", digest)],
              keys=KEYS)
    assert [m.item_id for m in w.match_sha256("acme", digest)] == ["s"]
    now = time.time()
    assert disable_item(r, "acme", "l1", "p", now + 3600, keys=KEYS)
    assert w.match_pdq("acme", h) == []
    assert [m.item_id for m in w.match_pdq("acme", h, now=now + 7200)] == ["p"]  # expired
    assert item_records(r, "acme", "l1", ["p"], keys=KEYS)[0]["disabled_until"] == pytest.approx(
        now + 3600, abs=0.01)  # Lua cjson keeps 14 digits
    assert disable_item(r, "acme", "l1", "p", None, keys=KEYS)
    assert [m.item_id for m in w.match_pdq("acme", h)] == ["p"]
    assert not disable_item(r, "acme", "l1", "nope", None, keys=KEYS)
    assert remove_item(r, "acme", "l1", "p", keys=KEYS)
    assert not remove_item(r, "acme", "l1", "p", keys=KEYS)
    assert w.match_pdq("acme", h) == [] and w.sizes("acme") == {"l1": 1}
    drop_list(r, "acme", "l1", keys=KEYS)
    assert w.match_sha256("acme", digest) == [] and w.sizes("acme") == {}
    assert HashIndexes(r, KEYS).sizes("acme") == {}  # a cold worker agrees


def test_tenants_are_isolated(r):
    rng = np.random.default_rng(2)
    h = rand_hex(rng)
    add_items(r, "t1", "l", [HashItem("x", "pdq", h)], keys=KEYS)
    w = HashIndexes(r, KEYS)
    assert w.match_pdq("t1", h) and w.match_pdq("t2", h) == []


def test_cold_start_loads_the_hashes_and_a_trimmed_stream_triggers_a_reload(r):
    rng = np.random.default_rng(3)
    items = [HashItem(f"i{i}", "pdq", rand_hex(rng)) for i in range(5000)]
    add_items(r, "acme", "big", items, keys=KEYS, maxlen=100)  # stream keeps ~100 entries
    assert r.xlen(KEYS.hash_list_changes("acme")) < 1000
    w = HashIndexes(r, KEYS)
    assert w.sizes("acme") == {"big": 5000} and w.reloads == 1
    assert [m.item_id for m in w.match_pdq("acme", items[1234].hash, with_metadata=False)] \
        == ["i1234"]
    # far more changes than the stream keeps, while this worker does not look: a hole
    more = [HashItem(f"j{i}", "pdq", rand_hex(rng)) for i in range(3000)]
    add_items(r, "acme", "big", more, keys=KEYS, maxlen=100)
    remove_item(r, "acme", "big", "i0", keys=KEYS, maxlen=100)
    assert w.sizes("acme") == {"big": 7999} and w.reloads == 2
    assert w.match_pdq("acme", more[-1].hash, with_metadata=False)[0].item_id == "j2999"
    assert w.match_pdq("acme", items[0].hash, with_metadata=False) == []


def test_writer_validates_hashes(r):
    with pytest.raises(ValueError, match="64 hex"):
        add_items(r, "acme", "l", [HashItem("x", "pdq", "abc")], keys=KEYS)
    with pytest.raises(ValueError, match="unknown hash kind"):
        add_items(r, "acme", "l", [HashItem("x", "md5", "abc")], keys=KEYS)


def test_refresh_interval_limits_stream_reads(r):
    rng = np.random.default_rng(4)
    w = HashIndexes(r, KEYS, refresh_interval=3600)
    h = rand_hex(rng)
    assert w.match_pdq("acme", h) == []
    add_items(r, "acme", "l", [HashItem("x", "pdq", h)], keys=KEYS)
    assert w.match_pdq("acme", h) == []  # not looked at the stream yet
    w.refresh("acme")
    assert [m.item_id for m in w.match_pdq("acme", h)] == ["x"]
