"""Stiff ODEs: pysciml's implicit methods against scipy, SUNDIALS CVODE and diffrax in one process.

Work–precision on Robertson (t ∈ [0, 1e5]), Van der Pol μ = 1e6 in the scaled form (t ∈ [0, 2]), HIRES
(t ∈ [0, 321.8122]) and POLLU (20 species, t ∈ [0, 60]) at rtol 1e-4, 1e-6, 1e-8; the 2-D Brusselator on
N×N grids (N = 8, 16 on t ∈ [0, 1.5], across the forcing switched on at t = 1.1; N = 32 on t ∈ [0, 0.5])
at rtol 1e-4, 1e-6 with sparse and matrix-free linear algebra; then an ensemble of 1000 Robertson problems
with random k1. float64, one pinned core, only the final state kept. Error = max abs and max relative error
at t1 against scipy Radau rtol 1e-12 with the analytic Jacobian (atol 1e-14; 1e-16 for Robertson), for POLLU
against the published reference solution. Peers are set up as in ../shared/peers-baseline.md (Problems 5
and 6): scipy BDF/Radau/LSODA with finite-difference Jacobians and "+jac" with the analytic one; CVODE
(scikit-sundae) BDF with the dense direct solver and a Python right-hand side, solver built inside the timed
call; diffrax Kvaerno5 and KenCarp4 (as a pure implicit method) with their default root finder and with
`optimistix.Newton` (the fair setting). On the Brusselator the peers get their sparse settings instead:
scipy BDF with `jac_sparsity` (and the analytic sparse Jacobian), CVODE with the sparse direct solver
(SuperLU_MT) on the sparsity pattern and with GMRES; LSODA and diffrax have only dense linear algebra.
pysciml and diffrax are jitted functions of (u0, p), traced and compiled separately (not in the run times).
A run that does not succeed is timed once and reported as FAILED with its step counts.

    python benchmarks/stiff.py                    # full run, tables to stdout
    python benchmarks/stiff.py --write            # ... and into RESULTS.md
    python benchmarks/stiff.py --quick --problems robertson,ensemble
    python benchmarks/stiff.py --quick --problems pollu,brusselator_8

Raw rows of the latest run go to results/stiff.jsonl.
"""
import argparse
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import _harness as H

CORE = H.setup_env()        # before numpy / jax are imported

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402
from pysciml.testing import POLLU_REFERENCE, hires_jacobian, hires_terms  # noqa: E402
from pysciml.testing.problems import _POLLU_REACTIONS as POLLU_REACTIONS  # noqa: E402  (published data)

try:
    import diffrax
    import optimistix as optx
except ImportError:
    diffrax = None
try:
    from sksundae.cvode import CVODE
except ImportError:
    CVODE = None

NAME = "stiff"
HEADING = "Stiff ODEs (`benchmarks/stiff.py`)"
PACKAGES = ["pysciml", "numpy", "scipy", "jax", "jaxlib", "diffrax", "equinox", "optimistix", "lineax",
            "scikit-sundae"]
MAX_STEPS = 100_000
RTOLS = (1e-4, 1e-6, 1e-8)
PYSCIML_METHODS = [m for m in ("Rosenbrock23", "Rodas4", "Rodas5P", "KenCarp4", "Kvaerno5", "RadauIIA5", "FBDF")
                   if hasattr(ps, m)]
SCIPY_METHODS = ["BDF", "Radau", "LSODA"]
DIFFRAX_SETTINGS = ["Kvaerno5", "Kvaerno5 Newton", "KenCarp4", "KenCarp4 Newton"]
SLOW_S = 1.0              # a run longer than this is timed on 3 single calls, the first included
PAIRED_MAX_S = 0.1        # head-to-head pysciml/diffrax samples only for solves shorter than this

# Array operations per backend, so each right-hand side is written once.
NP = SimpleNamespace(vec=np.array, xp=np)
JNP = SimpleNamespace(vec=jnp.stack, xp=jnp)


# --- problems (right-hand side f(u, p, t) per backend; analytic Jacobian in numpy for the peers' "+jac") -------

def robertson(ops):
    """Robertson's chemical kinetics, p = (k1, k2, k3)."""
    def f(u, p, t):
        a, b, c = p[0] * u[0], p[1] * u[1] * u[1], p[2] * u[1] * u[2]
        return ops.vec([-a + c, a - b - c, b])
    return f


def robertson_jac(u, p):
    k1, k2, k3 = p
    return np.array([[-k1, k3 * u[2], k3 * u[1]],
                     [k1, -2 * k2 * u[1] - k3 * u[2], -k3 * u[1]],
                     [0.0, 2 * k2 * u[1], 0.0]])


def vanderpol(ops):
    """Van der Pol in the scaled form x' = y, y' = μ((1 − x²)y − x), p = (μ,)."""
    def f(u, p, t):
        x, y = u[0], u[1]
        return ops.vec([y, p[0] * ((1 - x * x) * y - x)])
    return f


def vanderpol_jac(u, p):
    x, y, mu = u[0], u[1], p[0]
    return np.array([[0.0, 1.0], [mu * (-2 * x * y - 1), mu * (1 - x * x)]])


def hires(ops):
    """HIRES (Hairer–Wanner II, IV.10), 8 states; p = (k,) the fast rate 280 of the y6·y8 reaction. The
    equations are pysciml.testing's (one definition for the tests, the benchmarks and every peer)."""
    def f(u, p, t):
        return ops.vec(hires_terms(u, p[0]))
    return f


def hires_jac(u, p):
    return hires_jacobian(u, p[0])


def _pollu_tables():
    """Mass-action tables of POLLU's 25 reactions (the published table in pysciml.testing.problems, Verwer
    1994): the two reactant indices per reaction (20 = the constant 1 of a first-order reaction) and the
    20×25 stoichiometry matrix."""
    first = np.array([r[1][0] - 1 for r in POLLU_REACTIONS])
    second = np.array([r[1][1] - 1 if len(r[1]) > 1 else 20 for r in POLLU_REACTIONS])
    stoichiometry = np.zeros((20, len(POLLU_REACTIONS)))
    for j, (_, reactants, products) in enumerate(POLLU_REACTIONS):
        np.add.at(stoichiometry[:, j], np.array(reactants) - 1, -1.0)
        np.add.at(stoichiometry[:, j], np.array(products) - 1, 1.0)
    return first, second, stoichiometry


POLLU_FIRST, POLLU_SECOND, POLLU_S = _pollu_tables()


