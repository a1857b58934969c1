"""Figure 6 - long audio: a 60-minute recording (16 kHz mono WAV, 115.2 MB, a 0.8 s silence
every 30 s) submitted to `POST /v1/jobs` (tasks=transcribe) and transcribed through chunking
(MMS_TRANSCRIPTION_MAX_CHUNK_S=600 as shipped: cut at silences, chunks fanned out on the
`audio` queue) by one worker with 8 threads (8-way concurrency), against a stub whose latency
grows with the chunk's duration (`latency_per_audio_second_ms`).

Wall time = submit -> result visible by polling. Baseline, same run: the same chunks (the spans
the job reports, cut by the same `export_chunk`) sent one after another through the same
provider class (`OpenAITranscription`): the sequential sum of chunk latencies.
Target: wall / sequential sum <= 0.3.

Memory/disk: the WAV lives in memory only (115 MB, plus ~115 MB for the request body); the API
writes it once to the blob store (115 MB in the scratch dir) and the worker writes the chunks
(another ~115 MB) until stitching deletes them. Last line: the ratio.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._http import KeepAlive, multipart  # noqa: E402
from bench._machine import profiled, wait_for_quiet  # noqa: E402
from bench._media import speechlike_wav  # noqa: E402
from bench._report import BenchError, main_guard, report, result  # noqa: E402
from bench._submit import iso_ms  # noqa: E402
from mmservice.testing.procs import wait_until  # noqa: E402
from mmservice.testing.stack import ScratchStack  # noqa: E402

MINUTES = float(os.environ.get("BENCH_AUDIO_MINUTES", "60"))
PER_AUDIO_S_MS = float(os.environ.get("BENCH_AUDIO_MS_PER_AUDIO_S", "10"))
CONCURRENCY = 8
TARGET = 0.3


def main() -> int:
    t_gen = time.perf_counter()
    wav = speechlike_wav(MINUTES)
    gen_s = time.perf_counter() - t_gen
    body, ctype = multipart({"tasks": "transcribe"}, "file", "meeting.wav", wav, "audio/wav")
    details: dict = {"audio_minutes": MINUTES, "wav_bytes": len(wav), "generate_s": round(gen_s, 2),
                     "stub_latency_per_audio_second_ms": PER_AUDIO_S_MS,
                     "worker_concurrency": CONCURRENCY}
    with ScratchStack("long-audio", stub_latency_ms=0,
               stub_latency_per_audio_second_ms=PER_AUDIO_S_MS) as st:
        cfg = st.cfg()
        worker = st.worker(cfg, queues="audio,moderation", concurrency=CONCURRENCY)
        api = st.gunicorn("app:app", cfg, "api")
        # Warm-up: a worker's first transcription builds the openai client (imports ~2 s);
        # a production worker has done that long ago. A 20 s clip (not chunked) does it here.
        warm_body, warm_ctype = multipart({"tasks": "transcribe"}, "file", "warm.wav",
                                          speechlike_wav(20 / 60), "audio/wav")
        wc = KeepAlive("127.0.0.1", api.port, timeout=60)
        status, raw, _ = wc.request("POST", "/v1/jobs", warm_body, {"Content-Type": warm_ctype})
        if status != 202:
            raise BenchError(f"warm-up submit answered {status}: {raw[:300]!r}")
        import json

        warm_id = json.loads(raw)["id"]
        wait_until(lambda: wc.json("GET", f"/v1/jobs/{warm_id}")[1].get("status") in (
            "succeeded", "failed"), 60, 0.1, "the warm-up transcription")
        wc.close()
        st.stub.reset()  # count only the measured job's upstream requests
        details["before"] = wait_for_quiet([worker.pid, st.stub.pid, os.getpid(),
                                            *api.pids()])
        c = KeepAlive("127.0.0.1", api.port, timeout=120)
        prof = profiled("long_audio", {"worker": worker.pid, "stub": st.stub.pid,
                                       **{f"api-{n}": p for n, p in enumerate(api.pids()[1:])}},
                        20)
        prof.__enter__()
        t0 = time.monotonic()
        status, raw, _ = c.request("POST", "/v1/jobs", body, {"Content-Type": ctype})
        t_submitted = time.monotonic()
        if status != 202:
            raise BenchError(f"submit answered {status}: {raw[:300]!r}")
        job_id = json.loads(raw)["id"]
        del body
        deadline = time.monotonic() + 240
        job = {}
        while time.monotonic() < deadline:
            status, job = c.json("GET", f"/v1/jobs/{job_id}")
            if job.get("status") in ("succeeded", "failed", "canceled"):
                break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        prof.__exit__(None, None, None)
        if job.get("status") != "succeeded":
            raise BenchError(f"job ended {job.get('status')}: {job.get('error')}")
        tr = job["results"]["transcription"]
        chunks = tr.get("chunks") or []
        if len(chunks) < 2:
            raise BenchError(f"the job was not chunked: {chunks}")
        reqs = st.stub.requests("/v1/audio/transcriptions")
        worker_wall = (iso_ms(job["finished_at"]) - iso_ms(job["created_at"])) / 1000
        details.update(job_wall_s=round(wall, 3), submit_s=round(t_submitted - t0, 3),
                       created_to_finished_s=round(worker_wall, 3),
                       chunks=chunks, chunk_count=len(chunks),
                       upstream_requests=len(reqs), transcript_chars=len(tr.get("text") or ""),
                       segments=len(tr.get("segments") or []),
                       job_timestamps={k: job.get(k) for k in ("created_at", "started_at",
                                                               "finished_at")})
        print(f"job: {wall:.2f} s wall, {len(chunks)} chunks", flush=True)

        # Baseline: the same chunks, sequentially, through the same provider class.
        from mmservice import config as mms_config
        from mmservice.media.audio import Chunk, export_chunk, load_audio
        from mmservice.providers.openai_provider import OpenAITranscription

        provider = OpenAITranscription(mms_config.load(dict(cfg), environ={}))
        segment = load_audio(wav, "audio/wav", sample_rate=16000, channels=1)
        lat = []
        for i, ch in enumerate(chunks):
            audio, name = export_chunk(segment, Chunk(ch["start_s"], ch["end_s"], i))
            t = time.perf_counter()
            provider.transcribe(audio, name, language=None, prompt=None)
            lat.append(time.perf_counter() - t)
        seq = sum(lat)
        details.update(sequential_chunk_latencies_s=[round(x, 3) for x in lat],
                       sequential_sum_s=round(seq, 3),
                       ideal_parallel_s=round(max(lat), 3))
    ratio = round(wall / seq, 3)
    details["ratio"] = ratio
    details["ratio_created_to_finished"] = round(worker_wall / seq, 3)
    print(details, flush=True)
    results = [result("long_audio_wall_ratio", ratio, "x sequential sum of chunk latencies",
                      f"sequential {seq:.2f} s over {len(chunks)} chunks; job wall {wall:.2f} s "
                      f"incl. {details['submit_s']:.2f} s upload (created->finished "
                      f"{worker_wall:.2f} s; longest chunk {max(lat):.2f} s)", f"<= {TARGET}",
                      ratio <= TARGET)]
    return report("long_audio", results, details, ratio)


if __name__ == "__main__":
    main_guard(main)
