"""Non-stiff ODEs: pysciml against diffrax, scipy and torchdiffeq in one process.

Same problem, same tolerances (rtol 1e-6, atol 1e-8 unless given), float64, one pinned core, only the
final state kept. Problems: Lotka–Volterra (t ∈ [0, 10]), Lorenz (t ∈ [0, 10] and [0, 1]), Pleiades
(7 bodies, 28 states, t ∈ [0, 3]) and Lorenz stacked N times into one ODE of 3N states (t ∈ [0, 1]).
Error = max abs error at t1 against scipy DOP853 at rtol = atol = 1e-13. Method: see _harness.py and
../shared/peers-baseline.md. pysciml and diffrax are timed the same way: a jitted function of
(u0, p) that solves and returns the final state and the step statistics, lowered and compiled
separately (trace and compile times reported, not in the run times), then called repeatedly.

    python benchmarks/nonstiff.py                # full run, table to stdout
    python benchmarks/nonstiff.py --write        # ... and into RESULTS.md
    python benchmarks/nonstiff.py --quick --problems lotka_volterra,pleiades

A second part (`--part saving`) measures what saving costs: Tsit5 on Lotka–Volterra, Lorenz (t ∈ [0, 10])
and Pleiades with the final state only, `saveat` of 100 points and every step (pysciml's default, with dense
output; diffrax `SaveAt(steps=True)`), each against the final-only solve and against diffrax in interleaved
pairs; ../shared/perf_floor.py on the same problem (its steps beside ours); and a vmapped ensemble of 1000
Lotka–Volterra solves with saveat against final-only (pysciml `EnsembleVmap`, diffrax `jax.vmap`).

    python benchmarks/nonstiff.py --part saving --quick

Raw rows of the latest run go to results/nonstiff.jsonl (results/nonstiff_saving.jsonl for the saving part).
"""
import argparse
import importlib.util
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import _harness as H

CORE = H.setup_env()        # before numpy / jax / torch are imported

import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402

try:
    import diffrax
except ImportError:
    diffrax = None
torch = H.setup_torch()
try:
    from torchdiffeq import odeint as torch_odeint
except ImportError:
    torch_odeint = None

NAME = "nonstiff"
HEADING = "Non-stiff ODEs (`benchmarks/nonstiff.py`)"
PACKAGES = ["pysciml", "numpy", "scipy", "jax", "jaxlib", "diffrax", "equinox", "torch", "torchdiffeq"]
MAX_STEPS = 100_000
SIZES = (256, 1024, 4096, 16384)
PYSCIML_METHODS = [m for m in ("Tsit5", "DP5", "Vern7", "DP8") if hasattr(ps, m)]
DIFFRAX_METHODS = ["Tsit5", "Dopri5"]
SCIPY_METHODS = ["RK45", "DOP853"]

# Array operations per backend, so each right-hand side is written once.
NP = SimpleNamespace(vec=np.array, cat=np.concatenate, eye=np.eye, asarray=np.asarray)
JNP = SimpleNamespace(vec=jnp.stack, cat=jnp.concatenate, eye=jnp.eye, asarray=jnp.asarray)
TORCH = torch and SimpleNamespace(vec=torch.stack, cat=torch.cat, asarray=lambda a: torch.tensor(a, dtype=torch.float64),
                                  eye=lambda n: torch.eye(n, dtype=torch.float64))


# --- problems -------------------------------------------------------------------------------------------

def lotka_volterra(ops):
    def f(u, p):
        x, y = u[0], u[1]
        return ops.vec([p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y])
    return f


def lorenz(n):
    """Lorenz stacked n times: state [x(n), y(n), z(n)], p = (σ, ρ, β)."""
    def make(ops):
        def f(u, p):
            x, y, z = u[:n], u[n:2 * n], u[2 * n:]
            return ops.cat([p[0] * (y - x), x * (p[1] - z) - y, x * y - p[2] * z])
        return f
    return make


def pleiades(ops):
    """Seven bodies in the plane, p = masses; state [x(7), y(7), x'(7), y'(7)] (Hairer–Nørsett–Wanner I, II.10)."""
    eye = ops.eye(7)   # keeps r_ii from being 0; the i = j terms vanish anyway since x_i − x_i = 0

    def f(u, p):
        x, y, vx, vy = u[:7], u[7:14], u[14:21], u[21:]
        dx, dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
        w = p[None, :] / (dx * dx + dy * dy + eye) ** 1.5
        return ops.cat([vx, vy, (w * dx).sum(1), (w * dy).sum(1)])
    return f