def pollu(ops):
    """POLLU: rates k_j · y_a · y_b (y_b = 1 for first-order reactions), f = S · rates; p = the 25 k_j."""
    xp, S = ops.xp, ops.xp.asarray(POLLU_S)

    def f(u, p, t):
        extended = xp.concatenate([u, xp.ones(1)])
        return S @ (p * extended[POLLU_FIRST] * extended[POLLU_SECOND])
    return f


def pollu_jac(u, p):
    extended = np.append(u, 1.0)
    reactions = np.arange(len(p))
    d_rates = np.zeros((len(p), 21))       # ∂rate_j/∂y, the last column for the constant
    np.add.at(d_rates, (reactions, POLLU_FIRST), p * extended[POLLU_SECOND])
    np.add.at(d_rates, (reactions, POLLU_SECOND), p * extended[POLLU_FIRST])
    return POLLU_S @ d_rates[:, :20]


def brusselator(n):
    """The 2-D Brusselator of `pysciml.testing.brusselator_2d` on an n×n periodic grid, state (n, n, 2)
    flattened (species fastest): (make(ops) -> f(u, p, t), jac(u, p) -> scipy.sparse CSC matrix)."""
    grid = np.linspace(0.0, 1.0, n)
    x, y = grid[:, None], grid[None, :]
    disk = ((x - 0.3) ** 2 + (y - 0.6) ** 2 <= 0.1 ** 2).astype(float)

    def make(ops):
        xp = ops.xp

        def laplacian(w):
            return xp.roll(w, 1, 0) + xp.roll(w, -1, 0) + xp.roll(w, 1, 1) + xp.roll(w, -1, 1) - 4.0 * w

        def f(u, p, t):
            a, b, alpha, dx = p[0], p[1], p[2], p[3]
            w = u.reshape(n, n, 2)
            uu, vv = w[..., 0], w[..., 1]
            reaction = uu * uu * vv
            du = alpha / dx ** 2 * laplacian(uu) + b + reaction - (a + 1.0) * uu + xp.where(t >= 1.1, 5.0, 0.0) * disk
            dv = alpha / dx ** 2 * laplacian(vv) + a * uu - reaction
            return xp.stack([du, dv], axis=-1).reshape(u.shape)
        return f

    index = np.arange(2 * n * n).reshape(n, n, 2)
    lap_rows, lap_cols, lap_vals = [], [], []
    for s in range(2):
        for shift, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1), (0, 0)):
            lap_rows.append(index[..., s].ravel())
            lap_cols.append(np.roll(index[..., s], shift, axis).ravel())
            lap_vals.append(np.full(n * n, -4.0 if shift == 0 else 1.0))
    cu, cv = index[..., 0].ravel(), index[..., 1].ravel()
    rows = np.concatenate(lap_rows + [cu, cu, cv, cv])
    cols = np.concatenate(lap_cols + [cu, cv, cu, cv])
    lap_vals = np.concatenate(lap_vals)

    def jac(u, p):
        a, alpha, dx = p[0], p[2], p[3]
        w = u.reshape(n, n, 2)
        uu, vv = w[..., 0].ravel(), w[..., 1].ravel()
        reaction = [2 * uu * vv - (a + 1.0), uu * uu, a - 2 * uu * vv, -uu * uu]
        values = np.concatenate([alpha / dx ** 2 * lap_vals] + reaction)
        return sp.csc_matrix((values, (rows, cols)), shape=(2 * n * n, 2 * n * n))    # duplicates summed
    return make, jac


def robertson_atol(rtol):
    return np.array([rtol * 1e-2, min(rtol * 1e-2, 1e-10), rtol * 1e-2])


@dataclass(frozen=True)
class Problem:
    name: str
    make: object          # ops -> f(u, p, t)
    jac: object           # (u, p) -> numpy Jacobian (dense, or scipy.sparse for a grid problem)
    u0: np.ndarray        # flat
    p: np.ndarray
    tspan: tuple
    atol: object          # rtol -> atol (scalar or per component)
    atol_text: str
    ref_atol: float
    rtols: tuple = RTOLS
    shape: tuple = None   # the state's shape for pysciml (flat when None)
    grid: bool = False    # sparse / matrix-free settings (the Brusselator)
    published: np.ndarray = None   # the reference final state, when published
    library: object = None         # () -> the same problem from pysciml.testing, checked against ours

    @property
    def n(self):
        return self.u0.size


ROBERTSON_P = np.array([0.04, 3e7, 1e4])
BRUSSELATOR_SPANS = {8: (0.0, 1.5), 16: (0.0, 1.5), 32: (0.0, 0.5)}


def brusselator_problem(n):
    lib = ps.testing.brusselator_2d(n, tspan=BRUSSELATOR_SPANS[n])
    make, jac = brusselator(n)
    return Problem(f"brusselator_{n}", make, jac, np.asarray(lib.u0).ravel(), np.asarray(lib.p), lib.tspan,
                   lambda rtol: rtol * 1e-2, "rtol·1e-2", 1e-14, rtols=(1e-4, 1e-6), shape=(n, n, 2), grid=True,
                   library=lambda: lib)


def pollu_problem():
    lib = ps.testing.pollu()
    return Problem("pollu", pollu, pollu_jac, np.asarray(lib.u0), np.asarray(lib.p), lib.tspan,
                   lambda rtol: rtol * 1e-2, "rtol·1e-2", 1e-14, published=POLLU_REFERENCE, library=lambda: lib)


PROBLEMS = {
    "robertson": Problem("robertson", robertson, robertson_jac, np.array([1.0, 0.0, 0.0]), ROBERTSON_P,
                         (0.0, 1e5), robertson_atol, "[rtol·1e-2, min(rtol·1e-2, 1e-10), rtol·1e-2]", 1e-16),
    "vanderpol_mu1e6": Problem("vanderpol_mu1e6", vanderpol, vanderpol_jac, np.array([2.0, 0.0]), np.array([1e6]),
                               (0.0, 2.0), lambda rtol: rtol, "rtol", 1e-14),
    "hires": Problem("hires", hires, hires_jac, np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057]), np.array([280.0]),
                     (0.0, 321.8122), lambda rtol: rtol * 1e-2, "rtol·1e-2", 1e-14),
    "pollu": pollu_problem(),
    **{f"brusselator_{n}": brusselator_problem(n) for n in BRUSSELATOR_SPANS},
}
# On the Brusselator: (method, linsolve, largest N); dense LU (n = 2N² states) is left out where it is slow:
# at N = 32 a 2048×2048 factorization per step makes a solve take seconds (Rodas5P kept to show it).
PYSCIML_GRID = [("Rodas5P", "lu", 32), ("Rodas5P", "sparse", 32), ("Rodas5P", "krylov", 32),
                ("KenCarp4", "lu", 16), ("KenCarp4", "sparse", 32), ("KenCarp4", "krylov", 32), ("FBDF", None, 16),
                ("FBDF", "krylov", 32)]
