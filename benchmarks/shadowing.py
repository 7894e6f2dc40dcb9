"""Shadowing sensitivities on Lorenz-63: d⟨z⟩/dρ at (σ, ρ, β) = (10, 28, 8/3), time and accuracy.

- pysciml: ForwardLSS (TimeDilation(10)), AdjointLSS, ForwardLSS (CosWindowing), NILSS (nus = 1) and
  NILSAS (M = 1, and M = 2: the paper's nus + 1, what M=None estimates) on one trajectory started on the
  attractor, saved every h = 0.01 over T time units (segments of 1 time unit), Tsit5 at rtol = atol =
  1e-8; `jax.jit(jax.grad(loss))` of p (trace and compile timed apart, not in the run times).
- Reference: central finite differences (ρ ± 1) of long-time averages ⟨z⟩ over an ensemble of independent
  trajectories (random starts, 20 time units of spin-up, then T_fd units averaged through ∫ z dt carried
  as an extra state), with the standard error of the ensemble mean. Published: ≈ 1.01 (Wang 2014).
- `fds` (Qiqi Wang's reference NILSS implementation; `pip install --no-deps --target DIR fds dill`, then
  FDS_PATH=DIR; mpi4py is optional): same trajectory length, segments and h, subspace dimension 2 (its
  Lorenz example's), scipy DOP853 at rtol = atol = 1e-8 as its `run` function. Skipped if not importable.

One pinned core, float64.

    python benchmarks/shadowing.py [--quick] [--horizons 40,80]
"""
import argparse
import os
import sys
import time

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402

import pysciml as ps  # noqa: E402

NAME = "shadowing"
PACKAGES = ["pysciml", "jax", "jaxlib", "scipy", "fds"]
H_SAVE = 0.01
STEPS_PER_SEGMENT = 100


def lorenz(u, p, t):
    x, y, z = u
    sigma, rho, beta = p
    return jnp.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


P0 = jnp.array([10.0, 28.0, 8.0 / 3.0])


def on_attractor(seed=0):
    u = jnp.array([1.0, 1.0, 1.0]) + 0.1 * jax.random.normal(jax.random.PRNGKey(seed), (3,))
    return ps.solve(ps.ODEProblem(lorenz, u, (0.0, 30.0), P0), ps.Tsit5(), rtol=1e-10, atol=1e-10,
                    save_everystep=False).u[-1]


# --- reference: ensemble finite differences ----------------------------------------------------------------

def lorenz_with_integral(u, p, t):
    return jnp.concatenate([lorenz(u[:3], p, t), u[2:3]])


def ensemble_fd(n_traj, t_avg, delta=1.0, seed=1):
    """(mean, standard error) of [⟨z⟩(ρ + δ) − ⟨z⟩(ρ − δ)] / 2δ over n_traj independent trajectories."""
    starts = jnp.array([1.0, 1.0, 20.0]) + 5.0 * jax.random.normal(jax.random.PRNGKey(seed), (n_traj, 3))

    def average(u0, rho):
        p = P0.at[1].set(rho)
        warm = ps.solve(ps.ODEProblem(lorenz, u0, (0.0, 20.0), p), ps.Tsit5(), rtol=1e-7, atol=1e-7,
                        save_everystep=False).u[-1]
        sol = ps.solve(ps.ODEProblem(lorenz_with_integral, jnp.append(warm, 0.0), (0.0, t_avg), p), ps.Tsit5(),
                       rtol=1e-7, atol=1e-7, save_everystep=False, max_steps=400 * int(t_avg) + 1000)
        return sol.u[-1, 3] / t_avg

    run = jax.jit(jax.vmap(average, in_axes=(0, None)))
    hi, lo = np.asarray(run(starts, 28.0 + delta)), np.asarray(run(starts, 28.0 - delta))
    d = (hi - lo) / (2 * delta)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n_traj))


# --- pysciml -------------------------------------------------------------------------------------------------

