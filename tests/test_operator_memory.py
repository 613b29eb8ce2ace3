"""The memory savings of the discretization keep its matrices exact.

Every matrix after the mass matrix is assembled into a duplicate of the mass matrix's sparsity
(no second sparsity pattern), relaxation and volume source are one reaction matrix assembled
from the sum of their laws (no matrix per term), the Newton Jacobian is formed in the step
matrix itself (no copy of K diag(f)), a source with one target polarization assembles its load
from the same quadrature function as its matrix, and no per-point array outlives the set-up.
Each is checked here against the straightforward construction, on the sphere cell and on the
periodic box (dolfinx_mpc), serially and on two ranks; so are the quadrature space built from
a blocked cell-wise dofmap and the radial profile's shells set up before the operators.
"""
from __future__ import annotations

import numpy as np
import pytest
import ufl

from conftest import CASES, make_case

SPHERE = {"mesh.model": "3d", "mesh.size_barrier": "0.25 nm", "mesh.size_bulk": "1.0 nm",
          "mesh.refine": 0}
BOX = {"mesh.size_barrier": "0.4 nm", "mesh.size_bulk": "1.2 nm"}


def _assembly(which: str, changes: dict | None = None):
    """The stage assembly (its Discretization: .disc) with the first stage's laws."""
    from mpi4py import MPI

    from conftest import make_case
    from spindiff.case import load_case
    from spindiff.fem.observables import Observables
    from spindiff.fem.operators import Discretization
    from spindiff.fem.stage_assembly import StageAssembly
    from spindiff.model import transport_model
    from spindiff.simulation import build_domain
    changes = changes or {}
    case = (make_case({**SPHERE, **changes}) if which == "sphere"
            else load_case(CASES / "many_centres_box.toml", {**BOX, **changes}))
    disc = Discretization(build_domain(case, MPI.COMM_WORLD), transport_model(case))
    Observables.of(disc)  # as a Simulation makes them, between the mass matrix and the laws
    asm = StageAssembly(disc, disc.model)
    asm.update_laws(disc.model.laws(disc.model.stages[0]))
    return asm


def _discretization(which: str, changes: dict | None = None):
    return _assembly(which, changes).disc


def _fresh(disc, form):
    """The matrix of `form` with its own sparsity pattern (the straightforward way)."""
    from spindiff.mesh import compat
    if disc.mpc is not None:
        return compat.assemble_matrix_mpc(form, disc.mpc)
    return compat.assemble_matrix(form)


def _max_abs(A) -> float:
    from mpi4py import MPI
    return MPI.COMM_WORLD.allreduce(float(np.max(np.abs(A.getValuesCSR()[2]), initial=0.0)),
                                    op=MPI.MAX)


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["sphere", "box"])
def test_matrices_in_the_mass_pattern_equal_fresh_assembly(which):
    """K, Q_k and Q_R assembled into the mass matrix's pattern are the matrices assembled with
    their own pattern (to rounding), and a surface form (a subset of the pattern) fits too."""
    disc = _discretization(which)
    assert not disc.qf._cache  # the set-up's per-point arrays are gone
    qf = disc.qf
    s = np.ones(qf.size)
    k = np.exp(-np.minimum(qf.nearest, 50.0))
    for kind, values in (("K", s), ("Q_k", k), ("Q_R", k)):
        law = qf.function(values)
        form = disc.law_form(kind, law)
        fresh = _fresh(disc, form)
        pattern = disc.assemble_matrix(form)
        diff = pattern.copy()
        diff.axpy(-1.0, fresh)
        assert _max_abs(diff) <= 1e-14 * _max_abs(fresh), kind
    v, u = ufl.TestFunction(disc.V0), ufl.TrialFunction(disc.V0)
    from spindiff.mesh import compat
    surface = compat.form(u * v * ufl.ds(domain=disc.domain.mesh))
    diff = disc.assemble_matrix(surface)
    diff.axpy(-1.0, _fresh(disc, surface))
    assert _max_abs(diff) <= 1e-14


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["sphere", "box"])
def test_reaction_from_summed_laws_equals_sum_of_its_terms(which, monkeypatch):
    """Relaxation and source are one matrix Q, assembled from the sum R1 + k of their laws at
    the quadrature points, and one load g, whose source part (one target P_src) is k times a
    constant of the form: Q equals Q_R + Q_k and g equals g_R + g_k assembled term by term,
    with k P_src given per quadrature point."""
    from petsc4py import PETSc

    from spindiff.fem import stage_assembly
    from spindiff.mesh import compat
    monkeypatch.setattr(stage_assembly, "FOLD_STIFFNESS", False)  # Q alone, not K + Q
    asm = _assembly(which, {"relaxation.C6": "4 nm^6/s"})
    disc = asm.disc
    qf, laws = disc.qf, asm._laws
    k, target = asm._source_values(laws, np.empty(qf.size))
    assert isinstance(target, float) and target != 0.0
    r1 = qf.centre_sum(laws.paramagnetic_rate)
    r1[disc.in_barrier] = 0.0
    assert np.max(k) > 0.0 and np.max(r1) > 0.0
    Q, g = asm._reaction
    ref = _fresh(disc, disc.law_form("Q_R", qf.function(r1)))
    ref.axpy(1.0, _fresh(disc, disc.law_form("Q_k", qf.function(k))))
    diff = Q.copy()
    diff.axpy(-1.0, ref)
    if disc.mpc is not None:  # each constrained assembly puts 1 on the slaves' diagonal
        slaves = np.flatnonzero(compat.slave_mask(disc.mpc, disc.n_owned))
        diff.zeroRows((slaves + compat.global_offset(disc.V0)).astype(PETSc.IntType), 0.0)
    assert _max_abs(diff) <= 1e-13 * _max_abs(ref)
    disc.k_target.value = 1.0
    load = [disc.law_form("g_R", qf.function(r1)), disc.law_form("g_k", qf.function(k * target))]
    assemble = ((lambda L: compat.assemble_vector_mpc(L, disc.mpc)) if disc.mpc is not None
                else compat.assemble_vector)
    ref_g = assemble(load[0])
    ref_g.axpy(1.0, assemble(load[1]))
    diff_g = g.copy()
    diff_g.axpy(-1.0, ref_g)
    assert diff_g.norm() <= 1e-13 * ref_g.norm()


