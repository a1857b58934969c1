"""The one table of job steps. Adding a step (video keyframes, OCR text) is one entry here and
one adapter function; the API's validation, the pipeline's order, routing to queues, Celery task
names, usage accounting and readiness all read this table.

Words: a *task* is what a client asks for (`"tasks": ["moderate"]`); the job runs one *step* per
task; a step uses one provider *capability*. A step's name is its task's name.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmservice.errors import Invalid

INPUT_KINDS = ("text", "image", "audio", "video")


@dataclass(frozen=True)
class Step:
    name: str
    queue: str
    capability: str  # the provider capability it calls (mmservice.providers)
    result_key: str  # where its result lands in the job's `results`
    applies_to: frozenset[str]  # input kinds; "text" also means "the job carries text"
    default_for: frozenset[str] = frozenset()  # input kinds that get it when no task is named
    needs: dict[str, str] = field(default_factory=dict)  # input kind -> step to run first
    adapter: str = ""  # module with run(job, deps) [and split/run_part/stitch for fan-out]
    part_noun: str = "parts"  # what a fan-out part is called in errors (failed_<noun>)

    @property
    def task_name(self) -> str:
        return f"mms.{self.name}"

    def module(self) -> Any:
        return importlib.import_module(self.adapter)

    @property
    def run(self) -> Callable[[dict, Any], Any]:
        return self.module().run


STEPS: tuple[Step, ...] = (
    Step("transcribe", queue="audio", capability="transcription", result_key="transcription",
         applies_to=frozenset({"audio"}), default_for=frozenset({"audio"}),
         adapter="mmservice.steps.transcribe", part_noun="chunks"),
    Step("moderate", queue="moderation", capability="moderation", result_key="moderation",
         applies_to=frozenset(INPUT_KINDS), default_for=frozenset(INPUT_KINDS),
         needs={"audio": "transcribe"}, adapter="mmservice.steps.moderate"),
    Step("describe", queue="vision", capability="vision", result_key="description",
         applies_to=frozenset({"image"}), adapter="mmservice.steps.describe"),
    Step("speak", queue="audio", capability="speech", result_key="speech",
         applies_to=frozenset({"text"}), adapter="mmservice.steps.speak"),
)
BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
QUEUES: tuple[str, ...] = tuple(dict.fromkeys(s.queue for s in STEPS))
FANOUT_TASK = "mms.fanout_part"


def get(name: str) -> Step:
    return BY_NAME[name]


def plan_tasks(requested: list[str] | None, kind: str, *, has_text: bool) -> list[str]:
    """The steps a new job runs, in pipeline order: the requested tasks (or the input's
    defaults), refused when one does not apply, plus what they need first."""
    tasks = list(requested or [s.name for s in STEPS if kind in s.default_for])
    allowed = {s.name for s in STEPS
               if kind in s.applies_to or (has_text and "text" in s.applies_to)}
    for t in tasks:
        if t not in allowed:
            raise Invalid(f"task {t!r} does not apply to {kind} input (allowed: "
                          f"{', '.join(sorted(allowed))})", code="task_not_applicable",
                          field="tasks")
    for t in list(tasks):
        need = BY_NAME[t].needs.get(kind)
        if need and need not in tasks:
            tasks.append(need)  # e.g. moderating audio means moderating its transcript
    return [s.name for s in STEPS if s.name in tasks]
