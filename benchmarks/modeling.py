"""Symbolic modeling and jump processes: pysciml.modeling against hand-written JAX and scipy + sympy.lambdify,
and pysciml's Gillespie against a plain numpy direct method (and GillesPy2 when installed), one pinned core.

1. Reaction network: a random mass-action network of S species (2S reactions: conversions A → B,
   bindings A + B → C, degradations A → ∅, productions ∅ → A; rate constants log-uniform in [0.1, 1]),
   from 1 molecule per species, on [0, 10]. Measured: model build (sympy network → simplified system →
   generated code: "symbolic"), compile-to-first-solve (first `solve`: trace + XLA compile + run), and the
   median per-solve time of the compiled solve, against
   - a hand-written vectorised JAX f (gather the substrates, multiply, scatter-add through the
     stoichiometry), solved by the same pysciml method (same tolerance): ratio = hand / generated;
   - scipy's solve_ivp (same method family, same tolerances) on a sympy-lambdified numpy f.
   Tsit5 (rtol 1e-6, atol 1e-9) measures the generated right-hand side; for S ≤ 200 also Rodas5P with the
   analytic Jacobian against AD of the hand-written f (scipy: Radau with the lambdified Jacobian).
2. Gillespie: the dimerisation gene-expression model (G → G + M, M → M + P, 2P ⇌ P2, M → ∅, P → ∅) to
   t = 50, trajectories vmapped (`ps.solve(jprob, Direct(), trajectories=N)`), time per trajectory against a
   plain numpy direct method (one trajectory at a time, the textbook loop) and GillesPy2's fastest solver
   (its SSACSolver: compiled C++, trajectories one after another) run by `jumps_gillespy2.py` in this
   interpreter or in $GILLESPY2_PYTHON's, interleaved with pysciml's runs.

    python benchmarks/modeling.py                 # S = 100, 300, 1000; 10 000 SSA trajectories
    python benchmarks/modeling.py --quick         # S = 100 only, 1000 trajectories
    python benchmarks/modeling.py --sizes 1000 --trajectories 0     # one network size, no SSA
    python benchmarks/modeling.py --sizes --trajectories 10000      # SSA only
"""
import argparse
import json
import time

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402
import sympy as sp  # noqa: E402

import pysciml as ps  # noqa: E402
import pysciml.modeling as md  # noqa: E402


def random_network(S, seed=0):
    """Reactions as (rate, substrates, products) over species indices."""
    rng = np.random.default_rng(seed)
    rates = 10 ** rng.uniform(-1, 0, 2 * S)
    reactions = []
    for r in range(2 * S):
        kind = r % 4
        a, b, c = rng.choice(S, 3, replace=False)
        if kind == 0:
            reactions.append((rates[r], [a], [b]))
        elif kind == 1:
            reactions.append((rates[r], [a, b], [c]))
        elif kind == 2:
            reactions.append((rates[r], [a], []))
        else:
            reactions.append((rates[r], [], [a]))
    return reactions


def md_system(S, reactions):
    species = md.variables([f"X{i}" for i in range(S)])
    species = species if isinstance(species, tuple) else (species,)
    ks = md.parameters([f"k{r}" for r in range(len(reactions))])
    rxs = [md.Reaction(ks[r], [species[i] for i in sub], [species[i] for i in prod])
           for r, (_, sub, prod) in enumerate(reactions)]
    return md.ReactionSystem(rxs, species=list(species)), species, ks


def hand_written(S, reactions):
    """Vectorised mass action: every reaction has at most two substrates (index S = a constant 1)."""
    R = len(reactions)
    sub = np.full((R, 2), S)
    net = np.zeros((R, S))
    for r, (_, s, p) in enumerate(reactions):
        sub[r, :len(s)] = s
        for i in s:
            net[r, i] -= 1
        for i in p:
            net[r, i] += 1
    rows, cols = np.nonzero(net)
    vals = net[rows, cols]

    def f(u, k, t):
        padded = jnp.concatenate([u, jnp.ones(1, u.dtype)])
        rate = k * padded[sub[:, 0]] * padded[sub[:, 1]]
        return jax.ops.segment_sum(vals * rate[rows], cols, num_segments=S)
    return f


