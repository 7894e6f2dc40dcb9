"""UDE training, small-network throughput and Lorenz parameter estimation: pysciml against peers.

(a) The demo's UDE (Lotka–Volterra, known αx and −δy, network 2→5→5→5→2 Gaussian RBF, 31 noisy points on
    [0, 3], Tsit5/dopri5 at rtol = atol = 1e-6): time per Adam iteration (loss + gradient + update) for
    pysciml (forward mode and BacksolveAdjoint), the same model hand-written with diffrax + equinox + optax
    (RecursiveCheckpointAdjoint, diffrax's default) and torchdiffeq (dopri5, backprop through the solver);
    plus pysciml's whole demo schedule (Adam 300 + L-BFGS 1000) through `ude.fit`.
(c) Forward + gradient of mean(net(x)²) for a 2→32→32→2 tanh MLP on 1000 points: pysciml.nn, Equinox,
    Flax (linen) and PyTorch.
(d) Lorenz σ, ρ, β from 41 noise-free samples on [0, 1] (Tsit5 at 1e-11), from (8, 25, 2), by
    Levenberg–Marquardt (Jacobian by forward mode through the solve) and by L-BFGS: time of a whole `ude.fit`
    call after compilation (the compiled stages are reused by a repeated fit), to 1e-6 relative error.
    DeepXDE's PINN inverse example takes 139 s for 2% error (benchmarks/pinn.py, RESULTS.md "Physics-informed
    networks"; not re-run here).
(e) --seeds N: the demo's whole workflow (UDE, SINDy, refit on the data, extrapolation to t = 20) for noise
    draws 0..N-1 (--noise, --design), with two yardsticks per draw: the refit of the true terms (the
    least-squares estimate the workflow can at best reach) and, once, the Cramér–Rao bound of that estimate
    (the spread of any unbiased estimator on these samples) with the distribution of extrapolation errors it
    implies. Raw rows go to
    results/ude_seeds.jsonl (appended; rows carry noise and design).
(b) SINDy vs PySINDy is in benchmarks/sindy.py.

One pinned core, float64, medians over repeats, compile times apart.

    python benchmarks/ude.py [--write] [--parts dca] [--seeds N [--noise 0.05] [--design demo|showcase]]
"""
import argparse
import sys
import time

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import pysciml as ps  # noqa: E402
from pysciml import ude  # noqa: E402

torch = H.setup_torch()
import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import flax.linen as nn_flax  # noqa: E402
from torchdiffeq import odeint as torch_odeint  # noqa: E402

NAME, HEADING = "ude", "UDE training, small networks, Lorenz estimation (`benchmarks/ude.py`)"
PACKAGES = ["pysciml", "jax", "jaxlib", "optax", "diffrax", "equinox", "flax", "torch", "torchdiffeq"]
sys.path.insert(0, str(H.HERE.parent / "examples"))
import demo  # noqa: E402


def lv_data():
    ts = jnp.linspace(0.0, 3.0, 31)
    clean = demo.truth(ts)
    noisy = clean + 0.05 * jnp.mean(clean, axis=0) * np.random.default_rng(0).standard_normal(clean.shape)
    return ts, noisy


def timed_steps(step, state, repeats=5):
    """Median seconds per call of a jitted ``state -> state`` after compiling it (compile time apart)."""
    start = time.perf_counter()
    compiled = jax.jit(step).lower(state).compile()
    compile_s = time.perf_counter() - start
    box = [jax.block_until_ready(compiled(state))]

    def once():
        box[0] = jax.block_until_ready(compiled(box[0]))
    timing = H.time_call(once, repeats=repeats, min_sample=0.2)
    CALLS.append(once)      # kept for the paired ratios (interleaved samples of two steps)
    return timing, compile_s


CALLS = []