TWO_STAGES = {"protocol.stages": [{"name": "buildup", "duration": "0.05 s"},
                                  {"name": "decay", "duration": "0.05 s", "microwaves": False}]}


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["sphere", "box"])
def test_conventional_stiffness_is_held_in_the_reaction_matrix(which, monkeypatch):
    """With conventional diffusion K is added into the reaction matrix and not kept. At each
    stage (the second turns the source off, so both are assembled again) that matrix equals
    K + Q of the discretization that keeps them apart, to rounding. Q is assembled into K's
    matrix: a stage change makes one new matrix, never a third beside M."""
    from spindiff.fem import stage_assembly
    folded = _assembly(which, TWO_STAGES)
    monkeypatch.setattr(stage_assembly, "FOLD_STIFFNESS", False)
    apart = _assembly(which, TWO_STAGES)
    assert folded.stiffness_in_reaction and not apart.stiffness_in_reaction
    first = folded._reaction[0].copy()
    new, assemble = [], folded.disc.assemble_matrix
    folded.disc.assemble_matrix = lambda a, into=None, coeffs=None: (new.append(into is None),
                                                                    assemble(a, into, coeffs))[1]
    for stage, changed in zip(folded.model.stages, (False, True)):
        new.clear()
        assert folded.update_laws(folded.model.laws(stage)) == changed
        assert new == ([True, False] if changed else [])  # K, then Q added into it
        assert apart.update_laws(apart.model.laws(stage)) is False
        assert folded.K is None and apart.K is not None
        ref = apart.K.copy()
        ref.axpy(1.0, apart._reaction[0])
        ref.axpy(-1.0, folded._reaction[0])
        assert _max_abs(ref) <= 1e-13 * _max_abs(folded._reaction[0])
    first.axpy(-1.0, folded._reaction[0])  # the source's part is gone in the second stage
    assert _max_abs(first) > 1e-6 * _max_abs(folded._reaction[0])


