"""Issue 19 - the keyframe pass alone, A/B: the chain before `VIDEO_SCORE_FPS` (every decoded
frame scaled with `fast_bilinear`, then scored) against today's `keyframes.filter_chain`, on the
same files, alternating, in one process (this 2-core machine is shared and its CPU figures are
noisy: rounds alternate old/new and the minimum and median of each are reported).

Clips, made here with the ffmpeg binary (1280x720):
- `bench`: `bench/video.py`'s video (a cut every 7 s through a test pattern, a colour field,
  `cellauto` noise and colour bars; x264 `ultrafast`, 25 fps), BENCH_VIDEO_MINUTES long (2);
- `flash`: one-frame red and white flashes on odd frames inside a moving pattern, then a cut
  out of `cellauto` noise (what skipping frames, or scoring full-size frames, would miss);
- `motion`: zooming, `life` and a moving pattern at 30 fps, x264 `veryfast` (B-frames and the
  loop filter, as in most real files): cuts must not multiply under motion.

Per clip and chain: the ffmpeg child's CPU seconds (rusage) per second of video, the keyframes'
times, and for the new chain which old keyframes have no new one within two frames (`missing`)
and the reverse (`extra`); `cuts_found` counts the clip's known cuts (as planned: a source's
frame count can round by one) with a keyframe within two frames of them. Last line: new / old
CPU on the `bench` clip (median of the rounds).
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._machine import MachineLoad, wait_for_quiet  # noqa: E402
from bench._report import main_guard, report, result  # noqa: E402

MINUTES = float(os.environ.get("BENCH_VIDEO_MINUTES", "2"))
ROUNDS = int(os.environ.get("BENCH_KEYFRAMES_ROUNDS", "3"))
SIZE = "1280x720"


def old_chain(side: int, expr: str) -> str:
    """The `-vf` of `keyframes.stream` before `filter_chain` (commit 6c0244e)."""
    return (f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease"
            f":flags=fast_bilinear,select='{expr}',showinfo")


def _encode(path: str, scenes: list[tuple[float, str]], fps: int, preset: str) -> list[float]:
    """`scenes` (seconds, lavfi source) joined into one H.264 file; returns the cut times."""
    from mmservice.media import ffmpeg as ff

    args, chains, cuts, t = [], "", [], 0.0
    for i, (seconds, src) in enumerate(scenes):
        spec = f"{src}{':' if '=' in src else '='}size={SIZE}:rate={fps}"
        args += ["-f", "lavfi", "-t", f"{seconds:.3f}", "-i", spec]
        chains += f"[{i}:v]format=yuv420p,setsar=1[v{i}];"
        if i:
            cuts.append(round(t, 3))
        t += seconds
    graph = chains + "".join(f"[v{i}]" for i in range(len(scenes))) + \
        f"concat=n={len(scenes)}:v=1:a=0[v]"
    subprocess.run([ff.ffmpeg_exe(), "-y", "-loglevel", "error", *args, "-filter_complex", graph,
                    "-map", "[v]", "-c:v", "libx264", "-preset", preset, path],
                   check=True, timeout=1800)
    return cuts


def make_clips(tmp: str) -> dict[str, dict]:
    from bench.video import SCENE_S, make_video

    bench = os.path.join(tmp, "bench.mp4")
    make_video(bench, MINUTES * 60)
    n = max(1, int(MINUTES * 60 // SCENE_S))
    frame = 1 / 25
    flash = [(5.0, "testsrc2"), (frame, "color=c=red"), (5.0, "testsrc2"), (frame, "color=c=white"),
             (5.0, "cellauto"), (5.0, "smptebars")]
    motion = [(8.0, "mandelbrot"), (8.0, "life=mold=10:ratio=0.5"), (8.0, "testsrc2"),
              (8.0, "mandelbrot=start_scale=1"), (8.0, "testsrc")]
    clips = {"bench": {"path": bench, "fps": 25, "seconds": n * SCENE_S,
                       "cuts": [float(i * SCENE_S) for i in range(1, n)]}}
    for name, scenes, fps, preset in (("flash", flash, 25, "ultrafast"),
                                      ("motion", motion, 30, "veryfast")):
        path = os.path.join(tmp, f"{name}.mp4")
        cuts = _encode(path, scenes, fps, preset)
        clips[name] = {"path": path, "fps": fps, "seconds": sum(s for s, _ in scenes),
                       "cuts": cuts}
    return clips


def run_chain(path: str, chain: str, cfg: dict) -> tuple[float, list[float], int]:
    """(the ffmpeg child's CPU seconds, keyframe times, JPEG bytes) of one keyframe pass."""
    from mmservice.media import ffmpeg as ff
    from mmservice.video.keyframes import _PTS_RE, ffmpeg_args

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([ff.ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats",
                           *ffmpeg_args(path, "video/mp4", chain, cfg)],
                          capture_output=True, timeout=1800, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    times = [float(m.group(1)) for m in _PTS_RE.finditer(proc.stderr)]
    return cpu, times, len(proc.stdout)


def compare(old: list[float], new: list[float], cuts: list[float], fps: int) -> dict:
    near = 2 / fps + 1e-3
    missing = [t for t in old if not any(abs(t - u) <= near for u in new)]
    extra = [u for u in new if not any(abs(t - u) <= near for t in old)]

    def found(times: list[float]) -> int:
        return sum(any(abs(u - c) <= near for u in times) for c in cuts)

    return {"old_keyframes": len(old), "new_keyframes": len(new), "missing": missing,
            "extra": extra, "cuts": len(cuts), "cuts_found_old": found(old),
            "cuts_found_new": found(new)}


def main() -> int:
    from mmservice import config

    cfg = dict(config.DEFAULTS)
    tmp = tempfile.mkdtemp(prefix="bench-keyframes-")
    try:
        return _measure(cfg, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(cfg: dict, tmp: str) -> int:
    from mmservice.video.keyframes import filter_chain, interval_for, select_expr

    t = time.perf_counter()
    clips = make_clips(tmp)
    details: dict = {"minutes": MINUTES, "rounds": ROUNDS,
                     "generate_s": round(time.perf_counter() - t, 1), "clips": {}}
    details["before"] = wait_for_quiet([os.getpid()])
    load = MachineLoad([os.getpid()])
    side = int(cfg["VIDEO_FRAME_MAX_SIDE"])
    for name, clip in clips.items():
        seconds = clip["seconds"]
        expr = select_expr(interval_for(seconds, cfg), float(cfg["VIDEO_SCENE_THRESHOLD"]),
                           float(cfg["VIDEO_MIN_SCENE_S"]))
        chains = {"old": old_chain(side, expr), "new": filter_chain(cfg, seconds)}
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        times: dict[str, list[float]] = {}
        jpeg_bytes: dict[str, int] = {}
        for r in range(ROUNDS):
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                c, ts, size = run_chain(clip["path"], chains[which], cfg)
                cpu[which].append(c)
                times[which], jpeg_bytes[which] = ts, size
        per_s = {k: {"min": round(min(v) / seconds, 4),
                     "median": round(statistics.median(v) / seconds, 4)} for k, v in cpu.items()}
        clip_out = {"seconds": seconds, "fps": clip["fps"], "chains": chains,
                    "cpu_s": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
                    "cpu_per_video_s": per_s,
                    "new_over_old": round(statistics.median(cpu["new"])
                                          / statistics.median(cpu["old"]), 3),
                    "jpeg_bytes": jpeg_bytes, "times": times,
                    **compare(times["old"], times["new"], clip["cuts"], clip["fps"])}
        details["clips"][name] = clip_out
        print(name, {k: v for k, v in clip_out.items() if k not in ("chains", "times")},
              flush=True)
    details["machine"] = load.done()
    b = details["clips"]["bench"]
    results = [
        result("keyframes_cpu_new_over_old", b["new_over_old"], "x (median CPU, bench clip)",
               f"old {b['cpu_per_video_s']['old']['median']} CPU s per video second", "< 1",
               b["new_over_old"] < 1),
        result("keyframes_cuts_found", sum(c["cuts_found_new"] for c in details["clips"].values()),
               "cuts", f"old chain {sum(c['cuts_found_old'] for c in details['clips'].values())}"
               f" of {sum(c['cuts'] for c in details['clips'].values())}", ">= old",
               all(c["cuts_found_new"] >= c["cuts_found_old"]
                   for c in details["clips"].values())),
    ]
    return report("video_keyframes", results, details, b["new_over_old"])


if __name__ == "__main__":
    main_guard(main)