def part_a():
    ts, noisy = lv_data()
    model = ude.UDE(demo.known, ps.nn.MLP(2, (5, 5, 5), 2, activation="rbf"))
    params = model.init(jax.random.key(0))
    tx = optax.adam(0.05)
    rows = []
    for label, sensealg in (("pysciml forward (default)", None), ("pysciml BacksolveAdjoint", ps.BacksolveAdjoint())):
        loss = ude.TrajectoryLoss(model, ts, noisy, u0=noisy[0], sensealg=sensealg)

        def step(state, loss=loss):
            p, opt = state
            g = jax.grad(loss)(p)
            upd, opt = tx.update(g, opt, p)
            return optax.apply_updates(p, upd), opt
        timing, compile_s = timed_steps(step, (params, tx.init(params)))
        rows.append(dict(part="a", lib=label, per_iter_s=timing.median, min_s=timing.min, max_s=timing.max,
                         compile_s=compile_s, call=len(CALLS) - 1))

    # diffrax + equinox: the same network (weights copied) and right-hand side
    net = eqx.nn.MLP(2, 2, 5, 3, activation=lambda x: jnp.exp(-x ** 2), key=jax.random.key(1))
    for k, (w, b) in enumerate(params["network"]):
        net = eqx.tree_at(lambda n, k=k: (n.layers[k].weight, n.layers[k].bias), net, (w.T, b))
    term = diffrax.ODETerm(lambda t, u, n: demo.known(u, None, t) + n(u))

    def dloss(n, adjoint=diffrax.RecursiveCheckpointAdjoint()):
        sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), 0.0, 3.0, 0.1, noisy[0], args=n,
                                  stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
                                  saveat=diffrax.SaveAt(ts=ts), max_steps=10_000, adjoint=adjoint)
        return jnp.mean((sol.ys - noisy) ** 2)
    arrays, static = eqx.partition(net, eqx.is_inexact_array)
    same = abs(float(dloss(net)) - float(ude.TrajectoryLoss(model, ts, noisy, u0=noisy[0])(params)))
    # diffrax's default (discretise-then-optimise through checkpoints) and its BacksolveAdjoint (the same
    # method as pysciml's Backsolve row): each peer at its best setting, and like against like
    for label, adjoint in (("diffrax+equinox+optax", diffrax.RecursiveCheckpointAdjoint()),
                           ("diffrax+equinox+optax BacksolveAdjoint", diffrax.BacksolveAdjoint())):
        def dstep(state, adjoint=adjoint):
            a, opt = state
            g = jax.grad(lambda a: dloss(eqx.combine(a, static), adjoint))(a)
            upd, opt = tx.update(g, opt, a)
            return optax.apply_updates(a, upd), opt
        timing, compile_s = timed_steps(dstep, (arrays, tx.init(arrays)))
        rows.append(dict(part="a", lib=label, per_iter_s=timing.median, min_s=timing.min, max_s=timing.max,
                         compile_s=compile_s, loss_difference=same, call=len(CALLS) - 1))

    # paired (interleaved) ratios of each diffrax step to pysciml's Backsolve step, beside the medians
    ours = next(r for r in rows if r["lib"] == "pysciml BacksolveAdjoint")
    for r in rows:
        if r["lib"].startswith("diffrax"):
            med, lo, hi = H.paired_ratio(CALLS[ours["call"]], CALLS[r["call"]])
            r["paired_ratio"], r["paired_q"] = med, (lo, hi)

    # torchdiffeq
    layers = []
    for k, (w, b) in enumerate(params["network"]):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(w).T))
            lin.bias.copy_(torch.tensor(np.asarray(b)))
        layers.append(lin)

    class RHS(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(layers)

        def forward(self, t, u):
            h = u
            for lin in self.layers[:-1]:
                h = torch.exp(-lin(h) ** 2)
            known = torch.stack([demo.ALPHA * u[0], -demo.DELTA * u[1]])
            return known + self.layers[-1](h)
    rhs = RHS()
    opt = torch.optim.Adam(rhs.parameters(), lr=0.05)
    t_t, y_t, u0_t = (torch.tensor(np.asarray(a)) for a in (ts, noisy, noisy[0]))

    def tstep():
        opt.zero_grad()
        loss = torch.mean((torch_odeint(rhs, u0_t, t_t, rtol=1e-6, atol=1e-6, method="dopri5") - y_t) ** 2)
        loss.backward()
        opt.step()
    timing = H.time_call(tstep, repeats=3, min_sample=0.5)
    rows.append(dict(part="a", lib="torchdiffeq (dopri5, backprop)", per_iter_s=timing.median, compile_s=None))

    # pysciml's whole demo schedule
    loss = ude.TrajectoryLoss(model, ts, noisy, u0=noisy[0], sensealg=ps.BacksolveAdjoint())
    start = time.perf_counter()
    res = ude.fit(loss, model.init, (ude.Adam(0.05, 300), ude.LBFGS(1000)), seed=0, chunk=100, progress=False)
    rows.append(dict(part="a", lib="pysciml ude.fit Adam 300 + L-BFGS 1000 (BacksolveAdjoint)",
                     total_s=time.perf_counter() - start, final_loss=res.loss,
                     iterations=res.iterations))
    return rows


def part_c():
    x = jax.random.normal(jax.random.key(0), (1000, 2))
    mlp = ps.nn.MLP(2, (32, 32), 2, activation="tanh")
    p = mlp.init(jax.random.key(0))
    rows = []
    enet = eqx.nn.MLP(2, 2, 32, 2, activation=jnp.tanh, key=jax.random.key(0))
    earr, estatic = eqx.partition(enet, eqx.is_inexact_array)

    class Flax(nn_flax.Module):
        @nn_flax.compact
        def __call__(self, x):
            x = jnp.tanh(nn_flax.Dense(32)(x))
            x = jnp.tanh(nn_flax.Dense(32)(x))
            return nn_flax.Dense(2)(x)
    fnet = Flax()
    fp = fnet.init(jax.random.key(0), x[:1])
    cases = {"pysciml.nn.MLP": (lambda p: jnp.mean(mlp(x, p) ** 2), p),
             "equinox MLP (vmap)": (lambda a: jnp.mean(jax.vmap(eqx.combine(a, estatic))(x) ** 2), earr),
             "flax linen Dense": (lambda q: jnp.mean(fnet.apply(q, x) ** 2), fp)}
    for label, (f, params) in cases.items():
        g = jax.jit(jax.value_and_grad(f)).lower(params).compile()
        timing = H.time_call(lambda: jax.block_until_ready(g(params)), repeats=7, min_sample=0.2)
        rows.append(dict(part="c", lib=label, per_call_s=timing.median))
    tnet = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 2))
    xt = torch.tensor(np.asarray(x))

    def tcall():
        tnet.zero_grad()
        loss = torch.mean(tnet(xt) ** 2)
        loss.backward()
    timing = H.time_call(tcall, repeats=7, min_sample=0.2)
    rows.append(dict(part="c", lib="PyTorch nn.Sequential", per_call_s=timing.median))
    return rows


