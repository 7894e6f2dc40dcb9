"""Per-event cost of the jump loop (src/pysciml/jumps/simulate.py) on the dimerisation model of `modeling.py`,
one pinned core: one trajectory, the pooled ensemble for several lane counts (one compiled program each, runs
interleaved), a plain numpy direct method, and GillesPy2's C++ SSA when $GILLESPY2_PYTHON (or this
interpreter) has it. Times are CPU seconds of the process (and of GillesPy2's child simulator), so that
paired ratios hold up under load; wall seconds are printed beside them.

    python benchmarks/jumps_loop_probe.py [--trajectories 4096] [--lanes 32 64 128 256 512]

On a CPU the plain-step loop is compiled as one kernel (src/pysciml/_core/one_kernel.py); the pool is also
measured with that switched off ("plain" rows: a task per fused operation and iteration, XLA's default).
"""
import argparse
import json
import time
from unittest import mock

import _harness as H
from modeling import T_END, dimer_problem, gillespy2_server, numpy_direct   # first: pins one core, one thread

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pysciml as ps  # noqa: E402
from pysciml.jumps.simulate import simulate, simulate_pool  # noqa: E402


def clocked(fn, repeats):
    """Median (CPU s, wall s) of ``repeats`` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        jax.block_until_ready(fn())
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trajectories", type=int, default=4096)
    parser.add_argument("--lanes", type=int, nargs="*", default=[32, 64, 128, 256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prob, saveat, n = dimer_problem(), jnp.array([T_END]), args.trajectories
    out = {"machine": H.machine_info(["jax", "numpy"]), "load_before": H.load_average(), "trajectories": n}

    pools = {}
    for plain in (False, True):
        for lanes in args.lanes:
            name = f"plain {lanes}" if plain else lanes
            pools[name] = jax.jit(lambda prob, saveat, lanes=lanes: simulate_pool(
                ps.Direct(), 10 ** 6, prob, saveat, jax.random.split(prob.key, n), lanes=lanes))
            with mock.patch("pysciml._core.one_kernel.compiles_as_one_kernel", return_value=not plain):
                jax.block_until_ready(pools[name](prob, saveat))        # traced and compiled here
    reference = pools[args.lanes[0]](prob, saveat)
    for fn in pools.values():       # the same trajectories whatever the lane count, one kernel or not
        assert all(np.array_equal(a, b) for a, b in zip(fn(prob, saveat), reference))
    events = float(np.sum(np.asarray(reference[2])))
    rows = {lanes: [] for lanes in pools}
    for _ in range(args.repeats):          # interleaved: every lane count sees the same load
        for lanes, fn in pools.items():
            rows[lanes].append(clocked(lambda: fn(prob, saveat), 1))
    out["pool"] = {str(lanes): {"ns_per_event_cpu": float(np.median([c for c, _ in r])) / events * 1e9,
                                "ns_per_event_wall": float(np.median([w for _, w in r])) / events * 1e9,
                                "us_per_traj_cpu": float(np.median([c for c, _ in r])) / n * 1e6}
                   for lanes, r in rows.items()}
    out["events_per_traj"] = events / n

    probs = [prob.remake(key=k) for k in jax.random.split(jax.random.key(5), 8)]     # remake checks: not timed
    out["single_trajectory"] = {}
    for plain in (False, True):
        solve_one = jax.jit(simulate, static_argnums=(0, 1))
        one = lambda i: solve_one(ps.Direct(), 10 ** 6, probs[i], saveat)
        with mock.patch("pysciml._core.one_kernel.compiles_as_one_kernel", return_value=not plain):
            jax.block_until_ready(one(0))
        cpu = wall = ev = 0.0
        for i in range(8):
            c, w = clocked(lambda: one(i), 1)
            cpu, wall, ev = cpu + c, wall + w, ev + float(one(i)[2])
        out["single_trajectory"]["plain" if plain else "one kernel"] = {"ns_per_event_cpu": cpu / ev * 1e9,
                                                                       "ns_per_event_wall": wall / ev * 1e9}

    rng = np.random.default_rng(0)
    c = time.process_time()
    for _ in range(20):
        numpy_direct(rng, T_END)
    out["numpy_direct"] = {"ns_per_event_cpu": (time.process_time() - c) / (20 * events / n) * 1e9}

    server = gillespy2_server()
    if server is not None:
        info, run, proc = server
        run(100)
        res = [run(n) for _ in range(args.repeats)]
        proc.stdin.close()
        proc.wait()
        cpu = float(np.median([r["cpu_s"] for r in res]))
        out["gillespy2"] = info | {"ns_per_event_cpu": cpu / (n * events / n) * 1e9, "us_per_traj_cpu": cpu / n * 1e6,
                                   "us_per_traj_wall": float(np.median([r["wall_s"] for r in res])) / n * 1e6}
    out["load_after"] = H.load_average()
    print(json.dumps(out, indent=1))
    path = H.RESULTS_DIR / "jumps_loop_probe.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
