"""Summaries of py-spy `--format raw` (collapsed stacks): where the CPU time goes.

`python bench/_profile.py FILE [FILE...]` prints, for each file, the frames with the most self
samples (the code on CPU) and the project frames (mmservice/, workers/, app.py) with the most
inclusive samples, each as `function (file:line)`.
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DIRS = ("mmservice/", "workers/", "app.py", "bench/")
_PROJECT = tuple(f"({_ROOT}/{d}" for d in _DIRS) + tuple(f"({d}" for d in _DIRS)


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path}:{m['line']})"


def parse(path: str) -> tuple[Counter, Counter, int]:
    self_c: Counter = Counter()
    incl: Counter = Counter()
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or " " not in line:
                continue
            stack, _, count = line.rpartition(" ")
            try:
                n = int(count)
            except ValueError:
                continue
            frames = [fr for fr in stack.split(";") if fr and not fr.startswith(("process ",
                                                                                "thread "))]
            if not frames:
                continue
            total += n
            self_c[_short(frames[-1])] += n
            for fr in set(frames):
                if any(p in fr for p in _PROJECT):
                    incl[_short(fr)] += n
    return self_c, incl, total


def summarize_file(path: str, top: int = 25) -> str:
    self_c, incl, total = parse(path)
    out = [f"# {path}: {total} samples (on-CPU, py-spy raw)"]
    if not total:
        return out[0] + "\n"
    out.append(f"\n## top {top} self (leaf) frames")
    for fr, n in self_c.most_common(top):
        out.append(f"{100 * n / total:6.1f}%  {n:6d}  {fr}")
    out.append(f"\n## top {top} project frames, inclusive")
    for fr, n in incl.most_common(top):
        out.append(f"{100 * n / total:6.1f}%  {n:6d}  {fr}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(summarize_file(p))