def part_d(repeats=15):
    prob = ps.testing.lorenz((0.0, 1.0))
    ts = jnp.linspace(0.0, 1.0, 41)
    data = ps.solve(prob, ps.Tsit5(), rtol=1e-11, atol=1e-11, saveat=ts).u
    loss = ude.TrajectoryLoss(prob.f, ts, data, u0=prob.u0, rtol=1e-11, atol=1e-11)
    start = jnp.array([8.0, 25.0, 2.0])
    cases = {"pysciml ude.fit Levenberg-Marquardt": ((ude.LevenbergMarquardt(50),), 10),
             "pysciml ude.fit L-BFGS": ((ude.LBFGS(60),), 5)}
    rows, calls = [], {}
    for label, (stages, chunk) in cases.items():
        t0 = time.perf_counter()
        res = ude.fit(loss, start, stages, chunk=chunk, progress=False)      # compiles; later calls reuse it
        first = time.perf_counter() - t0
        calls[label] = lambda stages=stages, chunk=chunk: ude.fit(loss, start, stages, chunk=chunk, progress=False)
        err = float(np.max(np.abs(np.asarray(res.params) / np.asarray(prob.p) - 1)))
        rows.append(dict(part="d", lib=label, first_call_s=first, iterations=res.iterations, rel_error=err,
                         reason=res.stages[0]["reason"], params=np.asarray(res.params).tolist()))
    # interleaved: each round times one call of each, so load changes hit both alike
    times = {label: [] for label in calls}
    for _ in range(repeats):
        for label, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - t0)
    for row in rows:
        ts_ = np.asarray(times[row["lib"]])
        row.update(after_compile_s=float(np.median(ts_)), min_s=float(ts_.min()), max_s=float(ts_.max()),
                   repeats=repeats)
    rows.append(dict(part="d", lib="DeepXDE PINN inverse example (from benchmarks/pinn.py)", after_compile_s=139.0,
                     rel_error=0.0208))
    return rows


