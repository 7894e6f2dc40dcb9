"""SINDy: pysciml.sindy against PySINDy on Lorenz data, in one process on one pinned core.

Data: Lorenz (σ = 10, ρ = 28, β = 8/3) from (−8, 8, 27), sampled every 0.002 on [0, 10] (5001 samples)
from pysciml's Vern9 at rtol 1e-12. Both libraries are configured identically: polynomials to degree 2
with a constant (10 terms), STLSQ with the same threshold and ridge alpha, at most 20 rounds, then the
unbiasing least-squares refit (PySINDy's default). Measured:

1. same x_dot: both regress on the same derivative array (second-order finite differences): largest
   coefficient difference between the two, and the time of a whole `fit` (library + regression);
2. own derivatives: each estimates x_dot with its own finite differences (`fit(X, t=t)`);
3. λ sweep: 20 thresholds from 1e-3 to 10 (PySINDy: one fit per threshold in a loop; pysciml:
   `lambda_sweep`, one vmapped compiled call, which also reports error and AIC/BIC per threshold).

pysciml times are of the compiled calls (compile reported apart); "user call" adds the Python-side input
checks and formatting. Ratio = PySINDy time / pysciml time from interleaved samples (> 1: pysciml faster).

    python benchmarks/sindy.py            # full run (about a minute)
    python benchmarks/sindy.py --quick    # fewer repeats
    python benchmarks/sindy.py --write    # ... and write the table into RESULTS.md
"""
import argparse
import time
import warnings

import _harness as H

CORE = H.setup_env()        # before numpy / jax are imported

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402
from pysciml import sindy  # noqa: E402
from pysciml.sindy.model import fit_coefficients  # noqa: E402
from pysciml.sindy.sweep import _sweep  # noqa: E402

try:
    import pysindy
except ImportError:
    pysindy = None

NAME = "sindy"
HEADING = "SINDy (`benchmarks/sindy.py`)"
PACKAGES = ["pysciml", "jax", "jaxlib", "pysindy", "scikit-learn", "numpy"]
TRUE = np.zeros((3, 10))
TRUE[0, [1, 2]] = -10.0, 10.0
TRUE[1, [1, 2, 6]] = 28.0, -1.0, -1.0
TRUE[2, [3, 5]] = -8.0 / 3.0, 1.0
THRESHOLD, ALPHA = 0.1, 0.05
THRESHOLDS = np.logspace(-3, 1, 20)


def lorenz(u, p, t):
    x, y, z = u
    return jnp.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])


def lorenz_data():
    t = np.linspace(0.0, 10.0, 5001)
    prob = ps.ODEProblem(lorenz, jnp.array([-8.0, 8.0, 27.0]), (0.0, 10.0))
    sol = ps.solve(prob, ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=jnp.asarray(t), max_steps=100_000)
    return t, np.asarray(sol.u)


def pysindy_model(threshold=THRESHOLD):
    return pysindy.SINDy(feature_library=pysindy.PolynomialLibrary(degree=2, include_bias=True),
                         optimizer=pysindy.STLSQ(threshold=threshold, alpha=ALPHA, max_iter=20))


def pysindy_fit(X, t, x_dot=None, threshold=THRESHOLD):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysindy_model(threshold).fit(X, t=t, x_dot=x_dot)