@dataclass(frozen=True)
class Problem:
    name: str
    make: object          # ops -> f(u, p)
    u0: np.ndarray
    p: np.ndarray
    tspan: tuple
    stack: int | None = None

    @property
    def n(self):
        return self.u0.size


LORENZ_P = np.array([10.0, 28.0, 8.0 / 3.0])
PLEIADES_U0 = np.array([3, 3, -1, -3, 2, -2, 2, 3, -3, 2, 0, 0, -4, 4,
                        0, 0, 0, 0, 0, 1.75, -1.5, 0, 0, 0, -1.25, 1, 0, 0], dtype=float)


def lorenz_stack(n, tspan=(0.0, 1.0), name="lorenz_stack"):
    u0 = np.concatenate([1.0 + 0.01 * np.arange(n) / n, np.zeros(2 * n)])
    return Problem(name, lorenz(n), u0, LORENZ_P, tspan, stack=n)


def problems(names, sizes):
    table = {
        "lotka_volterra": lambda: [Problem("lotka_volterra", lotka_volterra, np.array([1.0, 1.0]),
                                           np.array([1.5, 1.0, 3.0, 1.0]), (0.0, 10.0))],
        "lorenz_t10": lambda: [lorenz_stack(1, (0.0, 10.0), "lorenz_t10")],
        "lorenz_t1": lambda: [lorenz_stack(1, (0.0, 1.0), "lorenz_t1")],
        "pleiades": lambda: [Problem("pleiades", pleiades, PLEIADES_U0, np.arange(1.0, 8.0), (0.0, 3.0))],
        "lorenz_stack": lambda: [lorenz_stack(n) for n in sizes],
    }
    unknown = set(names) - set(table)
    if unknown:
        sys.exit(f"unknown problem(s) {sorted(unknown)}; choose from {list(table)}")
    return [prob for name in table if name in names for prob in table[name]()]


_references = {}


def reference(prob):
    """Final state from scipy DOP853 at rtol = atol = 1e-13 (cached per problem)."""
    key = (prob.name, prob.stack)
    if key not in _references:
        f = prob.make(NP)
        sol = solve_ivp(lambda t, y: f(y, prob.p), prob.tspan, prob.u0, method="DOP853", rtol=1e-13, atol=1e-13)
        assert sol.success, sol.message
        _references[key] = sol.y[:, -1]
    return _references[key]


# --- one runner per library -------------------------------------------------------------------------------

def _row(prob, lib, method, timing, final, **extra):
    err = float(np.max(np.abs(np.asarray(final) - reference(prob))))
    row = dict(problem=prob.name, n=prob.n, stack=prob.stack, lib=lib, method=method,
               median_s=timing.median, min_s=timing.min, max_s=timing.max, cpu_s=timing.cpu,
               calls_per_sample=timing.inner, samples=timing.samples, err=err,
               steps=None, accepted=None, rejected=None, steps_estimated=False, nfev=None,
               trace_s=None, compile_s=None, status="ok", load=H.load_average())
    row.update(extra)
    return row


def _jax_row(prob, lib, method, final_fn, cfg, describe):
    """final_fn(u0, p) -> (final state, (steps, accepted, rejected, nf or None), result code)."""
    u0, p = jnp.asarray(prob.u0), jnp.asarray(prob.p)
    trace, compile_, compiled = H.jax_compile_times(final_fn, u0, p)
    timing = H.time_call(lambda: jax.block_until_ready(compiled(u0, p)), cfg.repeats, cfg.min_sample)
    final, (steps, accepted, rejected, nf), code = timing.result
    return _row(prob, lib, method, timing, final, steps=int(steps), accepted=int(accepted),
                rejected=int(rejected), nfev=None if nf is None else int(nf), trace_s=trace,
                compile_s=compile_, status=describe(code),
                call=lambda: jax.block_until_ready(compiled(u0, p)))   # kept for the paired comparison


def run_pysciml(prob, method, cfg):
    f, alg = prob.make(JNP), getattr(ps, method)()
    rhs = lambda u, p, t: f(u, p)  # noqa: E731

    def final(u0, p):
        sol = ps.solve(ps.ODEProblem(rhs, u0, prob.tspan, p), alg, rtol=cfg.rtol, atol=cfg.atol,
                       save_everystep=False, max_steps=MAX_STEPS)
        s = sol.stats
        return sol.u[-1], (s["nsteps"], s["naccept"], s["nreject"], s["nf"]), sol.retcode

    def describe(code):
        code = ps.ReturnCode(int(code))
        return "ok" if code == ps.ReturnCode.Success else f"FAILED: {code.name}"

    return _jax_row(prob, "pysciml", method, final, cfg, describe)


