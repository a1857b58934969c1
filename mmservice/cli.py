"""`python -m mmservice run|demo`: the one-machine way to run the whole service.

Why a Python launcher rather than a shell script: it must start an embedded Redis, a worker and
the API, print where they are, and stop all of them on Ctrl-C, on any machine with Python.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from mmservice import config as mms_config
from mmservice import worker_plan
from mmservice.errors import MMSError
from mmservice.supervise import Restarts

BANNER = "=" * 78


def _get_json(url: str) -> tuple[int | None, dict]:
    """(status, body) of one GET; (None, {}) when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except (OSError, ValueError):
        return None, {}


def _refuse(what: str, var: str, detail: str) -> int:
    print(f"mmservice: the {what} port is taken ({detail}): set {var} to a free port, or stop "
          "what listens there. Nothing was started.", file=sys.stderr, flush=True)
    return 2


def worker_argv(*, queues: str = "moderation,vision,audio,webhooks", pool: str = "threads",
                concurrency: int = 8, node: str = "mms-worker@%h",
                app: str = "workers.celery_app", lean: bool = False) -> list[str]:
    """The one `celery worker` command line (`make run`, the tests, the benchmarks). `lean`
    drops heartbeat, gossip and mingle, which a throwaway worker never needs."""
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "--pool", pool,
            "-c", str(concurrency), "--loglevel", "INFO", "-n", node]
    if lean:
        argv += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return argv


def _local_engines_installed() -> bool:
    try:
        import mmservice.providers.local  # noqa: F401
        return True
    except ImportError:
        return False


def _warming(body: dict) -> list[str]:
    return [c for c, v in (body.get("capabilities") or {}).items() if v.get("engine") == "warming"]


def _banner(base: str, body: dict, demo: str) -> str:
    caps = body.get("capabilities") or {}
    engines = ", ".join(f"{c} {v.get('provider')}:{v.get('engine')}" for c, v in caps.items())
    note = f"\n  NOT READY  {body['reason']}" if body.get("status") != "ready" and \
        body.get("reason") else ""
    return (f"\n{BANNER}\nmmservice is up\n  API        {base}/v1/jobs\n  docs       {base}/docs"
            f"\n  OpenAPI    {base}/openapi.json\n  readiness  {base}/readyz\n  providers  "
            f"{base}/v1/providers\n  engines    {engines}{note}\n\ntry:\n  curl -s -X POST "
            f"{base}/v1/jobs -H \"Authorization: Bearer $MMS_KEY\" -H 'Content-Type: "
            f"application/json' -d '{{\"text\": \"you are an idiot\"}}'\n  curl -s "
            f"-H \"Authorization: Bearer $MMS_KEY\" {base}/v1/jobs/<id>\n  {demo}\n\nCtrl-C "
            f"stops everything.\n{BANNER}\n")


def _first_key(cfg: dict, redis_url: str) -> str:
    """At the first start (the operator tenant has no key yet): create its admin key and say it
    once, like a notebook token; later starts say how to make more. With `MMS_AUTH=disabled`:
    a loud banner instead."""
    if cfg["AUTH"] == "disabled":
        return (f"\n{BANNER}\n!! MMS_AUTH=disabled: NO API KEYS. Any program on this machine "
                "can read, submit\n!! and delete every job. For local experiments only; "
                f"unset MMS_AUTH to require keys.\n{BANNER}\n")
    from mmservice.auth import events
    from mmservice.auth.keystore import SCOPES, KeyStore
    from mmservice.keys import DEFAULT as DEFAULT_KEYS
    from mmservice.redis_conn import get_redis

    r = get_redis(redis_url, cfg.get("REDIS_TIMEOUT_S"))
    store, tenant = KeyStore(r, DEFAULT_KEYS), cfg["OPERATOR_TENANT"]
    if store.has_keys(tenant):
        return (f"API keys required (tenant {tenant!r} has keys already; the first one was "
                "printed at the first start). More: python -m mmservice keys create --tenant "
                "T --scopes submit,read")
    plain, key = store.create(tenant, SCOPES, name="first admin key (make run)")
    events.key_event(r, DEFAULT_KEYS, "key_created", key, source="make run")
    return (f"\n{BANNER}\nFirst start: an admin API key for tenant {tenant!r} (scopes "
            f"{','.join(SCOPES)}).\nIt is shown this once (only its hash is kept):\n\n"
            f"    export MMS_KEY={plain}\n\nSend it as `Authorization: Bearer $MMS_KEY`. More "
            "keys: python -m mmservice keys create --tenant T --scopes submit,read\n"
            f"{BANNER}\n")


