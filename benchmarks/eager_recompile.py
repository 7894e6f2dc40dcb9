"""Eager (outside jit) solves with a new number of steps each time: no recompilation.

Each solve below ends at a new time, so it takes a new number of steps. The compiled loop is reused; what
used to recompile was the trimming of the fixed-size output buffers to the steps taken with eager jax
slices (one XLA program per result shape, ~60 ms each for t and u). The script counts XLA compilations
(jax.monitoring) and times each eager solve, interleaving the old trimming ("eager jax slice", patched
back in) with the current one ("host slice"), one core, and writes results/eager_recompile.jsonl.

    python benchmarks/eager_recompile.py [--rounds 10]
"""
import argparse
import importlib
import statistics
import time

from _harness import load_average, machine_info, setup_env, setup_jax, write_jsonl


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    setup_env()
    jax = setup_jax()
    from jax._src import dispatch, monitoring

    import pysciml as ps
    from pysciml.testing import lotka_volterra

    solve_module = importlib.import_module("pysciml.solve.pipeline")
    host = solve_module.host_slice
    variants = {"eager jax slice (before)": lambda x, a, b: x[a:b], "host slice (now)": host}
    compiles = [0]
    monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.__setitem__(0, compiles[0] + (event == dispatch.BACKEND_COMPILE_EVENT)))

    prob = lotka_volterra()
    ps.solve(prob, ps.Tsit5())   # compile the loop once
    times = {name: [] for name in variants}
    counts = {name: 0 for name in variants}
    t1 = 5.0
    for _ in range(args.rounds):
        for name, trim in variants.items():
            solve_module.host_slice = trim
            t1 += 0.137                       # a new span: a new number of steps
            before = compiles[0]
            start = time.perf_counter()
            sol = ps.solve(prob.remake(tspan=(0.0, t1)), ps.Tsit5())
            jax.block_until_ready(sol.u)
            times[name].append(time.perf_counter() - start)
            counts[name] += compiles[0] - before
    solve_module.host_slice = host
    rows = [{"variant": name, "median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v),
             "max_ms": 1e3 * max(v), "compilations_per_solve": counts[name] / args.rounds}
            for name, v in times.items()]
    print(f"{'trimming':28s} {'median ms':>10s} {'min':>7s} {'max':>7s} {'compiles/solve':>15s}   load {load_average():.2f}")
    for r in rows:
        print(f"{r['variant']:28s} {r['median_ms']:10.1f} {r['min_ms']:7.1f} {r['max_ms']:7.1f} "
              f"{r['compilations_per_solve']:15.1f}")
    write_jsonl("eager_recompile", machine_info(["jax", "jaxlib"]), rows)


if __name__ == "__main__":
    main()
