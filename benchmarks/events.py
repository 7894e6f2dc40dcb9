"""Events: pysciml's ContinuousCallback against diffrax's `Event` written as its best user would, the whole
event sequence inside one jitted program on both sides, compared at equal or smaller event-time error.

Problems (x'' = −g − k x', g = 9.81, dropped from x = 1 at rest; at x = 0 falling, v ← −0.9 v; t ∈ [0, T]):
1. free ball, k = 0 (T = 8, 26 bounces). Every Runge–Kutta method integrates it exactly (the solution is
   quadratic in t), so the errors are round-off and the root finder's: the tolerance does not matter.
2. ball with linear drag, k = 0.3 (T = 4): no method is exact, so the event-time error follows the solver's
   error and falls with the tolerance. Reference: each flight's closed form x(s) = x0 + (v0 + g/k)(1 − e^(−ks))/k
   − g s/k, its root found by scipy's brentq to 1e-15.

pysciml: Tsit5 and Vern7 + ContinuousCallback (located on the crossing step's dense output by Illinois
regula falsi to a few rounding units), one `jax.jit`-compiled solve. diffrax: Tsit5 with
`Event(cond, optimistix.Newton(rtol=atol=1e-12), direction=False)`, the bounce (restart from the affected
state) inside `jax.lax.while_loop` in the same jitted function, so there is no host round trip per bounce.
Both at rtol = atol ∈ {1e-6, 1e-8, 1e-10}.

Error: the largest deviation of the event times from the reference (all bounces; a wrong count is inf).
Times: median [min–max] over repeats of one complete event sequence, one pinned core, float64; trace and
compile apart. For each diffrax row the judged pysciml row is the fastest with an error no larger, and the
two are timed again in alternating samples (paired ratio diffrax / pysciml, median [quartiles]).

    python benchmarks/events.py [--quick]      # raw rows to benchmarks/results/events.jsonl
"""
import argparse
import math

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

import pysciml as ps  # noqa: E402

try:
    import diffrax
    import optimistix
except ImportError:
    diffrax = None

NAME = "events"
PACKAGES = ["pysciml", "jax", "jaxlib", "diffrax", "optimistix", "scipy"]
TOLERANCES = (1e-6, 1e-8, 1e-10)
G, E, H0 = 9.81, 0.9, 1.0
PROBLEMS = {"free_ball": (0.0, 8.0), "drag_ball": (0.3, 4.0)}   # name: (k, T)
MAX_BOUNCES = 64
CFG = argparse.Namespace(repeats=15, min_sample=0.1, rounds=15)


def reference(k, t_end):
    """Impact times on [0, t_end]: analytic for k = 0, closed-form flights + brentq otherwise."""
    from scipy.optimize import brentq
    times, t, x0, v0 = [], 0.0, H0, 0.0
    while True:
        if k == 0:
            s = (v0 + math.sqrt(v0 * v0 + 2 * G * x0)) / G
            v_hit = v0 - G * s
        else:
            x = lambda s, x0=x0, v0=v0: x0 + (v0 + G / k) * (1 - math.exp(-k * s)) / k - G * s / k
            s = brentq(x, 1e-6 if x0 == 0 else 0.0, 20.0, xtol=1e-15, rtol=8.9e-16)
            v_hit = (v0 + G / k) * math.exp(-k * s) - G / k
        if t + s > t_end:
            return np.array(times)
        t += s
        times.append(t)
        x0, v0 = 0.0, -E * v_hit


def event_error(times, n, exact):
    n = int(n)
    if n != len(exact):
        return float("inf")
    return float(np.max(np.abs(np.asarray(times)[:n] - exact)))


def make_pysciml(k, t_end, tol, alg):
    cb = ps.ContinuousCallback(lambda u, p, t: u[0], lambda u, p, t: jnp.array([0.0, -E * u[1]]), direction="down")
    prob = ps.ODEProblem(lambda u, p, t: jnp.array([u[1], -G - k * u[1]]), jnp.array([H0, 0.0]), (0.0, t_end))

    def run(u0):
        sol = ps.solve(prob.remake(u0=u0), alg, rtol=tol, atol=tol, save_everystep=False, callback=cb,
                       max_events=MAX_BOUNCES)
        return sol.events.t, sol.events.n, sol.u[-1]
    return run


def make_diffrax(k, t_end, tol):
    term = diffrax.ODETerm(lambda t, y, args: jnp.stack([y[1], -G - k * y[1]]))
    event = diffrax.Event(lambda t, y, args, **kw: y[0], optimistix.Newton(rtol=1e-12, atol=1e-12), direction=False)
    controller = diffrax.PIDController(rtol=tol, atol=tol)

    def run(y0):
        def bounce(c):
            t, y, n, times, _ = c
            sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), t, t_end, None, y, event=event,
                                      stepsize_controller=controller, max_steps=100_000)
            hit = sol.event_mask
            t1, y1 = sol.ts[-1], sol.ys[-1]
            times = times.at[jnp.minimum(n, MAX_BOUNCES - 1)].set(jnp.where(hit, t1, times[n]))
            y_next = jnp.where(hit, jnp.stack([jnp.zeros_like(y1[1]), -E * y1[1]]), y1)
            return t1, y_next, n + hit.astype(n.dtype), times, hit & (n + 1 < MAX_BOUNCES)

        init = (jnp.asarray(0.0), y0, jnp.asarray(0, jnp.int32), jnp.full((MAX_BOUNCES,), jnp.nan), jnp.asarray(True))
        _, y, n, times, _ = lax.while_loop(lambda c: c[4], bounce, init)
        return times, n, y
    return run


