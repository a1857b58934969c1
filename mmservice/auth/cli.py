"""`python -m mmservice keys create|list|rotate|revoke`: API keys from a shell on the service's
Redis (`MMS_REDIS_URL`).

Why a CLI beside the admin API: the first key cannot come from an API that needs a key, and an
operator locked out (every admin key lost) needs a way in that only Redis access grants. Each
command is logged and counted like the admin API's (source `cli`).
"""
from __future__ import annotations

import argparse
import json
import sys

from mmservice.auth import events
from mmservice.auth.keystore import SCOPES, ApiKey, KeyStore, parse_expires
from mmservice.errors import MMSError
from mmservice.keys import DEFAULT as DEFAULT_KEYS


def add_parser(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="create, list, rotate and revoke API keys")
    ks = keys.add_subparsers(dest="keys_cmd", required=True)
    create = ks.add_parser("create", help="a new key, printed once")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scopes", required=True, help=f"comma-separated: {','.join(SCOPES)}")
    create.add_argument("--name", default="")
    create.add_argument("--expires", help="ISO date/datetime or duration (90d, 12h); default "
                                          "never")
    lst = ks.add_parser("list", help="keys (ids, never the keys)")
    lst.add_argument("--tenant")
    lst.add_argument("--json", action="store_true")
    rotate = ks.add_parser("rotate", help="a new key replacing KEY_ID (printed once)")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=float, default=0.0,
                        help="seconds the old key keeps working (default 0: revoked now)")
    revoke = ks.add_parser("revoke", help="refused from the next request on")
    revoke.add_argument("key_id")


def _row(k: ApiKey) -> str:
    v = k.public()
    state = "active" if v["active"] else ("revoked" if v["revoked_at"] else "expired")
    return (f"{v['prefix']:<14} {v['tenant']:<20} {','.join(v['scopes']):<26} {state:<8} "
            f"created {v['created_at']}  expires {v['expires_at'] or 'never'}  {v['name']}")


def _id(text: str) -> str:
    return text.removeprefix("mms_")[:8]


def run(args: argparse.Namespace, cfg: dict) -> int:
    from mmservice.redis_conn import get_redis

    r = get_redis(cfg["REDIS_URL"], cfg.get("REDIS_TIMEOUT_S"))
    store = KeyStore(r, DEFAULT_KEYS)
    try:
        if args.keys_cmd == "create":
            plain, key = store.create(args.tenant, args.scopes, name=args.name,
                                      expires_ts=parse_expires(args.expires))
            events.key_event(r, DEFAULT_KEYS, "key_created", key)
            print(f"created API key {key.prefix} for tenant {key.tenant} (scopes "
                  f"{','.join(key.scopes)}); it is shown this once:", file=sys.stderr)
            print(plain)
        elif args.keys_cmd == "list":
            found = store.listing(args.tenant)
            if args.json:
                print(json.dumps([k.public() for k in found], indent=2))
            else:
                for k in found:
                    print(_row(k))
        elif args.keys_cmd == "rotate":
            plain, new, old = store.rotate(_id(args.key_id), grace_s=args.grace)
            events.key_event(r, DEFAULT_KEYS, "key_rotated", new)
            print(f"rotated {old.prefix} -> {new.prefix} (old one "
                  f"{'revoked' if old.revoked_at else 'expires ' + str(old.public()['expires_at'])}"
                  "); the new key is shown this once:", file=sys.stderr)
            print(plain)
        else:
            key = store.revoke(_id(args.key_id))
            events.key_event(r, DEFAULT_KEYS, "key_revoked", key)
            print(f"revoked {key.prefix} (tenant {key.tenant})", file=sys.stderr)
    except MMSError as exc:
        print(f"mmservice: {exc.message}", file=sys.stderr)
        return 2
    return 0