DIFFRAX_GRID = (["Kvaerno5", "Kvaerno5 Newton"], 16)      # dense Newton: a solve takes minutes at N = 32
CVODE_KRYLOV_DIM = 30     # GMRES basis, as pysciml's KrylovGMRES restart (scikit-sundae's default is 5)
ENSEMBLE = SimpleNamespace(size=1000, quick_loop=50, tspan=(0.0, 500.0), rtol=1e-6, err_members=20, seed=0)


def check_against_library(prob):
    """Our numpy and JAX right-hand sides and the analytic Jacobian agree with the pysciml.testing problem."""
    lib = prob.library()
    u = np.random.default_rng(0).uniform(0.5, 2.0, prob.n) * np.maximum(np.abs(prob.u0), 1e-3)
    for t in (prob.tspan[0], prob.tspan[1]):
        expected = np.ravel(lib.f(jnp.asarray(u.reshape(prob.shape or u.shape)), lib.p, t))
        scale = np.max(np.abs(expected))
        for f in (prob.make(NP), prob.make(JNP)):
            assert np.max(np.abs(np.asarray(f(u, prob.p, t)) - expected)) <= 1e-13 * scale, prob.name
    jac = jax.jacfwd(lambda x: jnp.ravel(lib.f(x.reshape(prob.shape or x.shape), lib.p, prob.tspan[1])))(jnp.asarray(u))
    ours = prob.jac(u, prob.p)
    ours = ours.toarray() if sp.issparse(ours) else ours
    assert np.max(np.abs(ours - np.asarray(jac))) <= 1e-12 * np.max(np.abs(jac)), prob.name


def ensemble_k1():
    return np.random.default_rng(ENSEMBLE.seed).uniform(0.02, 0.06, ENSEMBLE.size)


def ensemble_problem(k1):
    """Robertson with rate k1 on the ensemble's time span."""
    return Problem("robertson_ensemble", robertson, robertson_jac, PROBLEMS["robertson"].u0,
                   np.array([k1, 3e7, 1e4]), ENSEMBLE.tspan, robertson_atol, PROBLEMS["robertson"].atol_text, 1e-16)


# --- reference ---------------------------------------------------------------------------------------------

_references = {}


def _radau(prob, rtol):
    f, p = prob.make(NP), prob.p
    start = time.perf_counter()
    sol = solve_ivp(lambda t, y: f(y, p, t), prob.tspan, prob.u0, method="Radau", rtol=rtol, atol=prob.ref_atol,
                    jac=lambda t, y: prob.jac(y, p))
    assert sol.success, sol.message
    return sol, time.perf_counter() - start


def reference(prob, check=False):
    """Final state from scipy Radau rtol 1e-12 with the analytic Jacobian, or the published one where there
    is one (cached per problem and p).

    With ``check``, also record a measure of the reference's error: the difference to Radau rtol 1e-11, or
    for a published reference the difference of Radau rtol 1e-12 to it."""
    key = (prob.name, tuple(prob.p))
    if key not in _references:
        if prob.published is not None:
            info = dict(final=np.asarray(prob.published, dtype=float), steps=None, seconds=None)
            if check:
                sol, seconds = _radau(prob, 1e-12)
                info.update(steps=len(sol.t) - 1, seconds=seconds, check_text="max |Radau(1e-12) − published|",
                            check=float(np.max(np.abs(sol.y[:, -1] - info["final"]))))
        else:
            sol, seconds = _radau(prob, 1e-12)
            info = dict(steps=len(sol.t) - 1, seconds=seconds, final=sol.y[:, -1])
            if check:
                info.update(check_text="max |Radau(1e-12) − Radau(1e-11)|",
                            check=float(np.max(np.abs(_radau(prob, 1e-11)[0].y[:, -1] - info["final"]))))
        _references[key] = info
    return _references[key]


def errors(prob, final):
    ref = reference(prob)["final"]
    diff = np.abs(np.asarray(final, dtype=float) - ref)
    return float(np.max(diff)), float(np.max(diff / np.maximum(np.abs(ref), np.finfo(float).tiny)))


# --- one runner per library ----------------------------------------------------------------------------------

def measure(call, cfg):
    """call() -> (final, counts dict, status). A failed run is timed once; one slower than SLOW_S on three
    single calls, the first included; any other with time_call."""
    c0, w0 = time.process_time(), time.perf_counter()
    first = call()
    once, cpu = time.perf_counter() - w0, time.process_time() - c0
    if first[2] != "ok":
        return H.Timing(once, once, once, cpu, 1, 1, first)
    if once > SLOW_S:
        walls, cpus = [once], [cpu]
        for _ in range(2):
            c0, w0 = time.process_time(), time.perf_counter()
            call()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        return H.Timing(float(np.median(walls)), min(walls), max(walls), float(np.median(cpus)), 1, 3, first)
    return H.time_call(call, cfg.repeats, cfg.min_sample)


def _row(prob, cfg, lib, method, timing, **extra):
    final, counts, status = timing.result
    err, rel = errors(prob, final)
    row = dict(problem=prob.name, n=prob.n, rtol=cfg.rtol, atol=np.asarray(prob.atol(cfg.rtol)).tolist(),
               lib=lib, method=method, median_s=timing.median, min_s=timing.min, max_s=timing.max,
               cpu_s=timing.cpu, calls_per_sample=timing.inner, samples=timing.samples, err=err, rel_err=rel,
               steps=None, accepted=None, rejected=None, nfev=None, njev=None, trace_s=None, compile_s=None,
               status=status, load=H.load_average())
    row.update({k: None if v is None else int(v) for k, v in counts.items()})
    row.update(extra)
    return row


def sparsity(prob):
    """The Jacobian's sparsity pattern (scipy.sparse), detected once by pysciml from the JAX right-hand side."""
    if prob.name not in _patterns:
        u0 = jnp.asarray(prob.u0).reshape(prob.shape or prob.u0.shape)
        _patterns[prob.name] = sp.csr_matrix(ps.jacobian_sparsity(prob.make(JNP), u0, jnp.asarray(prob.p), 0.0))
    return _patterns[prob.name]


_patterns = {}


