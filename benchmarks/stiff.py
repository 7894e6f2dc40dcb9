"""Stiff ODEs: pysciml's Rosenbrock methods against scipy, SUNDIALS CVODE and diffrax in one process.

Work–precision on Robertson (t ∈ [0, 1e5]), Van der Pol μ = 1e6 in the scaled form (t ∈ [0, 2]) and HIRES
(t ∈ [0, 321.8122]) at rtol 1e-4, 1e-6, 1e-8, then an ensemble of 1000 Robertson problems with random k1.
float64, one pinned core, only the final state kept. Error = max abs and max relative error at t1 against
scipy Radau rtol 1e-12 with the analytic Jacobian (atol 1e-14; 1e-16 for Robertson). Peers are set up as in
../shared/peers-baseline.md (Problems 5 and 6): scipy BDF/Radau/LSODA with finite-difference Jacobians and
"+jac" with the analytic one; CVODE (scikit-sundae) BDF with the dense direct solver and a Python
right-hand side, solver built inside the timed call; diffrax Kvaerno5 and KenCarp4 (as a pure implicit
method) with their default root finder and with `optimistix.Newton` (the fair setting). pysciml and diffrax
are jitted functions of (u0, p), traced and compiled separately (not in the run times). A run that does not
succeed is timed once and reported as FAILED with its step counts.

    python benchmarks/stiff.py                    # full run, tables to stdout
    python benchmarks/stiff.py --write            # ... and into RESULTS.md
    python benchmarks/stiff.py --quick --problems robertson,ensemble

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
from scipy.integrate import solve_ivp  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402

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
PYSCIML_METHODS = [m for m in ("Rosenbrock23", "Rodas4", "Rodas5P", "KenCarp4", "Kvaerno5") if hasattr(ps, m)]
SCIPY_METHODS = ["BDF", "Radau", "LSODA"]
DIFFRAX_SETTINGS = ["Kvaerno5", "Kvaerno5 Newton", "KenCarp4", "KenCarp4 Newton"]

# Array operations per backend, so each right-hand side is written once.
NP = SimpleNamespace(vec=np.array)
JNP = SimpleNamespace(vec=jnp.stack)


# --- problems (right-hand side f(u, p) per backend; analytic Jacobian in numpy for the peers' "+jac") ----------

def robertson(ops):
    """Robertson's chemical kinetics, p = (k1, k2, k3)."""
    def f(u, p):
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
    def f(u, p):
        x, y = u[0], u[1]
        return ops.vec([y, p[0] * ((1 - x * x) * y - x)])
    return f


def vanderpol_jac(u, p):
    x, y, mu = u[0], u[1], p[0]
    return np.array([[0.0, 1.0], [mu * (-2 * x * y - 1), mu * (1 - x * x)]])


def hires(ops):
    """HIRES (Hairer–Wanner II, IV.10), 8 states; p = (k,) the fast rate 280 of the y6·y8 reaction."""
    def f(u, p):
        y1, y2, y3, y4, y5, y6, y7, y8 = (u[i] for i in range(8))
        r = p[0] * y6 * y8
        return ops.vec([-1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
                        1.71 * y1 - 8.75 * y2,
                        -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
                        8.32 * y2 + 1.71 * y3 - 1.12 * y4,
                        -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
                        -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
                        r - 1.81 * y7,
                        -r + 1.81 * y7])
    return f


def hires_jac(u, p):
    k, y6, y8 = p[0], u[5], u[7]
    J = np.zeros((8, 8))
    J[0, :3] = -1.71, 0.43, 8.32
    J[1, :2] = 1.71, -8.75
    J[2, 2:5] = -10.03, 0.43, 0.035
    J[3, 1:4] = 8.32, 1.71, -1.12
    J[4, 4:7] = -1.745, 0.43, 0.43
    J[5, 3:8] = 0.69, 1.71, -0.43 - k * y8, 0.69, -k * y6
    J[6, 5:8] = k * y8, -1.81, k * y6
    J[7, 5:8] = -k * y8, 1.81, -k * y6
    return J


