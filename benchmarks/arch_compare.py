"""Before/after timing of a refactor, side by side: Lotka–Volterra with Tsit5 and Robertson with Rodas5P,
per-solve time (eager, and the loop alone under jax.jit) and compile time, for two source trees (``--before`` and ``--after`` src folders).

Each tree runs in its own worker process (pinned to the same core when ``--cpu`` is given); this process
drives them in interleaved rounds, so both see the same machine load, and prints medians and the
after/before ratio with the load average. A compile sample traces and compiles a fresh right-hand side
(a new function object, so the compile cache misses) and times the first solve.

    python benchmarks/arch_compare.py --before /work/main/src --after src --cpu 1
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORKER = r'''
import json, sys, time
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
import pysciml as ps
from pysciml.testing import lotka_volterra, robertson, robertson_atol

CASES = {
    "LV Tsit5": (lotka_volterra(), ps.Tsit5(), dict(rtol=1e-6, atol=1e-8, save_everystep=False)),
    "LV Tsit5 saveat": (lotka_volterra(), ps.Tsit5(), dict(rtol=1e-6, atol=1e-8, saveat=jnp.linspace(0.0, 10.0, 101))),
    "ROBER Rodas5P": (robertson(), ps.Rodas5P(), dict(rtol=1e-6, atol=robertson_atol(1e-6), save_everystep=False)),
}

def run(prob, alg, opts):
    sol = ps.solve(prob, alg, **opts)
    jax.block_until_ready(sol.u)
    return sol

# The loop alone: the whole solve under jax.jit (as benchmarks/nonstiff.py and stiff.py time it), so the
# checks and the solution's assembly are traced once and only the compiled loop runs per call.
JITTED = {}
def run_jitted(name, prob, alg, opts):
    if name not in JITTED:
        JITTED[name] = jax.jit(lambda u0, p: ps.solve(prob.remake(u0=u0, p=p), alg, **opts).u[-1])
    jax.block_until_ready(JITTED[name](prob.u0, prob.p))

for name, case in CASES.items():      # warm: compile once
    run(*case)
    run_jitted(name, *case)
print("ready", flush=True)
for line in sys.stdin:
    cmd, name, n = line.split("|")
    jitted = name.endswith(" jit")
    name = name.removesuffix(" jit")
    prob, alg, opts = CASES[name]
    if cmd == "solve":
        times = []
        for _ in range(int(n)):
            start = time.perf_counter()
            run_jitted(name, prob, alg, opts) if jitted else run(prob, alg, opts)
            times.append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)
    else:
        f = prob.f
        fresh = prob.remake(f=lambda u, p, t: f(u, p, t)) if hasattr(prob, "remake") else prob
        start = time.perf_counter()
        run(fresh, alg, opts)
        print(json.dumps([time.perf_counter() - start]), flush=True)
'''


def start(src, cpu):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src), JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    cmd = ([] if cpu is None else ["taskset", "-c", str(cpu)]) + [sys.executable, "-c", WORKER]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def ask(proc, cmd, name, n):
    proc.stdin.write(f"{cmd}|{name}|{n}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--compiles", type=int, default=3)
    args = parser.parse_args()
    load0 = os.getloadavg()
    workers = {"before": start(args.before, args.cpu), "after": start(args.after, args.cpu)}
    names = ["LV Tsit5", "LV Tsit5 saveat", "ROBER Rodas5P"]
    timed = names + [n + " jit" for n in names]
    solve = {(w, n): [] for w in workers for n in timed}
    compile_ = {(w, n): [] for w in workers for n in names}
    for r in range(args.rounds):
        order = list(workers) if r % 2 == 0 else list(workers)[::-1]
        for name in timed:
            for w in order:
                solve[w, name] += ask(workers[w], "solve", name, args.per_round)
    for r in range(args.compiles):
        order = list(workers) if r % 2 == 0 else list(workers)[::-1]
        for name in names:
            for w in order:
                compile_[w, name] += ask(workers[w], "compile", name, 1)
    for proc in workers.values():
        proc.stdin.close()
        proc.wait()
    load1 = os.getloadavg()
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min); cpu {args.cpu}; "
          f"{args.rounds}x{args.per_round} solves, {args.compiles} compiles per case and tree")
    print(f"{'case (jit: loop only)':22s} {'before µs':>10s} {'after µs':>10s} {'ratio':>6s}   {'before comp s':>13s} "
          f"{'after comp s':>12s} {'ratio':>6s}")
    for name in timed:
        b, a = (statistics.median(solve[w, name]) * 1e6 for w in ("before", "after"))
        line = f"{name:22s} {b:10.1f} {a:10.1f} {a / b:6.3f}"
        if name in names:
            cb, ca = (statistics.median(compile_[w, name]) for w in ("before", "after"))
            line += f"   {cb:13.3f} {ca:12.3f} {ca / cb:6.3f}"
        print(line)


if __name__ == "__main__":
    main()