def run_scipy(prob, method, cfg, jac=""):
    """jac: "" (finite differences, dense), "+jac" (analytic) or "sparse" (`jac_sparsity`: colored differences)."""
    f, p = prob.make(NP), prob.p
    options = dict(method=method, rtol=cfg.rtol, atol=prob.atol(cfg.rtol))
    if jac == "+jac":
        options["jac"] = lambda t, y: prob.jac(y, p)
    elif jac == "sparse":
        options["jac_sparsity"] = sparsity(prob)

    def call():
        sol = solve_ivp(lambda t, y: f(y, p, t), prob.tspan, prob.u0, **options)
        steps = len(sol.t) - 1      # scipy reports accepted steps only
        counts = dict(steps=steps, accepted=steps, nfev=sol.nfev, njev=sol.njev)
        return sol.y[:, -1], counts, "ok" if sol.success else f"FAILED: {sol.message}"

    return _row(prob, cfg, "scipy", f"{method} {jac}".strip(), measure(call, cfg))


def cvode_options(prob, linsolver):
    """scikit-sundae options per linear solver: "dense", "sparse" (SuperLU_MT on the sparsity pattern, its
    Jacobian by colored differences) or "gmres" (matrix-free, difference-quotient J·v, no preconditioner)."""
    if linsolver == "sparse":
        return dict(linsolver="sparse", sparsity=sparsity(prob))
    if linsolver == "gmres":
        return dict(linsolver="gmres", krylov_dim=CVODE_KRYLOV_DIM)
    return dict(linsolver="dense")


def run_cvode(prob, cfg, analytic_jac=False, linsolver="dense"):
    f, p = prob.make(NP), prob.p

    def rhs(t, y, yp):
        yp[:] = f(y, p, t)

    def jacfn(t, y, yp, JJ):
        JJ[:, :] = prob.jac(y, p)

    options = cvode_options(prob, linsolver)

    def call():
        solver = CVODE(rhs, method="BDF", rtol=cfg.rtol, atol=prob.atol(cfg.rtol), max_num_steps=MAX_STEPS,
                       jacfn=jacfn if analytic_jac else None, **options)
        sol = solver.solve(np.asarray(prob.tspan), prob.u0)
        counts = dict(steps=len(sol.t) - 1, nfev=sol.nfev, njev=sol.njev)   # steps = CVODE's internal steps
        return sol.y[-1], counts, "ok" if sol.success else f"FAILED: {sol.message}"

    label = "CVODE BDF" + ("" if linsolver == "dense" else f" {linsolver}") + (" +jac" if analytic_jac else "")
    if linsolver == "gmres":
        label += f"({CVODE_KRYLOV_DIM})"
    return _row(prob, cfg, "sundials", label, measure(call, cfg))


def _jax_row(prob, cfg, lib, method, final_fn, describe, shape=None):
    """final_fn(u0, p) -> (final state, counts dict of scalars, result code), jitted and timed; u0 has
    ``shape`` (default flat), the final state is flattened."""
    u0, p = jnp.asarray(prob.u0).reshape(shape or prob.u0.shape), jnp.asarray(prob.p)
    trace, compile_, compiled = H.jax_compile_times(final_fn, u0, p)

    def call():
        final, counts, code = jax.block_until_ready(compiled(u0, p))
        return np.ravel(final), counts, describe(code)

    return _row(prob, cfg, lib, method, measure(call, cfg), trace_s=trace, compile_s=compile_,
                call=call)      # kept for the paired comparison, dropped before writing


def describe_pysciml(code):
    code = ps.ReturnCode(int(code))
    return "ok" if code == ps.ReturnCode.Success else f"FAILED: {code.name}"


def pysciml_solve(f, u0, p, tspan, alg, rtol, atol, jac_prototype=None):
    # atol as a host constant: solve reads it (and u0's scale) to decide whether the stage solves need
    # refinement (`DenseLU()`'s automatic rule); a jnp constant is a tracer inside jit, which leaves it off.
    sol = ps.solve(ps.ODEProblem(f, u0, tspan, p, jac_prototype=jac_prototype), alg, rtol=rtol,
                   atol=np.asarray(atol), save_everystep=False, max_steps=MAX_STEPS)
    s = sol.stats
    counts = dict(steps=s["nsteps"], accepted=s["naccept"], rejected=s["nreject"], nfev=s["nf"],
                  njev=s.get("njacs"))
    return sol.u[-1], counts, sol.retcode


def run_pysciml(prob, method, cfg, linsolve=None):
    """``method`` with ``linsolve`` (None: the method's default, dense LU); on a grid problem the solver gets
    the state in its (N, N, 2) shape and the detected sparsity pattern as ``jac_prototype`` (so even dense LU
    forms J by colored forward-mode AD)."""
    f, atol = prob.make(JNP), prob.atol(cfg.rtol)
    alg = getattr(ps, method)() if linsolve is None else getattr(ps, method)(linsolve=linsolve)
    pattern = sparsity(prob) if prob.grid else None
    final = lambda u0, p: pysciml_solve(f, u0, p, prob.tspan, alg, cfg.rtol, atol, pattern)  # noqa: E731
    label = method if linsolve is None else f"{method} {linsolve}"
    return _jax_row(prob, cfg, "pysciml", label, final, describe_pysciml, shape=prob.shape)


def diffrax_setup(f, setting, rtol, atol):
    """(terms, solver, controller) for a setting such as "Kvaerno5" or "KenCarp4 Newton"."""
    name, _, root = setting.partition(" ")
    kwargs = {"root_finder": diffrax.with_stepsize_controller_tols(optx.Newton)()} if root == "Newton" else {}
    solver = getattr(diffrax, name)(**kwargs)
    term = diffrax.ODETerm(lambda t, y, p: f(y, p, t))
    if name == "KenCarp4":    # IMEX method run as a pure implicit ESDIRK: zero explicit part
        term = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, p: jnp.zeros_like(y)), term)
    return term, solver, diffrax.PIDController(rtol=rtol, atol=jnp.asarray(atol))   # an I-controller


def diffrax_solve(setup, u0, p, tspan):
    term, solver, controller = setup
    sol = diffrax.diffeqsolve(term, solver, tspan[0], tspan[1], None, u0, args=p, saveat=diffrax.SaveAt(t1=True),
                              stepsize_controller=controller, max_steps=MAX_STEPS, throw=False)
    s = sol.stats
    counts = dict(steps=s["num_steps"], accepted=s["num_accepted_steps"], rejected=s["num_rejected_steps"])
    return sol.ys[-1], counts, sol.result == diffrax.RESULTS.successful