def robertson_atol(rtol):
    return np.array([rtol * 1e-2, min(rtol * 1e-2, 1e-10), rtol * 1e-2])


@dataclass(frozen=True)
class Problem:
    name: str
    make: object          # ops -> f(u, p)
    jac: object           # (u, p) -> numpy Jacobian
    u0: np.ndarray
    p: np.ndarray
    tspan: tuple
    atol: object          # rtol -> atol (scalar or per component)
    atol_text: str
    ref_atol: float

    @property
    def n(self):
        return self.u0.size


ROBERTSON_P = np.array([0.04, 3e7, 1e4])
PROBLEMS = {
    "robertson": Problem("robertson", robertson, robertson_jac, np.array([1.0, 0.0, 0.0]), ROBERTSON_P,
                         (0.0, 1e5), robertson_atol, "[rtol·1e-2, min(rtol·1e-2, 1e-10), rtol·1e-2]", 1e-16),
    "vanderpol_mu1e6": Problem("vanderpol_mu1e6", vanderpol, vanderpol_jac, np.array([2.0, 0.0]), np.array([1e6]),
                               (0.0, 2.0), lambda rtol: rtol, "rtol", 1e-14),
    "hires": Problem("hires", hires, hires_jac, np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057]), np.array([280.0]),
                     (0.0, 321.8122), lambda rtol: rtol * 1e-2, "rtol·1e-2", 1e-14),
}
ENSEMBLE = SimpleNamespace(size=1000, quick_loop=50, tspan=(0.0, 500.0), rtol=1e-6, err_members=20, seed=0)


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
    sol = solve_ivp(lambda t, y: f(y, p), prob.tspan, prob.u0, method="Radau", rtol=rtol, atol=prob.ref_atol,
                    jac=lambda t, y: prob.jac(y, p))
    assert sol.success, sol.message
    return sol, time.perf_counter() - start


def reference(prob, check=False):
    """Final state from scipy Radau rtol 1e-12 with the analytic Jacobian (cached per problem and p).

    With ``check``, also solve at rtol 1e-11 and record the difference as a measure of the reference's error."""
    key = (prob.name, tuple(prob.p))
    if key not in _references:
        sol, seconds = _radau(prob, 1e-12)
        info = dict(steps=len(sol.t) - 1, seconds=seconds, final=sol.y[:, -1])
        if check:
            info["diff_1e-11"] = float(np.max(np.abs(_radau(prob, 1e-11)[0].y[:, -1] - info["final"])))
        _references[key] = info
    return _references[key]


def errors(prob, final):
    ref = reference(prob)["final"]
    diff = np.abs(np.asarray(final, dtype=float) - ref)
    return float(np.max(diff)), float(np.max(diff / np.maximum(np.abs(ref), np.finfo(float).tiny)))


# --- one runner per library ----------------------------------------------------------------------------------

def measure(call, cfg):
    """call() -> (final, counts dict, status). A failed run is timed once; a successful one with time_call."""
    c0, w0 = time.process_time(), time.perf_counter()
    first = call()
    once, cpu = time.perf_counter() - w0, time.process_time() - c0
    if first[2] != "ok":
        return H.Timing(once, once, once, cpu, 1, 1, first)
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


def run_scipy(prob, method, cfg, analytic_jac=False):
    f, p = prob.make(NP), prob.p
    options = dict(method=method, rtol=cfg.rtol, atol=prob.atol(cfg.rtol))
    if analytic_jac:
        options["jac"] = lambda t, y: prob.jac(y, p)

    def call():
        sol = solve_ivp(lambda t, y: f(y, p), prob.tspan, prob.u0, **options)
        steps = len(sol.t) - 1      # scipy reports accepted steps only
        counts = dict(steps=steps, accepted=steps, nfev=sol.nfev, njev=sol.njev)
        return sol.y[:, -1], counts, "ok" if sol.success else f"FAILED: {sol.message}"

    return _row(prob, cfg, "scipy", method + (" +jac" if analytic_jac else ""), measure(call, cfg))