def run_diffrax(prob, method, cfg):
    f = prob.make(JNP)
    term, solver = diffrax.ODETerm(lambda t, y, p: f(y, p)), getattr(diffrax, method)()
    controller = diffrax.PIDController(rtol=cfg.rtol, atol=cfg.atol)   # defaults: an I-controller

    def final(u0, p):
        sol = diffrax.diffeqsolve(term, solver, prob.tspan[0], prob.tspan[1], None, u0, args=p,
                                  saveat=diffrax.SaveAt(t1=True), stepsize_controller=controller,
                                  max_steps=MAX_STEPS, throw=False)
        s = sol.stats
        ok = sol.result == diffrax.RESULTS.successful
        return sol.ys[-1], (s["num_steps"], s["num_accepted_steps"], s["num_rejected_steps"], None), ok

    return _jax_row(prob, "diffrax", method, final, cfg,
                    lambda ok: "ok" if bool(ok) else "FAILED: diffrax result not successful")


def run_scipy(prob, method, cfg):
    f, p = prob.make(NP), prob.p
    fun = lambda t, y: f(y, p)  # noqa: E731
    timing = H.time_call(lambda: solve_ivp(fun, prob.tspan, prob.u0, method=method, rtol=cfg.rtol, atol=cfg.atol),
                         cfg.repeats, cfg.min_sample)
    sol = timing.result
    return _row(prob, "scipy", method, timing, sol.y[:, -1], steps=len(sol.t) - 1, accepted=len(sol.t) - 1,
                nfev=int(sol.nfev), status="ok" if sol.success else f"FAILED: {sol.message}")


def run_torchdiffeq(prob, method, cfg):
    f, p, y0 = prob.make(TORCH), TORCH.asarray(prob.p), TORCH.asarray(prob.u0)
    t = TORCH.asarray(prob.tspan)
    count = [0]

    def fun(_, y):
        count[0] += 1
        return f(y, p)

    def call():
        count[0] = 0
        with torch.no_grad():
            out = torch_odeint(fun, y0, t, rtol=cfg.rtol, atol=cfg.atol, method=method)
        return out[-1].numpy().copy(), count[0]

    timing = H.time_call(call, cfg.repeats, cfg.min_sample)
    final, nfe = timing.result
    # torchdiffeq has no step counter: dopri5 uses 2 evaluations to pick the first step, then 6 per step.
    return _row(prob, "torchdiffeq", method, timing, final, steps=round((nfe - 2) / 6), steps_estimated=True,
                nfev=nfe)


PAIRS = (("Tsit5", "Tsit5"), ("DP5", "Dopri5"))


def compare_pairs(rows, cfg):
    """Interleaved head-to-head timing of pysciml against diffrax for each method pair (see paired_ratio)."""
    by = {(r["lib"], r["method"]): r for r in rows}
    for ours, theirs in PAIRS:
        a, b = by.get(("pysciml", ours)), by.get(("diffrax", theirs))
        if a and b and "call" in a and "call" in b:
            median, low, high = H.paired_ratio(a["call"], b["call"], rounds=5 if cfg.quick else 15,
                                               min_sample=cfg.min_sample / 2)
            a["paired_ratio"] = dict(vs=f"diffrax {theirs}", median=median, q1=low, q3=high)
            print(f"  paired diffrax {theirs} / pysciml {ours}: {median:.2f}x [{low:.2f}–{high:.2f}]",
                  file=sys.stderr, flush=True)


def warm_up_jax(cfg):
    """One tiny throwaway solve per JAX library, so one-time set-up is not billed to the first problem."""
    prob = problems(["lotka_volterra"], ())[0]
    once = SimpleNamespace(**{**vars(cfg), "repeats": 1, "min_sample": 0.0})
    if "pysciml" in cfg.libs:
        run_pysciml(prob, "Tsit5", once)
    if "diffrax" in cfg.libs and diffrax is not None:
        run_diffrax(prob, "Tsit5", once)


