"""Delay differential equations: Mackey–Glass to t = 1000, pysciml against jitcdde and ddeint.

u' = β u(t−τ) / (1 + u(t−τ)^n) − γ u with β = 0.2, γ = 0.1, n = 10, τ = 17, u = 0.5 for t ≤ 0 (chaotic).
Error = max |u(t_i) − u_ref(t_i)| over t_i = 17, 18, ..., 1000 (jitcdde's start-up passes t < τ), u_ref from pysciml's MethodOfSteps(Vern7())
at rtol = atol = 1e-12, cross-checked against jitcdde at rtol 1e-12 (their difference is reported; the
chaos amplifies every perturbation by about e^7 over the span, so the reference is good to roughly 1e-8).

- pysciml: MethodOfSteps(Tsit5()) and MethodOfSteps(Vern7()), jitted function of p returning the samples
  (trace and compile timed apart); discontinuity tracking on; the default max_steps (history buffer).
- jitcdde: Bogacki–Shampine 3(2) with cubic Hermite history, compiled to C (compile time not counted);
  ``step_on_discontinuities`` then ``integrate(t_i)`` for every sample; same rtol, atol = rtol / 100.
- ddeint: scipy ``odeint`` on a fixed grid with the history interpolated between grid points (its only
  accuracy control is the grid), a grid of 10 points per time unit (100 points per unit ran for more than
  5 minutes without finishing).

One pinned core, float64, medians over repeats.

    python benchmarks/dde.py [--quick] [--write]
"""
import argparse
import sys
import time

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import pysciml as ps  # noqa: E402

NAME = "dde"
HEADING = "Delay differential equations: Mackey–Glass (`benchmarks/dde.py`)"
PACKAGES = ["pysciml", "jax", "jaxlib", "jitcdde", "ddeint", "scipy"]
BETA, GAMMA, N, TAU, H0 = 0.2, 0.1, 10.0, 17.0, 0.5
T_END = 1000.0
TIMES = np.arange(0.0, T_END + 1.0, 1.0)
SCORED = TIMES >= TAU    # jitcdde's step_on_discontinuities passes t < τ without samples


def mackey_glass_rhs(u, h, p, t):
    beta, gamma, n, tau = p[0], p[1], p[2], p[3]
    delayed = h(p, t - tau)
    return beta * delayed / (1.0 + delayed ** n) - gamma * u


def pysciml_solver(inner, rtol, atol, **options):
    prob = ps.DDEProblem(mackey_glass_rhs, jnp.array([H0]), lambda p, t: jnp.array([H0]), (0.0, T_END),
                         jnp.array([BETA, GAMMA, N, TAU]), constant_lags=(TAU,))
    alg = ps.MethodOfSteps(inner)

    def run(p):
        sol = ps.solve(prob.remake(p=p), alg, rtol=rtol, atol=atol, saveat=jnp.asarray(TIMES), **options)
        return sol.u[:, 0], sol.retcode, sol.stats["naccept"], sol.stats["nf"]

    return jax.jit(run), prob.p


def jitcdde_solver(rtol, atol):
    from jitcdde import jitcdde, t, y
    dde = jitcdde([BETA * y(0, t - TAU) / (1 + y(0, t - TAU) ** N) - GAMMA * y(0)], verbose=False)
    start = time.perf_counter()
    dde.compile_C(verbose=False)
    compile_s = time.perf_counter() - start

    def run():
        dde.purge_past()
        dde.constant_past([H0], time=0.0)
        dde.set_integration_parameters(rtol=rtol, atol=atol, first_step=0.01, max_step=TAU)
        dde.step_on_discontinuities()     # integrates to t = τ, stepping onto the breaking points
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # samples before t = τ are interpolated, as intended
            early = [float(dde.integrate(s)[0]) for s in TIMES if s <= dde.t]
        rest = [float(dde.integrate(s)[0]) for s in TIMES[len(early):]]
        return np.array(early + rest)

    return run, compile_s


def ddeint_solver(points_per_unit):
    from ddeint import ddeint
    grid = np.linspace(0.0, T_END, int(T_END * points_per_unit) + 1)

    def model(Y, t):
        d = Y(t - TAU)
        return BETA * d / (1 + d ** N) - GAMMA * Y(t)

    def run():
        values = np.asarray(ddeint(model, lambda t: H0, grid)).reshape(-1)
        return np.interp(TIMES, grid, values)

    return run


def bench_buffer_sizes(repeats, sizes=(2_000, 10_000, 60_000)):
    """Median time of MethodOfSteps(Tsit5()) at rtol 1e-6 for each history buffer size (max_steps; 10 000 is
    the default): the steps are the same, so the times should be too."""
    times = {}
    for size in sizes:
        fn, p = pysciml_solver(ps.Tsit5(), 1e-6, 1e-8, max_steps=size)
        compiled = fn.lower(p).compile()
        timing = H.time_call(lambda: jax.block_until_ready(compiled(p)), repeats=repeats)
        times[size] = (timing.median, int(timing.result[2]))
        print(f"max_steps={size}: {timing.median * 1e3:.2f} ms, {times[size][1]} steps")
    assert len({steps for _, steps in times.values()}) == 1, times
    return times