def run_cvode(prob, cfg, analytic_jac=False):
    f, p = prob.make(NP), prob.p

    def rhs(t, y, yp):
        yp[:] = f(y, p)

    def jacfn(t, y, yp, JJ):
        JJ[:, :] = prob.jac(y, p)

    def call():
        solver = CVODE(rhs, method="BDF", linsolver="dense", rtol=cfg.rtol, atol=prob.atol(cfg.rtol),
                       max_num_steps=MAX_STEPS, jacfn=jacfn if analytic_jac else None)
        sol = solver.solve(np.asarray(prob.tspan), prob.u0)
        counts = dict(steps=len(sol.t) - 1, nfev=sol.nfev, njev=sol.njev)   # steps = CVODE's internal steps
        return sol.y[-1], counts, "ok" if sol.success else f"FAILED: {sol.message}"

    return _row(prob, cfg, "sundials", "CVODE BDF" + (" +jac" if analytic_jac else ""), measure(call, cfg))


def _jax_row(prob, cfg, lib, method, final_fn, describe):
    """final_fn(u0, p) -> (final state, counts dict of scalars, result code), jitted and timed."""
    u0, p = jnp.asarray(prob.u0), jnp.asarray(prob.p)
    trace, compile_, compiled = H.jax_compile_times(final_fn, u0, p)

    def call():
        final, counts, code = jax.block_until_ready(compiled(u0, p))
        return final, counts, describe(code)

    return _row(prob, cfg, lib, method, measure(call, cfg), trace_s=trace, compile_s=compile_,
                call=call)      # kept for the paired comparison, dropped before writing


def describe_pysciml(code):
    code = ps.ReturnCode(int(code))
    return "ok" if code == ps.ReturnCode.Success else f"FAILED: {code.name}"


def pysciml_solve(f, u0, p, tspan, method, rtol, atol):
    sol = ps.solve(ps.ODEProblem(lambda u, p, t: f(u, p), u0, tspan, p), getattr(ps, method)(), rtol=rtol,
                   atol=jnp.asarray(atol), save_everystep=False, max_steps=MAX_STEPS)
    s = sol.stats
    counts = dict(steps=s["nsteps"], accepted=s["naccept"], rejected=s["nreject"], nfev=s["nf"],
                  njev=s.get("njacs"))
    return sol.u[-1], counts, sol.retcode


def run_pysciml(prob, method, cfg):
    f, atol = prob.make(JNP), prob.atol(cfg.rtol)
    final = lambda u0, p: pysciml_solve(f, u0, p, prob.tspan, method, cfg.rtol, atol)  # noqa: E731
    return _jax_row(prob, cfg, "pysciml", method, final, describe_pysciml)


def diffrax_setup(f, setting, rtol, atol):
    """(terms, solver, controller) for a setting such as "Kvaerno5" or "KenCarp4 Newton"."""
    name, _, root = setting.partition(" ")
    kwargs = {"root_finder": diffrax.with_stepsize_controller_tols(optx.Newton)()} if root == "Newton" else {}
    solver = getattr(diffrax, name)(**kwargs)
    term = diffrax.ODETerm(lambda t, y, p: f(y, p))
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


