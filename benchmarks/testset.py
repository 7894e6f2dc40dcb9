"""The stiff problems of the IVP test set: work–precision of pysciml's stiff methods against scipy, CVODE and diffrax.

Problems, published reference solutions, absolute-tolerance rules and the accuracy measure come from
`pysciml.testing.testset` (HIRES, POLLU, OREGO, ROBER on [0, 1e11], VDPOL with ε = 1e-6, E5): digits =
the test set's mescd, −log10 max_i |y_i − ref_i| / (atol_i/rtol + |ref_i|); "rel" = the plain relative scd.
A pysciml run "meets the bound" when it reports Success with mescd ≥ −log10(rtol) − 1.5 (issue 12); a
Success below the bound is marked **short**. Modelled on the SciMLBenchmarks StiffODE work–precision pages,
as a table (digits against median time and steps) per problem.

Set-up and timing are those of `stiff.py` (its runners are reused: one pinned core, float64, only the
final state kept, JAX trace + compile timed apart): scipy BDF / Radau / LSODA with finite-difference
Jacobians, CVODE (scikit-sundae) BDF with the dense direct solver, diffrax Kvaerno5 with the optimistix
Newton root finder (the fair setting, ../shared/peers-baseline.md), pysciml's eight stiff methods and the
defaults (`solve(prob)`, AutoTsit5(Rosenbrock23()), AutoVern7(Rodas5P())). max_steps = 100 000 for all.

    python benchmarks/testset.py                 # all problems at rtol 1e-4, 1e-6, 1e-8, 1e-10
    python benchmarks/testset.py --quick         # rtol 1e-6 on hires, rober, vdpol; fewer samples
    python benchmarks/testset.py --problems orego --rtols 1e-4 --libs pysciml

Raw rows go to results/testset.jsonl (or --out NAME). `--report a.jsonl,b.jsonl` rebuilds the tables from
saved raw rows (e.g. a full pysciml run and a peers run), `--write` puts them into RESULTS.md.
"""
import argparse
import json
import sys
import time
from types import SimpleNamespace

import _harness as H

CORE = H.setup_env()        # before numpy / jax are imported

import numpy as np  # noqa: E402

import stiff as S  # noqa: E402  (runners, right-hand sides and timing of the stiff benchmark)

jax, jnp, ps = S.jax, S.jnp, S.ps
from pysciml.testing.testset import digits_bound, mixed_digits, relative_digits, stiff_testset  # noqa: E402

NAME = "testset"
RTOLS = (1e-4, 1e-6, 1e-8, 1e-10)
QUICK_PROBLEMS = ("hires", "rober", "vdpol")
PYSCIML_METHODS = ["Rosenbrock23", "Rodas4", "Rodas5P", "TRBDF2", "KenCarp4", "Kvaerno5", "RadauIIA5", "FBDF",
                   "default", "AutoTsit5(Rosenbrock23())", "AutoVern7(Rodas5P())"]


def orego(ops):
    """OREGO, p = (s, w, q)."""
    def f(u, p, t):
        s, w, q = p[0], p[1], p[2]
        return ops.vec([s * (u[1] - u[0] * u[1] + u[0] - q * u[0] * u[0]), (-u[1] - u[0] * u[1] + u[2]) / s,
                        w * (u[0] - u[2])])
    return f


def orego_jac(u, p):
    s, w, q = p
    return np.array([[s * (1 - u[1] - 2 * q * u[0]), s * (1 - u[0]), 0.0],
                     [-u[1] / s, -(1 + u[0]) / s, 1 / s],
                     [w, 0.0, -w]])


def e5(ops):
    """E5, p = (A, B, C, M)."""
    def f(u, p, t):
        a, b, c, m = p[0], p[1], p[2], p[3]
        f1 = -a * u[0] - b * u[0] * u[2]
        f2 = a * u[0] - m * c * u[1] * u[2]
        f4 = b * u[0] * u[2] - c * u[3]
        return ops.vec([f1, f2, f2 - f4, f4])
    return f


def e5_jac(u, p):
    a, b, c, m = p
    return np.array([[-a - b * u[2], 0.0, -b * u[0], 0.0], [a, -m * c * u[2], -m * c * u[1], 0.0],
                     [a - b * u[2], -m * c * u[2], -m * c * u[1] - b * u[0], c], [b * u[2], 0.0, b * u[0], -c]])


RHS = {"hires": (S.hires, S.hires_jac), "pollu": (S.pollu, S.pollu_jac), "orego": (orego, orego_jac),
       "rober": (S.robertson, S.robertson_jac), "vdpol": (S.vanderpol, S.vanderpol_jac), "e5": (e5, e5_jac)}


