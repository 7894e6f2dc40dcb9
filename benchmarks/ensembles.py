"""Ensembles at scale: trajectories per second on CPU (EnsembleVmap, EnsembleDask with 1..k workers, a
multiprocessing pool over scipy, diffrax vmap) and, when a GPU is present, the DiffEqGPU paper's setup.

CPU problem: Lorenz, rho in linspace(0, 21, N), t in [0, 1], u0 = (1, 0, 0), Tsit5 (scipy: DOP853, its closest
explicit RK of high order; RK45 is reported too), rtol = atol = 1e-8, final state only, float64. Each library's
final states are compared with scipy DOP853 at rtol = atol = 1e-13 on a subset (max abs error).
Every process runs XLA with one thread, so "k workers" means k cores; the driver is not pinned (the Dask workers
inherit its affinity), so the load average is recorded beside the figures.

GPU part (DiffEqGPU: Utkarsh et al., "Automated translation and accelerated solving of differential equations on
multiple GPU platforms", CMAME 2024, fig. on Lorenz): float32, N = 8 ... 8 388 608, fixed-step Tsit5 dt = 1e-3
and adaptive Tsit5 rtol = atol = 1e-8, for EnsembleGPUKernel, EnsembleVmap and diffrax vmap on the same card, plus
a float64 Robertson ensemble (t in [0, 1e5], rtol 1e-6, atol 1e-10, N <= 65536: Rodas5P in EnsembleGPUKernel and
EnsembleVmap vs diffrax Kvaerno5; the kernel's final states compared with EnsembleVmap's, EnsembleVmap's with
diffrax's). The paper's V100 figures for 8.4 M
trajectories: DiffEqGPU 145 ms fixed / 69.5 ms adaptive, diffrax 10.0 s / 2.6 s. Skipped without a GPU.

    python benchmarks/ensembles.py --small          # a quick check (N = 256, Dask 1..2 workers)
    python benchmarks/ensembles.py                  # N = 4096
    python benchmarks/ensembles.py --gpu-max 8388608  # on a GPU machine
"""
import argparse
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

RTOL = ATOL = 1e-8
SCIPY_SUBSET = 256      # scipy solves are ~ms each: timed on a subset, reported per trajectory
PAPER_V100 = {"DiffEqGPU fixed": 0.145, "DiffEqGPU adaptive": 0.0695, "diffrax fixed": 10.0, "diffrax adaptive": 2.6}


def rho(n):
    import numpy as np
    return np.linspace(0.0, 21.0, n)


# --- scipy in a process pool ---------------------------------------------------------------------------------
def _scipy_lorenz(args):
    import numpy as np
    from scipy.integrate import solve_ivp
    r, method, tol = args

    def f(t, u):
        x, y, z = u
        return [10.0 * (y - x), x * (r - z) - y, x * y - 8.0 / 3.0 * z]
    sol = solve_ivp(f, (0.0, 1.0), [1.0, 0.0, 0.0], method=method, rtol=tol, atol=tol, t_eval=[1.0])
    return sol.y[:, -1]


def scipy_pool(rhos, workers, method="DOP853", tol=RTOL):
    import numpy as np
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_scipy_lorenz, [(rhos[0], method, tol)] * workers)   # start-up outside the timing
        start = time.perf_counter()
        out = pool.map(_scipy_lorenz, [(r, method, tol) for r in rhos], chunksize=max(1, len(rhos) // (4 * workers)))
        return time.perf_counter() - start, np.array(out)


# --- pysciml and diffrax ---------------------------------------------------------------------------------------
def lorenz_jax(u, p, t):
    import jax.numpy as jnp
    x, y, z = u
    return jnp.array([10.0 * (y - x), x * (p - z) - y, x * y - 8.0 / 3.0 * z])


def pysciml_ensemble(n, dtype="float64"):
    import jax.numpy as jnp
    import pysciml as ps
    rhos = jnp.asarray(rho(n), dtype)
    prob = ps.ODEProblem(lorenz_jax, jnp.array([1.0, 0.0, 0.0], dtype), (0.0, 1.0), jnp.asarray(0.0, dtype))
    return ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat: prob.remake(p=rhos[i]))


def final_states(ens):
    import numpy as np
    return np.asarray(ens.u)[:, -1]


def diffrax_solver(n, dtype="float64", adaptive=True, dt=1e-3, tol=RTOL):
    import diffrax
    import jax
    import jax.numpy as jnp
    rhos = jnp.asarray(rho(n), dtype)
    term = diffrax.ODETerm(lambda t, u, p: lorenz_jax(u, p, t))
    control = diffrax.PIDController(rtol=tol, atol=tol) if adaptive else diffrax.ConstantStepSize()
    u0 = jnp.array([1.0, 0.0, 0.0], dtype)
    # times in the state's dtype: with float64 enabled, Python-float times would run the float32 case in float64
    t0, t1, dt = (jnp.asarray(x, dtype) for x in (0.0, 1.0, dt))

    @jax.jit
    def run(rhos):
        def one(r):
            sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), t0, t1, dt if not adaptive else None, u0, args=r,
                                      stepsize_controller=control, saveat=diffrax.SaveAt(t1=True),
                                      max_steps=100_000 if adaptive else int(round(1.0 / float(dt))) + 1)
            return sol.ys[-1]
        return jax.vmap(one)(rhos)
    return lambda: run(rhos).block_until_ready()