def runs_for(cfg):
    """(library, method, runner(prob, cfg)) to measure on every problem."""
    out = []
    if "scipy" in cfg.libs:
        out += [("scipy", m + jac, lambda prob, c, m=m, jac=jac: run_scipy(prob, m, c, bool(jac)))
                for m in SCIPY_METHODS for jac in ("", " +jac")]
    if "sundials" in cfg.libs and CVODE is not None:
        out += [("sundials", "CVODE BDF" + jac, lambda prob, c, jac=jac: run_cvode(prob, c, bool(jac)))
                for jac in ("", " +jac")]
    if "pysciml" in cfg.libs:
        out += [("pysciml", m, lambda prob, c, m=m: run_pysciml(prob, m, c)) for m in PYSCIML_METHODS]
    if "diffrax" in cfg.libs and diffrax is not None:
        out += [("diffrax", s, lambda prob, c, s=s: run_diffrax(prob, s, c)) for s in DIFFRAX_SETTINGS]
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
    """Per (problem, rtol): the peers LSODA, CVODE (faster of FD / analytic Jacobian) and the fastest successful
    diffrax setting, each against the fastest pysciml method with an error no larger than the peer's.
    The diffrax comparison is also timed head to head (paired_ratio)."""
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
                if name == "diffrax" and "call" in mine and "call" in peer:
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
        return pysciml_solve(f, jnp.asarray(PROBLEMS["robertson"].u0), p, ENSEMBLE.tspan, method, ENSEMBLE.rtol, atol)

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
    sol = solve_ivp(lambda t, y: f(y, p), prob.tspan, prob.u0, method="LSODA", rtol=cfg.rtol,
                    atol=prob.atol(cfg.rtol))
    return sol.y[:, -1], len(sol.t) - 1, "ok" if sol.success else sol.message


def _solve_cvode(prob, cfg):
    f, p = prob.make(NP), prob.p

    def rhs(t, y, yp):
        yp[:] = f(y, p)

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