def runs_for(prob, cfg):
    """(library, method, runner) to measure on ``prob``."""
    out = []
    if "scipy" in cfg.libs:
        out += [("scipy", m, run_scipy) for m in SCIPY_METHODS]
    if "pysciml" in cfg.libs:
        out += [("pysciml", m, run_pysciml) for m in PYSCIML_METHODS]
    if "diffrax" in cfg.libs and diffrax is not None:
        out += [("diffrax", m, run_diffrax) for m in DIFFRAX_METHODS]
    if "torchdiffeq" in cfg.libs and torch_odeint is not None and not (cfg.quick and prob.stack and prob.stack > 1):
        out += [("torchdiffeq", "dopri5", run_torchdiffeq)]
    return out


# --- report ---------------------------------------------------------------------------------------------

def _steps(r):
    if r["steps"] is None:
        return "–"
    if r["steps_estimated"]:
        return f"{r['steps']}*"
    if r["rejected"] is None:
        return str(r["steps"])
    return f"{r['steps']} ({r['accepted']}/{r['rejected']})"


def results_table(rows):
    headers = ["problem", "n", "lib", "method", "time/solve ms: median [min–max]", "CPU ms (median)",
               "steps (acc/rej)", "nfev", "max abs err at t1", "JAX trace + compile s"]
    body = [[r["problem"], r["n"], r["lib"], r["method"], H.time_cell(r), H.fmt(r["cpu_s"] * 1e3), _steps(r),
             H.fmt(r["nfev"], 6), H.fmt(r["err"]) if r["status"] == "ok" else f"**{r['status']}** ({H.fmt(r['err'])})",
             H.compile_cell(r)] for r in rows]
    return H.markdown_table(headers, body)


def size_table(rows):
    stack = [r for r in rows if r["problem"] == "lorenz_stack"]
    sizes = sorted({r["n"] for r in stack})
    if len(sizes) < 2:
        return ""
    keys = list(dict.fromkeys((r["lib"], r["method"]) for r in stack))
    by = {(r["lib"], r["method"], r["n"]): r for r in stack}
    body = [[f"{lib} {m}"] + [H.fmt(by[lib, m, n]["median_s"] * 1e3) if (lib, m, n) in by else "–" for n in sizes]
            for lib, m in keys]
    return H.markdown_table(["lib method"] + [f"n={n}" for n in sizes], body)


def ratio_table(rows):
    """diffrax time / pysciml time (Tsit5 vs Tsit5, Dopri5 vs DP5) and compile times, per problem.

    The ratio is the median [quartiles] of interleaved head-to-head samples (`compare_pairs`), which is
    robust to the machine's drifting speed; the two ms columns are the separate medians."""
    by = {(r["problem"], r["n"], r["lib"], r["method"]): r for r in rows}
    keys = list(dict.fromkeys((r["problem"], r["n"]) for r in rows))
    body = []
    for prob, n in keys:
        cells = [prob, n]
        for ours, theirs in (("Tsit5", "Tsit5"), ("DP5", "Dopri5")):
            a, b = by.get((prob, n, "pysciml", ours)), by.get((prob, n, "diffrax", theirs))
            paired = a and a.get("paired_ratio")
            ratio = (f"{H.fmt(paired['median'])}× [{H.fmt(paired['q1'])}–{H.fmt(paired['q3'])}]" if paired else
                     H.fmt(b["median_s"] / a["median_s"]) + "×" if a and b else "–")
            cells += [H.fmt(a and a["median_s"] * 1e3), H.fmt(b and b["median_s"] * 1e3), ratio,
                      f"{a['steps']} / {b['steps']}" if a and b else "–"]
        a, b = by.get((prob, n, "pysciml", "Tsit5")), by.get((prob, n, "diffrax", "Tsit5"))
        ca = a and a["trace_s"] + a["compile_s"]
        cb = b and b["trace_s"] + b["compile_s"]
        cells += [H.fmt(ca), H.fmt(cb), H.fmt(cb / ca) + "×" if a and b else "–"]
        body.append(cells)
    headers = ["problem", "n", "pysciml Tsit5 ms", "diffrax Tsit5 ms", "diffrax / pysciml", "steps ps / dfx",
               "pysciml DP5 ms", "diffrax Dopri5 ms", "diffrax / pysciml", "steps ps / dfx",
               "compile s: pysciml Tsit5", "diffrax Tsit5", "diffrax / pysciml"]
    return H.markdown_table(headers, body)