def pysciml_rows(T, repeats):
    K = int(round(T))
    m = K * STEPS_PER_SEGMENT
    ts = jnp.linspace(0.0, m * H_SAVE, m + 1)
    prob = ps.ODEProblem(lorenz, on_attractor(), (0.0, float(ts[-1])), P0)
    methods = {"ForwardLSS(TimeDilation(10))": ps.ForwardLSS(), "AdjointLSS(TimeDilation(10))": ps.AdjointLSS(),
               "ForwardLSS(CosWindowing())": ps.ForwardLSS(regularizer=ps.CosWindowing()),
               f"NILSS({K}, {STEPS_PER_SEGMENT}, 1)": ps.NILSS(K, STEPS_PER_SEGMENT, 1),
               f"NILSAS({K}, {STEPS_PER_SEGMENT}, 1)": ps.NILSAS(K, STEPS_PER_SEGMENT, 1),
               f"NILSAS({K}, {STEPS_PER_SEGMENT}, 2)": ps.NILSAS(K, STEPS_PER_SEGMENT, 2),
               "ForwardDiffSensitivity (plain AD)": ps.ForwardDiffSensitivity()}
    rows = []
    for label, alg in methods.items():
        def loss(p, alg=alg):
            sol = ps.solve(prob.remake(p=p), ps.Tsit5(), rtol=1e-8, atol=1e-8, saveat=ts, sensealg=alg)
            return jnp.mean(sol.u[:, 2])
        trace, comp, compiled = H.jax_compile_times(jax.grad(loss), P0)
        timing = H.time_call(lambda: compiled(P0).block_until_ready(), repeats=repeats)
        rows.append({"library": "pysciml", "method": label, "T": T, "drho": float(timing.result[1]),
                     "trace_s": trace, "compile_s": comp, "median_s": timing.median, "min_s": timing.min,
                     "max_s": timing.max})
        print(f"  T={T:g} {label}: d<z>/drho = {rows[-1]['drho']:.4g}, run {timing.median:.3f} s, "
              f"trace + compile {trace:.1f} + {comp:.1f} s", flush=True)
    return rows


# --- fds -----------------------------------------------------------------------------------------------------

def fds_run(u0, rho, steps):
    """fds's `run`: ``steps`` steps of h from u0 at ρ = rho -> (final state, z at each step). Module level,
    since fds runs it in a multiprocessing pool (pinned to the same core)."""
    from scipy.integrate import solve_ivp

    def f(t, u):
        x, y, z = u
        return [10.0 * (y - x), x * (rho - z) - y, x * y - 8.0 / 3.0 * z]
    ts = np.arange(steps + 1) * H_SAVE
    sol = solve_ivp(f, (0.0, ts[-1]), u0, t_eval=ts, rtol=1e-8, atol=1e-8, method="DOP853")
    return sol.y[:, -1], sol.y[2, 1:, None]


def fds_row(T, subspace=2):
    if os.environ.get("FDS_PATH"):
        sys.path.insert(0, os.environ["FDS_PATH"])
    try:
        import fds
    except ImportError as e:
        print(f"  fds not importable ({e}); skipped")
        return None
    K = int(round(T))
    start = time.perf_counter()
    _, grad = fds.shadowing(fds_run, np.asarray(on_attractor()), 28.0, subspace, K, STEPS_PER_SEGMENT, 0)
    elapsed = time.perf_counter() - start
    print(f"  T={T:g} fds: d<z>/drho = {float(np.ravel(grad)[0]):.4g}, {elapsed:.2f} s", flush=True)
    return {"library": "fds", "method": f"fds.shadowing(subspace={subspace}, {K}×{STEPS_PER_SEGMENT})", "T": T,
            "drho": float(np.ravel(grad)[0]), "trace_s": None, "compile_s": None, "median_s": elapsed,
            "min_s": elapsed, "max_s": elapsed}


def _versus(error):
    """Relative error in %, or the ratio to the reference where it is off by orders of magnitude."""
    return f"{100 * error:+.1f}%" if abs(error) < 10 else f"×{error + 1:.1e}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small reference ensemble, one horizon")
    parser.add_argument("--horizons", default=None, help="comma-separated T values (time units)")
    args = parser.parse_args()
    horizons = [float(x) for x in (args.horizons or ("40" if args.quick else "40,80")).split(",")]
    n_traj, t_fd = (16, 200.0) if args.quick else (64, 1000.0)
    info = H.machine_info(PACKAGES)
    print(f"load average {info['load_average']}, pinned to core {CORE}")
    start = time.perf_counter()
    ref, se = ensemble_fd(n_traj, t_fd)
    print(f"reference (finite differences, {n_traj} trajectories × {t_fd:g} time units, "
          f"{time.perf_counter() - start:.1f} s): d<z>/drho = {ref:.4f} ± {se:.4f} (standard error)")
    rows = []
    for T in horizons:
        rows += pysciml_rows(T, repeats=3 if args.quick else 7)
        row = fds_row(T)
        if row is not None:
            rows.append(row)
    for row in rows:
        row["error_vs_fd"] = row["drho"] / ref - 1.0
    table = H.markdown_table(
        ["library", "method", "T", "d⟨z⟩/dρ", "vs FD", "run (ms)", "trace + compile (s)"],
        [[r["library"], r["method"], f"{r['T']:g}", f"{r['drho']:.4g}", _versus(r["error_vs_fd"]),
          H.time_cell(r), H.compile_cell(r)] for r in rows])
    print(f"\nReference: ensemble finite differences {ref:.4f} ± {se:.4f} (s.e.; {n_traj} × {t_fd:g} time units)\n")
    print(table)
    meta = dict(info, reference=ref, reference_se=se, n_traj=n_traj, t_fd=t_fd,
                load_after=[round(x, 2) for x in os.getloadavg()])
    print(f"raw rows: {H.write_jsonl(NAME, meta, rows)}")


if __name__ == "__main__":
    main()
