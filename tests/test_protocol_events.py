"""The protocol as a flat list of events (no mesh): order, times, pulses, stage boundaries."""
from __future__ import annotations

import numpy as np
import pytest

from spindiff.model import StageSpec, stage_boundaries
from spindiff.protocol import protocol_events


def stage(name, duration, outputs=4, spacing="linear", rate=None, first_output=None):
    return StageSpec(name=name, duration=duration, source_on=True, source_polarization=0.5,
                     outputs=outputs, spacing=spacing, pulse_rate=rate,
                     first_output=first_output)


def test_stage_boundaries_are_cumulative():
    stages = [stage("a", 2.0), stage("b", 0.5), stage("c", 10.0)]
    np.testing.assert_array_equal(stage_boundaries(stages), [0.0, 2.0, 2.5, 12.5])


def test_each_stage_starts_then_outputs_in_order_ending_at_its_end():
    stages = [stage("a", 2.0, outputs=4), stage("b", 3.0, outputs=3)]
    ev = protocol_events(stages)
    assert [(e.kind, e.stage) for e in ev] == [("start", 0)] + [("output", 0)] * 4 + \
        [("start", 1)] + [("output", 1)] * 3
    assert [e.t for e in ev if e.stage == 0 and e.kind == "output"] == [0.5, 1.0, 1.5, 2.0]
    assert [e.t for e in ev if e.stage == 1] == [2.0, 3.0, 4.0, 5.0]
    times = [e.t for e in ev]
    assert times == sorted(times)


def test_log_spacing_starts_at_first_output_and_lands_on_the_end():
    (s,) = [stage("a", 100.0, outputs=5, spacing="log", first_output=0.1)]
    t = s.output_times()
    assert t[0] == pytest.approx(0.1) and t[-1] == 100.0
    np.testing.assert_allclose(np.diff(np.log(t)), np.log(1000.0) / 4, rtol=1e-12)


def test_pulses_interleave_with_outputs_output_first_at_equal_times():
    """Pulses at 0, 0.02, ...; outputs every 0.01 s: an output at a pulse's time is recorded
    before the pulse acts (the row shows the state just before it)."""
    s = stage("p", 0.1, outputs=10, rate=50.0)
    ev = protocol_events([s])
    pulses = [e for e in ev if e.kind == "pulse"]
    assert [e.t for e in pulses] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert [e.first_pulse for e in pulses] == [True, False, False, False, False]
    kinds_at = {}
    for e in ev:
        kinds_at.setdefault(round(e.t, 12), []).append(e.kind)
    assert kinds_at[0.02] == ["output", "pulse"]
    assert kinds_at[0.1] == ["output"]  # no pulse at the stage end
    assert sum(e.kind == "output" for e in ev) == 10


def test_outputs_within_round_off_of_a_pulse_snap_to_it():
    s = stage("p", 1.0, outputs=3, rate=3.0)  # outputs at 1/3, 2/3, 1; pulses at j/3
    ev = protocol_events([s])
    out = [e.t for e in ev if e.kind == "output"]
    pulse = [e.t for e in ev if e.kind == "pulse"]
    assert out[0] == pulse[1] and out[1] == pulse[2]


def test_too_many_pulses_is_a_case_error():
    from spindiff.case.limits import MAX_PULSES
    from spindiff.errors import CaseError
    s = stage("p", 10.0, rate=10 * MAX_PULSES)
    with pytest.raises(CaseError, match="pulses"):
        protocol_events([s])
