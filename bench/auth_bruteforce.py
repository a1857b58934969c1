"""Auth under a brute force: 1,000 bad API keys against the API (gunicorn -w 2 --threads 32, like
`make run`). Two figures (issue 14):

- the server CPU (API processes + Redis) the 1,000 refusals cost in total: target well under a
  second. The keys are well-formed (`mms_<id>_<secret>`, random ids), the expensive kind: each
  costs a Redis lookup, a refusal count and a 401 (a malformed key costs no lookup);
- a good key's `GET /v1/jobs?limit=1` latency while the brute force runs, against the same
  request with nothing else running: target at most a few ms slower (p50 and p90). The attack
  is paced (`BENCH_BRUTE_RATE`, 250 keys/s: 1,000 keys in 4 s); flat out (8 connections back
  to back) the server is saturated and any request waits its turn, whatever auth costs: that
  case is reported too, without a target.

For scale, the same 1,000 requests to `/healthz` (public: Flask, no auth) are measured too.
The CPU phases and the latency phases are separate runs, so the good key's own requests are
not counted in the attack's CPU. Last line: the attack's server CPU in seconds.
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
RATE = float(os.environ.get("BENCH_BRUTE_RATE", "250"))  # keys/s of the paced attack
GOOD_SAMPLES = 300
PATH = "/v1/jobs?limit=1"
CPU_TARGET_S = 1.0
SLOWER_TARGET_MS = 5.0


def _bad_keys(n: int) -> list[str]:
    alphabet = string.ascii_lowercase + string.digits
    return [f"mms_{''.join(secrets.choice(alphabet) for _ in range(8))}_"
            f"{secrets.token_urlsafe(32)}" for _ in range(n)]


def _attack(port: int, keys: list[str], rate: float | None = None, path: str = PATH) -> dict:
    """Send every key once over ATTACKERS keep-alive connections (paced to `rate` keys/s in
    total, else back to back); count the answers."""
    statuses: list[list[int]] = [[] for _ in range(ATTACKERS)]
    t0 = time.monotonic()

    def run(i: int) -> None:
        c = KeepAlive("127.0.0.1", port, timeout=30)
        try:
            for n, key in enumerate(keys[i::ATTACKERS]):
                if rate:
                    due = t0 + (n * ATTACKERS + i) / rate
                    if due > time.monotonic():
                        time.sleep(due - time.monotonic())  # pacing of the load
                statuses[i].append(c.request("GET", path, None,
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
        floor = _attack(api.port, _bad_keys(BAD_KEYS), path="/healthz")
        floor_cpu = cpu_seconds(pids) - cpu0
        details["healthz_floor"] = {**floor, "server_cpu_s": round(floor_cpu, 3)}
        cpu0 = cpu_seconds(pids)
        attack = _attack(api.port, _bad_keys(BAD_KEYS))
        attack_cpu = cpu_seconds(pids) - cpu0
        if attack["refused_401"] != BAD_KEYS:
            raise BenchError(f"not every bad key was refused with 401: {attack}")
        details["attack"] = {**attack, "server_cpu_s": round(attack_cpu, 3)}

        alone = _good_latency(api.port, key, GOOD_SAMPLES)

        def during_attack(rate: float | None) -> tuple[list[float], dict]:
            done = threading.Event()
            got: list[float] = []
            sampler = threading.Thread(target=lambda: got.extend(
                _good_latency(api.port, key, 10 ** 6, until=done)), daemon=True)
            sampler.start()
            out = _attack(api.port, _bad_keys(BAD_KEYS), rate)
            done.set()
            sampler.join(30)
            return got, out
        during, paced = during_attack(RATE)
        flood, flat_out = during_attack(None)
        details.update(good_alone_ms=summary(alone), good_during_paced_attack_ms=summary(during),
                       paced_attack=paced, good_during_flood_ms=summary(flood),
                       flood=flat_out, paced_rate=RATE)
    if len(during) < 20:
        raise BenchError(f"only {len(during)} good requests during the attack")
    a, d, f = summary(alone), summary(during), summary(flood)
    slower_p50 = round(d["p50"] - a["p50"], 2)
    slower_p90 = round(d["p90"] - a["p90"], 2)
    results = [
        result("bruteforce_server_cpu_s", round(attack_cpu, 3), "s CPU for "
               f"{BAD_KEYS} bad keys (API + Redis)", f"{attack['elapsed_s']} s wall; "
               f"{BAD_KEYS} GET /healthz: {floor_cpu:.3f} s CPU",
               f"< {CPU_TARGET_S}", attack_cpu < CPU_TARGET_S),
        result("bruteforce_cpu_above_healthz_s", round(attack_cpu - floor_cpu, 3),
               f"s CPU for {BAD_KEYS} bad keys minus {BAD_KEYS} GET /healthz (what auth adds "
               "to serving any request)", f"/healthz: {floor_cpu:.3f} s", "none", None),
        result("good_key_slower_p50_ms", slower_p50, f"ms (p50 during a {RATE:g}/s attack - "
               "alone)", f"alone p50 {a['p50']} ms, during {d['p50']} ms ({d['n']} requests)",
               f"<= {SLOWER_TARGET_MS}", slower_p50 <= SLOWER_TARGET_MS),
        result("good_key_slower_p90_ms", slower_p90, "ms (p90 during the attack - alone)",
               f"alone p90 {a['p90']} ms, during {d['p90']} ms",
               f"<= {SLOWER_TARGET_MS}", slower_p90 <= SLOWER_TARGET_MS),
        result("good_key_slower_p50_flood_ms", round(f["p50"] - a["p50"], 2),
               "ms (p50 during a flat-out attack - alone: a saturated server)",
               f"p50 {f['p50']} ms, p90 {f['p90']} ms during; attack "
               f"{flat_out['sent'] / max(flat_out['elapsed_s'], 1e-9):.0f} keys/s", "none", None),
    ]
    return report("auth_bruteforce", results, details, round(attack_cpu, 3))


if __name__ == "__main__":
    main_guard(main)