def report(rows, info, cfg, elapsed):
    loads = [r["load"] for r in rows] or [H.load_average()]
    small = [r for r in rows if r["problem"] != "lorenz_stack"]
    stack = [r for r in rows if r["problem"] == "lorenz_stack"]
    out = [H.machine_markdown(info, (min(loads), max(loads))),
           f"- Settings: rtol {cfg.rtol:g}, atol {cfg.atol:g}, float64, {cfg.repeats} samples after one warm-up "
           f"(calls under {cfg.min_sample:g} s repeated inside a sample){' — QUICK run' if cfg.quick else ''}; "
           f"whole script {elapsed / 60:.1f} min; raw data `results/{NAME}.jsonl`.\n"
           "- Only the final state is kept: pysciml `save_everystep=False` (default PI controller), diffrax "
           "`SaveAt(t1=True)` with `PIDController(rtol, atol)` defaults (an I-controller), both `max_steps=100000`, "
           "jitted as a function of (u0, p); scipy `solve_ivp` (steps = accepted); torchdiffeq `t=[t0, t1]` under "
           "`no_grad` (`*` = (nfev − 2)/6, no step counter). Error: max abs error at t1 against scipy DOP853 "
           "rtol = atol = 1e-13.\n"]
    if small:
        out += ["\n### Lotka–Volterra t∈[0,10], Lorenz t∈[0,10] and t∈[0,1], Pleiades t∈[0,3]\n\n", results_table(small)]
    if stack:
        out += ["\n### Lorenz stacked N times into one ODE of 3N states, t∈[0,1]\n\n", results_table(stack)]
        sizes = size_table(stack)
        if sizes:
            out += ["\nMedian ms per solve against state size:\n\n", sizes]
    if any(r["lib"] == "pysciml" for r in rows) and any(r["lib"] == "diffrax" for r in rows):
        out += ["\n### diffrax / pysciml (> 1: pysciml faster; ratio from interleaved head-to-head samples)\n\n",
                ratio_table(rows)]
    return "".join(out)


# --- what saving costs ------------------------------------------------------------------------------------

SAVE_NAME = "nonstiff_saving"
SAVE_HEADING = "Saving: final state, saveat, every step (`benchmarks/nonstiff.py --part saving`)"
SAVE_PROBLEMS = ("lotka_volterra", "lorenz_t10", "pleiades")
SAVE_MODES = ("final", "saveat100", "steps", "steps_nodense")
DIFFRAX_MODE = dict(final="final", saveat100="saveat100", steps="steps", steps_nodense="steps")   # its peer
N_SAVES = 100
ENSEMBLE_SIZE = 1000


def _perf_floor():
    """../shared/perf_floor.py (the leanest adaptive Dormand–Prince loop), or None where it is absent."""
    path = H.HERE.parents[1] / "shared" / "perf_floor.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("perf_floor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save_fns(prob, cfg):
    """{(lib, mode): jitted fn(u0, p)} written as each library's best user would: one jit around the solve,
    returning what that mode is for (the final state; the saved states; the whole every-step solution)."""
    f = prob.make(JNP)
    t0, t1 = prob.tspan
    ts = jnp.linspace(t0, t1, N_SAVES)
    rhs = lambda u, p, t: f(u, p)  # noqa: E731
    opts = dict(final=dict(save_everystep=False), saveat100=dict(saveat=ts), steps={}, steps_nodense=dict(dense=False))

    def ours(mode):
        def run(u0, p):
            sol = ps.solve(ps.ODEProblem(rhs, u0, prob.tspan, p), ps.Tsit5(), rtol=cfg.rtol, atol=cfg.atol,
                           **opts[mode])
            out = sol.u[-1] if mode == "final" else sol.u if mode == "saveat100" else sol   # (all of it)
            return out, sol.stats["naccept"]
        return jax.jit(run)

    fns = {("pysciml", m): ours(m) for m in SAVE_MODES}
    if diffrax is not None:
        term, solver = diffrax.ODETerm(lambda t, y, p: f(y, p)), diffrax.Tsit5()
        controller = diffrax.PIDController(rtol=cfg.rtol, atol=cfg.atol)
        saves = dict(final=diffrax.SaveAt(t1=True), saveat100=diffrax.SaveAt(ts=ts), steps=diffrax.SaveAt(steps=True))

        def theirs(mode):
            def run(u0, p):
                sol = diffrax.diffeqsolve(term, solver, t0, t1, None, u0, args=p, saveat=saves[mode],
                                          stepsize_controller=controller, throw=False)
                out = sol.ys[-1] if mode == "final" else sol.ys if mode == "saveat100" else (sol.ts, sol.ys)
                return out, sol.stats["num_accepted_steps"]
            return jax.jit(run)

        fns.update({("diffrax", m): theirs(m) for m in set(DIFFRAX_MODE.values())})
    floor = _perf_floor()
    if floor is not None:
        fns[("perf_floor", "final")] = jax.jit(
            lambda u0, p: floor.solve(lambda u, p_, t: f(u, p_), u0, p, t0, t1, rtol=cfg.rtol, atol=cfg.atol))
    return fns


