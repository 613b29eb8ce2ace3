"""3D particle-in-matrix meshes with boundary layers at the interface (relayed DNP,
docs/reference/heterogeneous.md).

The polarization varies across a particle's surface over a few nm (the depletion length
sqrt(D T_B) of the matrix) but hardly along it, so the cells there are thin and wide: a band
of prisms around the interface, each cut into three tetrahedra, with its radial node positions
`offsets` (nm from the interface; the 1D reduction's graded nodes) and the interface's
triangulation (element size `size_interface` along the surface) repeated on every layer. The
core of the particle and the rest of the box are meshed by Gmsh, their sizes growing away from
the band. A 2 um particle resolved to 0.5 nm across its surface takes about 10^6 cells,
instead of ~10^9 for isotropic cells of that size.

The band's bounding surfaces are Gmsh surfaces whose meshes are copies of each other (mesh
periodicity with a scaling, or a translation for a slab), so the band conforms to the Gmsh
cells on both sides. With order 2, every layer surface is curved like the interface (its edge
midpoints lie on the sphere or cylinder of that layer); the edges across layers stay straight.

Shapes as in inclusions.build_particle_in_matrix: sphere (radius a), cylinder along z (radius
a), slab normal to z (half-thickness a, two interfaces). Cell tags MATRIX_TAG / PARTICLE_TAG.

The box is closed (zero flux on its faces, tagged FACET_OUTER) also for a periodic sample: a
particle centred in its box in a uniform (homogenized) matrix is mirror-symmetric about every
face, so the periodic solution has zero normal flux there and the two problems are the same.
This spares the periodic constraint, which dolfinx_mpc could not build on large curved cells.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from scipy.spatial import cKDTree

from ..mesh.domain import Domain
from ..physics.shapes import ParticleShape
from .box import HOLE_GAP, _check_sizes, _fmt
from .centres import box_lengths_array
from .gmsh_tools import generate, gmsh_shape, restricted_size, run_gmsh, shape_distance
from .inclusions import INTERFACE_GROWTH, MATRIX_TAG, PARTICLE_TAG, _outer_faces, _shape, check_particle_fits

#: the band keeps at least this fraction of the particle (radius, half-thickness) as Gmsh core
#: and of the matrix gap to the box faces as Gmsh cells
CORE_FRACTION = 0.4


@dataclass
class _Band:
    """One band: its inner and outer Gmsh surfaces and the signed side of a slab (+1, -1)."""
    s_in: int
    s_out: int
    sign: float = 1.0


def band_offsets(nodes: np.ndarray, a: float, size_interface: float, inner_limit: float,
                 outer_limit: float) -> np.ndarray:
    """Offsets (nm) of the layer surfaces from the interface at `a`: the 1D nodes within the
    band, which ends (on each side) where the 1D cells reach `size_interface` or at the
    limits (distances from the interface), whichever comes first. Includes 0."""
    x = np.asarray(nodes, dtype=float) - a
    x = x[np.argsort(x)]
    out = [0.0]
    for side, limit in ((-1.0, inner_limit), (1.0, outer_limit)):
        d = np.sort(np.abs(x[(side * x) > 1e-12 * max(a, 1.0)]))
        taken = []
        for v in d:
            if v > limit:
                break
            taken.append(v)
            if v - (taken[-2] if len(taken) > 1 else 0.0) >= size_interface:
                break
        if not taken:
            taken = [min(limit, size_interface)]
        out.extend(side * np.asarray(taken))
    return np.unique(np.asarray(out))


def build_particle_layered(comm: MPI.Comm, shape: str, particle_size: float,
                           box_lengths: float | Sequence[float], offsets: np.ndarray,
                           size_interface: float, size_particle: float, size_matrix: float,
                           order: int = 2, periodic: bool = True, matrix: str = "matrix",
                           particle: str = "particle") -> Domain:
    """A particle centred in a box with a layered band at its surface (see the module).

    offsets: sorted layer positions (nm) relative to the interface, negative inside, with 0
    (band_offsets); size_interface: element size (nm) along the layer surfaces, growing with
    the distance from the band (slope INTERFACE_GROWTH) to size_particle / size_matrix.
    periodic: only describes the sample (the box is solved closed, see the module)."""
    L = box_lengths_array(box_lengths)
    a = float(particle_size)
    form = _shape(shape)
    _check_sizes(min(size_particle, size_interface), size_matrix, order)
    half = check_particle_fits(form, a, L)
    off = np.unique(np.asarray(offsets, dtype=float))
    if off[0] >= 0 or off[-1] <= 0 or not np.any(off == 0.0):
        raise ValueError("offsets need negative and positive values and 0")
    r_in, r_out = a + off[0], a + off[-1]
    if r_in <= 0.0 or r_out >= half * (1 - HOLE_GAP):
        raise ValueError(f"band [{r_in:.4g}, {r_out:.4g}] nm does not fit in the box")
    mid = 0.5 * L
    radii = a + off

    def build(gmsh) -> dict:
        occ = gmsh.model.occ
        gmsh.model.add("particle_layers")
        box = occ.addBox(0, 0, 0, *L)
        inner, outer = (gmsh_shape(form.name).add(occ, mid, L, r) for r in (r_in, r_out))
        _, om = occ.fragment([(3, box)], [(3, inner), (3, outer)])
        core = {t for _, t in om[1]}
        band = {t for _, t in om[2]} - core
        rest = {t for _, t in om[0]} - core - band
        bands = _band_surfaces(gmsh, form, mid, core, band, rest)
        occ.remove([(3, v) for v in sorted(band)], recursive=True)
        occ.synchronize()
        _outer_faces(gmsh, L, periodic_axes=())
        for b in bands:
            gmsh.model.mesh.setPeriodic(2, [b.s_out], [b.s_in],
                                        form.layer_map(mid, r_in, r_out, b.sign))
        rho = shape_distance(form.name, mid)
        g = f"{INTERFACE_GROWTH:.17g}"
        fields = [restricted_size(gmsh, sorted(core), f"Min({size_particle:.17g}, "
                              f"{size_interface:.17g} + {g} * Fabs({r_in:.17g} - {rho}))"),
                  restricted_size(gmsh, sorted(rest), f"Min({size_matrix:.17g}, "
                              f"{size_interface:.17g} + {g} * Fabs({rho} - {r_out:.17g}))")]
        generate(gmsh, fields, max(size_matrix, size_particle), order)
        filled = [_fill_band(gmsh, form, mid, radii, a, b, order) for b in bands]
        gmsh.model.addPhysicalGroup(3, sorted(core) + [f[0] for f in filled], PARTICLE_TAG)
        gmsh.model.addPhysicalGroup(3, sorted(rest) + [f[1] for f in filled], MATRIX_TAG)
        return {"band_cells": sum(f[2] for f in filled)}

    msh, ct, ft, info = run_gmsh(comm, build, f"{form.name} particle with interface layers",
                                 stl_bounds=False)
    vp = form.volume(a, L)
    what = form.what(a)
    return Domain(mesh=msh, cell_tags=ct, facet_tags=ft, radial=False, centres=np.empty((0, 3)),
                  materials={matrix: [MATRIX_TAG], particle: [PARTICLE_TAG]},
                  period=None, box_lower=np.zeros(3),
                  exact_volume=float(np.prod(L)),
                  region_names={MATRIX_TAG: matrix, PARTICLE_TAG: particle},
                  description=f"{particle} {what} nm (volume {vp:.6g} nm^3) in {matrix}, "
                              f"{'periodic (solved closed: mirror symmetry)' if periodic else 'closed'}"
                              f" box {_fmt(L)} nm, "
                              f"interface band {len(off) - 1} layers from {off[0]:.4g} to "
                              f"+{off[-1]:.4g} nm (thinnest {np.diff(off).min():.3g} nm, "
                              f"{info['band_cells']} cells), size along it "
                              f"{size_interface:.4g} nm, order {order}")


# --- geometry ---------------------------------------------------------------------------------

def _band_surfaces(gmsh, form: ParticleShape, mid: np.ndarray, core: set, band: set,
                   rest: set) -> list[_Band]:
    """The inner and outer surface of each band (one, or two for a slab: above and below the
    mid-plane, `form.band_sides`)."""
    occ = gmsh.model.occ

    def faces(vols) -> set:
        return {abs(t) for _, t in gmsh.model.getBoundary([(3, v) for v in vols],
                                                          combined=False, oriented=False)}
    occ.synchronize()
    s_in, s_out = faces(core) & faces(band), faces(band) & faces(rest)
    if len(form.band_sides) == 1:
        if len(s_in) != 1 or len(s_out) != 1:
            raise RuntimeError(f"unexpected band surfaces {sorted(s_in)}, {sorted(s_out)}")
        return [_Band(s_in.pop(), s_out.pop())]
    axis = form.axes[0]
    side = lambda s: 1.0 if occ.getCenterOfMass(2, s)[axis] >= mid[axis] else -1.0  # noqa: E731
    bands = []
    for sign in form.band_sides:
        i = [s for s in s_in if side(s) == sign]
        o = [s for s in s_out if side(s) == sign]
        if len(i) != 1 or len(o) != 1:
            raise RuntimeError(f"unexpected slab band surfaces {i}, {o}")
        bands.append(_Band(i[0], o[0], sign))
    return bands


# --- the band ---------------------------------------------------------------------------------

def _edge_pairs(gmsh, etype: int) -> list[tuple[int, int]]:
    """Vertex pairs of the edge nodes of a second-order Gmsh element, in node order."""
    _, _, _, nn, ref, nv = gmsh.model.mesh.getElementProperties(etype)
    ref = np.asarray(ref).reshape(nn, -1)
    pairs = []
    for m in range(nv, nn):
        hit = [(i, j) for i in range(nv) for j in range(i + 1, nv)
               if np.allclose(0.5 * (ref[i] + ref[j]), ref[m])]
        pairs.append(hit[0])
    return pairs


def _surface(gmsh, s: int, order: int):
    """(unique vertex tags, their coordinates, triangles as vertex tags (t, 3), edge midpoint
    tags keyed by sorted vertex-tag pairs) of a meshed surface."""
    tags, x, _ = gmsh.model.mesh.getNodes(2, s, includeBoundary=True)
    x = np.asarray(x).reshape(-1, 3)
    pos = dict(zip(np.asarray(tags).tolist(), x))
    etype = 9 if order == 2 else 2
    types, _, nodes = gmsh.model.mesh.getElements(2, s)
    if list(types) != [etype]:
        raise RuntimeError(f"surface {s} has element types {list(types)}, expected {etype}")
    tri = np.asarray(nodes[0], dtype=np.int64).reshape(-1, 3 if order == 1 else 6)
    verts = np.unique(tri[:, :3])
    mids = {}
    if order == 2:
        for m, (i, j) in enumerate(_edge_pairs(gmsh, etype)):
            lo, hi = np.minimum(tri[:, i], tri[:, j]), np.maximum(tri[:, i], tri[:, j])
            mids.update(zip(zip(lo.tolist(), hi.tolist()), tri[:, 3 + m].tolist()))
    return verts, np.array([pos[v] for v in verts.tolist()]), tri[:, :3], mids, pos


def _fill_band(gmsh, form: ParticleShape, mid: np.ndarray, radii: np.ndarray, a: float, band: _Band,
               order: int) -> int:
    """Add the band's nodes and tetrahedra (order 1 or 2) to the Gmsh model in two discrete
    volumes, inside and outside the interface: (particle volume, matrix volume, cells)."""
    mesh = gmsh.model.mesh
    r_in, r_out = float(radii[0]), float(radii[-1])
    v_in, x_in, tri_tags, mids_in, pos = _surface(gmsh, band.s_in, order)
    v_out, x_out, _, mids_out, pos_out = _surface(gmsh, band.s_out, order)
    dist, idx = cKDTree(x_out).query(form.move_to_layer(x_in, mid, r_in, r_out, band.sign))
    if len(v_out) != len(v_in) or np.max(dist) > 1e-8 * max(r_out, 1.0):
        raise RuntimeError("the meshes of the band's two surfaces do not match")
    out_of = v_out[idx]
    local = {t: i for i, t in enumerate(v_in.tolist())}
    tri = np.sort(np.vectorize(local.__getitem__, otypes=[np.int64])(tri_tags), axis=1)
    edges, inv = np.unique(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]),
                           axis=0, return_inverse=True)
    inv = inv.ravel().reshape(3, -1)          # edge ids of (a,b), (b,c), (a,c) per triangle
    nl, ns, ne = len(radii), len(v_in), len(edges)
    all_tags = mesh.getNodes()[0]
    counter = [int(np.max(all_tags)) + 1]

    def new(n: int) -> np.ndarray:
        t = np.arange(counter[0], counter[0] + n, dtype=np.int64)
        counter[0] += n
        return t

    vol_p = gmsh.model.addDiscreteEntity(3)
    vol_m = gmsh.model.addDiscreteEntity(3)
    V = np.empty((nl, ns), dtype=np.int64)
    V[0], V[-1] = v_in, out_of
    xs = [x_in]
    for k in range(1, nl - 1):
        V[k] = new(ns)
        xs.append(form.move_to_layer(x_in, mid, r_in, float(radii[k]), band.sign))
        mesh.addNodes(3, vol_p, V[k].tolist(), xs[-1].ravel().tolist())
    xs.append(x_out[idx])
    if order == 2:
        MT = np.empty((nl, ne), dtype=np.int64)
        key = lambda tags, e: (min(tags[e[0]], tags[e[1]]), max(tags[e[0]], tags[e[1]]))  # noqa: E731
        MT[0] = [mids_in[key(v_in, e)] for e in edges]
        MT[-1] = [mids_out[key(out_of, e)] for e in edges]
        m_in = np.array([pos[t] for t in MT[0].tolist()])
        for k in range(1, nl - 1):
            MT[k] = new(ne)
            y = form.move_to_layer(m_in, mid, r_in, float(radii[k]), band.sign)
            mesh.addNodes(3, vol_p, MT[k].tolist(), y.ravel().tolist())
        MV = np.empty((nl - 1, ns), dtype=np.int64)
        MD = np.empty((nl - 1, ne), dtype=np.int64)
        for j in range(nl - 1):
            MV[j], MD[j] = new(ns), new(ne)
            mesh.addNodes(3, vol_p, MV[j].tolist(), (0.5 * (xs[j] + xs[j + 1])).ravel().tolist())
            # the prism is the layer surface swept across: a diagonal's midpoint is on the
            # mid-layer surface, above its edge's midpoint (straight diagonals would fold
            # layers thinner than the curved edges' sagitta)
            y = form.move_to_layer(m_in, mid, r_in, 0.5 * float(radii[j] + radii[j + 1]), band.sign)
            mesh.addNodes(3, vol_p, MD[j].tolist(), y.ravel().tolist())
    # three tetrahedra per prism, vertices (layer offset, local vertex a < b < c); every side
    # face is cut from its bottom lower-index vertex to its top higher-index one: conforming
    local_of = {"a": tri[:, 0], "b": tri[:, 1], "c": tri[:, 2]}
    edge_of = {"ab": inv[0], "bc": inv[1], "ac": inv[2]}
    shapes = [((0, "a"), (0, "b"), (0, "c"), (1, "c")), ((0, "a"), (0, "b"), (1, "b"), (1, "c")),
              ((0, "a"), (1, "a"), (1, "b"), (1, "c"))]
    etype = 11 if order == 2 else 4
    pairs = _edge_pairs(gmsh, etype) if order == 2 else []
    etags = mesh.getElements()[1]
    counter[0] = int(max((np.max(t) for t in etags if len(t)), default=0)) + 1
    ncells = 0
    for j in range(nl - 1):
        cells = []
        for verts in shapes:
            cols = [V[j + dl][local_of[v]] for dl, v in verts]
            for p, q in pairs:
                (lp, vp), (lq, vq) = sorted((verts[p], verts[q]), key=lambda t: (t[1], t[0]))
                if lp == lq:
                    cols.append(MT[j + lp][edge_of[vp + vq]])
                elif vp == vq:
                    cols.append(MV[j][local_of[vp]])
                else:       # a diagonal: the lower letter is at the bottom (lp == 0)
                    cols.append(MD[j][edge_of[vp + vq]])
            cells.append(np.stack(cols, axis=1))
        cells = np.concatenate(cells)
        inside = 0.5 * (radii[j] + radii[j + 1]) < a
        mesh.addElementsByType(vol_p if inside else vol_m, etype, new(len(cells)).tolist(),
                               cells.ravel().tolist())
        ncells += len(cells)
    return vol_p, vol_m, ncells