def block(x):
    return jax.block_until_ready(x)


def network_rows(S, quick):
    reactions = random_network(S)
    k = np.array([r[0] for r in reactions])
    out = {"S": S, "R": len(reactions)}
    t = time.perf_counter()
    rs, species, ks = md_system(S, reactions)
    pvals = dict(zip(ks, k))
    u0 = {s: 1.0 for s in species}
    stiff = S <= 200
    prob = md.ODEProblem(rs, u0=u0, tspan=(0.0, 10.0), p=pvals)
    out["symbolic_s"] = time.perf_counter() - t
    t = time.perf_counter()
    # the stiff solve gets the analytic Jacobian and its pattern; the explicit one does not need them (and
    # `solve` re-checks a user Jacobian's shape on every call, an eager cost of a few ms)
    jprob = md.ODEProblem(rs, u0=u0, tspan=(0.0, 10.0), p=pvals, jac=True, sparse=True) if stiff else None
    out["symbolic_with_jacobian_s"] = time.perf_counter() - t + out["symbolic_s"] if stiff else None
    # the generated p is ordered like prob.f.parameters: map the hand-written k into it
    order = [int(str(prm)[1:]) for prm in prob.f.parameters]
    assert np.allclose(np.asarray(prob.p), k[order])
    prob_plain = prob
    hand = hand_written(S, reactions)
    hprob = ps.ODEProblem(hand, jnp.ones(S), (0.0, 10.0), jnp.asarray(k))
    tol = dict(rtol=1e-6, atol=1e-9)
    algs = [("Tsit5", ps.Tsit5())] + ([("Rodas5P", ps.Rodas5P())] if stiff else [])
    rows = []
    for name, alg in algs:
        prob = jprob if name == "Rodas5P" else prob_plain
        t = time.perf_counter()
        sol = ps.solve(prob, alg, save_everystep=False, **tol)
        block(sol.u)
        first_md = time.perf_counter() - t
        t = time.perf_counter()
        ref = ps.solve(hprob, alg, save_everystep=False, **tol)
        block(ref.u)
        first_hand = time.perf_counter() - t
        err = float(jnp.max(jnp.abs(sol.u[-1] - ref.u[-1]) / (1e-9 + jnp.abs(ref.u[-1]))))
        run_md = lambda: block(ps.solve(prob, alg, save_everystep=False, **tol).u)
        run_hand = lambda: block(ps.solve(hprob, alg, save_everystep=False, **tol).u)
        ratio = H.paired_ratio(run_md, run_hand, rounds=5 if quick else 11)
        per_md = H.time_call(run_md, repeats=3 if quick else 7)
        rows.append({"alg": name, "first_solve_md_s": first_md, "first_solve_hand_s": first_hand,
                     "per_solve_md_s": per_md.median, "hand_over_md": ratio[0], "hand_over_md_iqr": ratio[1:],
                     "steps": int(sol.stats["nsteps"]), "rel_diff_md_vs_hand": err})
    # scipy + lambdify (numpy), same tolerance
    from scipy.integrate import solve_ivp
    simple = prob_plain.f.system
    us = [sp.Symbol(f"u{i}") for i in range(S)]
    ps_ = [sp.Symbol(f"p{j}") for j in range(len(simple.parameters))]
    mapping = dict(zip(simple.unknowns, us)) | dict(zip(simple.parameters, ps_))
    exprs = [e.xreplace(mapping) for e in simple.rhs]
    t = time.perf_counter()
    fnp = sp.lambdify([us, ps_], exprs, modules="numpy", cse=True)
    lamb_s = time.perf_counter() - t
    pnum = np.asarray(prob_plain.p)
    rhs = lambda tt, y: np.asarray(fnp(y, pnum), dtype=float)
    scipy_rows = []
    for name, method in [("Tsit5", "RK45")] + ([("Rodas5P", "Radau")] if stiff else []):
        kwargs = {}
        if method == "Radau":
            rr, cc, entries = md.problem.jacobian_entries(list(simple.rhs), list(simple.unknowns))
            fj = sp.lambdify([us, ps_], [e.xreplace(mapping) for e in entries], modules="numpy", cse=True)
            import scipy.sparse
            kwargs["jac"] = lambda tt, y: scipy.sparse.csc_matrix((np.asarray(fj(y, pnum), float), (rr, cc)), shape=(S, S))
        run = lambda: solve_ivp(rhs, (0.0, 10.0), np.ones(S), method=method, **tol, **kwargs)
        res = run()
        timing = H.time_call(run, repeats=3 if quick else 5)
        err = float(np.max(np.abs(res.y[:, -1] - np.asarray(ps.solve(hprob, ps.Vern9(), rtol=1e-12, atol=1e-14,
                                                                        save_everystep=False).u[-1]))))
        scipy_rows.append({"alg": name, "scipy_method": method, "scipy_s": timing.median, "lambdify_s": lamb_s,
                           "scipy_nfev": int(res.nfev), "scipy_abs_err": err})
    out["rows"] = rows
    out["scipy"] = scipy_rows
    return out