def save_rows(prob, cfg):
    u0, p = jnp.asarray(prob.u0), jnp.asarray(prob.p)
    rows, calls = [], {}
    for (lib, mode), fn in _save_fns(prob, cfg).items():
        trace, compile_, compiled = H.jax_compile_times(fn, u0, p)
        call = (lambda c=compiled: jax.block_until_ready(c(u0, p)))
        timing = H.time_call(call, cfg.repeats, cfg.min_sample)
        steps = int(timing.result[1])
        calls[lib, mode] = call
        rows.append(dict(problem=prob.name, n=prob.n, lib=lib, mode=mode, median_s=timing.median, min_s=timing.min,
                         max_s=timing.max, cpu_s=timing.cpu, steps=steps, trace_s=trace, compile_s=compile_,
                         load=H.load_average()))
        print(f"{prob.name:15s} {lib:10s} {mode:10s} {timing.median * 1e6:9.1f} µs  steps {steps}  "
              f"compile {trace + compile_:.2f} s", file=sys.stderr, flush=True)
    rounds = 5 if cfg.quick else 15
    by = {(r["lib"], r["mode"]): r for r in rows}
    pairs = [(("pysciml", "final"), ("pysciml", m), "vs_final") for m in SAVE_MODES[1:]]
    pairs += [(("pysciml", m), ("diffrax", DIFFRAX_MODE[m]), "diffrax_over") for m in SAVE_MODES
              if ("diffrax", DIFFRAX_MODE[m]) in calls]
    pairs += [(("perf_floor", "final"), ("pysciml", "final"), "vs_floor")] if ("perf_floor", "final") in calls else []
    for a, b, key in pairs:
        median, low, high = H.paired_ratio(calls[a], calls[b], rounds=rounds, min_sample=cfg.min_sample / 2)
        row = by[b] if key == "vs_final" or key == "vs_floor" else by[a]
        row[key] = dict(median=median, q1=low, q3=high)
        print(f"  paired {b[0]} {b[1]} / {a[0]} {a[1]}: {median:.2f}x [{low:.2f}–{high:.2f}]", file=sys.stderr, flush=True)
    return rows


