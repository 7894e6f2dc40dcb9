"""SDEs against torchsde and diffrax (issue 15's benchmark; the peers as in ../shared/peers-baseline.md, problem 7).

(a) Fixed step, the seed's case: Itô geometric Brownian motion du = α u dt + β u dW with diagonal noise, 4 states,
    α = 1.01, β = 0.87, u0 = 1/2 (the SDE tutorial problem of DifferentialEquations.jl), t ∈ [0, 1], dt = 2⁻⁸,
    100 paths. Strong error at t = 1 against the exact solution u0·exp((α − β²/2) t + β W(t)) on each library's own
    path (W(1) read back from that path), mean and max over the 100 × 4 components.
    pysciml: one jitted program vmapped over 100 keys (EM, RKMil, SRIW1 where available) and the same through
    `EnsembleProblem` + `EnsembleVmap`. torchsde 0.2.6: one `sdeint` on a (100, 4) batch (euler, milstein, srk) and
    100 calls of batch 1 (euler). diffrax 0.7.2: jit(vmap) over 100 keys with `VirtualBrownianTree(tol=dt/2)` and
    with `UnsafeBrownianPath` (+ `DirectAdjoint`, which it requires); Euler and ItoMilstein. The Unsafe path cannot
    be evaluated again, so its strong error cannot be measured; its scheme and dt are those of the VBT row.
(b) Adaptive: du = (u/2 + √(u²+1)) dt + √(u²+1) dW (Itô, diagonal, 4 states with u0 = 0, 0.5, 1, −1), whose
    exact solution is u(t) = sinh(t + W(t) + asinh(u0)) (Itô's formula). Work–precision over rtol = atol in
    1e-2 … 1e-5 for pysciml's adaptive methods and diffrax's adaptive Itô solvers (HalfSolver(ItoMilstein())
    (diffrax refuses adaptive Euler) with a PIDController and a VirtualBrownianTree of tol 2⁻¹⁸), 100 paths each.

Timing: one pinned core, medians over repeats with [min–max], compile apart; a paired (interleaved) ratio
pysciml vs the fastest peer row beside the medians.

    python benchmarks/sde.py            # writes results/sde.jsonl and the RESULTS.md section
    python benchmarks/sde.py --quick    # fewer repeats, no torchsde loop
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

ALPHA, BETA, U0 = 1.01, 0.87, 0.5
N_PATHS, N_STATES, DT = 100, 4, 2.0 ** -8
TOLS = (1e-2, 1e-3, 1e-4, 1e-5)
ADAPTIVE_U0 = (0.0, 0.5, 1.0, -1.0)


def gbm_exact(u0, w1):
    import numpy as np
    return u0 * np.exp((ALPHA - BETA ** 2 / 2) + BETA * np.asarray(w1))


def sinh_exact(u0, w1):
    import numpy as np
    return np.sinh(1.0 + np.asarray(w1) + np.arcsinh(np.asarray(u0)))


def errors(u1, exact):
    import numpy as np
    e = np.abs(np.asarray(u1) - np.asarray(exact))
    return float(np.mean(e)), float(np.max(e))


# --- pysciml ---------------------------------------------------------------------------------------------------
def pysciml_fixed(alg_name, ensemble=False, dt=DT):
    import jax
    import jax.numpy as jnp
    import pysciml as ps

    prob = ps.SDEProblem(lambda u, p, t: ALPHA * u, lambda u, p, t: BETA * u, jnp.full(N_STATES, U0), (0.0, 1.0))
    alg = getattr(ps, alg_name)()
    keys = jax.random.split(jax.random.PRNGKey(0), N_PATHS)
    if ensemble:
        eprob = ps.EnsembleProblem(prob)

        def run(key):
            ens = ps.solve(eprob, alg, ps.EnsembleVmap(), trajectories=N_PATHS, key=key, dt=dt, adaptive=False,
                           saveat=jnp.array([1.0]))
            return ens.outputs.u[:, -1], ens.outputs.W[:, -1]
        args = (jax.random.PRNGKey(0),)
    else:
        def run(keys):
            def one(k):
                sol = ps.solve(prob, alg, dt=dt, adaptive=False, key=k, saveat=jnp.array([1.0]))
                return sol.u[-1], sol.W[-1]
            return jax.vmap(one)(keys)
        args = (keys,)
    trace, comp, compiled = H.jax_compile_times(run, *args)
    call = lambda: jax.block_until_ready(compiled(*args))
    u1, w1 = call()
    return call, trace, comp, errors(u1, gbm_exact(U0, w1))


def pysciml_adaptive(alg_name, tol):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pysciml as ps

    u0 = jnp.asarray(ADAPTIVE_U0)
    prob = ps.SDEProblem(lambda u, p, t: u / 2 + jnp.sqrt(u * u + 1), lambda u, p, t: jnp.sqrt(u * u + 1), u0,
                         (0.0, 1.0))
    alg = getattr(ps, alg_name)()
    keys = jax.random.split(jax.random.PRNGKey(1), N_PATHS)

    def run(keys):
        def one(k):
            sol = ps.solve(prob, alg, key=k, rtol=tol, atol=tol, saveat=jnp.array([1.0]), max_steps=200_000)
            return sol.u[-1], sol.W[-1], sol.stats["naccept"] + sol.stats["nreject"]
        return jax.vmap(one)(keys)
    trace, comp, compiled = H.jax_compile_times(run, keys)
    call = lambda: jax.block_until_ready(compiled(keys))
    u1, w1, steps = call()
    return call, trace, comp, errors(u1, sinh_exact(np.asarray(u0), w1)), float(np.mean(steps))


# --- diffrax -----------------------------------------------------------------------------------------------------
def diffrax_fixed(solver_name, path):
    import diffrax as dfx
    import jax
    import jax.numpy as jnp
    import lineax as lx

    solver = getattr(dfx, solver_name)()
    drift = lambda t, y, args: ALPHA * y
    diffusion = lambda t, y, args: lx.DiagonalLinearOperator(BETA * y)
    y0 = jnp.full(N_STATES, U0)
    keys = jax.random.split(jax.random.PRNGKey(0), N_PATHS)

    def one(key):
        if path == "VBT":
            bm = dfx.VirtualBrownianTree(0.0, 1.0, tol=DT / 2, shape=(N_STATES,), key=key)
            adjoint = dfx.RecursiveCheckpointAdjoint()
        else:
            bm = dfx.UnsafeBrownianPath(shape=(N_STATES,), key=key)
            adjoint = dfx.DirectAdjoint()
        terms = dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(diffusion, bm))
        sol = dfx.diffeqsolve(terms, solver, 0.0, 1.0, dt0=DT, y0=y0, saveat=dfx.SaveAt(t1=True), adjoint=adjoint,
                              max_steps=300)
        w1 = bm.evaluate(0.0, 1.0) if path == "VBT" else jnp.zeros(N_STATES)
        return sol.ys[-1], w1
    run = jax.vmap(one)
    trace, comp, compiled = H.jax_compile_times(run, keys)
    call = lambda: jax.block_until_ready(compiled(keys))
    u1, w1 = call()
    err = errors(u1, gbm_exact(U0, w1)) if path == "VBT" else (None, None)
    return call, trace, comp, err


def diffrax_adaptive(solver_name, tol):
    import diffrax as dfx
    import jax
    import jax.numpy as jnp
    import lineax as lx
    import numpy as np

    solver = dfx.HalfSolver(getattr(dfx, solver_name)())
    drift = lambda t, y, args: y / 2 + jnp.sqrt(y * y + 1)
    diffusion = lambda t, y, args: lx.DiagonalLinearOperator(jnp.sqrt(y * y + 1))
    y0 = jnp.asarray(ADAPTIVE_U0)
    keys = jax.random.split(jax.random.PRNGKey(1), N_PATHS)

    def one(key):
        bm = dfx.VirtualBrownianTree(0.0, 1.0, tol=2.0 ** -18, shape=(N_STATES,), key=key)
        terms = dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(diffusion, bm))
        sol = dfx.diffeqsolve(terms, solver, 0.0, 1.0, dt0=0.01, y0=y0, saveat=dfx.SaveAt(t1=True),
                              stepsize_controller=dfx.PIDController(rtol=tol, atol=tol), max_steps=200_000)
        return sol.ys[-1], bm.evaluate(0.0, 1.0), sol.stats["num_steps"]
    run = jax.vmap(one)
    trace, comp, compiled = H.jax_compile_times(run, keys)
    call = lambda: jax.block_until_ready(compiled(keys))
    u1, w1, steps = call()
    return call, trace, comp, errors(u1, sinh_exact(y0, w1)), float(np.mean(steps))


# --- torchsde ----------------------------------------------------------------------------------------------------
def torchsde_fixed(method, batch):
    import torch
    import torchsde

    class GBM(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return ALPHA * y

        def g(self, t, y):
            return BETA * y

    sde = GBM()
    ts = torch.tensor([0.0, 1.0])
    levy = "space-time" if method == "srk" else "none"
    gen = torch.Generator().manual_seed(0)
    seeds = [int(s) for s in torch.randint(0, 2 ** 31 - 1, (N_PATHS,), generator=gen)]

    def one_batch(size, seed):
        y0 = torch.full((size, N_STATES), U0)
        bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(size, N_STATES), dtype=torch.float64,
                                       levy_area_approximation=levy, entropy=seed)
        with torch.no_grad():
            ys = torchsde.sdeint(sde, y0, ts, bm=bm, method=method, dt=DT)
        return ys[-1], bm(0.0, 1.0)

    def call():
        if batch:
            return one_batch(N_PATHS, seeds[0])
        outs = [one_batch(1, s) for s in seeds]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
    u1, w1 = call()
    return call, None, None, errors(u1.numpy(), gbm_exact(U0, w1.numpy()))


# --- driver ------------------------------------------------------------------------------------------------------
def available(name):
    import pysciml as ps
    return hasattr(ps, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    H.setup_env()
    H.setup_jax()
    H.setup_torch()
    repeats = 5 if args.quick else 11
    loads = [H.load_average()]
    info = H.machine_info(["jax", "jaxlib", "diffrax", "torch", "torchsde", "pysciml"])
    rows, calls = [], {}

    def add(part, lib, method, runner, *a, key=None):
        start = time.perf_counter()
        out = runner(*a)
        call, trace, comp, err = out[:4]
        timing = H.time_call(call, repeats=repeats, min_sample=0.05, warmup=0)
        row = dict(part=part, lib=lib, method=method, median_s=timing.median, min_s=timing.min, max_s=timing.max,
                   cpu_s=timing.cpu, trace_s=trace, compile_s=comp, err_mean=err[0], err_max=err[1],
                   steps=out[4] if len(out) > 4 else None, wall_setup_s=time.perf_counter() - start)
        rows.append(row)
        loads.append(H.load_average())
        if key:
            calls[key] = call
        print(f"{part} {lib:9s} {method:32s} {H.time_cell(row)} ms  err {H.fmt(err[0])}/{H.fmt(err[1])}  "
              f"steps {H.fmt(row['steps'])}  compile {H.compile_cell(row)}", flush=True)

    # (a) fixed step
    for name in ("EM", "RKMil", "SRIW1", "SOSRI"):
        if available(name):
            add("fixed", "pysciml", f"{name} vmap(keys)", pysciml_fixed, name, key=f"ps-{name}")
    add("fixed", "pysciml", "EM EnsembleVmap", pysciml_fixed, "EM", True)
    for name in ("SRIW1", "SOSRI"):   # strong order 1.5 at 16× the step: EM's error or less
        if available(name):
            add("fixed", "pysciml", f"{name} vmap(keys) dt=2^-4", pysciml_fixed, name, False, 2.0 ** -4)
    for solver in ("Euler", "ItoMilstein"):
        add("fixed", "diffrax", f"{solver} vmap VBT", diffrax_fixed, solver, "VBT", key=f"dfx-{solver}-VBT")
        add("fixed", "diffrax", f"{solver} vmap Unsafe", diffrax_fixed, solver, "Unsafe", key=f"dfx-{solver}-Unsafe")
    for method in ("euler", "milstein", "srk"):
        add("fixed", "torchsde", f"{method} batched({N_PATHS})", torchsde_fixed, method, True, key=f"ts-{method}")
    if not args.quick:
        add("fixed", "torchsde", f"euler loop {N_PATHS}x1", torchsde_fixed, "euler", False)

    # paired ratios: EM vs the fastest diffrax Euler and torchsde euler batched; RKMil vs the Milstein rows
    paired = []
    for ours, theirs in (("ps-EM", "dfx-Euler-Unsafe"), ("ps-EM", "dfx-Euler-VBT"), ("ps-EM", "ts-euler"),
                         ("ps-RKMil", "dfx-ItoMilstein-Unsafe"), ("ps-RKMil", "ts-milstein"), ("ps-SRIW1", "ts-srk")):
        if ours in calls and theirs in calls:
            med, lo, hi = H.paired_ratio(calls[ours], calls[theirs], rounds=9 if args.quick else 15)
            paired.append(dict(ours=ours, theirs=theirs, ratio=med, q1=lo, q3=hi))
            print(f"paired {theirs}/{ours}: {med:.3g} [{lo:.3g}–{hi:.3g}]", flush=True)

    # (b) adaptive work–precision
    for tol in TOLS:
        for name in ("LambaEM", "SRIW1", "SOSRI"):
            if available(name):
                add("adaptive", "pysciml", f"{name} tol={tol:g}", pysciml_adaptive, name, tol)
        # diffrax refuses adaptive steps with Euler on an SDE; HalfSolver(ItoMilstein()) is its adaptive Itô choice
        add("adaptive", "diffrax", f"HalfSolver(ItoMilstein) tol={tol:g}", diffrax_adaptive, "ItoMilstein", tol)

    meta = dict(info, loads=[round(x, 2) for x in loads], repeats=repeats, paired=paired,
                problem=dict(alpha=ALPHA, beta=BETA, u0=U0, n_paths=N_PATHS, n_states=N_STATES, dt=DT))
    H.write_jsonl("sde", meta, rows)
    write_markdown(meta, rows, paired, (min(loads), max(loads)))


def write_markdown(meta, rows, paired, load_range):
    body = ("Script: `benchmarks/sde.py`; raw data: `results/sde.jsonl`. One pinned core; times are for all 100 paths "
            "(one jitted program for the JAX libraries), compile apart.\n\n" + H.machine_markdown(meta, load_range) +
            f"\n### (a) GBM, 4 states, diagonal Itô noise, dt = 2⁻⁸, {N_PATHS} paths\n\n")
    table = [[r["lib"], r["method"], H.time_cell(r), H.fmt(r["cpu_s"] * 1e3), H.fmt(r["err_mean"]) + " / " +
              H.fmt(r["err_max"]), H.compile_cell(r)] for r in rows if r["part"] == "fixed"]
    body += H.markdown_table(["lib", "method", "ms for 100 paths: median [min–max]", "CPU ms",
                              "strong err at t=1 (mean / max)", "JAX trace + compile s"], table)
    if paired:
        body += "\nPaired (interleaved) ratios, peer time / pysciml time, median [quartiles]:\n\n"
        body += "".join(f"- {p['theirs']} / {p['ours']}: {p['ratio']:.3g} [{p['q1']:.3g}–{p['q3']:.3g}]\n" for p in paired)
    body += "\n### (b) Adaptive, du = (u/2 + √(u²+1)) dt + √(u²+1) dW, exact solution sinh(t + W + asinh u0)\n\n"
    table = [[r["lib"], r["method"], H.time_cell(r), H.fmt(r["steps"]), H.fmt(r["err_mean"]) + " / " +
              H.fmt(r["err_max"]), H.compile_cell(r)] for r in rows if r["part"] == "adaptive"]
    body += H.markdown_table(["lib", "method", "ms for 100 paths: median [min–max]", "steps per path (mean)",
                              "strong err at t=1 (mean / max)", "JAX trace + compile s"], table)
    H.write_section("SDEs: geometric Brownian motion and an adaptive nonlinear SDE (torchsde, diffrax)", body)


if __name__ == "__main__":
    main()