@pytest.mark.mpi
def test_conventional_stiffness_in_the_reaction_matrix_gives_the_same_run(monkeypatch):
    """A buildup and a decay with K held in the reaction matrix equal the run that keeps K
    apart, to the Krylov tolerance, with the same steps."""
    from mpi4py import MPI

    from spindiff.fem import stage_assembly
    from spindiff.simulation import Simulation
    finals = []
    for fold in (True, False):
        monkeypatch.setattr(stage_assembly, "FOLD_STIFFNESS", fold)
        sim = Simulation(make_case({**SPHERE, **TWO_STAGES}))
        sim.advance_to(0.1)
        assert (sim.assembly.K is None) == fold
        finals.append((sim.disc.P.x.array.copy(), sim.stepper.stats.accepted))
        sim.close()
    (a, steps_a), (b, steps_b) = finals
    assert steps_a == steps_b
    scale = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(a))), op=MPI.MAX)
    assert MPI.COMM_WORLD.allreduce(float(np.max(np.abs(a - b))), op=MPI.MAX) <= 1e-10 * scale


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["sphere", "box"])
def test_jacobian_formed_in_place(which, monkeypatch):
    """The Newton Jacobian c M + Q + K diag(f), formed in the step matrix from K without a
    copy, equals the same sum formed from copies; the step system keeps no other matrix."""
    from spindiff.fem import systems
    from spindiff.fem.systems import StepSystem
    monkeypatch.setattr(systems, "MATRIX_FREE_MIN_DOFS", 0)
    asm = _assembly(which, {"diffusion.model": "corrected"})
    disc = asm.disc
    system = StepSystem(asm)
    system.set_stage(disc.model.stages[0])
    P = system.vec.f.duplicate()
    rng = np.random.default_rng(1)
    P.array[:] = rng.uniform(-0.9, 0.9, P.array.size)
    system.equation.kirchhoff(P)
    assert system.vec.f.array.min() > 1.0  # the corrected factor 1 / sqrt(1 - P^2) is not trivial
    c = 123.0
    system.equation.form_jacobian(c)
    ref = asm.K.copy()
    ref.diagonalScale(R=system.vec.f)
    for Q in system.ops.Q:
        ref.axpy(1.0, Q)
    ref.axpy(c, disc.M)
    A = system.op.assembled()
    x, y = A.createVecs()
    x.array[:] = rng.uniform(-1.0, 1.0, x.array.size)
    ref.mult(x, y)
    applied = y.duplicate()
    system.op.A.mult(x, applied)  # matrix-free with hypre: applied term by term
    applied.axpy(-1.0, y)
    assert applied.norm() <= 1e-12 * y.norm()
    ref.axpy(-1.0, A)
    assert _max_abs(ref) <= 1e-12 * _max_abs(A)
    assert len(system.ops.Q) == 1  # relaxation and source: one matrix
    assert system.op.matrix_free  # CG + BoomerAMG: no assembled step matrix is kept
    assert not [name for name, value in vars(system).items()
                if name != "M_bc" and type(value).__name__ == "Mat"]


def test_blocked_law_and_harmonic_means_equal_the_direct_formulas():
    """A law evaluated in blocks of points (QuadratureFields.evaluate) and the cells' harmonic
    means computed with one temporary are bit for bit the direct numpy expressions, with and
    without a weight; the distances are dropped before K and the reaction are assembled."""
    disc = _discretization("sphere")
    qf = disc.qf
    qf.CHUNK_CELLS = 7  # many blocks, the last one short
    r = np.linspace(0.3, 5.0, qf.size)

    def law(x):
        return 1.0 / (1.0 + (0.8 / x) ** 6)

    values = law(r)
    assert np.array_equal(qf.evaluate(law, r, np.empty(qf.size)), values)
    q = qf.weights[None, :]
    for weight in (None, r ** 2):
        w = np.ones_like(values) if weight is None else weight
        aw = np.maximum(values * w, 1e-300).reshape(qf.ncells, qf.npts)
        direct = (np.repeat(q.sum() / (q / aw).sum(axis=1), qf.npts) / w).reshape(values.shape)
        assert np.array_equal(qf.harmonic_cellwise(values, weight), direct)
    box = _assembly("box")  # barriers kept by distance: the stiffness law needs them
    cache = box.disc.qf._cache
    held, assemble = [], box._assemble_reaction
    box._assemble_reaction = lambda laws, **kw: (held.append(sorted(cache)),
                                                 assemble(laws, **kw))[1]
    at_assembly, assemble_matrix = [], box.disc.assemble_matrix
    box.disc.assemble_matrix = lambda a, into=None, coeffs=None: (
        at_assembly.append("nearest" in cache), assemble_matrix(a, into, coeffs))[1]
    box._laws = None
    box.update_laws(box.model.laws(box.model.stages[0]))
    assert held == [["cell_tag", "in_barrier", "kept"]]
    assert at_assembly == [False, False]  # K and Q: the distances are dropped before either