def cramer_rao(noise=0.05, design="demo", samples=400):
    """The Cramér–Rao bound of (β, γ, x0, y0) for the demo's data (default 31 samples on [0, 3], noise 5% of each
    state's mean, α and δ known), by the Fisher information JᵀΣ⁻¹J with J by forward mode through the solve; and
    the extrapolation errors to t = 20 of estimates drawn from N(truth, bound)."""
    ts = demo.sample_times(design)
    clean = demo.truth(ts)
    sigma = noise * jnp.mean(clean, axis=0)
    rhs = lambda u, p, t: jnp.array([demo.ALPHA * u[0] - p[0] * u[0] * u[1], p[1] * u[0] * u[1] - demo.DELTA * u[1]])
    long_t = jnp.linspace(0.0, 20.0, 201)
    trajectory = lambda v, times: ps.solve(ps.ODEProblem(rhs, v[2:], (0.0, times[-1]), v[:2]), ps.Tsit5(),
                                           rtol=1e-10, atol=1e-10, saveat=times, max_steps=100_000).u
    truth_v = jnp.concatenate([jnp.array([demo.BETA, demo.GAMMA]), demo.U0])
    jac = jax.jacfwd(lambda v: jnp.ravel(trajectory(v, ts) / sigma))(truth_v)
    cov = jnp.linalg.inv(jac.T @ jac)
    draws = truth_v + jax.random.normal(jax.random.key(1), (samples, 4)) @ jnp.linalg.cholesky(cov).T
    reference = demo.truth(long_t)
    # the extrapolation starts at the true U0, as the demo's does
    extrapolate = jax.jit(jax.vmap(lambda v: trajectory(v.at[2:].set(demo.U0), long_t)))
    errors = np.max(np.abs(np.asarray(extrapolate(draws)) - np.asarray(reference)), axis=(1, 2)) / float(
        jnp.max(jnp.abs(reference)))
    std = np.sqrt(np.diag(np.asarray(cov)))
    return dict(part="e", lib="Cramér–Rao bound", noise=noise, design=design,
                relative_std=dict(zip(("beta", "gamma", "x0", "y0"), (std / np.asarray(truth_v)).tolist())),
                median_error=float(np.median(errors)), p_error_le_005=float(np.mean(errors <= 0.05)),
                quantiles=dict(zip(("10%", "50%", "90%"), np.quantile(errors, [0.1, 0.5, 0.9]).tolist())))