# --- Gillespie ------------------------------------------------------------------------------------------
DIMER_RATES = dict(kt=2.0, kp=2.0, kd=0.05, ku=0.5, dm=0.5, dp=0.2)
T_END = 50.0


def dimer_problem():
    G, M, P, P2 = md.variables("G M P P2")
    r = {n: md.parameters(n) for n in DIMER_RATES}
    rs = md.ReactionSystem([
        md.Reaction(r["kt"], [G], [G, M]), md.Reaction(r["kp"], [M], [M, P]), md.Reaction(r["kd"], [P], [P2], substoich=[2]),
        md.Reaction(r["ku"], [P2], [P], prodstoich=[2]), md.Reaction(r["dm"], [M], None), md.Reaction(r["dp"], [P], None)])
    return md.JumpProblem(rs, u0={G: 1, M: 0, P: 0, P2: 0}, tspan=(0.0, T_END), p={r[n]: v for n, v in DIMER_RATES.items()})


def numpy_direct(rng, t_end):
    """The textbook direct method, one trajectory; state (G, M, P, P2)."""
    kt, kp, kd, ku, dm, dp = DIMER_RATES.values()
    nu = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, -2, 1], [0, 0, 2, -1], [0, -1, 0, 0], [0, 0, -1, 0]])
    x = np.array([1, 0, 0, 0])
    t = 0.0
    while True:
        g, m, p, p2 = x
        a = np.array([kt * g, kp * m, kd * p * (p - 1) / 2, ku * p2, dm * m, dp * p])
        a0 = a.sum()
        t += rng.exponential(1 / a0)
        if t > t_end:
            return x
        x = x + nu[np.searchsorted(np.cumsum(a), rng.random() * a0, side="right")]


