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
from mmservice.errors import MMSError

BANNER = "=" * 78


def _wait_http(url: str, timeout: float) -> bool:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


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


def cmd_run(args: argparse.Namespace) -> int:
    from mmservice.embedded import EmbeddedRedis
    from mmservice.providers.registry import choose

    # Ctrl-C and SIGTERM both stop everything (SIGINT may arrive ignored when started in the
    # background of a non-interactive shell, so the handler is installed explicitly).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    env = mms_config.child_environment()  # the children's: theirs to validate with load()
    cfg = args.cfg
    procs: list[tuple[str, subprocess.Popen]] = []
    redis = None
    try:
        if "REDIS_URL" not in mms_config.from_environment():
            redis = EmbeddedRedis(os.path.join(args.data_dir, "redis"),
                                  port=cfg["EMBEDDED_REDIS_PORT"], binary=cfg["EMBEDDED_REDIS_BIN"])
            redis.start()
            env["MMS_REDIS_URL"] = redis.url
            print(f"embedded Redis on {redis.url} (AOF in {redis.data_dir})", flush=True)
        env.setdefault("MMS_BLOB_DIR", os.path.join(args.data_dir, "blobs"))

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

    try:
        procs.append(("worker", subprocess.Popen(
            worker_argv(pool=cfg["WORKER_POOL"], concurrency=cfg["WORKER_CONCURRENCY"]),
            env=env, start_new_session=True)))
        procs.append(("api", subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:app", "-b", f"{args.host}:{args.port}",
             "-w", str(args.api_workers), "--threads", "4", "--timeout", "60",
             "--access-logfile", "-"], env=env, start_new_session=True)))
        base = f"http://{args.host}:{args.port}"
        if not _wait_http(base + "/healthz", 60):
            print("the API did not come up; see the log above", file=sys.stderr)
            stop_all()
            return 1
        print(f"\n{BANNER}\nmmservice is up\n  API        {base}/v1/jobs\n  docs       {base}/docs"
              f"\n  OpenAPI    {base}/openapi.json\n  readiness  {base}/readyz\n  providers  "
              f"{base}/v1/providers\n\ntry:\n  curl -s -X POST {base}/v1/jobs -H 'Content-Type: "
              f"application/json' -d '{{\"text\": \"you are an idiot\"}}'\n  curl -s {base}"
              f"/v1/jobs/<id>\n\nCtrl-C stops everything.\n{BANNER}\n", flush=True)
        while True:
            for name, p in procs:
                if p.poll() is not None:
                    print(f"{name} exited with {p.returncode}; stopping", file=sys.stderr)
                    stop_all()
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        stop_all()
        return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mmservice")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="embedded Redis + worker + API on localhost")
    run.add_argument("--host", help="default: MMS_HOST")
    run.add_argument("--port", type=int, help="default: MMS_PORT")
    run.add_argument("--api-workers", type=int, help="default: MMS_API_WORKERS")
    run.add_argument("--data-dir", help="default: MMS_DATA_DIR")
    demo = sub.add_parser("demo", help="submit samples to a running service and print verdicts")
    demo.add_argument("--base", help="default: MMS_BASE")
    sub.add_parser("settings-table", help="print the README's settings table (markdown)")
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
    for name in ("host", "port", "api_workers", "data_dir", "base"):
        if getattr(args, name, False) is None:
            setattr(args, name, args.cfg[name.upper()])
    if args.cmd == "run":
        return cmd_run(args)
    from mmservice.demo import run_demo
    return run_demo(args.base)


if __name__ == "__main__":
    sys.exit(main())
