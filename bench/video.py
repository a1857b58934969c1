"""Issue 19 - video: a generated 720p video (default 10 minutes at 25 fps, a cut every 7 s
between a moving test pattern, colour fields and noise, a tone soundtrack) through the video
path.

1. Decode + keyframe selection (`mmservice.video.keyframes.extract`, one ffmpeg pass with
   `-threads 1`): its CPU seconds (the child's rusage) / the video's duration. Target <= 0.15
   (real time on one core). Baseline, same run: a bare decode of the same file to nowhere
   (`-f null`, one thread), the floor any keyframe selection pays.
2. Memory: the ffmpeg child's peak RSS for the full video and for its first fifth (a
   shorter video made the same way); target: growth < 200 MB whatever the length, i.e. the peak
   does not grow with the length.
3. The whole job (`POST /v1/jobs` -> result by polling) against the upstream stub, one worker
   (8 threads) on every queue: its wall time / the slowest single step measured in the same
   run, in-process and one after another: (a) decode + keyframes, (b) the soundtrack (extract,
   transcribe, moderate), (c) every keyframe judged (image + OCR + text moderation), one after
   another (the offline OCR runs one call at a time per process, so this is what one worker
   does with them). Target <= 1.3. An A/B in the same run: the same upload as two jobs, A with
   the keyframes published once the decode has ended (`MMS_VIDEO_STREAM_KEYFRAMES=false`, the
   order before), B while ffmpeg decodes (the default, the reported figure); each with its
   timeline from the records (POST, split start and end, first and last part started,
   finished) and how many parts started while the decode still ran.

Last line: the decode ratio. BENCH_VIDEO_MINUTES sets the length.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._http import KeepAlive, multipart  # noqa: E402
from bench._machine import MachineLoad, wait_for_quiet  # noqa: E402
from bench._report import BenchError, main_guard, report, result  # noqa: E402
from bench._submit import iso_ms  # noqa: E402
from mmservice.testing.stack import ScratchStack  # noqa: E402

MINUTES = float(os.environ.get("BENCH_VIDEO_MINUTES", "10"))
SCENE_S = 7
DECODE_TARGET, JOB_TARGET, RSS_TARGET_MB = 0.15, 1.3, 200


def make_video(path: str, seconds: float) -> None:
    """Scenes cycling test pattern / colour / noise, each SCENE_S long, H.264 + AAC tone."""
    import imageio_ffmpeg

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    sources = ["testsrc2=size=1280x720:rate=25", "color=c=navy:size=1280x720:rate=25",
               "cellauto=s=1280x720:rate=25", "smptebars=size=1280x720:rate=25"]
    n = max(1, int(seconds // SCENE_S))
    args, chains = [], ""
    for i in range(n):
        args += ["-f", "lavfi", "-t", str(SCENE_S), "-i", sources[i % len(sources)]]
        chains += f"[{i}:v]format=yuv420p,setsar=1[v{i}];"
    graph = chains + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    subprocess.run([ff, "-y", "-loglevel", "error", *args, "-f", "lavfi", "-i",
                    "sine=frequency=300:sample_rate=16000", "-filter_complex", graph,
                    "-map", "[v]", "-map", f"{n}:a", "-t", str(n * SCENE_S), "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "250", "-c:a", "aac", "-b:a", "48k", path],
                   check=True, timeout=1800)


def child_cpu_and_rss(fn):
    """(result, wall s, child CPU s, child peak RSS MB) of `fn`, which runs one ffmpeg."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, cpu, after.ru_maxrss / 1024