class _Startup:
    """Says "up" once: when the API answers, a worker consumes every queue and no engine is
    still warming (or, after `patience` seconds, with the reason it is not ready yet)."""

    def __init__(self, base: str, demo: str, patience: float = 180.0):
        self.base, self.demo, self.patience = base, demo, patience
        self.t0 = time.monotonic()
        self.answered = self.up = self.said_warming = False

    def poll(self) -> bool:
        """False when the API has not answered in 60 s; prints progress and the banner."""
        status, body = _get_json(self.base + "/readyz")
        waited = time.monotonic() - self.t0
        if status is None:
            return self.answered or waited < 60
        self.answered = True
        workers_ok = ((body.get("checks") or {}).get("workers") or {}).get("ok")
        warming = _warming(body)
        if workers_ok and warming and not self.said_warming:
            self.said_warming = True
            print(f"API answers; engines still warming: {', '.join(warming)} (jobs submitted "
                  "now wait for them)...", flush=True)
        if (workers_ok and not warming) or waited > self.patience:
            self.up = True
            if self.said_warming:
                print(f"engines warm after {waited:.1f}s", flush=True)
            print(_banner(self.base, body, self.demo), flush=True)
        return True


def cmd_run(args: argparse.Namespace) -> int:
    from mmservice.auth.guard import check_auth_setting
    from mmservice.embedded import EmbeddedRedis, PortTaken, bind_listener, ensure_port_free
    from mmservice.providers.registry import choose

    # Ctrl-C and SIGTERM both stop everything (SIGINT may arrive ignored when started in the
    # background of a non-interactive shell, so the handler is installed explicitly).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    env = mms_config.child_environment()  # the children's: theirs to validate with load()
    cfg = args.cfg
    try:
        check_auth_setting({**cfg, "HOST": args.host})
    except MMSError as exc:
        print(f"mmservice: {exc.message}. Nothing was started.", file=sys.stderr, flush=True)
        return 2
    env["MMS_HOST"] = args.host  # the API checks its own bind against MMS_AUTH
    port_var = "--port" if args.port_from_flag else "MMS_PORT"
    # The API socket is bound here and handed to gunicorn (`fd://`): a taken port is refused
    # before anything starts, and whatever answers on it afterwards can only be our gunicorn.
    try:
        api_sock = bind_listener(args.host, args.port)
    except PortTaken as exc:
        return _refuse("API", port_var, str(exc))
    procs: list[tuple[str, subprocess.Popen]] = []
    redis = None
    try:
        if "REDIS_URL" not in mms_config.from_environment():
            redis_port = cfg["EMBEDDED_REDIS_PORT"]
            try:
                ensure_port_free("127.0.0.1", redis_port)
            except PortTaken as exc:
                api_sock.close()
                return _refuse("embedded Redis", "MMS_EMBEDDED_REDIS_PORT", str(exc))
            redis = EmbeddedRedis(os.path.join(args.data_dir, "redis"),
                                  port=redis_port, binary=cfg["EMBEDDED_REDIS_BIN"])
            try:  # start() returns only once the server on the port reports our child's pid
                redis.start()
            except RuntimeError as exc:
                api_sock.close()
                print(f"mmservice: the embedded Redis did not start ({exc}); if port "
                      f"{redis_port} is taken, set MMS_EMBEDDED_REDIS_PORT to a free port.",
                      file=sys.stderr, flush=True)
                return 2
            env["MMS_REDIS_URL"] = redis.url
            print(f"embedded Redis on {redis.url} (pid {redis.proc.pid if redis.proc else '?'}, "
                  f"AOF in {redis.data_dir})", flush=True)
        env.setdefault("MMS_BLOB_DIR", os.path.join(args.data_dir, "blobs"))
        print(_first_key(cfg, env.get("MMS_REDIS_URL") or cfg["REDIS_URL"]), flush=True)

        local_caps = [c for c in mms_config.CAPS if choose(cfg, c) == "local"]
        if local_caps and not _local_engines_installed():
            from mmservice.embedded import free_port

            port = free_port()
            procs.append(("stub", subprocess.Popen(
                [sys.executable, "-m", "mmservice.devstub", "--port", str(port)], env=env,
                start_new_session=True)))
            env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
            print(f"\n{BANNER}\n!! NO API KEY AND NO LOCAL ENGINES: capabilities "
                  f"{', '.join(local_caps)}"
                  f"\n!! are served by the DEVELOPMENT STUB at {env['OPENAI_BASE_URL']}.\n!! Its "
                  f"verdicts are FAKE (keyword rules). Set OPENAI_API_KEY or install the local "
                  f"engines.\n{BANNER}\n", flush=True)

    except KeyboardInterrupt:  # stopped while starting: leave nothing running
        api_sock.close()
        for _name, p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        if redis:
            redis.stop()
        return 0

    def stop_all(*_a) -> None:
        for _name, p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _name, p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        if redis:
            redis.stop()

    slots = worker_plan.plan(cfg)

    def start_worker(slot: worker_plan.WorkerSlot) -> subprocess.Popen:
        p = subprocess.Popen(
            worker_argv(queues=slot.queues, pool=cfg["WORKER_POOL"],
                        concurrency=cfg["WORKER_CONCURRENCY"], node=slot.node),
            env=env, start_new_session=True)
        print(f"worker {slot.index}/{len(slots)} started (pid {p.pid}, queues {slot.queues})",
              flush=True)
        return p

    def worker_pids() -> list[tuple[worker_plan.WorkerSlot, int]]:
        return [(slots[int(name[6:]) - 1], p.pid) for name, p in procs
                if name.startswith("worker")]

    try:
        for slot in slots:  # one per core by default (MMS_WORKER_PROCESSES)
            procs.append((f"worker{slot.index}", start_worker(slot)))
        restarts = {slot.index: Restarts() for slot in slots}
        fd = api_sock.fileno()
        procs.append(("api", subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app", "-b", f"fd://{fd}",
             "--no-control-socket", "-w", str(args.api_workers),
             "--threads", str(args.cfg["API_THREADS"]),
             "--timeout", "60", "--access-logfile", "-"], env=env, start_new_session=True,
            pass_fds=(fd,))))
        api_sock.close()  # gunicorn holds it now
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        demo = "make demo" if args.port == mms_config.DEFAULTS["PORT"] and not args.port_from_flag \
            else f"MMS_PORT={args.port} make demo"
        startup = _Startup(f"http://{host}:{args.port}", demo)
        while True:
            for i, (name, p) in enumerate(procs):
                if p.poll() is None:
                    continue
                if name.startswith("worker"):  # restarted with a backoff (supervise.py)
                    slot = slots[int(name[6:]) - 1]
                    delay = restarts[slot.index].due()
                    if delay is not None:
                        print(f"worker {slot.index} exited with {p.returncode}; restarting in "
                              f"{delay:g}s", file=sys.stderr, flush=True)
                    if restarts[slot.index].ready():
                        procs[i] = (name, start_worker(slot))
                    continue
                print(f"{name} exited with {p.returncode}; stopping", file=sys.stderr)
                stop_all()
                return 1
            if redis and not redis.alive():
                print("the embedded Redis exited; stopping", file=sys.stderr)
                stop_all()
                return 1
            if not startup.up:
                if not startup.poll():
                    print("the API did not come up; see the log above", file=sys.stderr)
                    stop_all()
                    return 1
                if startup.up:  # engines warm: what each worker process holds now
                    print(worker_plan.memory_report(worker_pids()), flush=True)
            time.sleep(0.5 if not startup.up else 1)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        stop_all()
        return 0