def run(quick):
    repeats, rounds = (3, 5) if quick else (7, 15)
    t, X = lorenz_data()
    x_dot = np.asarray(sindy.FiniteDifference()(X, t))
    Xj, dXj = jnp.asarray(X), jnp.asarray(x_dot)
    lib, opt = sindy.PolynomialLibrary(2), sindy.STLSQ(threshold=THRESHOLD, alpha=ALPHA, max_iter=20)
    model = sindy.SINDy(lib, opt, names=("x", "y", "z"))
    rows = []

    # 1. the same x_dot for both
    fit_jit = jax.jit(lambda o, a, b: fit_coefficients(lib, o, a, b))
    trace, compile_, fit_c = H.jax_compile_times(fit_jit, opt, Xj, dXj)
    compiled = lambda: fit_c(opt, Xj, dXj).block_until_ready()
    user = lambda: model.fit(X, x_dot=x_dot).coefficients.block_until_ready()
    ours = np.asarray(compiled())
    tc, tu = H.time_call(compiled, repeats), H.time_call(user, repeats)
    rows += [dict(case="same x_dot", lib="pysciml", call="compiled fit", median_s=tc.median, min_s=tc.min,
                  max_s=tc.max, trace_s=trace, compile_s=compile_, coef_err=float(np.max(np.abs(ours - TRUE)))),
             dict(case="same x_dot", lib="pysciml", call="user fit", median_s=tu.median, min_s=tu.min, max_s=tu.max,
                  trace_s=None, compile_s=None, coef_err=float(np.max(np.abs(ours - TRUE))))]
    if pysindy is not None:
        peer = lambda: pysindy_fit(X, t, x_dot)
        theirs = peer().coefficients()
        tp = H.time_call(peer, repeats)
        ratio = H.paired_ratio(compiled, peer, rounds)
        ratio_user = H.paired_ratio(user, peer, rounds)
        rows.append(dict(case="same x_dot", lib="pysindy", call="fit", median_s=tp.median, min_s=tp.min,
                         max_s=tp.max, trace_s=None, compile_s=None, coef_err=float(np.max(np.abs(theirs - TRUE))),
                         diff_vs_pysciml=float(np.max(np.abs(theirs - ours))),
                         same_support=bool(np.array_equal(theirs != 0, ours != 0)),
                         ratio_compiled=ratio, ratio_user=ratio_user))

    # 2. each its own finite differences
    own = lambda: model.fit(X, t=t).coefficients.block_until_ready()
    ours_fd = np.asarray(own())
    to = H.time_call(own, repeats)
    rows.append(dict(case="own derivative", lib="pysciml", call="user fit(X, t)", median_s=to.median, min_s=to.min,
                     max_s=to.max, trace_s=None, compile_s=None, coef_err=float(np.max(np.abs(ours_fd - TRUE)))))
    if pysindy is not None:
        peer_fd = lambda: pysindy_fit(X, t)
        theirs_fd = peer_fd().coefficients()
        tp = H.time_call(peer_fd, repeats)
        rows.append(dict(case="own derivative", lib="pysindy", call="fit(X, t)", median_s=tp.median, min_s=tp.min,
                         max_s=tp.max, trace_s=None, compile_s=None,
                         coef_err=float(np.max(np.abs(theirs_fd - TRUE))),
                         diff_vs_pysciml=float(np.max(np.abs(theirs_fd - ours_fd))),
                         same_support=bool(np.array_equal(theirs_fd != 0, ours_fd != 0)),
                         ratio_user=H.paired_ratio(own, peer_fd, rounds)))

    # 3. the λ sweep
    ths = jnp.asarray(THRESHOLDS)
    sweep_jit = jax.jit(lambda o, a, b, c: _sweep(lib, o, a, b, c))
    trace, compile_, sweep_c = H.jax_compile_times(sweep_jit, opt, Xj, dXj, ths)
    sweep_compiled = lambda: sweep_c(opt, Xj, dXj, ths)[0].block_until_ready()
    sweep_user = lambda: sindy.lambda_sweep(X, x_dot, lib, thresholds=THRESHOLDS, names=("x", "y", "z"),
                                            optimizer=opt)
    sweep = sweep_user()
    all_ours = np.asarray(sweep.coefficients)
    ts_c, ts_u = H.time_call(sweep_compiled, repeats), H.time_call(sweep_user, repeats)
    best = sweep.rows[sweep.best_index]
    rows += [dict(case="λ sweep (20)", lib="pysciml", call="compiled sweep", median_s=ts_c.median, min_s=ts_c.min,
                  max_s=ts_c.max, trace_s=trace, compile_s=compile_,
                  coef_err=float(np.max(np.abs(np.asarray(sweep.best.coefficients) - TRUE))),
                  best_threshold=best.threshold, best_active=best.n_active),
             dict(case="λ sweep (20)", lib="pysciml", call="lambda_sweep (table, AIC)", median_s=ts_u.median,
                  min_s=ts_u.min, max_s=ts_u.max, trace_s=None, compile_s=None, coef_err=None)]
    if pysindy is not None:
        peer_sweep = lambda: [pysindy_fit(X, t, x_dot, th).coefficients() for th in THRESHOLDS]
        theirs_all = np.stack(peer_sweep())
        tp = H.time_call(peer_sweep, max(2, repeats // 2), min_sample=0.0)
        rows.append(dict(case="λ sweep (20)", lib="pysindy", call="20 fits", median_s=tp.median, min_s=tp.min,
                         max_s=tp.max, trace_s=None, compile_s=None, coef_err=None,
                         diff_vs_pysciml=float(np.max(np.abs(theirs_all - all_ours))),
                         same_support=bool(np.array_equal(theirs_all != 0, all_ours != 0)),
                         ratio_compiled=H.paired_ratio(sweep_compiled, peer_sweep, max(3, rounds // 3)),
                         ratio_user=H.paired_ratio(sweep_user, peer_sweep, max(3, rounds // 3))))
    return rows, str(sweep)


def ratio_cell(r):
    return "–" if r is None else f"{r[0]:.1f} [{r[1]:.1f}–{r[2]:.1f}]"


def summary(rows):
    """One line per case: the speed-up against the 5x target and whether the coefficients agree."""
    lines = []
    for r in rows:
        if r["lib"] != "pysindy":
            continue
        speed = "; ".join(f"{label} {r[key][0]:.1f}x" for key, label in
                          (("ratio_compiled", "compiled"), ("ratio_user", "user call")) if key in r)
        verdict = "meets" if min(r[key][0] for key in ("ratio_compiled", "ratio_user") if key in r) >= 5 else "MISSES"
        lines.append(f"- {r['case']}: PySINDy / pysciml = {speed} ({verdict} the 5x target); coefficients differ "
                     f"by at most {r['diff_vs_pysciml']:.1e}, support {'identical' if r['same_support'] else 'DIFFERENT'}")
    return lines


def report(info, rows, sweep_table, seconds, load):
    table = H.markdown_table(
        ["case", "lib", "call", "time ms: median [min–max]", "JAX trace + compile s", "max abs error of Ξ",
         "max abs difference PySINDy − pysciml", "same support", "ratio vs compiled", "ratio vs user call"],
        [[r["case"], r["lib"], r["call"], H.time_cell(r), H.compile_cell(r), H.fmt(r["coef_err"]),
          H.fmt(r.get("diff_vs_pysciml")), {True: "yes", False: "NO"}.get(r.get("same_support"), "–"),
          ratio_cell(r.get("ratio_compiled")), ratio_cell(r.get("ratio_user"))] for r in rows])
    return "\n".join([
        H.machine_markdown(info, load), "",
        f"Whole script: {seconds:.0f} s. Lorenz, 5001 samples (dt = 0.002, t ∈ [0, 10]); PolynomialLibrary(degree=2, "
        f"include_bias=True); STLSQ(threshold={THRESHOLD}, alpha={ALPHA}, max_iter=20), unbiased refit. "
        "Ratios: PySINDy time / pysciml time, median [quartiles] of interleaved samples (> 1: pysciml faster). "
        "The error of Ξ against the true Lorenz coefficients is set by the finite-difference error (O(dt²)), "
        "the same for both.", "",
        table, "", *summary(rows), "",
        "The λ sweep's table as `print(sweep)` shows it (same x_dot):", "", "```", sweep_table, "```"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    info = H.machine_info(PACKAGES)
    start, load0 = time.perf_counter(), H.load_average()
    rows, sweep_table = run(args.quick)
    seconds, load = time.perf_counter() - start, (load0, H.load_average())
    load = (min(load), max(load))
    text = report(info, rows, sweep_table, seconds, load)
    print(text)
    H.write_jsonl(NAME, dict(info, quick=args.quick), rows)
    if args.write:
        H.write_section(HEADING, text)


if __name__ == "__main__":
    main()