def ensemble_rows(cfg):
    """1000 vmapped Lotka–Volterra solves (parameters varied by up to 10%): saveat of 100 points against
    final-only, pysciml's EnsembleVmap against diffrax under jax.vmap."""
    prob = problems(["lotka_volterra"], ())[0]
    f = prob.make(JNP)
    u0 = jnp.asarray(prob.u0)
    params = jnp.asarray(prob.p) * (1 + 0.1 * jax.random.uniform(jax.random.key(0), (ENSEMBLE_SIZE, 4)))
    ts = jnp.linspace(*prob.tspan, N_SAVES)
    base = ps.ODEProblem(lambda u, p, t: f(u, p), u0, prob.tspan, params[0])
    eprob = ps.EnsembleProblem(base, prob_func=lambda pr, i, repeat: pr.remake(p=params[i]),
                               output_func=lambda sol, i: sol.u)
    ours = dict(final=dict(save_everystep=False), saveat100=dict(saveat=ts))
    calls = {("pysciml", m): (lambda o=o: jax.block_until_ready(
        ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=ENSEMBLE_SIZE, rtol=cfg.rtol, atol=cfg.atol,
                 **o).u)) for m, o in ours.items()}
    if diffrax is not None:
        term, solver = diffrax.ODETerm(lambda t, y, p: f(y, p)), diffrax.Tsit5()
        controller = diffrax.PIDController(rtol=cfg.rtol, atol=cfg.atol)
        for mode, save in (("final", diffrax.SaveAt(t1=True)), ("saveat100", diffrax.SaveAt(ts=ts))):
            fn = jax.jit(jax.vmap(lambda p, save=save: diffrax.diffeqsolve(
                term, solver, prob.tspan[0], prob.tspan[1], None, u0, args=p, saveat=save,
                stepsize_controller=controller, throw=False).ys))
            calls[("diffrax", mode)] = (lambda fn=fn: jax.block_until_ready(fn(params)))
    floor = _perf_floor()
    if floor is not None:
        fn = jax.jit(jax.vmap(lambda p: floor.solve(lambda u, p_, t: f(u, p_), u0, p, *prob.tspan, rtol=cfg.rtol,
                                                    atol=cfg.atol)))
        calls[("perf_floor", "final")] = (lambda: jax.block_until_ready(fn(params)))
    rows = []
    for (lib, mode), call in calls.items():
        start = time.perf_counter()
        call()
        first = time.perf_counter() - start
        timing = H.time_call(call, cfg.repeats, cfg.min_sample)
        rows.append(dict(problem=f"lotka_volterra ensemble x{ENSEMBLE_SIZE}", n=prob.n, lib=lib, mode=mode,
                         median_s=timing.median, min_s=timing.min, max_s=timing.max, cpu_s=timing.cpu, steps=None,
                         trace_s=None, compile_s=first, load=H.load_average()))
        print(f"ensemble {lib:10s} {mode:10s} {timing.median * 1e3:9.2f} ms", file=sys.stderr, flush=True)
    by = {(r["lib"], r["mode"]): r for r in rows}
    rounds = 3 if cfg.quick else 9
    pairs = [(("pysciml", "final"), ("pysciml", "saveat100"), "vs_final")]
    pairs += [(("pysciml", m), ("diffrax", m), "diffrax_over") for m in ours if ("diffrax", m) in calls]
    pairs += [(("perf_floor", "final"), ("pysciml", "final"), "vs_floor")] if ("perf_floor", "final") in calls else []
    for a, b, key in pairs:
        median, low, high = H.paired_ratio(calls[a], calls[b], rounds=rounds, min_sample=cfg.min_sample)
        (by[a] if key == "diffrax_over" else by[b])[key] = dict(median=median, q1=low, q3=high)
        print(f"  paired {b[0]} {b[1]} / {a[0]} {a[1]}: {median:.2f}x [{low:.2f}–{high:.2f}]", file=sys.stderr, flush=True)
    return rows


def _ratio_cell(row, key):
    r = row.get(key) if row else None
    return f"{H.fmt(r['median'])}× [{H.fmt(r['q1'])}–{H.fmt(r['q3'])}]" if r else "–"


def save_report(rows, info, cfg, elapsed):
    loads = [r["load"] for r in rows] or [H.load_average()]
    out = [H.machine_markdown(info, (min(loads), max(loads))),
           f"- Settings: Tsit5, rtol {cfg.rtol:g}, atol {cfg.atol:g}, float64, {cfg.repeats} samples"
           f"{' — QUICK run' if cfg.quick else ''}; whole part {elapsed / 60:.1f} min; raw data "
           f"`results/{SAVE_NAME}.jsonl`.\n"
           f"- Modes: final state only (pysciml `save_everystep=False`, diffrax `SaveAt(t1=True)`); `saveat` of "
           f"{N_SAVES} points (`SaveAt(ts=...)`); every step (`steps`: pysciml's default, every step with dense "
           "output, the whole solution returned from jit; `steps_nodense`: `dense=False`; diffrax "
           "`SaveAt(steps=True)`, ts and ys, in both rows). Each is one jitted "
           "function of (u0, p). Ratios are medians [quartiles] of interleaved pairs (robust to load); "
           "`vs final`: time / pysciml's final-only time (target ≤ 1.3); `diffrax / pysciml` (target ≥ 2); "
           "`vs floor`: pysciml final-only / ../shared/perf_floor.py (Dormand–Prince, its own steps: compare "
           "per step, target ≤ 1.2).\n"]
    by = {(r["problem"], r["lib"], r["mode"]): r for r in rows}
    body = []
    for name in dict.fromkeys(r["problem"] for r in rows):
        for mode in SAVE_MODES:
            a, b = by.get((name, "pysciml", mode)), by.get((name, "diffrax", DIFFRAX_MODE.get(mode, mode)))
            if not a:
                continue
            floor = by.get((name, "perf_floor", "final")) if mode == "final" else None
            per_step = "–"
            if floor and a.get("vs_floor") and a["steps"] and floor["steps"]:
                per_step = H.fmt(a["vs_floor"]["median"] * floor["steps"] / a["steps"]) + "×"
            body.append([name, mode, H.fmt(a["median_s"] * 1e6), a["steps"] if a["steps"] is not None else "–",
                         _ratio_cell(a, "vs_final") if mode != "final" else "1",
                         H.fmt(b and b["median_s"] * 1e6), b["steps"] if b and b["steps"] is not None else "–",
                         _ratio_cell(a, "diffrax_over"),
                         H.fmt(floor and floor["median_s"] * 1e6),
                         f"{_ratio_cell(a, 'vs_floor')} ({per_step} per step)" if floor else "–"])
    out.append("\n" + H.markdown_table(
        ["problem", "mode", "pysciml µs", "steps", "vs final", "diffrax µs", "steps", "diffrax / pysciml",
         "perf_floor µs", "pysciml / floor"], body))
    return "".join(out)


