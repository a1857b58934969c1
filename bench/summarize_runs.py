"""Median and range of each figure over several `bench/run_all.py` runs.

Why: on the shared 2-core reference machine the same code measured up to ~40-70 % more CPU per
job from one run to the next (BENCHMARKS.md, "Run-to-run variation"), so one run's figure can
land on either side of a target. BENCHMARKS.md reports the median of several runs with their
range; this prints that table from the runs' `results.json` copies.

    .venv/bin/python bench/summarize_runs.py bench/runs/*.json
"""
from __future__ import annotations

import json
import statistics
import sys


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    runs = [json.load(open(p)) for p in paths]
    names = [r["name"] for r in runs[0]]
    print(f"| figure | median of {len(runs)} | each run | target | met (runs) |")
    print("|---|---|---|---|---|")
    for name in names:
        rows = [next((r for r in run if r["name"] == name), None) for run in runs]
        values = [r["value"] for r in rows if r and r["value"] is not None]
        if not values:
            continue
        met = [r["met"] for r in rows if r and r["met"] is not None]
        target = next(r["target"] for r in rows if r)
        med = statistics.median(values)
        print(f"| {name} | {round(med, 4):g} | {', '.join(f'{v:g}' for v in values)} | "
              f"{target} | {f'{sum(met)}/{len(met)}' if met else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