def problems():
    """stiff.py `Problem`s for the test set, with the published reference as the reference."""
    out = {}
    for name, tp in stiff_testset().items():
        make, jac = RHS[name]
        lib = tp.problem
        out[name] = S.Problem(name, make, jac, np.asarray(lib.u0, float), np.atleast_1d(np.asarray(lib.p, float)),
                              tuple(float(t) for t in lib.tspan), tp.atol, "", 0.0, published=tp.reference,
                              library=lambda lib=lib: lib)
        out[name] = (out[name], tp)
    return out


def _alg(method):
    if method == "default":
        return None
    return eval(method, vars(ps)) if "(" in method else getattr(ps, method)()   # noqa: S307 (our own list)


def run_pysciml(prob, method, cfg):
    f, atol, alg = prob.make(S.JNP), prob.atol(cfg.rtol), _alg(method)
    final = lambda u0, p: S.pysciml_solve(f, u0, p, prob.tspan, alg, cfg.rtol, atol)  # noqa: E731
    return S._jax_row(prob, cfg, "pysciml", method, final, S.describe_pysciml)


def runs_for(cfg):
    out = []
    if "pysciml" in cfg.libs:
        out += [("pysciml", m, lambda prob, c, m=m: run_pysciml(prob, m, c)) for m in cfg.methods]
    if "scipy" in cfg.libs:
        out += [("scipy", m, lambda prob, c, m=m: S.run_scipy(prob, m, c)) for m in S.SCIPY_METHODS]
    if "sundials" in cfg.libs and S.CVODE is not None:
        out.append(("sundials", "CVODE BDF", lambda prob, c: S.run_cvode(prob, c)))
    if "diffrax" in cfg.libs and S.diffrax is not None:
        out.append(("diffrax", "Kvaerno5 Newton", lambda prob, c: S.run_diffrax(prob, "Kvaerno5 Newton", c)))
    return out


_finals = {}
_original_row = S._row


def _row_with_final(prob, cfg, lib, method, timing, **extra):
    """stiff.py's row, plus the final state (for the digits) kept aside."""
    row = _original_row(prob, cfg, lib, method, timing, **extra)
    _finals[id(row)] = np.asarray(timing.result[0], float)
    return row


S._row = _row_with_final


def add_digits(row, tp):
    final = _finals.pop(id(row))
    ok = row["status"] == "ok"
    row["mescd"] = mixed_digits(final, tp.reference, row["rtol"], tp.atol(row["rtol"])) if np.all(np.isfinite(final)) else None
    row["scd"] = relative_digits(final, tp.reference) if np.all(np.isfinite(final)) else None
    row["bound"] = digits_bound(row["rtol"])
    row["short"] = bool(ok and (row["mescd"] is None or row["mescd"] < row["bound"]))
    return row


def table(rows, name):
    headers = ["rtol", "lib", "method", "result", "digits (mescd)", "rel. digits (scd)", "median ms", "steps (acc/rej)",
               "JAX trace + compile s"]
    out = []
    for r in rows:
        if r["problem"] != name:
            continue
        result = "Success" if r["status"] == "ok" else r["status"].replace("FAILED: ", "")
        if r["short"]:
            result = "**short** (Success)"
        digits = "–" if r["mescd"] is None else f"{r['mescd']:.2f}"
        rel = "–" if r["scd"] is None else f"{r['scd']:.2f}"
        out.append([f"{r['rtol']:g}", r["lib"], r["method"], result, digits, rel, H.fmt(r["median_s"] * 1e3),
                    S._steps(r), H.compile_cell(r)])
    return H.markdown_table(headers, out)


HEADING = "Stiff IVP test set (`benchmarks/testset.py`)"