@pytest.mark.mpi
@pytest.mark.parametrize("degree", [2, 4])
def test_quadrature_space_by_cell_blocks_assembles_like_the_plain_quadrature_space(degree):
    """The quadrature space built from the cell-wise blocked dofmap (no reordering of every
    point) holds one block of points per cell, and a form with a quadrature coefficient gives
    the same matrix and vector as with the space DOLFINx builds itself."""
    from dolfinx import fem
    from dolfinx import mesh as dmesh
    from mpi4py import MPI

    from spindiff.mesh import compat
    comm = MPI.COMM_WORLD
    msh = dmesh.create_unit_cube(comm, 6, 5, 4)
    ncells, npts = compat.num_cells_local(msh), len(compat.quadrature_weights(msh, degree))
    blocked = compat.quadrature_space(msh, degree)
    if blocked.dofmap.index_map_bs == 1:  # DOLFINx's own space is used: nothing to compare
        plain = blocked
    else:
        qe = ufl.FiniteElement("Quadrature", msh.ufl_cell(), degree, quad_scheme="default")
        plain = fem.FunctionSpace(msh, qe)
    values = np.random.default_rng(comm.rank).random(ncells * npts)
    V = compat.lagrange_space(msh, 1)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.dx(metadata={"quadrature_degree": degree})
    results = []
    for Q in (blocked, plain):
        f = fem.Function(Q)
        dofs = compat.cell_dofs(Q, ncells).reshape(-1)
        assert f.x.array.size >= ncells * npts and len(np.unique(dofs)) == ncells * npts
        f.x.array[dofs] = values
        A = compat.assemble_matrix(compat.form(f * u * v * dx))
        b = compat.assemble_vector(compat.form(f * v * dx))
        results.append((A, np.asarray(b.array).copy()))
    (A1, b1), (A2, b2) = results
    A1.axpy(-1.0, A2)
    assert A1.norm() <= 1e-14 * A2.norm()
    assert comm.allreduce(float(np.max(np.abs(b1 - b2), initial=0.0)), op=MPI.MAX) <= 1e-15


@pytest.mark.mpi
def test_profile_shells_set_up_before_the_operators_are_reused_and_unchanged(tmp_path):
    """A ProfileWriter given to the Simulation sets the radial profile's shells up in its
    `setup`, before the step matrices exist; asking for them again reuses them, they are the
    shells set up after the operators, and the run's laws are unaffected by the order."""
    from mpi4py import MPI

    from spindiff.io.folders import OutputFolder
    from spindiff.io.results import ResultsWriter
    from spindiff.observers import ProfileWriter
    from spindiff.simulation import Observer, Simulation
    case = make_case({**SPHERE, "mesh.size_barrier": "0.4 nm", "mesh.size_bulk": "1.5 nm"})
    out = MPI.COMM_WORLD.bcast(str(tmp_path / "out"), root=0)
    writer = ResultsWriter(OutputFolder(out, MPI.COMM_WORLD, "run", {}), "")

    class Spy(Observer):
        def setup(self, sim):
            self.before_operators = not hasattr(sim, "assembly")
            self.cached = sorted(sim.disc.qf._cache)

    spy = Spy()
    early = Simulation(case, observers=[ProfileWriter(writer, 8), spy])
    assert early.observables._profile_bins == 8 and spy.before_operators and not spy.cached
    assert not early.disc.qf._cache

    def again(nbins):
        raise AssertionError("the shells were set up twice")
    early.observables.radial_profile_setup = again
    late = Simulation(case)
    assert np.array_equal(early.observables.radial_profile_shells(8),
                          late.observables.radial_profile_shells(8))
    for (i1, w1, t1), (i2, w2, t2) in zip(early.observables._profile, late.observables._profile,
                                          strict=True):
        assert np.array_equal(i1, i2) and np.array_equal(w1, w2) and t1 == t2
    early.advance_to(0.05)
    late.advance_to(0.05)
    assert np.array_equal(early.P.array_r, late.P.array_r)
    np.testing.assert_array_equal(early.observables.radial_profile(early.P),
                                  late.observables.radial_profile(late.P))


@pytest.mark.mpi
@pytest.mark.parametrize("which, model", [("sphere", "conventional"), ("box", "conventional"),
                                          ("box", "corrected")])
def test_step_matrix_not_stored_gives_the_same_run(which, model, monkeypatch):
    """A buildup with the step matrix applied without being stored (hypre's matrix made at each
    preconditioner rebuild, A = A_pc + (c - c_pc) M between them, the Newton Jacobian term by
    term) equals the run with the stored step matrix to the Krylov tolerance."""
    from mpi4py import MPI

    from spindiff.case import load_case
    from spindiff.fem import systems
    from spindiff.simulation import Simulation
    changes = {"protocol.stages.0.duration": "0.05 s", "diffusion.model": model,
               "diffusion.polarization": "local"} if model == "corrected" else \
        {"protocol.stages.0.duration": "0.05 s"}
    case = (make_case({**SPHERE, **changes}) if which == "sphere"
            else load_case(CASES / "many_centres_box.toml", {**BOX, **changes}))
    finals = []
    for threshold in (10**12, 0):
        monkeypatch.setattr(systems, "MATRIX_FREE_MIN_DOFS", threshold)
        sim = Simulation(case)
        sim.advance_to(0.05)
        assert sim.system.op.matrix_free == (threshold == 0)
        finals.append((sim.disc.P.x.array.copy(), sim.stepper.stats.accepted))
        sim.close()
    (a, steps_a), (b, steps_b) = finals
    assert steps_a == steps_b
    scale = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(a))), op=MPI.MAX)
    diff = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(a - b))), op=MPI.MAX)
    assert diff <= 1e-8 * scale