def part_e(seeds, noise=0.05, design="demo", first=0):
    from pysciml import sindy
    bound = cramer_rao(noise, design)
    print(f"Cramér–Rao bound: relative std {bound['relative_std']}; extrapolation error of estimates at the bound: "
          f"median {bound['median_error']:.3f}, P(<= 0.05) = {bound['p_error_le_005']:.2f}", flush=True)
    library = sindy.PolynomialLibrary(degree=2, include_bias=True)
    names = library.names(("x", "y"))
    xi = np.zeros((2, len(names)))
    xi[0, names.index("x*y")], xi[1, names.index("x*y")] = -demo.BETA, demo.GAMMA
    true_terms = sindy.SINDy(library, names=("x", "y"), coefficients=jnp.asarray(xi))
    long_t = jnp.linspace(0.0, 20.0, 801)
    reference = np.asarray(demo.truth(long_t))
    equations = lambda u, p, t: demo.known(u, None, t) + p @ library.features(u)
    extrapolate = jax.jit(lambda p: ps.solve(ps.ODEProblem(equations, demo.U0, (0.0, 20.0), p), ps.Tsit5(),
                                             rtol=1e-8, atol=1e-8, saveat=long_t, max_steps=100_000).u)
    rows = [bound]
    for seed in range(first, first + seeds):
        start = time.perf_counter()
        out = demo.recover(seed, small=False, log=lambda *a: None, noise=noise, design=design)
        out.pop("arrays")
        ts, noisy = demo.noisy_data(seed, noise, design)
        oracle = sindy.refit(true_terms, ts, noisy, known=demo.known, fit_u0=True)
        oracle_error = float(np.max(np.abs(np.asarray(extrapolate(oracle.model.coefficients)) - reference))
                             / np.max(np.abs(reference)))
        row = dict(part="e", lib="demo workflow", **out, true_terms_refit_error=oracle_error,
                   true_terms_xy=np.asarray(oracle.model.coefficients)[:, names.index("x*y")].tolist(),
                   cr_median_error=bound["median_error"],
                   seconds=time.perf_counter() - start, load=H.load_average())
        rows.append(row)
        print(f"seed {seed}: {row['terms']} terms (others {row['other_terms'] or 'none'}), extrapolation error "
              f"{row['extrapolation_error']:.3f} after the refit ({row['before_refit_error']:.3f} before); true terms "
              f"refitted {oracle_error:.3f}; x·y {row['xy'][0]:+.4f} {row['xy'][1]:+.4f}; {row['seconds']:.0f} s, "
              f"load {row['load']:.2f}", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write RESULTS.md and results/ude.jsonl")
    parser.add_argument("--parts", default="dca", help="which of the parts a, c, d to run (default all)")
    parser.add_argument("--seeds", type=int, default=0, help="(e) run the demo workflow for this many noise draws")
    parser.add_argument("--first-seed", type=int, default=0, help="(e) the first noise draw (default 0)")
    parser.add_argument("--noise", type=float, default=0.05,
                        help="(e) noise standard deviation as a fraction of each state's mean (default 0.05)")
    parser.add_argument("--design", choices=sorted(demo.DESIGNS), default="demo",
                        help="(e) sampling: demo = [0, 3] every 0.1; showcase = [0, 5] every 0.25")
    args = parser.parse_args()
    if not args.noise > 0:
        parser.error(f"--noise must be a fraction > 0 of each state's mean (the bound needs noise), got {args.noise}")
    load0 = H.load_average()
    if args.seeds:
        rows = part_e(args.seeds, args.noise, args.design, args.first_seed)
        errors = [r["extrapolation_error"] for r in rows[1:]]
        print(f"extrapolation error to t = 20 over {len(errors)} seeds (noise {args.noise}, design {args.design}): "
              f"max {max(errors):.3f}, median {np.median(errors):.3f}; <= 0.05 for "
              f"{sum(e <= 0.05 for e in errors)} of {len(errors)}")
        # appended: each run is a meta line and its rows, tagged with noise and design, so sweeps accumulate
        H.append_jsonl("ude_seeds", H.machine_info(PACKAGES) | {"load": (load0, H.load_average()),
                                                                "noise": args.noise, "design": args.design}, rows)
    if not args.parts:
        return
    rows = [row for part in "dca" if part in args.parts for row in {"d": part_d, "c": part_c, "a": part_a}[part]()]
    for row in rows:
        print(row, file=sys.stderr, flush=True)
    if args.parts != "dca":        # a partial run: raw rows only, the tables need every part
        H.write_jsonl(f"ude_{args.parts}", H.machine_info(PACKAGES) | {"load": (load0, H.load_average())}, rows)
        return
    info = H.machine_info(PACKAGES)
    a = {r["lib"]: r for r in rows if r["part"] == "a"}
    base = a["pysciml BacksolveAdjoint"]["per_iter_s"]
    text = H.machine_markdown(info, (load0, H.load_average()))
    text += "\n**(a) UDE training step** (demo model; one Adam iteration = loss, gradient, update):\n\n"
    spread = lambda r: (f" [{H.fmt(r['min_s'] * 1e3)}–{H.fmt(r['max_s'] * 1e3)}]" if "min_s" in r else "")
    paired = lambda r: (f"{H.fmt(r['paired_ratio'])} [{H.fmt(r['paired_q'][0])}–{H.fmt(r['paired_q'][1])}]"
                        if "paired_ratio" in r else "–")
    text += H.markdown_table(["library", "ms / iteration [min–max]", "compile s", "ratio of medians to pysciml Backsolve",
                              "paired ratio [quartiles]"],
                             [[lib, H.fmt(r["per_iter_s"] * 1e3) + spread(r), H.fmt(r["compile_s"]),
                               H.fmt(r["per_iter_s"] / base), paired(r)] for lib, r in a.items() if "per_iter_s" in r])
    whole = a["pysciml ude.fit Adam 300 + L-BFGS 1000 (BacksolveAdjoint)"]
    text += (f"\nWhole demo schedule through `ude.fit` ({whole['iterations']} iterations, L-BFGS line-search "
             f"evaluations included): {whole['total_s']:.1f} s including compilation, final loss "
             f"{whole['final_loss']:.3e}. diffrax and pysciml losses at the same weights differ by "
             f"{a['diffrax+equinox+optax']['loss_difference']:.1e}.\n")
    c = [r for r in rows if r["part"] == "c"]
    text += "\n**(c) 2→32→32→2 tanh MLP, forward + gradient on 1000 points:**\n\n"
    text += H.markdown_table(["library", "µs / call", "ratio to pysciml"],
                             [[r["lib"], H.fmt(r["per_call_s"] * 1e6), H.fmt(r["per_call_s"] / c[0]["per_call_s"])]
                              for r in c])
    d = [r for r in rows if r["part"] == "d"]
    text += "\n**(d) Lorenz σ, ρ, β from noise-free data:**\n\n"
    text += H.markdown_table(["method", "time after compilation (s) [min–max]", "iterations", "max relative error"],
                             [[r["lib"], H.fmt(r["after_compile_s"]) + (f" [{H.fmt(r['min_s'])}–{H.fmt(r['max_s'])}]"
                                                                       if "min_s" in r else ""),
                               r.get("iterations", "–"), H.fmt(r["rel_error"])] for r in d])
    print(text)
    if args.write:
        H.write_jsonl(NAME, info, rows)
        H.write_section(HEADING, text)


if __name__ == "__main__":
    main()