def describe_diffrax(ok):
    return "ok" if bool(ok) else "FAILED: diffrax result not successful"


def run_diffrax(prob, setting, cfg):
    setup = diffrax_setup(prob.make(JNP), setting, cfg.rtol, prob.atol(cfg.rtol))
    final = lambda u0, p: diffrax_solve(setup, u0, p, prob.tspan)  # noqa: E731
    return _jax_row(prob, cfg, "diffrax", setting, final, describe_diffrax)


def runs_for(prob, cfg):
    """(library, method, runner(prob, cfg)) to measure on ``prob``."""
    if prob.grid:
        return grid_runs_for(prob, cfg)
    out = []
    if "scipy" in cfg.libs:
        out += [("scipy", m + jac, lambda prob, c, m=m, jac=jac: run_scipy(prob, m, c, jac.strip()))
                for m in SCIPY_METHODS for jac in ("", " +jac")]
    if "sundials" in cfg.libs and CVODE is not None:
        out += [("sundials", "CVODE BDF" + jac, lambda prob, c, jac=jac: run_cvode(prob, c, bool(jac)))
                for jac in ("", " +jac")]
    if "pysciml" in cfg.libs:
        out += [("pysciml", m, lambda prob, c, m=m: run_pysciml(prob, m, c)) for m in PYSCIML_METHODS]
    if "diffrax" in cfg.libs and diffrax is not None:
        out += [("diffrax", s, lambda prob, c, s=s: run_diffrax(prob, s, c)) for s in DIFFRAX_SETTINGS]
    return out


def grid_runs_for(prob, cfg):
    """The Brusselator's runs: sparse and matrix-free settings where a library has them (see PYSCIML_GRID,
    DIFFRAX_GRID for what is left out at large N)."""
    size = prob.shape[0]
    out = []
    if "scipy" in cfg.libs:
        out += [("scipy", f"BDF {jac}", lambda prob, c, jac=jac: run_scipy(prob, "BDF", c, jac))
                for jac in ("sparse", "+jac")]
        out.append(("scipy", "LSODA", lambda prob, c: run_scipy(prob, "LSODA", c)))
    if "sundials" in cfg.libs and CVODE is not None:
        out += [("sundials", f"CVODE BDF {ls}", lambda prob, c, ls=ls: run_cvode(prob, c, linsolver=ls))
                for ls in ("sparse", "gmres")]
    if "pysciml" in cfg.libs:
        out += [("pysciml", m if ls is None else f"{m} {ls}", lambda prob, c, m=m, ls=ls: run_pysciml(prob, m, c, ls))
                for m, ls, largest in PYSCIML_GRID if size <= largest and hasattr(ps, m)]
    settings, largest = DIFFRAX_GRID
    if "diffrax" in cfg.libs and diffrax is not None and size <= largest:
        out += [("diffrax", s, lambda prob, c, s=s: run_diffrax(prob, s, c)) for s in settings]
    return out


def warm_up_jax(cfg):
    """One tiny throwaway solve per JAX library, so one-time set-up is not billed to the first problem."""
    prob = ensemble_problem(0.04)
    once = SimpleNamespace(**{**vars(cfg), "rtol": 1e-4, "repeats": 1, "min_sample": 0.0})
    if "pysciml" in cfg.libs:
        run_pysciml(prob, "Rosenbrock23", once)
    if "diffrax" in cfg.libs and diffrax is not None:
        run_diffrax(prob, "Kvaerno5 Newton", once)


# --- summary: pysciml against the peers ------------------------------------------------------------------------

def _ok(rows, lib, prefix=""):
    return [r for r in rows if r["lib"] == lib and r["status"] == "ok" and r["method"].startswith(prefix)]


def _fastest(rows):
    return min(rows, key=lambda r: r["median_s"]) if rows else None


def pysciml_against(ours, peer):
    """The fastest pysciml run whose error is at most the peer's; else the fastest, flagged (True)."""
    if not ours or peer is None:
        return None, False
    good = [r for r in ours if r["err"] <= peer["err"]]
    return (_fastest(good), False) if good else (_fastest(ours), True)


def summarize(rows, cfg):
    """Per (problem, rtol): the peers LSODA, CVODE (its fastest setting) and the fastest successful diffrax
    setting, each against the fastest pysciml method with an error no larger than the peer's. The diffrax
    comparison is also timed head to head (paired_ratio) when both take under PAIRED_MAX_S per solve."""
    out = []
    for key in dict.fromkeys((r["problem"], r["rtol"]) for r in rows):
        group = [r for r in rows if (r["problem"], r["rtol"]) == key]
        ours = _ok(group, "pysciml")
        peers = {"LSODA": _fastest(_ok(group, "scipy", "LSODA")),
                 "CVODE": _fastest(_ok(group, "sundials")),
                 "diffrax": _fastest(_ok(group, "diffrax"))}
        entry = dict(problem=key[0], rtol=key[1], fastest=_fastest(ours), peers={})
        for name, peer in peers.items():
            mine, worse = pysciml_against(ours, peer)
            cell = None
            if mine is not None:
                cell = dict(peer=peer, ours=mine, ratio=peer["median_s"] / mine["median_s"], ours_err_larger=worse)
                if (name == "diffrax" and "call" in mine and "call" in peer
                        and max(mine["median_s"], peer["median_s"]) < PAIRED_MAX_S):
                    median, q1, q3 = H.paired_ratio(mine["call"], peer["call"], rounds=5 if cfg.quick else 15,
                                                    min_sample=cfg.min_sample / 2)
                    cell["paired"] = dict(median=median, q1=q1, q3=q3)
            entry["peers"][name] = cell
        out.append(entry)
    return out


# --- ensemble of Robertson problems ------------------------------------------------------------------------------

def _ensemble_row(lib, method, timing, finals, steps, scale=1, members=None, **extra):
    refs = np.array([reference(ensemble_problem(k))["final"] for k in ensemble_k1()[:ENSEMBLE.err_members]])
    err = float(np.max(np.abs(np.asarray(finals)[:ENSEMBLE.err_members] - refs)))
    steps = np.asarray(steps)
    note = "" if scale == 1 else f"timed and steps counted on {members} members ({H.fmt(timing.median)} s), ×{scale:g}"
    row = dict(problem="robertson_ensemble", lib=lib, method=method, median_s=timing.median * scale,
               min_s=timing.min * scale, max_s=timing.max * scale, cpu_s=timing.cpu * scale, samples=timing.samples,
               steps_mean=float(steps.mean()), steps_max=int(steps.max()), err=err, trace_s=None, compile_s=None,
               status="ok", note=note, load=H.load_average())
    row.update(extra)
    return row