def bench_mackey_glass(quick=False):
    """Time and error of every library and tolerance; returns (rows, reference cross-check, load range)."""
    repeats = 3 if quick else 7
    loads = [H.load_average()]

    ref_fn, p = pysciml_solver(ps.Vern7(), 1e-12, 1e-12)
    ref, code, _, _ = ref_fn(p)
    assert int(code) == int(ps.ReturnCode.Success), code
    reference = np.asarray(ref)
    jit_ref, _ = jitcdde_solver(1e-12, 1e-14)
    cross_check = float(np.max(np.abs(jit_ref() - reference)[SCORED]))
    print(f"reference: pysciml Vern7 @1e-12 vs jitcdde @1e-12: max difference {cross_check:.2e}")

    tolerances = [1e-6, 1e-8] if quick else [1e-6, 1e-8, 1e-10]
    rows = []
    for rtol in tolerances:
        atol = rtol / 100
        for inner in (ps.Tsit5(), ps.Vern7()):
            fn, p = pysciml_solver(inner, rtol, atol)
            trace, compile_s, compiled = H.jax_compile_times(fn, p)

            def call(compiled=compiled):
                out = compiled(p)
                jax.block_until_ready(out)
                return out
            timing = H.time_call(call, repeats=repeats)
            u, code, steps, nf = timing.result
            assert int(code) == int(ps.ReturnCode.Success), code
            rows.append(dict(lib="pysciml", method=f"MethodOfSteps({inner!r})", rtol=rtol, atol=atol,
                             median_s=timing.median, min_s=timing.min, max_s=timing.max, trace_s=trace,
                             compile_s=compile_s, error=float(np.max(np.abs(np.asarray(u) - reference)[SCORED])),
                             steps=int(steps), nf=int(nf)))
            print(rows[-1])
        run, compile_s = jitcdde_solver(rtol, atol)
        timing = H.time_call(run, repeats=repeats)
        rows.append(dict(lib="jitcdde", method="BS3 + Hermite (C)", rtol=rtol, atol=atol, median_s=timing.median,
                         min_s=timing.min, max_s=timing.max, trace_s=None, compile_s=compile_s,
                         error=float(np.max(np.abs(timing.result - reference)[SCORED])), steps=None, nf=None))
        print(rows[-1])
        loads.append(H.load_average())
    for per_unit in (10,):     # a 1/100 grid did not finish within 5 minutes
        timing = H.time_call(ddeint_solver(per_unit), repeats=1 if per_unit >= 100 else min(repeats, 3), min_sample=0)
        rows.append(dict(lib="ddeint", method=f"odeint, grid 1/{per_unit}", rtol=None, atol=None,
                         median_s=timing.median, min_s=timing.min, max_s=timing.max, trace_s=None, compile_s=None,
                         error=float(np.max(np.abs(timing.result - reference)[SCORED])), steps=None, nf=None))
        print(rows[-1])
    loads.append(H.load_average())
    return rows, cross_check, (min(loads), max(loads))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer tolerances and repeats")
    parser.add_argument("--write", action="store_true", help="write RESULTS.md and results/dde.jsonl")
    args = parser.parse_args()
    info = H.machine_info(PACKAGES)
    wall = time.perf_counter()
    rows, cross_check, load_range = bench_mackey_glass(args.quick)
    sizes = bench_buffer_sizes(3 if args.quick else 7)
    text = report(rows, info, cross_check, load_range, sizes, time.perf_counter() - wall)
    print(text)
    H.write_jsonl(NAME, dict(info, quick=args.quick, reference_cross_check=cross_check,
                             tsit5_1e6_median_s_by_max_steps={k: v[0] for k, v in sizes.items()}), rows)
    if args.write:
        H.write_section(HEADING, text)


def report(rows, info, cross_check, load_range, sizes, seconds):
    headers = ["library", "method", "rtol", "time ms (median [min–max])", "trace + compile s", "max error",
               "steps", "f evals", "fastest peer at ≤ this error / pysciml"]
    peers = [r for r in rows if r["lib"] != "pysciml"]
    table = []
    for r in rows:
        ratio = "–"
        if r["lib"] == "pysciml":
            good = [q["median_s"] for q in peers if q["error"] <= r["error"]]
            ratio = f"{min(good) / r['median_s']:.1f}x" if good else "no peer that accurate"
        table.append([r["lib"], r["method"], H.fmt(r["rtol"]), H.time_cell(r), H.compile_cell(r),
                      f"{r['error']:.1e}", H.fmt(r["steps"]), H.fmt(r["nf"]), ratio])
    return (f"Mackey–Glass (β = 0.2, γ = 0.1, n = 10, τ = 17, h = 0.5) on [0, 1000], 1001 samples; max error over "
            f"t = 17, 18, ..., 1000 against "
            f"pysciml MethodOfSteps(Vern7()) at 1e-12, which differs from jitcdde at 1e-12 by {cross_check:.1e} "
            "(chaos amplifies perturbations by about e^7 over the span). atol = rtol/100. The last column "
            "divides the time of the fastest peer whose error is at most this row's by this row's time "
            f"(> 1: pysciml faster). pysciml runs with the default max_steps (history buffer of 10 000 steps); "
            "its cost per step does not depend on that size: MethodOfSteps(Tsit5()) at rtol 1e-6 with max_steps = "
            + " / ".join(f"{size:,}".replace(",", " ") for size in sizes) + ": "
            + " / ".join(f"{median * 1e3:.1f}" for median, _ in sizes.values())
            + f" ms ({next(iter(sizes.values()))[1]} steps each). Run took {seconds:.0f} s.\n\n"
            + H.machine_markdown(info, load_range) + "\n" + H.markdown_table(headers, table))


if __name__ == "__main__":
    sys.exit(main())
