"""Stiffness detection of the default algorithm (issue 13): when `solve(prob)` switches from Tsit5 to Rodas5P.

Robertson's problem on [0, 1e5] at the default tolerances (rtol 1e-3, atol 1e-6), as the first-hour tutorial
writes it: steps before the switch, steps in all against Rodas5P alone, and the largest relative deviation
of y2 from a tight scipy Radau reference over the saved steps (after t = 0). Then the non-stiff problems
that must never switch (Lotka–Volterra, Lorenz, Pleiades, Van der Pol μ = 1 and 10) at rtol 1e-2 … 1e-9, and
E5 (AutoTsit5 and AutoVern7 with Rodas5P, rtol 1e-4 … 1e-10, atol 1.7e-24). The header names the pysciml
checkout measured: run it with PYTHONPATH of an older checkout for the "before" rows.

    python benchmarks/stiffness_detection.py          # output: results/stiffness_detection.txt
"""
import os
import time

import _harness as H

H.setup_env()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import pysciml as ps  # noqa: E402
from pysciml.testing import lorenz, lotka_volterra, pleiades, robertson, van_der_pol  # noqa: E402


def rober_np(t, u):
    return [-0.04 * u[0] + 1e4 * u[1] * u[2], 0.04 * u[0] - 3e7 * u[1] ** 2 - 1e4 * u[1] * u[2], 3e7 * u[1] ** 2]


def main():
    path = H.RESULTS_DIR / "stiffness_detection.txt"
    lines = [f"# stiffness_detection.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
             f"load {os.getloadavg()[0]:.1f}  pysciml from {os.path.dirname(ps.__file__)}"]
    out = lambda s: (print(s, flush=True), lines.append(s))
    prob = robertson()
    ref = solve_ivp(rober_np, prob.tspan, [1.0, 0.0, 0.0], method="Radau", rtol=1e-12, atol=1e-20, dense_output=True)
    out("## Robertson [0, 1e5], rtol 1e-3, atol 1e-6")
    out(f"{'method':44s} {'accepted':>8s} {'rejected':>8s} {'explicit':>8s} {'attempts':>8s} {'max rel dev y2':>14s}")
    for label, alg in (("solve(prob) = AutoTsit5(Rodas5P())", None), ("Rodas5P()", ps.Rodas5P())):
        sol = ps.solve(prob, alg)
        t, u = np.asarray(sol.t)[1:], np.asarray(sol.u)[1:]
        dev = np.max(np.abs(u[:, 1] - ref.sol(t)[1]) / np.abs(ref.sol(t)[1]))
        acc, rej = int(sol.stats["naccept"]), int(sol.stats["nreject"])
        explicit = acc - int(sol.stats.get("stiff_steps", acc))
        out(f"{label[:44]:44s} {acc:8d} {rej:8d} {explicit:8d} {acc + rej:8d} {dev:14.2e}")
    out("## non-stiff problems: switches / stiff steps of solve(prob)'s AutoTsit5(Rodas5P()) and AutoVern7(Rodas5P())")
    cases = [("Lotka-Volterra [0,100]", lotka_volterra((0.0, 100.0))), ("Lorenz [0,100]", lorenz((0.0, 100.0))),
             ("Pleiades [0,3]", pleiades()), ("Van der Pol mu=1 [0,50]", van_der_pol(1.0, (0.0, 50.0))),
             ("Van der Pol mu=10 [0,60]", van_der_pol(10.0, (0.0, 60.0)))]
    for name, p in cases:
        cells = []
        for rtol, atol in ((1e-2, 1e-2), (1e-3, 1e-6), (1e-6, 1e-8), (1e-9, 1e-11)):
            for alg in (ps.AutoTsit5(ps.Rodas5P()), ps.AutoVern7(ps.Rodas5P())):
                s = ps.solve(p, alg, rtol=rtol, atol=atol, save_everystep=False, max_steps=100_000)
                cells.append(f"{int(s.stats['switches'])}/{int(s.stats['stiff_steps'])}")
        out(f"{name:26s} rtol 1e-2,1e-3,1e-6,1e-9 x (Tsit5, Vern7): " + " ".join(cells))
    from pysciml.testing.testset import digits_bound, mixed_digits, stiff_testset
    e5 = stiff_testset()["e5"]
    out("## E5 [0, 1e13], atol 1.7e-24: retcode, mescd (bound), explicit / accepted steps")
    for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
        cells = []
        for alg in (ps.AutoTsit5(ps.Rodas5P()), ps.AutoVern7(ps.Rodas5P())):
            s = ps.solve(e5.problem, alg, rtol=rtol, atol=1.7e-24, save_everystep=False, max_steps=100_000)
            acc = int(s.stats["naccept"])
            cells.append(f"{alg.nonstiff!r:8s} {str(s.retcode).split('.')[-1]:8s} "
                         f"{mixed_digits(s.u[-1], e5.reference, rtol, 1.7e-24):6.2f} ({digits_bound(rtol):.1f}) "
                         f"{acc - int(s.stats['stiff_steps']):5d} / {acc:5d}")
        out(f"rtol {rtol:.0e}: " + " | ".join(cells))
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