def ensemble_jax(lib, method, solve_one, describe, cfg):
    """jit(vmap(solve_one)) over k1; solve_one(k1) -> (final, counts, code)."""
    k1 = jnp.asarray(ensemble_k1())
    trace, compile_, compiled = H.jax_compile_times(jax.vmap(solve_one), k1)
    timing = H.time_call(lambda: jax.block_until_ready(compiled(k1)), cfg.repeats, cfg.min_sample)
    finals, counts, codes = timing.result
    failed = sum(describe(c) != "ok" for c in np.asarray(codes))
    row = _ensemble_row(lib, method, timing, finals, counts["steps"], trace_s=trace, compile_s=compile_)
    if failed:
        row["status"] = f"FAILED: {failed} of {ENSEMBLE.size} members"
    return row


def ensemble_pysciml(method, cfg):
    f, atol = robertson(JNP), robertson_atol(ENSEMBLE.rtol)

    def solve_one(k1):
        p = jnp.stack([k1, 3e7, 1e4])
        return pysciml_solve(f, jnp.asarray(PROBLEMS["robertson"].u0), p, ENSEMBLE.tspan, getattr(ps, method)(),
                             ENSEMBLE.rtol, atol)

    return ensemble_jax("pysciml", f"vmap {method}", solve_one, describe_pysciml, cfg)


def ensemble_diffrax(setting, cfg):
    setup = diffrax_setup(robertson(JNP), setting, ENSEMBLE.rtol, robertson_atol(ENSEMBLE.rtol))

    def solve_one(k1):
        return diffrax_solve(setup, jnp.asarray(PROBLEMS["robertson"].u0), jnp.stack([k1, 3e7, 1e4]), ENSEMBLE.tspan)

    return ensemble_jax("diffrax", f"vmap {setting}", solve_one, describe_diffrax, cfg)


def ensemble_loop(lib, method, runner, cfg):
    """A Python loop of single solves; with --quick only the first members are timed and the time scaled."""
    members = ENSEMBLE.quick_loop if cfg.quick else ENSEMBLE.size
    probs = [ensemble_problem(k) for k in ensemble_k1()[:members]]
    one = SimpleNamespace(**{**vars(cfg), "rtol": ENSEMBLE.rtol, "repeats": 1, "min_sample": 0.0})
    loop_calls = [lambda prob=prob: runner(prob, one) for prob in probs]

    def call():
        results = [solve() for solve in loop_calls]
        return [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]

    timing = H.time_call(call, cfg.repeats, 0.0)
    finals, steps, statuses = timing.result
    row = _ensemble_row(lib, f"{method} loop", timing, finals, steps, ENSEMBLE.size / members, members)
    failed = sum(s != "ok" for s in statuses)
    if failed:
        row["status"] = f"FAILED: {failed} of {members} members"
    return row


def _solve_scipy_lsoda(prob, cfg):
    f, p = prob.make(NP), prob.p
    sol = solve_ivp(lambda t, y: f(y, p, t), prob.tspan, prob.u0, method="LSODA", rtol=cfg.rtol,
                    atol=prob.atol(cfg.rtol))
    return sol.y[:, -1], len(sol.t) - 1, "ok" if sol.success else sol.message


def _solve_cvode(prob, cfg):
    f, p = prob.make(NP), prob.p

    def rhs(t, y, yp):
        yp[:] = f(y, p, t)

    sol = CVODE(rhs, method="BDF", linsolver="dense", rtol=cfg.rtol, atol=prob.atol(cfg.rtol),
                max_num_steps=MAX_STEPS).solve(np.asarray(prob.tspan), prob.u0)
    return sol.y[-1], len(sol.t) - 1, "ok" if sol.success else sol.message


def run_ensemble(cfg):
    rows = []
    for k in ensemble_k1()[:ENSEMBLE.err_members]:
        reference(ensemble_problem(k))
    if "pysciml" in cfg.libs:
        rows += [ensemble_pysciml(m, cfg) for m in PYSCIML_METHODS]
    if "diffrax" in cfg.libs and diffrax is not None:
        rows.append(ensemble_diffrax("Kvaerno5 Newton", cfg))
    if "scipy" in cfg.libs:
        rows.append(ensemble_loop("scipy", "LSODA", _solve_scipy_lsoda, cfg))
    if "sundials" in cfg.libs and CVODE is not None:
        rows.append(ensemble_loop("sundials", "CVODE BDF", _solve_cvode, cfg))
    for row in rows:
        print(f"ensemble  {row['lib']:9s} {row['method']:24s} {row['median_s']:8.4g} s  steps {row['steps_mean']:.0f}/"
              f"{row['steps_max']}  err {row['err']:.3g}  {H.compile_cell(row)}  {row['status']} {row['note']}",
              file=sys.stderr, flush=True)
    return rows


# --- report ------------------------------------------------------------------------------------------------------

def _steps(r):
    if r.get("steps") is None:
        return "–"
    if r.get("rejected") is None:
        return str(r["steps"])
    return f"{r['steps']} ({r['accepted']}/{r['rejected']})"


def results_table(rows):
    headers = ["problem", "rtol", "lib", "method", "time/solve ms: median [min–max]", "CPU ms", "steps (acc/rej)",
               "nfev", "njev", "max abs err", "max rel err", "JAX trace + compile s"]
    body = []
    for r in rows:
        time_cell = H.time_cell(r) if r["status"] == "ok" else f"**{r['status']}** (one run: {H.fmt(r['median_s'] * 1e3)} ms)"
        body.append([r["problem"], H.fmt(r["rtol"]), r["lib"], r["method"], time_cell, H.fmt(r["cpu_s"] * 1e3),
                     _steps(r), H.fmt(r["nfev"], 6), H.fmt(r["njev"], 6), H.fmt(r["err"]), H.fmt(r["rel_err"]),
                     H.compile_cell(r)])
    return H.markdown_table(headers, body)


def _peer_cells(cell):
    if cell is None:
        return ["–", "–"]
    peer, ours = cell["peer"], cell["ours"]
    flag = " †" if cell["ours_err_larger"] else ""
    ratio = f"{H.fmt(cell['ratio'])}× vs {ours['method']}{flag}"
    if "paired" in cell:
        p = cell["paired"]
        ratio += f" (paired {H.fmt(p['median'])}× [{H.fmt(p['q1'])}–{H.fmt(p['q3'])}])"
    name = f"{peer['method']}: " if peer["lib"] == "diffrax" or "+jac" in peer["method"] else ""
    return [f"{name}{H.fmt(peer['median_s'] * 1e3)} ({H.fmt(peer['err'])})", ratio]


