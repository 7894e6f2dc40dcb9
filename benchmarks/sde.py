"""SDE benchmark (issue 15): geometric Brownian motion, 4 states, 100 paths, t ∈ [0, 1], dt = 2⁻⁸ fixed
(Itô, diagonal noise), pysciml against diffrax (vmapped over keys, VirtualBrownianTree and
UnsafeBrownianPath) and torchsde (one batched sdeint), each with its strong error at t = 1 against the exact
solution u0 exp((μ − σ²/2) + σW(1)) on its own path; plus the stiff case (du = −λu dt + σ dW, λh = 10) where
explicit EM is Unstable and ImplicitEM / SKenCarp are not. One core, float64, medians of --repeats
samples, compile apart. Usage: python benchmarks/sde.py [--repeats 7] [--out benchmarks/results/sde.json]
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
try:
    os.sched_setaffinity(0, {1})
except (AttributeError, OSError):
    pass

import jax
import jax.numpy as jnp
import numpy as np

import pysciml as ps

jax.config.update("jax_enable_x64", True)
MU, SIGMA, N_PATHS, DT = 1.5, 0.2, 100, 2.0 ** -8
U0 = jnp.array([1.0, 0.5, 2.0, 1.5])
exact = lambda W: U0 * jnp.exp((MU - SIGMA ** 2 / 2) + SIGMA * W)


def timed(fn, repeats):
    fn()   # warm-up (compiled already)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def pysciml_rows(repeats):
    prob = ps.SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u, U0, (0.0, 1.0), jnp.array([MU, SIGMA]))
    keys = jax.random.split(jax.random.PRNGKey(0), N_PATHS)
    rows = []
    algs = [ps.EM()] + [getattr(ps, name)() for name in ("SRIW1",) if hasattr(ps, name)]
    for alg in algs:
        run = jax.jit(jax.vmap(lambda k: (lambda s: (s.u[-1], s.W[-1]))(
            ps.solve(prob, alg, dt=DT, key=k, save_everystep=False))))
        start = time.perf_counter()
        u, W = jax.block_until_ready(run(keys))
        compile_s = time.perf_counter() - start
        median, best = timed(lambda: run(keys), repeats)
        err = float(jnp.mean(jnp.max(jnp.abs(u - jax.vmap(exact)(W)), axis=1)))
        rows.append(dict(library="pysciml", method=repr(alg), path="bulk increments", ms=1e3 * median,
                         best_ms=1e3 * best, compile_s=compile_s, strong_error=err))
    return rows


def diffrax_rows(repeats):
    import diffrax
    import lineax
    rows = []
    keys = jax.random.split(jax.random.PRNGKey(0), N_PATHS)
    for name in ("VirtualBrownianTree", "UnsafeBrownianPath"):
        def one(key, name=name):
            if name == "VirtualBrownianTree":
                bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=DT / 2, shape=(4,), key=key)
                adjoint = diffrax.RecursiveCheckpointAdjoint()
            else:
                bm = diffrax.UnsafeBrownianPath(shape=(4,), key=key)
                adjoint = diffrax.DirectAdjoint()
            terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, a: MU * y),
                                      diffrax.ControlTerm(lambda t, y, a: lineax.DiagonalLinearOperator(SIGMA * y), bm))
            sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, 1.0, DT, U0, saveat=diffrax.SaveAt(t1=True),
                                      adjoint=adjoint, max_steps=300)
            return sol.ys[-1], bm.evaluate(0.0, 1.0)
        run = jax.jit(jax.vmap(one))
        start = time.perf_counter()
        u, W = jax.block_until_ready(run(keys))
        compile_s = time.perf_counter() - start
        median, best = timed(lambda: run(keys), repeats)
        # An UnsafeBrownianPath draws afresh on every query: its W(1) is not the solve's path (no error).
        err = (float(jnp.mean(jnp.max(jnp.abs(u - jax.vmap(exact)(W)), axis=1)))
               if name == "VirtualBrownianTree" else float("nan"))
        rows.append(dict(library="diffrax", method="Euler", path=name, ms=1e3 * median, best_ms=1e3 * best,
                         compile_s=compile_s, strong_error=err))
    return rows


def torchsde_rows(repeats):
    import torch
    import torchsde
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)

    class GBM(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return MU * y

        def g(self, t, y):
            return SIGMA * y

    sde, y0 = GBM(), torch.tensor(np.tile(np.asarray(U0), (N_PATHS, 1)))
    ts = torch.tensor([0.0, 1.0])
    state = {}

    def run():
        bm = torchsde.BrownianInterval(0.0, 1.0, size=(N_PATHS, 4), dtype=torch.float64, entropy=0)
        with torch.no_grad():
            state["u"] = sdeint_out = torchsde.sdeint(sde, y0, ts, method="euler", dt=DT, bm=bm)[-1]
            state["W"] = bm(0.0, 1.0)
        return sdeint_out

    samples = []
    run()
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    err = float(jnp.mean(jnp.max(jnp.abs(jnp.asarray(state["u"].numpy())
                                         - jax.vmap(exact)(jnp.asarray(state["W"].numpy()))), axis=1)))
    return [dict(library="torchsde", method="euler", path="BrownianInterval, batched(100)",
                 ms=1e3 * statistics.median(samples), best_ms=1e3 * min(samples), compile_s=0.0, strong_error=err)]


def stiff_rows():
    lam, h = 1e3, 0.01
    prob = ps.SDEProblem(lambda u, p, t: -p * u, lambda u, p, t: jnp.ones_like(u), jnp.array([1.0]), (0.0, 5.0),
                         lam, noise_type="additive")
    rows = []
    for alg in (ps.EM(), ps.ImplicitEM(), ps.SKenCarp()):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = ps.solve(prob, alg, dt=h, adaptive=False, key=0, save_everystep=False)
        rows.append(dict(case=f"stiff OU λh = {lam * h:g}", method=repr(alg), retcode=sol.retcode.name,
                         final=float(sol.u[-1, 0])))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = pysciml_rows(args.repeats) + diffrax_rows(args.repeats) + torchsde_rows(args.repeats)
    print(f"GBM, 4 states × {N_PATHS} paths, dt = 2^-8, one core; load {os.getloadavg()[0]:.1f}")
    print(f"{'library':10s} {'method':10s} {'path':32s} {'median ms':>10s} {'best ms':>9s} {'compile s':>9s} {'strong err':>10s}")
    for r in rows:
        print(f"{r['library']:10s} {r['method']:10s} {r['path']:32s} {r['ms']:10.2f} {r['best_ms']:9.2f} "
              f"{r['compile_s']:9.2f} {r['strong_error']:10.2e}")
    stiff = stiff_rows()
    for r in stiff:
        print(r)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(dict(load=os.getloadavg(), gbm=rows, stiff=stiff), fh, indent=1)


if __name__ == "__main__":
    main()
