"""The parts of a video job put back on one timeline: `segments`, the whole-video verdict and
the list matches across frames.

Why adjacent keyframes with the same verdict and categories become one segment: a keyframe
stands for the video until the next one, and a ten-minute video has hundreds; a reviewer wants
"20.0-30.0 s: violence", not fifty rows saying the same. Each segment still names its frames
(`frames`) and its worst one (`frame`: index and time), whose thumbnail is an artifact.

The whole-video verdict (`verdict_rule`): `worst` (default) is the most severe segment;
`share` counts a verdict only when at least `review_share` / `block_share` of the judged items
(keyframes and spoken segments) reach it, so one borderline frame in an hour does not block.
A list hit in a frame decides like a list hit in an image (block > review); an allow-list hit
on one frame does not allow the whole video.
"""
from __future__ import annotations

from typing import Any

SEVERITY = {"allow": 0, "review": 1, "block": 2}
VERDICTS = ("allow", "review", "block")


def _worse(a: str, b: str) -> str:
    return a if SEVERITY[a] >= SEVERITY[b] else b


def _top(scores: dict[str, float]) -> float:
    return max(scores.values(), default=0.0)


def frame_segments(frames: list[dict[str, Any]], duration_s: float,
                   frames_url: str) -> list[dict[str, Any]]:
    """Keyframes (sorted by time) -> merged `source: frame` segments."""
    out: list[dict[str, Any]] = []
    for n, f in enumerate(frames):
        end = frames[n + 1]["t"] if n + 1 < len(frames) else max(duration_s, f["t"])
        key = (f["verdict"], tuple(f["categories"]))
        last = out[-1] if out else None
        if last is not None and last["_key"] == key:
            last["end_s"] = round(end, 3)
            last["frames"].append(f["index"])
            for c, s in f["category_scores"].items():
                last["category_scores"][c] = max(last["category_scores"].get(c, 0.0), s)
            if _top(f["category_scores"]) > last["_top"]:
                last["frame"], last["_top"] = {"index": f["index"], "time_s": f["t"]}, \
                    _top(f["category_scores"])
            continue
        seg = {"_key": key, "_top": _top(f["category_scores"]), "source": "frame",
               "start_s": f["t"], "end_s": round(end, 3), "verdict": f["verdict"],
               "flagged": f["flagged"],
               "categories": {c: c in f["categories"] for c in f["category_scores"]},
               "category_scores": dict(f["category_scores"]),
               "frame": {"index": f["index"], "time_s": f["t"]}, "frames": [f["index"]]}
        out.append(seg)
    for seg in out:
        seg.pop("_key"), seg.pop("_top")
        if seg["flagged"]:
            seg["thumbnail_url"] = f"{frames_url}/{seg['frame']['index']}"
    return out


def audio_segments(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spoken segments of every chunk on the video's timeline; a segment repeated in the
    overlap of two fixed-window chunks is kept once."""
    out: list[dict[str, Any]] = []
    for chunk in sorted(chunks, key=lambda c: c["start_s"]):
        for s in chunk["segments"]:
            if out and s["start_s"] < out[-1]["end_s"] - 0.5 and s["text"] == out[-1]["text"]:
                continue
            out.append({"source": "audio", "start_s": s["start_s"], "end_s": s["end_s"],
                        "verdict": s["verdict"], "flagged": s["flagged"], "text": s["text"],
                        "categories": {c: c in s["categories"] for c in s["category_scores"]},
                        "category_scores": dict(s["category_scores"])})
    return out


def whole_verdict(items: list[dict[str, Any]], rule: dict[str, Any]) -> str:
    """The video's verdict from its judged items (keyframes and spoken segments)."""
    if not items:
        return "allow"
    if rule.get("rule", "worst") != "share":
        verdict = "allow"
        for i in items:
            verdict = _worse(verdict, i["verdict"])
        return verdict
    n = len(items)
    blocked = sum(1 for i in items if i["verdict"] == "block") / n
    reviewed = sum(1 for i in items if i["verdict"] in ("review", "block")) / n
    if blocked >= float(rule.get("block_share", 0.1)):
        return "block"
    if reviewed >= float(rule.get("review_share", 0.02)):
        return "review"
    return "allow"


def _ranges(spans: list[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1] + 1e-6:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [[round(s, 3), round(e, 3)] for s, e in merged]


def list_matches(frames: list[dict[str, Any]], duration_s: float) -> list[dict[str, Any]]:
    """Per list item hit in any keyframe: its action, the share of keyframes it matched and
    the time ranges of those keyframes (a keyframe covers the time until the next one)."""
    ends = {f["index"]: (frames[n + 1]["t"] if n + 1 < len(frames) else max(duration_s, f["t"]))
            for n, f in enumerate(frames)}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in frames:
        for h in f.get("hits") or ():
            key = (h["list"], str(h["item_id"]), h.get("input", "image"))
            got = found.setdefault(key, {
                "list": h["list"], "kind": h["kind"], "action": h["action"],
                "item_id": h["item_id"], "input": "frame" if h["kind"] != "terms" else "ocr",
                "metadata": h.get("metadata") or {}, "_frames": [], "_spans": []})
            if f["index"] not in got["_frames"]:
                got["_frames"].append(f["index"])
                got["_spans"].append((f["t"], ends[f["index"]]))
            if "distance" in h:
                got["distance"] = min(got.get("distance", 256), h["distance"])
    out = []
    total = max(1, len(frames))
    for got in found.values():
        idx, spans = got.pop("_frames"), got.pop("_spans")
        got.update(frames=len(idx), share=round(len(idx) / total, 4),
                   frame_indexes=sorted(idx)[:50], time_ranges=_ranges(spans))
        out.append(got)
    return sorted(out, key=lambda h: (-SEVERITY[h["action"]], -h["share"]))


def list_decision(hits: list[dict[str, Any]]) -> str | None:
    """block > review among the hits; allow hits do not decide a whole video."""
    acts = [h["action"] for h in hits if h["action"] != "allow"]
    return max(acts, key=lambda a: SEVERITY[a]) if acts else None
