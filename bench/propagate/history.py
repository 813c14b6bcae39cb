"""Server-side timings of a workflow, read from its Temporal history.

The server-side duration is WorkflowExecutionStarted -> WorkflowExecutionUpdateCompleted (the
`first_pass` update answered; WorkflowExecutionCompleted when there is none). The critical path is
split into segments: the first workflow task, then per step (the activities scheduled by one
workflow task: 1, 2 in parallel, 1) the queue wait and run time of the activity that completed
last, and the workflow-task turn (WFT queue wait + WFT run) that schedules the next step or
answers the update.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass
class Activity:
    name: str
    scheduled: float
    wft_completed_id: int
    started: float | None = None
    completed: float | None = None
    attempt: int = 1


@dataclass
class Timeline:
    workflow_id: str
    started: float  # WorkflowExecutionStarted (epoch seconds, server clock)
    answered: float  # update completed (or workflow completed)
    segments: dict[str, float] = field(default_factory=dict)
    retried: bool = False
    events: int = 0
    history_bytes: int = 0

    @property
    def duration(self) -> float:
        return self.answered - self.started


async def timeline(client: Client, workflow_id: str) -> Timeline:
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    wft_started: dict[int, float] = {}
    wft_completed: dict[int, tuple[int, float]] = {}  # completed event id -> (started event id, time)
    activities: dict[int, Activity] = {}
    started = answered = completed = 0.0
    for e in events:
        t = e.event_time.ToNanoseconds() / 1e9
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_started[e.event_id] = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            wft_completed[e.event_id] = (e.workflow_task_completed_event_attributes.started_event_id, t)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            activities[e.event_id] = Activity(a.activity_type.name, t, a.workflow_task_completed_event_id)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            s = e.activity_task_started_event_attributes
            activities[s.scheduled_event_id].started = t
            activities[s.scheduled_event_id].attempt = s.attempt
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            activities[e.activity_task_completed_event_attributes.scheduled_event_id].completed = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED and not answered:
            answered = t
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            completed = t
    line = Timeline(workflow_id, started, answered or completed, events=len(events))
    line.history_bytes = sum(e.ByteSize() for e in events)
    line.retried = any(act.attempt > 1 for act in activities.values())

    def wft_split(completed_id: int, ready: float) -> tuple[float, float, float]:
        """(queue, run) of the workflow task that completed as `completed_id`, from `ready` on."""
        started_id, done = wft_completed[completed_id]
        return wft_started[started_id] - ready, done - wft_started[started_id], done

    steps: dict[int, list[Activity]] = defaultdict(list)
    for act in activities.values():
        steps[act.wft_completed_id].append(act)
    ready = started
    for n, (wft_id, group) in enumerate(sorted(steps.items()), start=1):
        queue, run, done = wft_split(wft_id, ready)
        label = "first WFT" if n == 1 else f"WFT turn {n - 1}"
        line.segments[f"{label}: queue"] = queue
        line.segments[f"{label}: run"] = run + (group[0].scheduled - done)
        last = max(group, key=lambda a: a.completed or 0.0)
        names = "+".join(sorted({a.name for a in group})) + (f" x{len(group)}" if len(group) > 1 else "")
        if last.started is None or last.completed is None:
            return line  # a step did not finish (failed run); no breakdown
        line.segments[f"step {n} ({names}): queue"] = last.started - last.scheduled
        line.segments[f"step {n} ({names}): run"] = last.completed - last.started
        ready = last.completed
    # The workflow task that answers the update.
    answer_wft = [cid for cid, (_, t) in wft_completed.items() if t >= ready]
    if answer_wft and answered:
        queue, run, _ = wft_split(min(answer_wft), ready)
        line.segments["answer WFT: queue"] = queue
        line.segments["answer WFT: run"] = run
        line.segments["answer WFT: to update completed"] = answered - wft_completed[min(answer_wft)][1]
    return line


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def segment_medians(lines: list[Timeline]) -> dict[str, float]:
    """p50 of each critical-path segment, in the order the segments occur."""
    order: list[str] = []
    values: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        for name, value in line.segments.items():
            if name not in values:
                order.append(name)
            values[name].append(value)
    return {name: p50(values[name]) for name in order}


def summarise(lines: list[Timeline]) -> dict[str, Any]:
    durations = [line.duration for line in lines]
    return {"n": len(lines), "p50": p50(durations), "p99": percentile(durations, 99)}