def report(rows, names, info, cfg, elapsed, loads, runs=None):
    lines = [H.machine_markdown(info, (min(loads), max(loads))),
             f"- rtol {', '.join(f'{r:g}' for r in cfg.rtols)}; atol by the test set's rule (see "
             "`pysciml.testing.testset`); {} samples; whole script {:.1f} min\n".format(cfg.repeats, elapsed / 60)
             if runs is None else f"- rtol {', '.join(f'{r:g}' for r in cfg.rtols)}; atol by the test set's rule "
             f"(see `pysciml.testing.testset`); assembled from {runs}\n",
             "- digits = mescd against the published reference; bound = −log10(rtol) − 1.5; **short** = Success "
             "below the bound\n"]
    ours = [r for r in rows if r["lib"] == "pysciml" and r["status"] == "ok"]
    short = [r for r in ours if r["short"]]
    lines.append(f"- pysciml: {len(ours) - len(short)} of {len([r for r in rows if r['lib'] == 'pysciml'])} runs "
                 f"meet the bound; {len(short)} report Success below it\n")
    counts = []
    for key in dict.fromkeys((r["lib"], r["method"]) for r in rows):
        runs = [r for r in rows if (r["lib"], r["method"]) == key]
        ok = [r for r in runs if r["status"] == "ok"]
        n_short = sum(r["short"] for r in ok)
        counts.append([*key, len(runs), len(ok) - n_short, n_short, len(runs) - len(ok)])
    lines.append("\n" + H.markdown_table(["lib", "method", "runs", "meet the bound", "Success below it",
                                          "failed (return code)"], counts))
    for name in names:
        lines.append(f"\n### {name}\n\n" + table(rows, name))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default=None, help="comma-separated (default: all; --quick: hires,rober,vdpol)")
    ap.add_argument("--rtols", default=None, help="comma-separated (default 1e-4,1e-6,1e-8,1e-10; --quick 1e-6)")
    ap.add_argument("--libs", default="pysciml,scipy,sundials,diffrax")
    ap.add_argument("--quick", action="store_true", help="rtol 1e-6 on three problems, 3 short samples")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--methods", default=None, help="pysciml methods, separated by ';' (default: all eleven)")
    ap.add_argument("--out", default=NAME, help="raw rows to results/OUT.jsonl")
    ap.add_argument("--report", default=None, help="comma-separated results/*.jsonl files: only rebuild the tables")
    ap.add_argument("--write", action="store_true", help="write the tables into benchmarks/RESULTS.md")
    args = ap.parse_args()
    if args.report:
        return rebuild(args.report.split(","), args.write)

    probs = problems()
    names = args.problems.split(",") if args.problems else list(QUICK_PROBLEMS if args.quick else probs)
    unknown = set(names) - set(probs)
    if unknown:
        sys.exit(f"unknown problem(s) {sorted(unknown)}; choose from {list(probs)}")
    rtols = tuple(float(t) for t in args.rtols.split(",")) if args.rtols else ((1e-6,) if args.quick else RTOLS)
    methods = args.methods.split(";") if args.methods else PYSCIML_METHODS
    cfg = SimpleNamespace(rtols=rtols, rtol=None, quick=args.quick, libs=set(args.libs.split(",")), methods=methods,
                          repeats=args.repeats or (3 if args.quick else 5), min_sample=0.03 if args.quick else 0.1)
    info = H.machine_info(S.PACKAGES)
    print(f"# pinned to core {CORE}; load {info['load_average']}", file=sys.stderr)
    start, rows, loads = time.perf_counter(), [], [H.load_average()]
    for name in names:
        prob, tp = probs[name]
        S.check_against_library(prob)          # our numpy/JAX right-hand sides and Jacobian = the library's
        for rtol in rtols:
            cfg.rtol = rtol
            for lib, method, runner in runs_for(cfg):
                row = add_digits(runner(prob, cfg), tp)
                row.pop("call", None)
                rows.append(row)
                loads.append(H.load_average())
                digits = "–" if row["mescd"] is None else f"{row['mescd']:.2f}"
                print(f"{name:6s} {rtol:<6g} {lib:9s} {method:26s} {row['median_s'] * 1e3:10.4g} ms  digits {digits:>6s}"
                      f" (bound {row['bound']:.1f})  steps {S._steps(row):>16s}  {row['status']}"
                      f"{'  SHORT' if row['short'] else ''}", file=sys.stderr, flush=True)
    text = report(rows, names, info, cfg, time.perf_counter() - start, loads)
    print(text)
    path = H.write_jsonl(args.out, dict(info, rtols=rtols, quick=cfg.quick, repeats=cfg.repeats, problems=names,
                                        loads=[min(loads), max(loads)]), rows)
    print(f"# raw rows: {path}", file=sys.stderr)
    if args.write:
        H.write_section(HEADING, text)


def rebuild(paths, write):
    """The report of saved runs (each file: a metadata line, then rows), in one table per problem."""
    rows, metas = [], []
    for path in paths:
        with open(path) as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
        metas.append(dict(lines[0]["meta"], file=path))
        seen = {(r["problem"], r["rtol"], r["lib"], r["method"]) for r in rows}
        rows += [r for r in lines[1:] if (r["problem"], r["rtol"], r["lib"], r["method"]) not in seen]  # first wins
    names = list(dict.fromkeys(r["problem"] for r in rows))
    rtols = sorted({r["rtol"] for r in rows}, reverse=True)
    rows.sort(key=lambda r: (names.index(r["problem"]), -r["rtol"], r["lib"] != "pysciml"))
    loads = [x for m in metas for x in (m.get("loads") or m["load_average"][:1])]
    runs = "; ".join(f"`{m['file'].split('/')[-1]}` ({m['date'][:16]}, load {min(m.get('loads') or m['load_average'][:1]):.1f}"
                     f"–{max(m.get('loads') or m['load_average'][:1]):.1f}, {m['repeats']} samples, "
                     f"{'quick' if m['quick'] else 'full'})" for m in metas)
    cfg = SimpleNamespace(rtols=rtols, repeats=None)
    text = report(rows, names, metas[0], cfg, 0.0, loads, runs=runs)
    print(text)
    if write:
        H.write_section(HEADING, text)


if __name__ == "__main__":
    main()