def summary_table(summary):
    headers = ["problem", "rtol", "fastest pysciml: ms (err)", "LSODA ms (err)", "LSODA / pysciml",
               "CVODE ms (err)", "CVODE / pysciml", "best diffrax ms (err)", "diffrax / pysciml"]
    body = []
    for e in summary:
        f = e["fastest"]
        cells = [e["problem"], H.fmt(e["rtol"]),
                 f"{f['method']}: {H.fmt(f['median_s'] * 1e3)} ({H.fmt(f['err'])})" if f else "all FAILED"]
        for name in ("LSODA", "CVODE", "diffrax"):
            cells += _peer_cells(e["peers"][name])
        body.append(cells)
    return H.markdown_table(headers, body)


def ensemble_table(rows):
    headers = ["lib", "method", "total s for 1000: median [min–max]", "CPU s", "steps mean / max",
               f"max abs err (first {ENSEMBLE.err_members})", "JAX trace + compile s", "note"]
    body = [[r["lib"], r["method"],
             f"{H.fmt(r['median_s'])} [{H.fmt(r['min_s'])}–{H.fmt(r['max_s'])}]" if r["status"] == "ok"
             else f"**{r['status']}** ({H.fmt(r['median_s'])})",
             H.fmt(r["cpu_s"]), f"{r['steps_mean']:.0f} / {r['steps_max']}", H.fmt(r["err"]), H.compile_cell(r), r["note"]]
            for r in rows]
    return H.markdown_table(headers, body)


def _rtols_text(rows):
    by_problem = {}
    for r in rows:
        by_problem.setdefault(r["problem"], {})[r["rtol"]] = None
    groups = {}
    for prob, rtols in by_problem.items():
        groups.setdefault(", ".join(H.fmt(t) for t in rtols), []).append(prob)
    return "; ".join(f"{text} ({', '.join(probs)})" for text, probs in groups.items()) or "–"


def _reference_line(prob, ref):
    if prob.published is not None:
        source = ("the published reference solution (Test Set for IVP Solvers: RADAU5 in the 128-bit double "
                  "precision of a Cray C90, rtol = atol = 1.1e-18)")
        radau = (f"scipy Radau rtol=1e-12 atol={prob.ref_atol:g} (analytic Jacobian, {ref['steps']} steps, "
                 f"{ref['seconds']:.2f} s)")
        check = ref["check_text"].replace("Radau(1e-12)", radau)
        return f"- reference `{prob.name}`: {source}; {check} = {H.fmt(ref['check'])}\n"
    return (f"- reference `{prob.name}`: scipy Radau rtol=1e-12 atol={prob.ref_atol:g} (analytic Jacobian"
            f"{', sparse' if prob.grid else ''}), {ref['steps']} steps, {ref['seconds']:.2f} s; {ref['check_text']} = "
            f"{H.fmt(ref['check'])}\n")


def _grid_notes(grid_probs):
    spans = ", ".join(f"N = {p.shape[0]}: t ∈ [{p.tspan[0]:g}, {p.tspan[1]:g}]" for p in grid_probs)
    pattern = ps.linalg.SparsityPattern(sparsity(grid_probs[0]))
    pysciml_left_out = "; ".join(f"{m}{'' if ls is None else ' ' + ls} above N = {largest}"
                                 for m, ls, largest in PYSCIML_GRID if largest < 32)
    return ("\n### 2-D Brusselator: settings\n\n"
            "`pysciml.testing.brusselator_2d(N)` (periodic N×N grid, n = 2N² states; forcing switched on at "
            "t = 1.1), "
            f"spans chosen to keep the script short: {spans}; atol = rtol·1e-2. The numpy right-hand side and "
            "analytic sparse Jacobian of the peers are checked against the library's problem at start-up. pysciml: "
            "state in its (N, N, 2) shape, `jac_prototype` = the pattern from `pysciml.jacobian_sparsity` "
            f"({pattern.nnz // pattern.n} non-zeros per row, {pattern.n_colors} colors), so every method forms J "
            f"by {pattern.n_colors} colored forward-mode products; "
            "`linsolve=\"lu\"` = dense LU of W (the default), `\"sparse\"` = `SparseGMRES()` (W on the pattern, "
            "block-Jacobi preconditioned GMRES), `\"krylov\"` = `KrylovGMRES()` (matrix-free GMRES on J·v "
            "products, no preconditioner). scipy: BDF with `jac_sparsity` "
            "(colored finite differences, sparse LU) and with the analytic sparse Jacobian; LSODA has no sparse "
            "option (dense finite-difference Jacobian, n right-hand-side calls each). CVODE: BDF with the "
            "SuperLU_MT sparse solver on the pattern (scikit-sundae's colored finite-difference Jacobian), and "
            f"with matrix-free GMRES (`krylov_dim={CVODE_KRYLOV_DIM}`, difference-quotient J·v, no "
            "preconditioner). diffrax: dense only (lineax LU on the full Jacobian). Left out because a solve "
            f"takes seconds to minutes with dense n×n linear algebra: pysciml {pysciml_left_out}; diffrax above "
            f"N = {DIFFRAX_GRID[1]} (its Newton root finder forms the dense Jacobian and factorizes it at every "
            "iteration).\n")