def run_saving(args, cfg, info):
    start, rows = time.perf_counter(), []
    for prob in problems([p for p in SAVE_PROBLEMS if p in args.problems.split(",")] or list(SAVE_PROBLEMS), ()):
        rows += save_rows(prob, cfg)
    if not args.no_ensemble:
        rows += ensemble_rows(cfg)
    _publish(SAVE_NAME, SAVE_HEADING, save_report(rows, info, cfg, time.perf_counter() - start), rows, info, cfg,
             args.write)


def _publish(name, heading, text, rows, info, cfg, write):
    """Print the tables, keep the raw rows in results/<name>.jsonl and, with --write, the section in RESULTS.md."""
    print(text)
    meta = dict(info, rtol=cfg.rtol, atol=cfg.atol, quick=cfg.quick, repeats=cfg.repeats)
    path = H.write_jsonl(name, meta, rows)
    print(f"# raw rows: {path}", file=sys.stderr)
    if write:
        H.write_section(heading, text)
        print(f"# written to {H.RESULTS_MD}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--atol", type=float, default=1e-8)
    ap.add_argument("--problems", default="lotka_volterra,lorenz_t10,lorenz_t1,pleiades,lorenz_stack",
                    help="comma-separated subset of the default")
    ap.add_argument("--sizes", default=None, help=f"stack sizes N for lorenz_stack (default {','.join(map(str, SIZES))})")
    ap.add_argument("--libs", default="scipy,pysciml,diffrax,torchdiffeq")
    ap.add_argument("--repeats", type=int, default=None, help="samples per measurement (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="3 samples, shorter samples, no N=16384, no torchdiffeq on stacks")
    ap.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    ap.add_argument("--part", choices=("solvers", "saving", "all"), default="all",
                    help="solvers: the method comparison; saving: what saving costs (final, saveat, every step)")
    ap.add_argument("--no-ensemble", action="store_true", help="saving part: skip the vmapped ensemble")
    args = ap.parse_args()

    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (SIZES[:-1] if args.quick else SIZES)
    cfg = SimpleNamespace(rtol=args.rtol, atol=args.atol, quick=args.quick, libs=set(args.libs.split(",")),
                          repeats=args.repeats or (3 if args.quick else 7), min_sample=0.03 if args.quick else 0.1)
    info = H.machine_info(PACKAGES)
    print(f"# pinned to core {CORE}; pysciml methods {PYSCIML_METHODS}; load {info['load_average']}", file=sys.stderr)
    if args.part in ("saving", "all"):
        run_saving(args, cfg, info)
        if args.part == "saving":
            return
    start, rows = time.perf_counter(), []
    warm_up_jax(cfg)
    for prob in problems(args.problems.split(","), sizes):
        reference(prob)
        for lib, method, runner in runs_for(prob, cfg):
            row = runner(prob, method, cfg)
            row.update(rtol=cfg.rtol, atol=cfg.atol)
            rows.append(row)
            print(f"{prob.name:15s} n={prob.n:<6d} {lib:11s} {method:7s} {row['median_s'] * 1e3:10.4g} ms  "
                  f"steps {_steps(row):>16s}  err {row['err']:.3g}  {H.compile_cell(row)}  {row['status']}",
                  file=sys.stderr, flush=True)
        compare_pairs([r for r in rows if r["problem"] == prob.name and r["n"] == prob.n], cfg)
    text = report(rows, info, cfg, time.perf_counter() - start)
    for row in rows:
        row.pop("call", None)
    _publish(NAME, HEADING, text, rows, info, cfg, args.write)


if __name__ == "__main__":
    main()
