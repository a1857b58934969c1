"""Auth under a brute force: 1,000 bad API keys against the API (gunicorn -w 2 --threads 4, like
`make run`). Two figures (issue 14):

- the server CPU (API processes + Redis) the 1,000 refusals cost in total: target well under a
  second. The keys are well-formed (`mms_<id>_<secret>`, random ids), the expensive kind: each
  costs a Redis lookup, a refusal count and a 401 (a malformed key costs no lookup);
- a good key's `GET /v1/jobs?limit=1` latency while the brute force runs, against the same
  request with nothing else running: target at most a few ms slower (p50 and p90).

The CPU phase and the latency phase are separate runs of the same attack, so the good key's own
requests are not counted in the attack's CPU. Last line: the attack's server CPU in seconds.
"""
from __future__ import annotations

import os
import secrets
import string
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._http import KeepAlive, in_threads  # noqa: E402
from bench._machine import cpu_seconds  # noqa: E402
from bench._report import BenchError, main_guard, report, result, summary  # noqa: E402
from mmservice.testing.stack import ScratchStack, make_key  # noqa: E402

BAD_KEYS = int(os.environ.get("BENCH_BRUTE_KEYS", "1000"))
ATTACKERS = 8  # = gunicorn workers x threads
GOOD_SAMPLES = 300
PATH = "/v1/jobs?limit=1"
CPU_TARGET_S = 1.0
SLOWER_TARGET_MS = 5.0


def _bad_keys(n: int) -> list[str]:
    alphabet = string.ascii_lowercase + string.digits
    return [f"mms_{''.join(secrets.choice(alphabet) for _ in range(8))}_"
            f"{secrets.token_urlsafe(32)}" for _ in range(n)]


def _attack(port: int, keys: list[str]) -> dict:
    """Send every key once over ATTACKERS keep-alive connections; count the answers."""
    statuses: list[list[int]] = [[] for _ in range(ATTACKERS)]

    def run(i: int) -> None:
        c = KeepAlive("127.0.0.1", port, timeout=30)
        try:
            for key in keys[i::ATTACKERS]:
                statuses[i].append(c.request("GET", PATH, None,
                                             {"Authorization": f"Bearer {key}"})[0])
        finally:
            c.close()

    elapsed = in_threads(ATTACKERS, run, 120)
    flat = [s for per in statuses for s in per]
    return {"sent": len(flat), "refused_401": flat.count(401), "elapsed_s": round(elapsed, 3)}


def _good_latency(port: int, key: str, n: int, until: threading.Event | None = None) -> list:
    """n sequential requests with the good key (or until `until` is set); latencies in ms."""
    c = KeepAlive("127.0.0.1", port, timeout=30)
    out: list[float] = []
    try:
        while len(out) < n and not (until is not None and until.is_set()):
            t0 = time.perf_counter()
            status, _, _ = c.request("GET", PATH, None, {"Authorization": f"Bearer {key}"})
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise BenchError(f"the good key was answered {status}")
    finally:
        c.close()
    return out


def main() -> int:
    details: dict = {"bad_keys": BAD_KEYS, "attackers": ATTACKERS, "path": PATH}
    with ScratchStack("auth", with_stub=False) as st:
        # The good key is not rate-limited (the attack must not be what slows it down).
        api = st.gunicorn("app:app", st.cfg(AUTH="on", RATE_LIMIT="none"), "api")
        key = make_key(st.redis.url, scopes=["read"])
        _good_latency(api.port, key, 50)  # warm both workers' pools and imports
        _attack(api.port, _bad_keys(100))
        time.sleep(0.5)

        pids = api.pids() + [st.redis.proc.pid]
        cpu0 = cpu_seconds(pids)
        attack = _attack(api.port, _bad_keys(BAD_KEYS))
        attack_cpu = cpu_seconds(pids) - cpu0
        if attack["refused_401"] != BAD_KEYS:
            raise BenchError(f"not every bad key was refused with 401: {attack}")
        details["attack"] = {**attack, "server_cpu_s": round(attack_cpu, 3)}

        alone = _good_latency(api.port, key, GOOD_SAMPLES)
        done = threading.Event()
        during: list[float] = []
        sampler = threading.Thread(target=lambda: during.extend(
            _good_latency(api.port, key, 10 ** 6, until=done)), daemon=True)
        sampler.start()
        attack2 = _attack(api.port, _bad_keys(BAD_KEYS))
        done.set()
        sampler.join(30)
        details.update(good_alone_ms=summary(alone), good_during_attack_ms=summary(during),
                       attack_with_sampler=attack2)
    if len(during) < 20:
        raise BenchError(f"only {len(during)} good requests during the attack")
    a, d = summary(alone), summary(during)
    slower_p50 = round(d["p50"] - a["p50"], 2)
    slower_p90 = round(d["p90"] - a["p90"], 2)
    results = [
        result("bruteforce_server_cpu_s", round(attack_cpu, 3), "s CPU for "
               f"{BAD_KEYS} bad keys (API + Redis)", f"{attack['elapsed_s']} s wall",
               f"< {CPU_TARGET_S}", attack_cpu < CPU_TARGET_S),
        result("good_key_slower_p50_ms", slower_p50, "ms (p50 during the attack - alone)",
               f"alone p50 {a['p50']} ms, during {d['p50']} ms ({d['n']} requests)",
               f"<= {SLOWER_TARGET_MS}", slower_p50 <= SLOWER_TARGET_MS),
        result("good_key_slower_p90_ms", slower_p90, "ms (p90 during the attack - alone)",
               f"alone p90 {a['p90']} ms, during {d['p90']} ms",
               f"<= {SLOWER_TARGET_MS}", slower_p90 <= SLOWER_TARGET_MS),
    ]
    return report("auth_bruteforce", results, details, round(attack_cpu, 3))


if __name__ == "__main__":
    main_guard(main)