def main() -> int:
    from mmservice import config
    from mmservice.media import video as vmedia
    from mmservice.video.keyframes import extract

    cfg = dict(config.DEFAULTS)
    details: dict = {"minutes": MINUTES}
    tmp = tempfile.mkdtemp(prefix="bench-video-")
    full, short = os.path.join(tmp, "full.mp4"), os.path.join(tmp, "short.mp4")
    t = time.perf_counter()
    make_video(full, MINUTES * 60)
    make_video(short, MINUTES * 12)
    details["generate_s"] = round(time.perf_counter() - t, 1)
    duration = float(vmedia.streams(full, "video/mp4", cfg)["declared_s"])
    details["duration_s"] = duration
    details["before"] = wait_for_quiet([os.getpid()])
    load = MachineLoad([os.getpid()])
    # RSS of each phase is measured in its own child process so ru_maxrss is that phase's.
    _, bare_wall, bare_cpu, _ = child_cpu_and_rss(lambda: vmedia.run_bounded(
        ["-threads", "1", *vmedia.input_args(full, "video/mp4", cfg), "-map", "0:v:0",
         "-f", "null", "-"], timeout=1800, memory_mb=1024))
    frames, kf_wall, kf_cpu, _ = child_cpu_and_rss(lambda: extract(full, "video/mp4",
                                                                   duration, cfg))
    details["machine"] = load.done()
    peak_full = _peak_rss_of_extract(full, duration)
    peak_short = _peak_rss_of_extract(short, duration / 5)
    decode_ratio = round(kf_cpu / duration, 4)
    details.update(bare_decode_cpu_s=round(bare_cpu, 2), bare_decode_wall_s=round(bare_wall, 2),
                   keyframes_cpu_s=round(kf_cpu, 2), keyframes_wall_s=round(kf_wall, 2),
                   keyframes=len(frames), ffmpeg_peak_rss_mb={"full": peak_full,
                                                              "fifth": peak_short})
    print(details, flush=True)
    job = _whole_job(full, cfg, details)
    results = [
        result("video_decode_keyframes_cpu_ratio", decode_ratio, "x real time (CPU, 1 thread)",
               f"bare decode {bare_cpu / duration:.4f}x; keyframes wall {kf_wall:.1f} s for "
               f"{duration:.0f} s", f"<= {DECODE_TARGET}", decode_ratio <= DECODE_TARGET),
        result("video_decode_rss_growth_mb", round(peak_full - peak_short, 1), "MB",
               f"ffmpeg peak {peak_short:.0f} MB for a fifth of the length",
               f"< {RSS_TARGET_MB}", peak_full - peak_short < RSS_TARGET_MB),
        result("video_job_wall_ratio", job["ratio"], "x slowest single step",
               job["baseline"], f"<= {JOB_TARGET}", job["ratio"] <= JOB_TARGET),
        result("video_job_wall_ratio_serial", job["serial_ratio"], "x slowest single step",
               "A of the A/B: keyframes published once the decode ended (the order before)",
               f"<= {JOB_TARGET}", job["serial_ratio"] <= JOB_TARGET),
    ]
    return report("video", results, details, decode_ratio)