def _demo_base(cfg: dict) -> str:
    """`MMS_BASE`, else where `make run` serves with the same settings (`MMS_HOST:MMS_PORT`)."""
    host = cfg["HOST"] if cfg["HOST"] not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{cfg['PORT']}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mmservice")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="embedded Redis + worker + API on localhost")
    run.add_argument("--host", help="default: MMS_HOST")
    run.add_argument("--port", type=int, help="default: MMS_PORT")
    run.add_argument("--api-workers", type=int, help="default: MMS_API_WORKERS")
    run.add_argument("--data-dir", help="default: MMS_DATA_DIR")
    demo = sub.add_parser("demo", help="submit samples to a running service and print verdicts")
    demo.add_argument("--base", help="default: MMS_BASE, else http://MMS_HOST:MMS_PORT")
    sub.add_parser("settings-table", help="print the README's settings table (markdown)")
    from mmservice.auth import cli as keys_cli
    keys_cli.add_parser(sub)
    args = p.parse_args(argv)
    if args.cmd == "settings-table":
        from mmservice.settings_table import markdown
        print(markdown(), end="")
        return 0
    try:
        args.cfg = mms_config.load()
    except MMSError as exc:
        print(f"mmservice: {exc.message}", file=sys.stderr)
        return 2
    if args.cmd == "keys":
        return keys_cli.run(args, args.cfg)
    args.port_from_flag = getattr(args, "port", None) is not None
    for name in ("host", "port", "api_workers", "data_dir", "base"):
        if getattr(args, name, False) is None:
            setattr(args, name, args.cfg[name.upper()])
    if args.cmd == "run":
        return cmd_run(args)
    from mmservice.demo import run_demo
    return run_demo(args.base or _demo_base(args.cfg), args.cfg["KEY"])


if __name__ == "__main__":
    sys.exit(main())