def test_dropped_petsc_objects_are_destroyed():
    """petsc4py puts a matrix or vector whose last Python reference has gone on its
    communicator's garbage list instead of destroying it; release_dropped destroys those of the
    communicators of the objects it is given, and the memory goes back to the system."""
    import gc

    from dolfinx import fem
    from dolfinx import mesh as dmesh
    from mpi4py import MPI

    from spindiff.mesh import compat
    from spindiff.mesh.heap import release_dropped

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    msh = dmesh.create_unit_cube(MPI.COMM_SELF, 20, 20, 20)
    V = compat.lagrange_space(msh, 2)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    M = compat.assemble_matrix(compat.form(u * v * ufl.dx))
    P = fem.Function(V)
    L = compat.form(v * ufl.dx)
    release_dropped(M, compat.petsc_vector(P))
    size = (12 * M.getInfo()["nz_used"] + 8 * 20 * M.getSize()[0]) / 2**20
    before = rss_mb()
    held = [M.copy()] + [compat.assemble_vector(L) for _ in range(20)]  # a matrix, 20 vectors
    assert rss_mb() - before > 0.8 * size
    del held
    gc.collect()
    release_dropped(M, compat.petsc_vector(P))
    assert rss_mb() - before < 0.2 * size


@pytest.mark.mpi
def test_time_loop_holds_only_the_vectors_it_uses():
    """A conventional run without Dirichlet rows makes one work vector of the step system (the
    load; the Newton iteration's are made only by a corrected run), and the time history frees
    the derivative at its start once it holds three states."""
    from spindiff.simulation import Simulation
    sim = Simulation(make_case(SPHERE))
    sim.advance_to(0.02)
    assert sim.stepper.stats.accepted >= 3
    assert sorted(k for k in vars(sim.system.vec) if not k.startswith("_")) == ["work"]
    assert len(sim.stepper._hist.states) == 3 and sim.stepper._hist.dP0 is None
    sim.close()


def test_periodic_forms_live_on_the_constrained_space():
    """With a periodic constraint the forms, P and the dof coordinates all use the constraint's
    space (the unconstrained space's dofmap, with the same cell dofs, is not kept beside it)."""
    box = _discretization("box")
    assert box.mpc is not None and box.V0 is box.V and box.P.function_space is box.V


@pytest.mark.mpi
def test_law_handed_to_the_assembler_as_its_packed_coefficients():
    """A quadrature law's own values, cells by points (ghost cells included), are what DOLFINx
    would pack for a form with that law as its only coefficient: the matrices and vectors
    assembled from them without DOLFINx's copy equal those it packs itself, bit for bit; a
    form with a second coefficient is left to DOLFINx, and so is every form of a DOLFINx whose
    Python forms do not expose their coefficients (0.9)."""
    from spindiff.mesh import compat
    disc = _discretization("sphere")
    law, values = disc.qf.blank("s")
    values[:] = 1.0 + np.arange(values.size) % 7
    for kind in ("K", "Q_R", "g_R"):
        form = disc.law_form(kind, law)
        packed = compat.packed_law(form, disc.qf.packed(law))
        assert (packed is not None) == isinstance(getattr(form, "coefficients", None), list)
        if kind == "g_R":
            a, b = compat.assemble_vector(form, packed), compat.assemble_vector(form)
            assert np.array_equal(a.array_r, b.array_r)
            continue
        a = compat.assemble_matrix_into(disc.M.duplicate(), form, coeffs=packed)
        b = compat.assemble_matrix_into(disc.M.duplicate(), form)
        a.axpy(-1.0, b)
        assert _max_abs(a) == 0.0
    from spindiff.fem.fields import cellwise_function
    ind = cellwise_function(disc.cell_space, np.ones(compat.num_cells_local(disc.domain.mesh)))
    assert compat.packed_law(disc.law_form("K", law, ind), disc.qf.packed(law)) is None
