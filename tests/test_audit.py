"""The audit chain: appends link by hash, concurrent writers never fork it, `verify` finds an
entry edited or removed directly in Redis; policy and key changes land in it, per tenant."""
from __future__ import annotations

import json
import threading

import pytest
import redis

from mmservice import audit
from mmservice.auth.keystore import SCOPES
from mmservice.keys import Keys
from mmservice.testing.client import Client


@pytest.fixture()
def r(redis_databases):
    client = redis.Redis.from_url(redis_databases.allocate())
    yield client
    client.flushdb()


KEYS = Keys("audtest")


def _rewrite(r, tenant: str, edit) -> None:
    """Tamper the way someone with Redis access would: rebuild the stream with the same ids,
    `edit(id, fields)` changing what it likes."""
    name = KEYS.audit(tenant)
    entries = r.xrange(name)
    r.delete(name)
    for eid, fields in entries:
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        edit(eid.decode(), fields)
        r.xadd(name, fields, id=eid)


def test_appends_chain_and_verify_passes(r):
    ids = [audit.append(r, KEYS, "t1", {"type": "test.event", "actor": "me", "n": i})
           for i in range(5)]
    assert audit.verify(r, KEYS, "t1") == (True, None)
    got = audit.read(r, KEYS, "t1", limit=10)
    assert [e["id"] for e in got] == ids and got[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(got, got[1:]))
    assert got[2]["event"]["n"] == 2 and got[2]["event"]["ts"].endswith("Z")
    assert [e["event"]["n"] for e in audit.read(r, KEYS, "t1", since=ids[2])] == [3, 4]
    assert audit.verify(r, KEYS, "empty") == (True, None)
    assert audit.read(r, KEYS, "t2") == []  # per tenant