def diffrax_reference(rhos):
    """Final Lorenz states in float64 by diffrax Dopri8 at rtol = atol = 1e-12 (the GPU part's reference)."""
    import diffrax
    import jax
    import jax.numpy as jnp
    term = diffrax.ODETerm(lambda t, u, p: lorenz_jax(u, p, t))
    one = lambda r: diffrax.diffeqsolve(term, diffrax.Dopri8(), 0.0, 1.0, None, jnp.array([1.0, 0.0, 0.0]), args=r,
                                        stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
                                        saveat=diffrax.SaveAt(t1=True), max_steps=100_000).ys[-1]
    return jax.jit(jax.vmap(one))(jnp.asarray(rhos, jnp.float64))


def _ready(out):
    jax_array = out.u if hasattr(out, "outputs") else out
    jax_array.block_until_ready()
    return out


def blocked(ens):
    ens.u.block_until_ready()
    return ens


def timed(fn, repeats):
    t = H.time_call(fn, repeats=repeats, min_sample=0.0)
    return t.median, t.result


def cpu_part(n, max_workers, repeats):
    import numpy as np
    import jax
    import pysciml as ps
    from distributed import Client, LocalCluster

    rhos = rho(n)
    subset = np.arange(0, n, max(1, n // SCIPY_SUBSET))
    _, reference = scipy_pool(rhos[subset], max_workers, "DOP853", 1e-13)
    rows = []

    def add(name, workers, seconds, trajectories, finals, note=""):
        err = float(np.max(np.abs(finals - reference))) if finals is not None else None
        rows.append(dict(part="cpu", name=name, workers=workers, trajectories=trajectories, seconds=seconds,
                         traj_per_s=trajectories / seconds, max_err=err, load=H.load_average(), note=note))
        print(f"{name:28s} workers={workers}  {trajectories / seconds:12.0f} traj/s  err={H.fmt(err)}  "
              f"(load {H.load_average():.1f})", flush=True)

    eprob = pysciml_ensemble(n)
    opts = dict(rtol=RTOL, atol=ATOL, save_everystep=False)
    start = time.perf_counter()
    ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=n, **opts).u.block_until_ready()
    compile_s = time.perf_counter() - start
    s, ens = timed(lambda: blocked(ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=n, **opts)), repeats)
    add("pysciml EnsembleVmap", 1, s, n, final_states(ens)[subset], note=f"first call {compile_s:.1f} s")

    run = diffrax_solver(n)
    start = time.perf_counter()
    run()
    compile_s = time.perf_counter() - start
    s, out = timed(run, repeats)
    add("diffrax vmap", 1, s, n, np.asarray(out)[subset], note=f"first call {compile_s:.1f} s")

    for workers in range(1, max_workers + 1):
        for method in ("DOP853", "RK45"):
            s, out = scipy_pool(rhos[subset], workers, method)
            add(f"scipy {method} (process pool)", workers, s, len(subset), out)

    for workers in range(1, max_workers + 1):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            backend = ps.EnsembleDask(client, batch_size=max(1, n // (4 * workers)))
            start = time.perf_counter()
            ps.solve(eprob, ps.Tsit5(), backend, trajectories=n, **opts)
            first = time.perf_counter() - start
            s, ens = timed(lambda: ps.solve(eprob, ps.Tsit5(), backend, trajectories=n, **opts), repeats)
            add("pysciml EnsembleDask", workers, s, n, final_states(ens)[subset],
                note=f"first call {first:.1f} s (workers compile)")
    jax.clear_caches()
    return rows


def gpu_part(max_n, repeats, interpret=False):
    """The DiffEqGPU paper's Lorenz setup (float32) and a float64 Robertson ensemble, on the GPU jax sees
    (``interpret=True``: a dry run of this function on CPU, the kernel in Pallas interpret mode)."""
    import diffrax
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pysciml as ps

    rows = []
    sizes = [8 * 8 ** k for k in range(8) if 8 * 8 ** k <= max_n]
    if max_n >= 8_388_608 and 8_388_608 not in sizes:
        sizes.append(8_388_608)
    device = str(jax.devices()[0].device_kind)
    for mode, opts in (("fixed dt=1e-3", dict(adaptive=False, dt=1e-3, save_everystep=False)),
                       ("adaptive 1e-8", dict(rtol=1e-8, atol=1e-8, save_everystep=False))):
        for n in sizes:
            eprob = pysciml_ensemble(n, "float32")
            subset = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(int))
            # reference final states: diffrax Dopri8 in float64 at 1e-12 (independent of pysciml)
            reference = np.asarray(diffrax_reference(rho(n)[subset]))
            runs = {
                "EnsembleGPUKernel": lambda: ps.solve(eprob, ps.Tsit5(), ps.EnsembleGPUKernel(interpret=interpret),
                                                      trajectories=n, **opts),
                "EnsembleVmap": lambda: ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=n, **opts),
                "diffrax vmap": diffrax_solver(n, "float32", adaptive="adaptive" in mode),
            }
            for name, fn in runs.items():
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # rtol 1e-8 in float32: the paper's setting
                        start = time.perf_counter()
                        fn()
                        first = time.perf_counter() - start
                        s, out = timed(lambda: _ready(fn()), repeats)
                    finals = np.asarray(out.u)[:, -1] if hasattr(out, "outputs") else np.asarray(out)
                    success = float(np.mean(np.asarray(out.retcode) == 0)) if hasattr(out, "outputs") else None
                    err = float(np.max(np.abs(finals[subset] - reference)))
                    rows.append(dict(part="gpu", device=device, mode=mode, name=name, trajectories=n, seconds=s,
                                     first_call_s=first, max_err=err, success=success))
                    print(f"{device} {mode:14s} N={n:8d} {name:18s} {s * 1e3:10.2f} ms  err {err:.2e}  "
                          f"success {success}", flush=True)
                except Exception as exc:   # noqa: BLE001  (report and go on: one failure must not hide the rest)
                    rows.append(dict(part="gpu", device=device, mode=mode, name=name, trajectories=n,
                                     error=f"{type(exc).__name__}: {str(exc)[:300]}"))
                    print(f"{device} {mode:14s} N={n:8d} {name:18s} FAILED {type(exc).__name__}: {str(exc)[:200]}",
                          flush=True)

    # float64 Robertson (stiff): Rodas5P in EnsembleGPUKernel (W = I/(γh) − J factorized on lanes inside the
    # kernel) and EnsembleVmap, against diffrax Kvaerno5 vmapped; k1 varied by +-10 %
    for n in [s for s in sizes if s <= 65536]:
        k1 = jnp.linspace(0.036, 0.044, n)

        def robertson(u, p, t):
            y1, y2, y3 = u
            return jnp.array([-p * y1 + 1e4 * y2 * y3, p * y1 - 1e4 * y2 * y3 - 3e7 * y2 ** 2, 3e7 * y2 ** 2])
        prob = ps.ODEProblem(robertson, jnp.array([1.0, 0.0, 0.0]), (0.0, 1e5), 0.04)
        eprob = ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat: prob.remake(p=k1[i]))
        term = diffrax.ODETerm(lambda t, u, p: robertson(u, p, t))

        @jax.jit
        def dfx(k1):
            return jax.vmap(lambda k: diffrax.diffeqsolve(
                term, diffrax.Kvaerno5(), 0.0, 1e5, None, jnp.array([1.0, 0.0, 0.0]), args=k,
                stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-10),
                saveat=diffrax.SaveAt(t1=True), max_steps=100_000).ys[-1])(k1)
        options = dict(rtol=1e-6, atol=1e-10, save_everystep=False)
        runs = {"EnsembleGPUKernel Rodas5P": lambda: ps.solve(eprob, ps.Rodas5P(),
                                                              ps.EnsembleGPUKernel(interpret=interpret),
                                                              trajectories=n, **options).u[:, -1].block_until_ready(),
                "EnsembleVmap Rodas5P": lambda: ps.solve(eprob, ps.Rodas5P(), trajectories=n,
                                                         **options).u[:, -1].block_until_ready(),
                "diffrax vmap Kvaerno5": lambda: dfx(k1).block_until_ready()}
        # the kernel reproduces EnsembleVmap to round-off; EnsembleVmap is compared with diffrax (rtol-level)
        against = {"EnsembleGPUKernel Rodas5P": "EnsembleVmap Rodas5P", "EnsembleVmap Rodas5P": "diffrax vmap Kvaerno5"}
        finals, timings = {}, {}
        for name, fn in runs.items():
            try:
                fn()
                timings[name], out = timed(fn, repeats)
                finals[name] = np.asarray(out)
            except Exception as exc:   # noqa: BLE001  (report and go on)
                rows.append(dict(part="gpu", device=device, mode="Robertson float64", name=name, trajectories=n,
                                 error=f"{type(exc).__name__}: {str(exc)[:300]}"))
                print(f"{device} Robertson f64  N={n:8d} {name:26s} FAILED {type(exc).__name__}: {str(exc)[:200]}",
                      flush=True)
        for name, s in timings.items():
            other, diff = against.get(name), None
            if other in finals:    # largest difference per component, relative to the component's largest value
                diff = float(np.max(np.abs(finals[name] - finals[other]) / np.abs(finals[other]).max(axis=0)))
            rows.append(dict(part="gpu", device=device, mode="Robertson float64", name=name, trajectories=n,
                             seconds=s, max_rel_diff=diff, diff_against=other if diff is not None else None))
            print(f"{device} Robertson f64  N={n:8d} {name:26s} {s * 1e3:10.2f} ms  rel. diff vs {other}: {diff}",
                  flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4096, help="CPU ensemble size")
    ap.add_argument("--workers", type=int, default=None, help="most Dask workers / pool processes (default: cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="N = 256, 2 repeats: a quick check")
    ap.add_argument("--gpu-max", type=int, default=8_388_608, help="largest GPU ensemble")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--gpu-dry-run", action="store_true",
                    help="run the GPU part on CPU (N <= 64, the kernel interpreted) to check the script")
    args = ap.parse_args()
    if args.small:
        args.n, args.repeats = 256, 2
    workers = args.workers or os.cpu_count()
    # One XLA thread per process (workers inherit the environment), float64 on.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + H.XLA_ONE_THREAD).strip()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import jax
    jax.config.update("jax_enable_x64", True)
    info = H.machine_info(["jax", "jaxlib", "diffrax", "scipy", "dask", "distributed"])
    print(H.machine_markdown(info))
    rows = [] if args.skip_cpu else cpu_part(args.n, workers, args.repeats)
    if jax.default_backend() == "gpu":
        rows += gpu_part(args.gpu_max, args.repeats)
    elif args.gpu_dry_run:
        rows += gpu_part(64, 1, interpret=True)
    else:
        print("GPU part skipped: jax.default_backend() is", jax.default_backend())
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = H.write_jsonl("ensembles_dry_run" if args.gpu_dry_run else "ensembles", dict(info, args=vars(args)), rows)
    cpu = [r for r in rows if r["part"] == "cpu"]
    if cpu:
        print(H.markdown_table(["method", "workers", "trajectories/s", "max error", "load", "note"],
                               [[r["name"], r["workers"], H.fmt(r["traj_per_s"]), H.fmt(r["max_err"]),
                                 f"{r['load']:.1f}", r["note"]] for r in cpu]))
    print("raw rows:", path)


if __name__ == "__main__":
    main()
