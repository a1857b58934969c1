"""How many worker processes `make run` starts and which queues each consumes.

Why several processes: one Python process runs on one core (the GIL), so one threads worker
drawing 32 concurrent upstream calls left the second core idle (issue 20). Why not every queue
everywhere: the offline engines of `audio` (Whisper) and `vision` (OCR, NudeNet) take hundreds
of MB per process and gain little from copies, so the queues in `MMS_WORKER_SINGLE_QUEUES` are
consumed by the first process only, while the light queues (moderation, webhooks) scale over
all of them. Every process talks to the same broker; nothing else is shared.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

ALL_QUEUES = ("moderation", "vision", "audio", "webhooks")


@dataclass(frozen=True)
class WorkerSlot:
    index: int  # 1-based
    queues: str  # comma-separated

    @property
    def node(self) -> str:
        return f"mms-worker{self.index}@%h"


def processes(cfg: dict, cores: int | None = None) -> int:
    """`MMS_WORKER_PROCESSES`, or one per core when it is 0."""
    wanted = int(cfg.get("WORKER_PROCESSES") or 0)
    return wanted if wanted > 0 else max(1, cores or os.cpu_count() or 1)


def plan(cfg: dict, cores: int | None = None) -> list[WorkerSlot]:
    """Process 1 consumes every queue; processes 2..N the queues not kept single. When every
    queue is kept single there is nothing to scale, and one process is started."""
    single = {q for q in str(cfg.get("WORKER_SINGLE_QUEUES") or "").split(",") if q}
    light = [q for q in ALL_QUEUES if q not in single]
    n = processes(cfg, cores) if light else 1
    slots = [WorkerSlot(1, ",".join(ALL_QUEUES))]
    slots += [WorkerSlot(i, ",".join(light)) for i in range(2, n + 1)]
    return slots


def memory_report(workers: list[tuple[WorkerSlot, int]]) -> str:
    """One line per worker process: its queues and resident memory (the offline engines'
    models are most of it once warm), so an operator sees what each extra process costs."""
    import psutil

    lines = []
    for slot, pid in workers:
        try:
            rss = psutil.Process(pid).memory_info().rss / 1e6
            lines.append(f"  worker {slot.index} (pid {pid}) {rss:6.0f} MB  queues {slot.queues}")
        except psutil.Error:
            lines.append(f"  worker {slot.index} (pid {pid}) gone  queues {slot.queues}")
    return "worker processes (resident memory):\n" + "\n".join(lines)