def report(rows, summary, ens_rows, info, cfg, elapsed):
    loads = [r["load"] for r in rows + ens_rows] or [H.load_average()]
    out = [H.machine_markdown(info, (min(loads), max(loads))),
           f"- Settings: rtol {', '.join(H.fmt(t) for t in cfg.rtols)}, float64, {cfg.repeats} samples after one "
           f"warm-up (calls under {cfg.min_sample:g} s repeated inside a sample); a failed run is timed once"
           f"{' — QUICK run' if cfg.quick else ''}; whole script {elapsed / 60:.1f} min; "
           f"raw data `results/{NAME}.jsonl`.\n"
           "- atol: " + "; ".join(f"{p.name} {p.atol_text}" for p in PROBLEMS.values()) + ".\n"
           "- pysciml: `solve(ODEProblem(f, u0, tspan, p), alg, rtol, atol, save_everystep=False, max_steps=100000)`, "
           "Jacobian by forward-mode AD, jitted as a function of (u0, p); steps = attempted (accepted/rejected), "
           "nfev = right-hand-side calls, njev = Jacobians. scipy `solve_ivp` (steps = accepted) with a "
           "finite-difference Jacobian, \"+jac\" with the analytic one. CVODE: scikit-sundae BDF, dense direct "
           "solver, Python right-hand side, built inside the timed call (steps = internal steps). diffrax: "
           "`SaveAt(t1=True)`, `PIDController(rtol, atol)` defaults (an I-controller), max_steps 100000, "
           "`throw=False`; \"Newton\" = `with_stepsize_controller_tols(optimistix.Newton)()` as root finder "
           "(the default is VeryChord); KenCarp4 as a pure implicit method via `MultiTerm(ODETerm(0), ODETerm(f))`.\n"]
    for name, ref in _references.items():
        if name[0] in PROBLEMS and "diff_1e-11" in ref:
            prob = PROBLEMS[name[0]]
            out.append(f"- reference `{prob.name}`: scipy Radau rtol=1e-12 atol={prob.ref_atol:g} (analytic Jacobian), "
                       f"{ref['steps']} steps, {ref['seconds']:.2f} s; max |Radau(1e-12) − Radau(1e-11)| = "
                       f"{H.fmt(ref['diff_1e-11'])}\n")
    for prob in dict.fromkeys(r["problem"] for r in rows):
        out += [f"\n### {prob}\n\n", results_table([r for r in rows if r["problem"] == prob])]
    if summary:
        out += ["\n### pysciml against the peers (peer time / pysciml time; > 1: pysciml faster)\n\n"
                "Each peer (LSODA; the faster of CVODE with and without the analytic Jacobian; the fastest successful "
                "diffrax setting) is set against the fastest pysciml method whose max abs error is at most the peer's. "
                "† = no pysciml method reached the peer's error: the fastest pysciml method is used and its error is "
                "larger. \"paired\": median [quartiles] of interleaved head-to-head samples.\n\n",
                summary_table(summary)]
    if ens_rows:
        k1 = ensemble_k1()
        out += [f"\n### Ensemble: {ENSEMBLE.size} Robertson problems\n\n"
                f"k1 ~ U[0.02, 0.06] (numpy `default_rng({ENSEMBLE.seed})`, here {k1.min():.4f}–{k1.max():.4f}), "
                f"k2 = 3e7, k3 = 1e4, t ∈ [0, {ENSEMBLE.tspan[1]:g}], rtol {ENSEMBLE.rtol:g}, Robertson atol. JAX: "
                "one `jax.jit(jax.vmap(solve))` over k1; scipy/CVODE: a Python loop of single solves. Error against "
                f"Radau 1e-12 for the first {ENSEMBLE.err_members} members.\n\n", ensemble_table(ens_rows)]
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default="robertson,vanderpol_mu1e6,hires,ensemble",
                    help="comma-separated subset of the default")
    ap.add_argument("--rtols", default=None, help="comma-separated (default 1e-4,1e-6,1e-8; --quick 1e-6)")
    ap.add_argument("--libs", default="scipy,sundials,pysciml,diffrax")
    ap.add_argument("--repeats", type=int, default=None, help="samples per measurement (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true",
                    help=f"rtol 1e-6 only, 3 short samples, ensemble loops timed on {ENSEMBLE.quick_loop} members")
    ap.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = ap.parse_args()

    names = args.problems.split(",")
    unknown = set(names) - set(PROBLEMS) - {"ensemble"}
    if unknown:
        sys.exit(f"unknown problem(s) {sorted(unknown)}; choose from {list(PROBLEMS) + ['ensemble']}")
    rtols = tuple(float(t) for t in args.rtols.split(",")) if args.rtols else ((1e-6,) if args.quick else RTOLS)
    cfg = SimpleNamespace(rtols=rtols, rtol=None, quick=args.quick, libs=set(args.libs.split(",")),
                          repeats=args.repeats or (3 if args.quick else 7), min_sample=0.03 if args.quick else 0.1)
    info = H.machine_info(PACKAGES)
    print(f"# pinned to core {CORE}; load {info['load_average']}", file=sys.stderr)
    start, rows = time.perf_counter(), []
    warm_up_jax(cfg)
    for prob in (PROBLEMS[n] for n in PROBLEMS if n in names):
        reference(prob, check=True)
        for rtol in rtols:
            cfg.rtol = rtol
            for lib, method, runner in runs_for(cfg):
                row = runner(prob, cfg)
                rows.append(row)
                print(f"{prob.name:16s} {rtol:<6g} {lib:9s} {method:16s} {row['median_s'] * 1e3:10.4g} ms  "
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
    meta = dict(info, rtols=rtols, quick=cfg.quick, repeats=cfg.repeats,
                references={f"{k[0]}": {"steps": v["steps"], "seconds": v["seconds"], "diff_1e-11": v.get("diff_1e-11")}
                            for k, v in _references.items() if k[0] in PROBLEMS})
    path = H.write_jsonl(NAME, meta, rows + ens_rows + [dict(summary=s) for s in summary_rows])
    print(f"# raw rows: {path}", file=sys.stderr)
    if args.write:
        H.write_section(HEADING, text)
        print(f"# written to {H.RESULTS_MD}", file=sys.stderr)


if __name__ == "__main__":
    main()
