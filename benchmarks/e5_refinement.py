"""When the stage solves need refinement (issue 12 §1): E5 of the stiff test set against the absolute
tolerance's distance from the rounding level of the state, and what the automatic rule costs.

`DenseLU()` refines its stage solves by itself when min(atol) < 0.1·eps·max|u0|
(`pysciml.solve.defaults.refine_below_rounding`). This script measures the three things that rule rests on:

1. sweep: E5 mescd with the plain solve (`DenseLU(refine=False)`) and the refined one, for atol from 1e-16 to
   1e-24 (ratio = atol / (eps·max|u0|)), rtol 1e-4, 1e-6, 1e-8 — where the plain solve falls short ("*").
2. table: E5 at the test set's atol (1.7e-24), rtol 1e-4 … 1e-10, for the affected methods with the plain
   solve (the behaviour before the rule) and the default linear solver (the rule: refined here).
3. cost: refined / plain time per solve (median of paired runs, one process) on ROBER (rtol 1e-8, atol 1e-20,
   refined by the rule for no digits; atol 1e-14, not refined) and E5.
4. residual: the Rosenbrock refinement's residual by f's Jacobian–vector product (the default with an AD
   Jacobian) against the same solve measuring with the AD matrix (given as a user ``jac=jax.jacfwd(f)``, which
   the refinement takes as exact): mescd, steps and the time ratio (median of paired runs, jitted).

    python benchmarks/e5_refinement.py [--part sweep|table|cost|residual|all]

Output: results/e5_refinement.txt (appended by part, with the load).
"""
import argparse
import os
import sys
import time

import _harness as H

H.setup_env()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pysciml as ps  # noqa: E402
from pysciml.testing.testset import digits_bound, mixed_digits, relative_digits, stiff_testset  # noqa: E402

TS = stiff_testset()
E5 = TS["e5"]
PLAIN, REFINED = ps.DenseLU(refine=False), ps.DenseLU(refine=True)
EPS = float(np.finfo(np.float64).eps)


def _digits(tp, alg, rtol, atol):
    sol = ps.solve(tp.problem, alg, rtol=rtol, atol=atol, save_everystep=False, max_steps=100_000)
    d = mixed_digits(sol.u[-1], tp.reference, rtol, atol)
    return sol, d


def sweep(out):
    scale = EPS * float(np.max(np.abs(np.asarray(E5.problem.u0))))
    out("## 1. E5 mescd, plain | refined, against atol / (eps·max|u0|); * = Success below the bound, F = failure code")
    out(f"{'method':9s} {'atol':>7s} {'ratio':>8s} | " + " | ".join(f"rtol {r:.0e}: plain refined" for r in (1e-4, 1e-6, 1e-8)))
    for name, make in (("Rodas5P", ps.Rodas5P), ("KenCarp4", ps.KenCarp4), ("Rodas4", ps.Rodas4)):
        for atol in (1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22, 1e-24):
            cells = []
            for rtol in (1e-4, 1e-6, 1e-8):
                pair = []
                for ls in (PLAIN, REFINED):
                    sol, d = _digits(E5, make(linsolve=ls), rtol, atol)
                    mark = "F" if not sol.success else ("*" if d < digits_bound(rtol) else " ")
                    pair.append(f"{d:6.2f}{mark}")
                cells.append(" ".join(pair))
            out(f"{name:9s} {atol:7.0e} {atol / scale:8.1e} | " + " | ".join(f"{c:>24s}" for c in cells))


def table(out):
    out("## 2. E5 at atol 1.7e-24: mescd (bound) and accepted steps; before = DenseLU(refine=False), "
        "after = the default DenseLU() (refined by the rule); SHORT = Success below the bound")
    methods = {"Rodas4": ps.Rodas4, "Rodas5P": ps.Rodas5P, "KenCarp4": ps.KenCarp4, "Kvaerno5": ps.Kvaerno5,
               "AutoTsit5(Rodas5P())": lambda linsolve: ps.AutoTsit5(ps.Rodas5P(linsolve=linsolve)),
               "AutoVern7(Rodas5P())": lambda linsolve: ps.AutoVern7(ps.Rodas5P(linsolve=linsolve))}
    for name, make in methods.items():
        for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
            row = []
            for ls in (PLAIN, None):
                alg = make(linsolve=ls) if ls is not None else make(linsolve=None)
                sol, d = _digits(E5, alg, rtol, E5.atol(rtol))
                code = "ok" if sol.success else str(sol.retcode).split(".")[-1]
                short = " SHORT" if sol.success and d < digits_bound(rtol) else ""
                row.append(f"{d:6.2f} {code:8s} {int(sol.stats['naccept']):6d}{short:6s}")
            out(f"{name:22s} rtol {rtol:.0e} bound {digits_bound(rtol):4.1f} | before {row[0]} | after {row[1]}")