def gillespy2_server():
    """A `jumps_gillespy2.py` process (GillesPy2 in this interpreter, or in $GILLESPY2_PYTHON's), or None.
    It inherits this process's one-core pinning."""
    import os
    import subprocess
    import sys
    python = os.environ.get("GILLESPY2_PYTHON", sys.executable)
    env = dict(os.environ)
    if "GILLESPY2_PYTHON" in os.environ:    # its build step runs SCons through the base interpreter
        site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True,
                              text=True).stdout.strip()
        env["PYTHONPATH"] = site
    proc = subprocess.Popen([python, str(H.HERE / "jumps_gillespy2.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    first = proc.stdout.readline()
    if not first:
        proc.wait()
        return None
    info = json.loads(first)

    def run(n):
        proc.stdin.write(f"{n}\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())
    return info, run, proc


def gillespie_rows(n_traj, quick, rounds=5):
    """pysciml's SSAs; GillesPy2 (when found) in rounds interleaved with pysciml's Direct, the same number
    of trajectories each, so both see the same machine load; ratio = GillesPy2 time / pysciml time."""
    prob = dimer_problem()
    out = {"trajectories": n_traj}
    saveat = jnp.array([T_END])
    for alg in (ps.Direct(), ps.SortingDirect(), ps.RSSA()):
        run = lambda: block(ps.solve(prob, alg, saveat=saveat, trajectories=n_traj).u)
        t = time.perf_counter()
        sol = ps.solve(prob, alg, saveat=saveat, trajectories=n_traj)
        block(sol.u)
        first = time.perf_counter() - t
        timing = H.time_call(run, repeats=3)
        out[type(alg).__name__] = {"first_s": first, "median_s": timing.median,
                                   "per_traj_us": timing.median / n_traj * 1e6,
                                   "per_traj_us_min_max": [timing.min / n_traj * 1e6, timing.max / n_traj * 1e6],
                                   "mean_P2": float(jnp.mean(sol.u[:, 0, 3])),
                                   "mean_events": float(jnp.mean(sol.stats["nsteps"]))}
    rng = np.random.default_rng(0)
    n_np = 50 if quick else 200
    t = time.perf_counter()
    finals = [numpy_direct(rng, T_END) for _ in range(n_np)]
    numpy_s = time.perf_counter() - t
    out["numpy"] = {"trajectories": n_np, "per_traj_us": numpy_s / n_np * 1e6,
                    "mean_P2": float(np.mean([f[3] for f in finals]))}
    server = gillespy2_server()
    if server is None:
        out["gillespy2"] = "not installed (set GILLESPY2_PYTHON to an interpreter that has it)"
        return out
    info, run_gpy, proc = server
    run_gpy(min(n_traj, 100))      # warm
    ratios, gpy_us, ours_us, mean_p2 = [], [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        block(ps.solve(prob, ps.Direct(), saveat=saveat, trajectories=n_traj).u)
        ours = time.perf_counter() - t
        res = run_gpy(n_traj)
        ratios.append(res["wall_s"] / ours)
        gpy_us.append(res["wall_s"] / n_traj * 1e6)
        ours_us.append(ours / n_traj * 1e6)
        mean_p2.append(res["mean_P2"])
    proc.stdin.close()
    proc.wait()
    out["gillespy2"] = info | {"trajectories": n_traj, "per_traj_us": float(np.median(gpy_us)),
                               "per_traj_us_rounds": gpy_us, "Direct_per_traj_us_rounds": ours_us,
                               "Direct_per_traj_us_interleaved": float(np.median(ours_us)),
                               "gillespy2_over_Direct": float(np.median(ratios)), "ratios": ratios,
                               "mean_P2": float(np.mean(mean_p2))}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*")
    parser.add_argument("--trajectories", type=int)
    parser.add_argument("--out", default="modeling.json", help="file name under benchmarks/results/")
    args = parser.parse_args()
    sizes = args.sizes if args.sizes is not None else ([100] if args.quick else [100, 300, 1000])
    n_traj = args.trajectories if args.trajectories is not None else (1000 if args.quick else 10_000)
    results = {"machine": H.machine_info(["jax", "sympy", "scipy", "numpy"]), "load_before": H.load_average()}
    results["networks"] = []
    for S in sizes:
        row = network_rows(S, args.quick)
        results["networks"].append(row)
        print(json.dumps(row, indent=1), flush=True)
    if n_traj:
        results["gillespie"] = gillespie_rows(n_traj, args.quick)
        print(json.dumps(results["gillespie"], indent=1), flush=True)
    results["load_after"] = H.load_average()
    path = H.RESULTS_DIR / args.out
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"load {results['load_before']:.1f} -> {results['load_after']:.1f}; wrote {path}")


if __name__ == "__main__":
    main()