def report(rows, summary, ens_rows, info, cfg, elapsed):
    loads = [r["load"] for r in rows + ens_rows] or [H.load_average()]
    run_probs = [PROBLEMS[name] for name in dict.fromkeys(r["problem"] for r in rows)]
    out = [H.machine_markdown(info, (min(loads), max(loads))),
           f"- Settings: rtol {_rtols_text(rows)}, float64, {cfg.repeats} samples after one warm-up (calls under "
           f"{cfg.min_sample:g} s repeated inside a sample; a run over {SLOW_S:g} s: 3 single calls, the first "
           f"included); a failed run is timed once{' — QUICK run' if cfg.quick else ''}; whole script "
           f"{elapsed / 60:.1f} min; raw data `results/{NAME}.jsonl`.\n"
           "- atol: " + "; ".join(f"{p.name} {p.atol_text}" for p in run_probs) + ".\n"
           "- pysciml: `solve(ODEProblem(f, u0, tspan, p), alg, rtol, atol, save_everystep=False, max_steps=100000)`, "
           "Jacobian by forward-mode AD, jitted as a function of (u0, p); steps = attempted (accepted/rejected), "
           "nfev = right-hand-side calls, njev = Jacobians. scipy `solve_ivp` (steps = accepted) with a "
           "finite-difference Jacobian, \"+jac\" with the analytic one. CVODE: scikit-sundae BDF, dense direct "
           "solver (other solvers on the Brusselator, see below), Python right-hand side, built inside the timed "
           "call (steps = internal steps). diffrax: "
           "`SaveAt(t1=True)`, `PIDController(rtol, atol)` defaults (an I-controller), max_steps 100000, "
           "`throw=False`; \"Newton\" = `with_stepsize_controller_tols(optimistix.Newton)()` as root finder "
           "(the default is VeryChord); KenCarp4 as a pure implicit method via `MultiTerm(ODETerm(0), ODETerm(f))`.\n"]
    for name, ref in _references.items():
        if name[0] in PROBLEMS and "check" in ref:
            out.append(_reference_line(PROBLEMS[name[0]], ref))
    grid_probs = [p for p in run_probs if p.grid]
    if grid_probs:
        out.append(_grid_notes(grid_probs))
    for prob in run_probs:
        out += [f"\n### {prob.name}\n\n", results_table([r for r in rows if r["problem"] == prob.name])]
    if summary:
        out += ["\n### pysciml against the peers (peer time / pysciml time; > 1: pysciml faster)\n\n"
                "Each peer (LSODA; the fastest CVODE setting; the fastest successful diffrax setting) is set against "
                "the fastest pysciml method whose max abs error is at most the peer's. "
                "† = no pysciml method reached the peer's error: the fastest pysciml method is used and its error is "
                f"larger. \"paired\": median [quartiles] of interleaved head-to-head samples (solves under "
                f"{PAIRED_MAX_S:g} s).\n\n",
                summary_table(summary)]
    if ens_rows:
        k1 = ensemble_k1()
        out += [f"\n### Ensemble: {ENSEMBLE.size} Robertson problems\n\n"
                f"k1 ~ U[0.02, 0.06] (numpy `default_rng({ENSEMBLE.seed})`, here {k1.min():.4f}–{k1.max():.4f}), "
                f"k2 = 3e7, k3 = 1e4, t ∈ [0, {ENSEMBLE.tspan[1]:g}], rtol {ENSEMBLE.rtol:g}, Robertson atol. JAX: "
                "one `jax.jit(jax.vmap(solve))` over k1; scipy/CVODE: a Python loop of single solves. Error against "
                f"Radau 1e-12 for the first {ENSEMBLE.err_members} members.\n\n", ensemble_table(ens_rows)]
    return "".join(out)


def problem_rtols(prob, cfg):
    """--rtols as given; else --quick: 1e-6; else the problem's own list."""
    return cfg.rtols or ((1e-6,) if cfg.quick else prob.rtols)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default=",".join(list(PROBLEMS) + ["ensemble"]),
                    help="comma-separated subset of the default ('brusselator' = all three grid sizes)")
    ap.add_argument("--rtols", default=None,
                    help="comma-separated, for every problem (default 1e-4,1e-6,1e-8, Brusselator 1e-4,1e-6; "
                         "--quick 1e-6)")
    ap.add_argument("--libs", default="scipy,sundials,pysciml,diffrax")
    ap.add_argument("--repeats", type=int, default=None, help="samples per measurement (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true",
                    help=f"rtol 1e-6 only, 3 short samples, ensemble loops timed on {ENSEMBLE.quick_loop} members")
    ap.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = ap.parse_args()

    aliases = {"brusselator": [n for n in PROBLEMS if PROBLEMS[n].grid]}
    names = [m for n in args.problems.split(",") for m in aliases.get(n, [n])]
    unknown = set(names) - set(PROBLEMS) - {"ensemble"}
    if unknown:
        sys.exit(f"unknown problem(s) {sorted(unknown)}; choose from {list(PROBLEMS) + ['ensemble', 'brusselator']}")
    rtols = tuple(float(t) for t in args.rtols.split(",")) if args.rtols else None
    cfg = SimpleNamespace(rtols=rtols, rtol=None, quick=args.quick, libs=set(args.libs.split(",")),
                          repeats=args.repeats or (3 if args.quick else 7), min_sample=0.03 if args.quick else 0.1)
    info = H.machine_info(PACKAGES)
    print(f"# pinned to core {CORE}; load {info['load_average']}", file=sys.stderr)
    start, rows = time.perf_counter(), []
    warm_up_jax(cfg)
    for prob in (PROBLEMS[n] for n in PROBLEMS if n in names):
        if prob.library is not None:
            check_against_library(prob)
        reference(prob, check=True)
        for rtol in problem_rtols(prob, cfg):
            cfg.rtol = rtol
            for lib, method, runner in runs_for(prob, cfg):
                row = runner(prob, cfg)
                rows.append(row)
                print(f"{prob.name:16s} {rtol:<6g} {lib:9s} {method:20s} {row['median_s'] * 1e3:10.4g} ms  "
                      f"steps {_steps(row):>18s}  err {row['err']:.3g}  {H.compile_cell(row)}  {row['status']}",
                      file=sys.stderr, flush=True)
    summary = summarize(rows, cfg)
    ens_rows = run_ensemble(cfg) if "ensemble" in names else []
    text = report(rows, summary, ens_rows, info, cfg, time.perf_counter() - start)
    for row in rows:
        row.pop("call", None)
    print(text)
    summary_rows = [dict(problem=e["problem"], rtol=e["rtol"], fastest=e["fastest"] and e["fastest"]["method"],
                         **{name: cell and dict(peer=cell["peer"]["method"], pysciml=cell["ours"]["method"],
                                                ratio=cell["ratio"], pysciml_err_larger=cell["ours_err_larger"],
                                                paired=cell.get("paired"))
                            for name, cell in e["peers"].items()}) for e in summary]
    meta = dict(info, rtols={p: problem_rtols(PROBLEMS[p], cfg) for p in PROBLEMS if p in names}, quick=cfg.quick,
                repeats=cfg.repeats,
                references={f"{k[0]}": {"steps": v["steps"], "seconds": v["seconds"], "check": v.get("check"),
                                        "check_text": v.get("check_text")}
                            for k, v in _references.items() if k[0] in PROBLEMS})
    path = H.write_jsonl(NAME, meta, rows + ens_rows + [dict(summary=s) for s in summary_rows])
    print(f"# raw rows: {path}", file=sys.stderr)
    if args.write:
        H.write_section(HEADING, text)
        print(f"# written to {H.RESULTS_MD}", file=sys.stderr)


if __name__ == "__main__":
    main()
