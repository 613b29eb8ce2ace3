"""The protocol as a flat, deterministic list of events (no dolfinx here).

A run processes these events in order; a checkpoint records the index of the last event done,
so a resumed run skips exactly the events already processed.

    start   a stage begins: its operators, events such as saturation, restart of the stepper
    output  integrate to t, record a row
    pulse   integrate to t, apply a pulse of the intermittent source, restart the stepper
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .case.limits import MAX_PULSES
from .errors import CaseError
from .model import StageSpec, stage_boundaries


@dataclass(frozen=True)
class Event:
    kind: str
    stage: int
    t: float
    first_pulse: bool = False


def protocol_events(stages: Sequence[StageSpec]) -> list[Event]:
    """Events of all stages in time order (an output at a pulse's time comes first).

    CaseError when a stage would have more than MAX_PULSES pulses (the list would not fit in
    memory; case files are checked for this when they are loaded)."""
    for i, stage in enumerate(stages):
        if stage.pulsed and not stage.duration * stage.pulse_rate <= MAX_PULSES:
            raise CaseError(f"protocol.stages[{i}].pulses.rate", f"{stage.pulse_rate:g} Hz",
                            f"{stage.duration * stage.pulse_rate:.3g} pulses in the "
                            f"{stage.duration:g} s stage; allowed: at most {MAX_PULSES:.0e}")
    events: list[Event] = []
    starts = stage_boundaries(stages)
    for i, (stage, t0) in enumerate(zip(stages, starts[:-1])):
        t0 = float(t0)
        events.append(Event("start", i, t0))
        outputs = t0 + stage.output_times()
        if not stage.pulsed:
            events.extend(Event("output", i, float(t)) for t in outputs)
            continue
        pulses = t0 + stage.pulse_times()
        # output times within round-off of a pulse are that pulse's time (recorded before it)
        idx = np.searchsorted(pulses, outputs)
        lo = pulses[np.clip(idx - 1, 0, pulses.size - 1)]
        hi = pulses[np.clip(idx, 0, pulses.size - 1)]
        nearest = np.where(np.abs(outputs - lo) < np.abs(outputs - hi), lo, hi)
        outputs = np.where(np.abs(outputs - nearest) < 1e-9 * stage.duration, nearest, outputs)
        merged = sorted([(float(t), 0) for t in outputs] + [(float(t), 1) for t in pulses])
        first = True
        for t, kind in merged:
            if kind == 0:
                events.append(Event("output", i, t))
            else:
                events.append(Event("pulse", i, t, first_pulse=first))
                first = False
    return events
