"""Case keys given as "derived" (materials.NAME.D0, centres.barrier_radius): resolved before a
run to the numbers of spindiff.spins.derive, cached on disk by exactly the inputs they depend
on, printed by `spindiff check` and recorded in summary.json.

The derive computation runs here with one sample, 8-spacing test boxes and 3 cells (SEEDS,
BOX_SPACINGS, CELLS_PER_SEED patched for the module) so that it costs a few seconds; the cache
folder is a fresh one.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from mpi4py import MPI

from conftest import CASES
from spindiff.case import load_case
from spindiff.errors import CaseError

CASE = CASES / "tempol_dnp_juice.toml"
SHORT = {"protocol.stages.0.duration": "5 s", "protocol.stages.0.outputs": 5}
SETS = ["--set", 'protocol.stages.0.duration="5 s"', "--set", "protocol.stages.0.outputs=5"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """derive with one sample and small boxes, the cache in a fresh folder of rank 0's."""
    from spindiff.spins.resolve import derive_module
    root = tmp_path_factory.mktemp("derived-cache") if MPI.COMM_WORLD.rank == 0 else None
    root = MPI.COMM_WORLD.bcast(str(root) if root else None, root=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(derive_module, "SEEDS", 1)
        mp.setattr(derive_module, "BOX_SPACINGS", 8)
        mp.setattr(derive_module, "CELLS_PER_SEED", 3)
        mp.setenv("SPINDIFF_CACHE", root)
        yield load_case(CASE, SHORT)


@pytest.fixture(scope="module")
def resolved(small):
    from spindiff.spins.resolve import resolve
    return resolve(small)


@pytest.mark.slow
def test_resolves_to_the_numbers_of_derive(small, resolved):
    from spindiff.spins.derive import derive
    direct = derive(small, seeds=1)
    assert small.derived_keys == ["materials.juice.D0", "centres.barrier_radius"]
    assert resolved.derived_keys == []
    assert resolved.materials["juice"].D0 == pytest.approx(direct.D0, rel=1e-12)
    b_eq = direct.barrier["equivalent_hole"]["b_eq_nm"]
    assert resolved.centres.barrier_radius == pytest.approx(b_eq, rel=1e-12)
    assert 0.3 < b_eq < 2.0 and 5.0 < direct.D0 < 60.0
    rec = resolved.derived_record
    assert rec["from_cache"] is False
    v = rec["values"]["centres.barrier_radius"]
    assert v["unit"] == "nm" and v["uncertainty"] >= 0 and "b_eq" in v["definition"]
    assert rec["values"]["materials.juice.D0"]["uncertainty"] == pytest.approx(direct.D0_err)


@pytest.mark.slow
def test_second_resolution_reads_the_cache(small, resolved, monkeypatch):
    from spindiff.spins import resolve as resolve_module

    def fail(*args, **kwargs):
        raise AssertionError("derive was computed again")
    monkeypatch.setattr(resolve_module, "derive", fail)
    again = resolve_module.resolve(small)
    assert again.derived_record["from_cache"] is True
    assert again.materials["juice"].D0 == resolved.materials["juice"].D0
    assert again.centres.barrier_radius == resolved.centres.barrier_radius
    # keys derive does not read share the stored values
    renamed = small.with_changes({"case.name": "other", "output.plots": False,
                                  "mesh.size_bulk": "0.9 nm"})
    assert resolve_module.resolve(renamed).derived_record["from_cache"] is True


class Computed(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("changes", [{"conditions.B0": "7.05 T"},
                                     {"materials.juice.deuteration": {"glycerol-d8": 0.99}},
                                     {"source.C6": "3 nm^6/s"},
                                     {"protocol.stages.0.duration": "6 s"}])
def test_a_changed_input_misses_the_cache(small, resolved, monkeypatch, changes):
    from spindiff.spins import resolve as resolve_module

    def computed(*args, **kwargs):
        raise Computed
    monkeypatch.setattr(resolve_module, "derive", computed)
    monkeypatch.setattr(resolve_module, "bulk_diffusion", computed)
    with pytest.raises(Computed):
        resolve_module.resolve(small.with_changes(changes))


@pytest.mark.slow
def test_the_bulk_tensor_is_kept_when_only_the_source_changes(small, resolved, monkeypatch):
    """D0 depends on the nuclei far from the electrons only: another source C6 recomputes
    b_eq but reads the stored bulk tensor; another field recomputes that too."""
    from spindiff.spins import resolve as resolve_module

    def computed(*args, **kwargs):
        raise Computed
    monkeypatch.setattr(resolve_module, "bulk_diffusion", computed)
    other = resolve_module.resolve(small.with_changes({"source.C6": "2 nm^6/s"}))
    assert other.derived_record["from_cache"] is False
    assert other.materials["juice"].D0 == resolved.materials["juice"].D0
    assert other.centres.barrier_radius != resolved.centres.barrier_radius
    with pytest.raises(Computed):
        resolve_module.resolve(small.with_changes({"conditions.B0": "9.4 T"}))


@pytest.mark.slow
def test_check_prints_the_values(small, resolved, capsys):
    from spindiff.cli import main
    assert main(["check", str(CASE), *SETS]) == 0
    out = capsys.readouterr().out
    d0 = resolved.materials["juice"].D0
    assert f'materials.juice.D0 = "derived": {d0:.4g} +- ' in out
    assert "nm^2/s, hydrodynamic D" in out
    assert f'centres.barrier_radius = "derived": {resolved.centres.barrier_radius:.4g} +- ' in out
    assert "b_eq" in out and "read from the cache" in out


@pytest.mark.slow
def test_summary_records_the_values(small, resolved, tmp_path):
    from spindiff.runner import run
    res = run(small, out_dir=tmp_path / "out", progress=False, comm=MPI.COMM_SELF)
    notes = json.loads((res.out_dir / "summary.json").read_text())["model_notes"]["derived"]
    assert notes["values"]["materials.juice.D0"]["value"] == resolved.materials["juice"].D0
    assert notes["values"]["centres.barrier_radius"]["value"] == resolved.centres.barrier_radius
    assert notes["cache_key"] == resolved.derived_record["cache_key"]
    assert notes["from_cache"] is True


@pytest.mark.mpi
@pytest.mark.slow
def test_same_numbers_on_every_rank(small):
    from spindiff.spins.resolve import resolve
    comm = MPI.COMM_WORLD
    r = resolve(small, comm)
    mine = (r.materials["juice"].D0, r.centres.barrier_radius)
    assert all(v == mine for v in comm.allgather(mine))


@pytest.mark.parametrize("changes, key", [
    ({"centres.barrier": "kept"}, "centres.barrier_radius"),
    ({"source.model": "region", "source.rate": "100 1/s", "source.radius": "1 nm"},
     "centres.barrier_radius"),
    ({"conditions.nucleus": "2H", "materials.juice.nucleus": "2H"}, "materials.juice.D0"),
    ({"spins.lattice": "file", "spins.file": "x.xyz"}, "materials.juice.D0"),
])
def test_a_value_that_cannot_be_derived_is_one_line(changes, key):
    with pytest.raises(CaseError) as err:
        load_case(CASE, changes)
    msg = str(err.value)
    assert f"{key} = 'derived': " in msg and "\n" not in msg


@pytest.mark.slow
def test_a_derived_radius_that_breaks_a_rule_names_its_value(small, resolved):
    from spindiff.spins.resolve import resolve
    with pytest.raises(CaseError) as err:
        resolve(small.with_changes({"centres.visible_radius": "0.5 nm"}))
    msg = str(err.value)
    assert msg.startswith("centres.visible_radius = '0.5 nm': must be >= the barrier radius b = ")
    assert "(with the derived materials.juice.D0 = " in msg and "\n" not in msg


def test_a_misspelt_derived_names_the_word():
    with pytest.raises(CaseError) as err:
        load_case(CASE, {"materials.juice.D0": "derivd"})
    assert "materials.juice.D0" in str(err.value) and '"derived"' in str(err.value)


def test_a_model_is_not_built_from_symbolic_values():
    from spindiff.model import transport_model
    with pytest.raises(CaseError, match="resolved to a number"):
        transport_model(load_case(CASE))


@pytest.mark.slow
def test_b_eq_matches_the_mean_buildup_rate_of_the_cells(small):
    """b_eq: the radial continuum with the hole b_eq builds up at the mean rate 1/T_B of the
    Wigner-Seitz cells of individual nuclei (T_B = 1 / mean(1 / T_B,i))."""
    from spindiff.runner import run
    from spindiff.spins.derive import discrete_case, equivalent_hole
    from spindiff.spins.simulation import SpinSimulation
    case = discrete_case(small, 20.0)
    eq = equivalent_hole(case, 20.0, seeds=3)
    tbs = [SpinSimulation(case.with_changes({"mesh.model": "spins", "spins.seed": s}),
                          comm=MPI.COMM_SELF).run().summary["fits"]["buildup"]["mono"]["T_B_s"]
           for s in (1, 2, 3)]
    rates = 1 / np.asarray(tbs)
    assert eq["T_B_spins_s"] == pytest.approx(1 / rates.mean(), rel=1e-12)
    assert eq["T_B_spins_err"] == pytest.approx(eq["T_B_spins_s"] ** 2 * rates.std(ddof=1)
                                                / np.sqrt(3), rel=1e-12)
    b = eq["b_eq_nm"]
    radial = case.with_changes({"centres.barrier_radius": f"{b!r} nm", "materials.juice.D0":
                                "20 nm^2/s", "mesh.error_estimate": "off"})
    tb = run(radial, progress=False, comm=MPI.COMM_SELF).summary["fits"]["buildup"]["mono"]
    assert tb["T_B_s"] == pytest.approx(eq["T_B_spins_s"], rel=5e-3)