def _peak_rss_of_extract(path: str, duration: float) -> float:
    code = ("import resource,sys; from mmservice import config; "
            "from mmservice.video.keyframes import extract; "
            f"extract({path!r}, 'video/mp4', {duration}, dict(config.DEFAULTS)); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         timeout=1800, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)


def _whole_job(path: str, cfg0: dict, details: dict) -> dict:
    """The same upload as two jobs on one stack, each with a fresh worker: A with the keyframes
    published once the decode has ended (`VIDEO_STREAM_KEYFRAMES=false`, the serial order this
    change replaced), B with them published while ffmpeg decodes (the default)."""
    with open(path, "rb") as fh:
        data = fh.read()
    body, ctype = multipart({}, "file", "v.mp4", data, "video/mp4")
    runs: dict[str, dict] = {}
    with ScratchStack("video", stub_latency_ms=20) as st:
        cfg = st.cfg(MAX_VIDEO_DURATION_S=7200, JOB_DEADLINE_S=3600)
        api = st.gunicorn("app:app", cfg, "api")
        c = KeepAlive("127.0.0.1", api.port, timeout=300)
        r = st.redis_client()
        for mode, streamed in (("serial", False), ("streamed", True)):
            worker = st.worker({**cfg, "VIDEO_STREAM_KEYFRAMES": streamed}, concurrency=8,
                               name=mode)
            assert st.stub is not None
            load = MachineLoad([worker.pid, st.stub.pid, os.getpid(), *api.pids()])
            runs[mode] = _one_job(c, r, body, ctype)
            runs[mode]["machine"] = load.done()
            # CPU the job's processes used (ffmpeg children included): on 2 cores, the job
            # cannot take less than half of it, however well decoding and judging overlap.
            runs[mode]["our_cpu_s"] = round(runs[mode]["machine"]["ours_cores"] *
                                            runs[mode]["machine"]["wall_s"], 1)
            st.stop(worker)
            print({mode: runs[mode]}, flush=True)
        steps = _steps_in_process(data, {**cfg0, **cfg})
    details["steps_s"] = steps
    details["jobs"] = runs
    slowest = max(v for k, v in steps.items() if k in ("decode_keyframes", "soundtrack",
                                                       "keyframes_judged"))
    a, b = runs["serial"]["wall_s"], runs["streamed"]["wall_s"]
    return {"ratio": round(b / slowest, 3), "serial_ratio": round(a / slowest, 3),
            "baseline": f"slowest step {slowest:.1f} s of {steps}; job {b:.1f} s streamed, "
                        f"{a:.1f} s serial ({a / slowest:.3f}x) in the same run"}


def _one_job(c: KeepAlive, r, body: bytes, ctype: str) -> dict:
    """POST, poll to the end; the wall time and where it went, from the job record and the
    fan-out hash's times (`mmservice.jobs.fanout_hash`)."""
    t0, e0 = time.monotonic(), time.time()
    status, raw, _ = c.request("POST", "/v1/jobs", body, {"Content-Type": ctype})
    post_s = time.monotonic() - t0
    if status != 202:
        raise BenchError(f"submit answered {status}: {raw[:300]!r}")
    job_id = json.loads(raw)["id"]
    job: dict = {}
    while time.monotonic() - t0 < 3000:
        _, job = c.json("GET", f"/v1/jobs/{job_id}")
        if job.get("status") in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    wall = time.monotonic() - t0
    if job.get("status") != "succeeded":
        raise BenchError(f"video job {job.get('status')}: {job.get('error')}")
    key = next(iter(r.scan_iter(f"*:fanout:{job_id}:moderate")))
    h = {k.decode(): v for k, v in r.hgetall(key).items()}
    leases = [json.loads(v) for k, v in h.items() if k.startswith("_run:")]
    split0, split1 = float(h["_split_started"]), float(h["_split_ended"])
    created, finished = iso_ms(job["created_at"]) / 1000, iso_ms(job["finished_at"]) / 1000
    return {"wall_s": round(wall, 2), "post_s": round(post_s, 2),
            "created_to_finished_s": round(finished - created, 2),
            "timeline_s": {  # seconds from the start of the POST
                "created": round(created - e0, 2), "split_started": round(split0 - e0, 2),
                "first_part_started": round(min(x["at"] for x in leases) - e0, 2),
                "split_ended": round(split1 - e0, 2),
                "last_part_started": round(max(x["at"] for x in leases) - e0, 2),
                "finished": round(finished - e0, 2)},
            "parts": len(leases),
            "parts_started_while_decoding": sum(1 for x in leases if x["split_open"]),
            "frames": job["results"]["moderation"]["frames"]}


def _steps_in_process(data: bytes, cfg: dict) -> dict[str, float]:
    """The job's steps one after another in this process, with the same provider classes."""
    from mmservice import config
    from mmservice.capabilities.transcribe import transcribe
    from mmservice.media.audio import export_chunk, load_audio, plan_chunks
    from mmservice.media.images import prepare_for_moderation
    from mmservice.providers.openai_provider import OpenAIModeration, OpenAITranscription
    from mmservice.video import parts
    from mmservice.video.keyframes import extract

    full = config.load(dict(cfg), environ={})
    out: dict[str, float] = {}
    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(data)
        fh.flush()
        t = time.perf_counter()
        frames = extract(fh.name, "video/mp4", float(cfg.get("BENCH_DURATION", 0)) or
                         MINUTES * 60, full)
        out["decode_keyframes"] = round(time.perf_counter() - t, 2)
    mod, asr = OpenAIModeration(full), OpenAITranscription(full)
    t = time.perf_counter()
    seg = load_audio(data, None, sample_rate=16000, channels=1)
    for ch in plan_chunks(seg, max_bytes=int(full["TRANSCRIPTION_MAX_UPLOAD_BYTES"]),
                          max_chunk_s=float(full["TRANSCRIPTION_MAX_CHUNK_S"])):
        audio, name = export_chunk(seg, ch)
        got = transcribe(audio, name, provider=asr)
        texts = [s["text"] for s in got["segments"] if s.get("text", "").strip()]
        if texts:
            mod.moderate_texts(texts)
    out["soundtrack"] = round(time.perf_counter() - t, 2)
    parts._ocr(frames[0].jpeg)  # the OCR model loads once per worker process, not per job
    each = []
    cpu0 = time.process_time()  # this process's threads: the OCR engine's pool included
    for f in frames:  # every keyframe, one after another: what one worker's OCR lock allows
        t = time.perf_counter()
        prepared, mime = prepare_for_moderation(f.jpeg, "image/jpeg")
        mod.moderate_image(prepared, mime)
        text = parts._ocr(f.jpeg)
        if text:
            mod.moderate_texts([text])
        each.append(time.perf_counter() - t)
    out["keyframes_judged"] = round(sum(each), 2)
    out["keyframes_judged_cpu"] = round(time.process_time() - cpu0, 2)
    out["one_keyframe_p50"] = round(sorted(each)[len(each) // 2], 3)
    return out


if __name__ == "__main__":
    main_guard(main)