def cost(out, repeats=9):
    out("## 3. refined / plain time per solve (median of paired runs), jitted, final state only")
    cases = [("rober", ps.Rodas5P, 1e-8, 1e-20), ("rober", ps.Rodas5P, 1e-8, 1e-14), ("rober", ps.KenCarp4, 1e-8, 1e-20),
             ("e5", ps.Rodas5P, 1e-4, 1.7e-24), ("e5", ps.Rodas5P, 1e-6, 1.7e-24), ("e5", ps.KenCarp4, 1e-4, 1.7e-24)]
    for pname, make, rtol, atol in cases:
        tp = TS[pname]
        runs, info = {}, []
        for label, ls in (("plain", PLAIN), ("refined", REFINED)):
            fn = jax.jit(lambda u0, ls=ls: ps.solve(tp.problem.remake(u0=u0), make(linsolve=ls), rtol=rtol, atol=atol,
                                                     save_everystep=False, max_steps=100_000))
            sol = fn(tp.problem.u0)
            jax.block_until_ready(sol.u)
            runs[label] = fn
            info.append(f"{label} mescd {mixed_digits(sol.u[-1], tp.reference, rtol, atol):5.2f} "
                        f"steps {int(sol.stats['naccept'])}")
        ratios, plain_s = [], []
        for _ in range(repeats):
            t = time.perf_counter(); jax.block_until_ready(runs["plain"](tp.problem.u0).u); a = time.perf_counter() - t
            t = time.perf_counter(); jax.block_until_ready(runs["refined"](tp.problem.u0).u); b = time.perf_counter() - t
            ratios.append(b / a)
            plain_s.append(a)
        out(f"{pname:5s} {make.__name__:8s} rtol {rtol:.0e} atol {atol:.1e}: refined/plain {np.median(ratios):4.2f} "
            f"(plain {1e3 * np.median(plain_s):.2f} ms) | " + " | ".join(info))


def residual(out, repeats=15):
    out("## 4. Rosenbrock refinement residual: f's JVP (default) vs the AD matrix (jac=jax.jacfwd(f)); jitted, "
        "final state; time = JVP / matrix (median of paired runs)")
    cases = [("e5", ps.Rodas4, 1e-4, 1.7e-24), ("e5", ps.Rodas4, 1e-6, 1.7e-24), ("e5", ps.Rodas5P, 1e-4, 1.7e-24),
             ("e5", ps.Rodas5P, 1e-6, 1.7e-24), ("rober", ps.Rodas5P, 1e-8, 1e-20), ("rober", ps.Rodas4, 1e-8, 1e-20)]
    for pname, make, rtol, atol in cases:
        tp = TS[pname]
        runs, info = {}, []
        for label, prob in (("matrix", tp.problem.remake(jac=jax.jacfwd(tp.problem.f))), ("jvp", tp.problem)):
            fn = jax.jit(lambda u0, prob=prob: ps.solve(prob.remake(u0=u0), make(), rtol=rtol, atol=atol,
                                                         save_everystep=False, max_steps=100_000))
            sol = fn(tp.problem.u0)
            jax.block_until_ready(sol.u)
            runs[label] = fn
            d = mixed_digits(sol.u[-1], tp.reference, rtol, atol)
            short = "*" if sol.success and d < digits_bound(rtol) else " "
            info.append(f"{label} mescd {d:5.2f}{short} steps {int(sol.stats['naccept'])}")
        ratios = []
        for _ in range(repeats):
            t = time.perf_counter(); jax.block_until_ready(runs["matrix"](tp.problem.u0).u); a = time.perf_counter() - t
            t = time.perf_counter(); jax.block_until_ready(runs["jvp"](tp.problem.u0).u); b = time.perf_counter() - t
            ratios.append(b / a)
        out(f"{pname:5s} {make.__name__:8s} rtol {rtol:.0e} atol {atol:.1e} bound {digits_bound(rtol):4.1f}: "
            + " | ".join(info) + f" | time jvp/matrix {np.median(ratios):4.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="all", choices=["sweep", "table", "cost", "residual", "all"])
    args = ap.parse_args()
    path = H.RESULTS_DIR / "e5_refinement.txt"
    with open(path, "a") as f:
        def out(line):
            print(line, flush=True)
            f.write(line + "\n")
        out(f"# e5_refinement.py --part {args.part}  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
            f"load {os.getloadavg()[0]:.1f}")
        for part in (("sweep", "table", "cost", "residual") if args.part == "all" else (args.part,)):
            {"sweep": sweep, "table": table, "cost": cost, "residual": residual}[part](out)


if __name__ == "__main__":
    main()