def test_concurrent_writers_never_fork_the_chain(r):
    def write(w: int) -> None:
        for i in range(25):
            audit.append(r, KEYS, "busy", {"type": "test.event", "actor": f"w{w}", "n": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    entries = audit.read(r, KEYS, "busy", limit=1000)
    assert len(entries) == 200
    assert len({e["prev"] for e in entries}) == 200  # no two entries share a parent
    assert audit.verify(r, KEYS, "busy") == (True, None)


def test_verify_finds_an_edited_entry(r):
    ids = [audit.append(r, KEYS, "t", {"type": "policy.put", "actor": "a", "n": i})
           for i in range(4)]

    def edit(eid, fields):
        if eid == ids[1]:
            event = json.loads(fields["event"])
            event["actor"] = "somebody else"
            fields["event"] = json.dumps(event)
    _rewrite(r, "t", edit)
    assert audit.verify(r, KEYS, "t") == (False, ids[1])


def test_verify_finds_a_removed_entry_and_a_cut_tail(r):
    ids = [audit.append(r, KEYS, "t", {"type": "x", "actor": "a", "n": i}) for i in range(4)]
    r.xdel(KEYS.audit("t"), ids[1])
    assert audit.verify(r, KEYS, "t") == (False, ids[2])
    ids = [audit.append(r, KEYS, "u", {"type": "x", "actor": "a", "n": i}) for i in range(3)]
    r.xdel(KEYS.audit("u"), ids[-1])
    assert audit.verify(r, KEYS, "u") == (False, "head")


def test_policy_and_key_changes_are_audited_per_tenant(module_stack):
    s = module_stack(name="audit")
    key, rec = s.services.auth.keys.create("aud", SCOPES)
    c = Client(s.api_url, key)
    body = {"thresholds": {"hate": {"review": 0.2, "block": 0.6}}}
    c.s.put(c.url("/v1/policies/p"), json=body, timeout=10)
    c.s.put(c.url("/v1/policies/p"), json={**body, "mode": "shadow"}, timeout=10)
    c.delete("/v1/policies/p")
    made = c.post("/v1/admin/keys", json={"scopes": ["read"], "name": "reader"})
    assert made.status_code == 201
    events = [e["event"] for e in c.get("/v1/audit").json()["data"]]
    assert [e["type"] for e in events] == ["policy.put", "policy.put", "policy.delete",
                                          "key.created"]
    assert all(e["actor"] == rec.prefix for e in events)
    put1, put2, gone, made_ev = events
    assert put1["before"] is None and put1["after"]["version"] == 1
    assert put2["before"]["version"] == 1 and put2["after"]["mode"] == "shadow"
    assert gone["before"]["version"] == 2 and gone["after"] is None
    assert made_ev["after"]["name"] == "reader" and "key" not in made_ev["after"]
    assert key not in json.dumps(events)  # never the key itself
    only = c.get("/v1/audit?type=key").json()["data"]
    assert [e["event"]["type"] for e in only] == ["key.created"]
    first = c.get("/v1/audit?limit=1").json()["data"]
    assert len(first) == 1
    after = c.get(f"/v1/audit?since={first[0]['id']}").json()["data"]
    assert len(after) == 3
    assert c.get("/v1/audit?since=yesterday").json()["error"]["field"] == "since"
    assert c.get("/v1/audit/verify").json() == {"ok": True, "first_bad_id": None, "entries": 4}
    # Tampered in Redis: the API's verify names the entry.
    keys = s.services.store.keys
    ids = [e["id"] for e in c.get("/v1/audit").json()["data"]]
    raw = s.redis.xrange(keys.audit("aud"))
    s.redis.delete(keys.audit("aud"))
    for eid, fields in raw:
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        if eid.decode() == ids[2]:
            fields["event"] = fields["event"].replace('"policy.delete"', '"policy.keep"')
        s.redis.xadd(keys.audit("aud"), fields, id=eid)
    assert c.get("/v1/audit/verify").json()["first_bad_id"] == ids[2]
    # Another tenant sees none of it.
    other_key, _ = s.services.auth.keys.create("aud-other", SCOPES)
    other = Client(s.api_url, other_key)
    assert other.get("/v1/audit").json() == {"data": []}
    assert other.get("/v1/audit/verify").json() == {"ok": True, "first_bad_id": None,
                                                    "entries": 0}


def _staged(r, tenant: str, events: list[dict]) -> None:
    from mmservice import audit_staging

    pipe = r.pipeline(transaction=True)
    for e in events:
        audit_staging.stage(pipe, KEYS, tenant, e)
    pipe.execute()


def test_staged_events_are_chained_by_the_next_reader_in_order(r):
    """`audit_staging`: a verdict's entry is one XADD; reading the log chains what is staged
    (between direct appends too), and the chain verifies."""
    audit.append(r, KEYS, "st", {"type": "test.direct", "n": 0})
    _staged(r, "st", [{"type": "moderation.verdict", "n": i} for i in range(1, 4)])
    assert r.xlen(KEYS.audit("st")) == 1  # staged only, not chained yet
    assert r.sismember(KEYS.audit_pending_tenants(), "st")
    got = audit.read(r, KEYS, "st", limit=10)
    assert [e["event"]["n"] for e in got] == [0, 1, 2, 3]
    assert r.xlen(KEYS.audit_pending("st")) == 0
    assert not r.sismember(KEYS.audit_pending_tenants(), "st")
    audit.append(r, KEYS, "st", {"type": "test.direct", "n": 4})
    _staged(r, "st", [{"type": "moderation.verdict", "n": 5}])
    audit.append(r, KEYS, "st", {"type": "test.direct", "n": 6})  # folds 5 first: in order
    assert audit.verify(r, KEYS, "st") == (True, None)
    assert [e["event"]["n"] for e in audit.read(r, KEYS, "st", limit=10)] == list(range(7))


def test_concurrent_folders_and_writers_neither_lose_nor_double_an_entry(r):
    """Stagers, direct appenders and several folders at once (as many workers' heartbeats and
    readers are): every event is chained exactly once and the chain verifies."""
    from mmservice import audit_staging

    def stager(k: int) -> None:
        for i in range(40):
            _staged(r, "cc", [{"type": "moderation.verdict", "who": f"s{k}-{i}"}])

    def appender(k: int) -> None:
        for i in range(10):
            audit.append(r, KEYS, "cc", {"type": "test.direct", "who": f"a{k}-{i}"})

    def folder() -> None:
        for _ in range(30):
            audit_staging.fold_all(r, KEYS)

    threads = ([threading.Thread(target=stager, args=(k,)) for k in range(4)]
               + [threading.Thread(target=appender, args=(k,)) for k in range(2)]
               + [threading.Thread(target=folder) for _ in range(3)])
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = audit.read(r, KEYS, "cc", limit=1000)
    who = [e["event"]["who"] for e in entries]
    assert len(who) == len(set(who)) == 4 * 40 + 2 * 10
    assert audit.verify(r, KEYS, "cc") == (True, None)
    assert r.xlen(KEYS.audit_pending("cc")) == 0