def _case(problem, lib, method, tol, run):
    k, t_end = PROBLEMS[problem]
    exact = reference(k, t_end)
    u0 = jnp.array([H0, 0.0])
    trace, compile_, compiled = H.jax_compile_times(run, u0)

    def call():
        out = compiled(u0)
        jax.block_until_ready(out)
        return out
    timing = H.time_call(call, CFG.repeats, CFG.min_sample)
    times, n, _ = timing.result
    row = dict(problem=problem, lib=lib, method=method, tol=tol, bounces=len(exact), median_s=timing.median,
               min_s=timing.min, max_s=timing.max, trace_s=trace, compile_s=compile_,
               error=event_error(times, n, exact), load=H.load_average())
    print(f"{problem:10s} {lib:8s} {method:28s} tol {tol:.0e}  {timing.median * 1e3:8.3f} ms "
          f"[{timing.min * 1e3:.3f}-{timing.max * 1e3:.3f}]  compile {trace + compile_:5.2f} s  "
          f"event-time error {row['error']:.2e}", flush=True)
    return row, call


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    if args.quick:
        CFG.repeats, CFG.min_sample, CFG.rounds = 5, 0.05, 7
    meta = H.machine_info(PACKAGES)
    meta.update(core=CORE, load_start=H.load_average(), tolerances=TOLERANCES)
    rows, pairs = [], []
    for problem, (k, t_end) in PROBLEMS.items():
        ours, peers = [], []
        for tol in TOLERANCES:
            for alg in (ps.Tsit5(), ps.Vern7()):
                name = f"{type(alg).__name__} + ContinuousCallback"
                ours.append(_case(problem, "pysciml", name, tol, make_pysciml(k, t_end, tol, alg)))
            if diffrax is not None:
                peers.append(_case(problem, "diffrax", "Tsit5 + Event(Newton), while_loop", tol,
                                   make_diffrax(k, t_end, tol)))
        for peer, peer_call in peers:
            matched = [(r, c) for r, c in ours if r["error"] <= peer["error"]]
            if not matched:
                print(f"{problem}: no pysciml row at or below diffrax's error {peer['error']:.2e} (tol {peer['tol']:.0e})")
                continue
            mine, my_call = min(matched, key=lambda rc: rc[0]["median_s"])
            ratio, q1, q3 = H.paired_ratio(my_call, peer_call, rounds=CFG.rounds)
            pair = dict(problem=problem, kind="paired", peer_tol=peer["tol"], peer_error=peer["error"],
                        pysciml_method=mine["method"], pysciml_tol=mine["tol"], pysciml_error=mine["error"],
                        ratio_median=ratio, ratio_q1=q1, ratio_q3=q3, load=H.load_average())
            pairs.append(pair)
            print(f"{problem:10s} paired: diffrax (tol {peer['tol']:.0e}, error {peer['error']:.2e}) / pysciml "
                  f"{mine['method']} (tol {mine['tol']:.0e}, error {mine['error']:.2e}) = {ratio:.2f} "
                  f"[{q1:.2f}-{q3:.2f}]", flush=True)
        rows += [r for r, _ in ours + peers]
    rows += pairs
    meta["load_end"] = H.load_average()
    path = H.write_jsonl(NAME, meta, rows)
    print(f"wrote {path} (load {meta['load_start']:.1f} -> {meta['load_end']:.1f})")
    write_markdown(meta, rows, pairs)


def write_markdown(meta, rows, pairs):
    """The RESULTS.md section: every row, then the paired ratios at equal or smaller event-time error."""
    body = ("Script: `benchmarks/events.py` (the problems and the diffrax set-up are in its docstring); raw data: "
            "`results/events.jsonl`. One pinned core, float64; one complete event sequence per call.\n\n"
            + H.machine_markdown(meta, (min(meta["load_start"], meta["load_end"]), max(meta["load_start"], meta["load_end"])))
            + "\n")
    table = [[r["problem"], r["lib"], r["method"], f"{r['tol']:.0e}", H.time_cell(r), H.fmt(r["error"]),
              H.compile_cell(r)] for r in rows if r.get("kind") != "paired"]
    body += H.markdown_table(["problem", "lib", "method", "rtol = atol", "ms: median [min–max]",
                              "max event-time error", "JAX trace + compile s"], table)
    body += "\nPaired (interleaved) ratios diffrax / pysciml, pysciml at equal or smaller event-time error:\n\n"
    body += H.markdown_table(["problem", "diffrax tol (error)", "pysciml method, tol (error)", "ratio: median [quartiles]"],
                             [[p["problem"], f"{p['peer_tol']:.0e} ({p['peer_error']:.2g})",
                               f"{p['pysciml_method']}, {p['pysciml_tol']:.0e} ({p['pysciml_error']:.2g})",
                               f"{p['ratio_median']:.2f} [{p['ratio_q1']:.2f}–{p['ratio_q3']:.2f}]"] for p in pairs])
    H.write_section("Events: bouncing ball against diffrax's Event in one jitted program (`benchmarks/events.py`)", body)


if __name__ == "__main__":
    main()
