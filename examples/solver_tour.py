"""pysciml solver tour: the Lorenz attractor and Lotka–Volterra, solved, timed and checked.

Prints, for several methods and tolerances, the error against a tight independent reference (scipy's
DOP853 at rtol 2.3e-14), the compile time and the time per solve; writes `solver_tour.png` with the Lorenz
attractor, the Lotka–Volterra solution from the dense output, and a work–precision plot.

Run: python examples/solver_tour.py [--small] [--out DIR]
"""
import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import pysciml as ps
from pysciml.testing import lorenz, lotka_volterra


def reference(prob):
    rhs = lambda t, u: np.asarray(prob.f(jnp.asarray(u), prob.p, t))
    return solve_ivp(rhs, prob.tspan, np.asarray(prob.u0), method="DOP853", rtol=2.3e-14, atol=1e-16).y[:, -1]


def time_solve(prob, alg, tol, repeats):
    run = jax.jit(lambda p: ps.solve(prob.remake(p=p), alg, rtol=tol, atol=tol, save_everystep=False,
                                     max_steps=100_000).u[-1])
    start = time.perf_counter()
    compiled = run.lower(prob.p).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(prob.p))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            out = compiled(prob.p)
        jax.block_until_ready(out)
        samples.append((time.perf_counter() - start) / 10)
    return np.asarray(out), compile_s, float(np.median(samples))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer methods and repeats (for CI)")
    parser.add_argument("--out", default=".", help="folder for solver_tour.png")
    args = parser.parse_args()

    problems = {"Lotka–Volterra t∈[0,10]": lotka_volterra(), "Lorenz t∈[0,1]": lorenz((0.0, 1.0))}
    methods = [ps.Tsit5(), ps.Vern9()] if args.small else [ps.BS3(), ps.DP5(), ps.Tsit5(), ps.Vern7(), ps.Vern9(), ps.DP8()]
    tolerances = [1e-6, 1e-10] if args.small else [1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
    repeats = 2 if args.small else 5

    print(f"{'problem':24s} {'method':8s} {'tol':>7s} {'max error':>10s} {'compile s':>9s} {'µs/solve':>9s}")
    work_precision = {}
    for name, prob in problems.items():
        ref = reference(prob)
        for alg in methods:
            for tol in tolerances:
                if isinstance(alg, ps.BS3) and tol < 1e-8:
                    continue
                u1, compile_s, per_solve = time_solve(prob, alg, tol, repeats)
                err = float(np.abs(u1 - ref).max())
                work_precision.setdefault((name, repr(alg)), []).append((per_solve, err))
                print(f"{name:24s} {alg!r:8s} {tol:7.0e} {err:10.2e} {compile_s:9.2f} {per_solve * 1e6:9.1f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(15, 4.5))
    attractor = ps.solve(lorenz((0.0, 30.0)), ps.Vern9(), rtol=1e-10, atol=1e-10)
    ts = jnp.linspace(0.0, 30.0, 6000)
    xyz = np.asarray(attractor(ts))
    ax = fig.add_subplot(1, 3, 1, projection="3d")
    ax.plot(xyz[:, 0], xyz[:, 1], xyz[:, 2], lw=0.5)
    ax.set_title(f"Lorenz attractor (Vern9, {int(attractor.stats['naccept'])} steps, dense output)")
    ax = fig.add_subplot(1, 3, 2)
    lv = ps.solve(lotka_volterra(), ps.Tsit5(), rtol=1e-8, atol=1e-8)
    lv.plot(ax=ax, labels=["prey x", "predator y"])
    ax.plot(np.asarray(lv.t), np.asarray(lv.u[:, 0]), "k.", ms=2, label="accepted steps")
    ax.set_title("Lotka–Volterra (Tsit5 dense output)")
    ax = fig.add_subplot(1, 3, 3)
    for (name, method), points in work_precision.items():
        times, errors = zip(*points)
        ax.loglog(errors, np.asarray(times) * 1e6, "o-", label=f"{method} {name.split()[0]}")
    ax.set_xlabel("max error at t1")
    ax.set_ylabel("µs per solve")
    ax.set_title("work–precision")
    ax.legend(fontsize=6)
    fig.tight_layout()
    out = pathlib.Path(args.out) / "solver_tour.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
