"""NLME: pysciml.nlme on the theophylline data against the published nlmixr2 and NONMEM results, one core.

1. nlmixr2's one-compartment model (exp η on ka, CL, V; additive error) by FOCEI: objective, estimates and
   standard errors side by side with the values nlmixr2 prints (`pysciml.nlme.reference.NLMIXR2_FOCEI`,
   nlmixr2 vignette "Modifying nlmixr2 models by piping"); compile time, time per objective-and-gradient
   evaluation (all 12 subjects: EBE search, implicit derivative) and time per whole fit after compilation
   (BFGS, Newton polish, finite-difference Hessian of the exact gradient for the standard errors, tables).
   nlmixr2's own timings in that vignette: optimize 1.5 s, covariance 4.3 s (its machine).
2. NONMEM's THEOPP control stream: the FO objective at its initial estimates against NONMEM 7.3's listing
   (110.244), then fits by FO, FOCE, FOCEI, Laplace and LaplaceI (no published NONMEM estimates for these
   were found to compare with; the table reports ours).

3. SAEM on the nlmixr2 model against nlmixr2's published SAEM fit (`reference.NLMIXR2_SAEM`, nlmixr2est
   README) and against our FOCEI fit; the one-compartment model written as an ODE (Tsit5) fitted by FOCEI
   against the closed form: objective, estimates, compile time, time per evaluation and per fit.

    python benchmarks/nlme.py            # writes benchmarks/results/nlme.md
    python benchmarks/nlme.py --quick    # part 1 only
"""
import argparse
import time

import _harness as H

CORE = H.setup_env()        # before numpy / jax are imported

import numpy as np  # noqa: E402

jax = H.setup_jax()
from pysciml import nlme  # noqa: E402
from pysciml.nlme import reference  # noqa: E402


def part1(lines):
    pop, model = reference.theophylline(), reference.nlmixr2_one_compartment()
    obj = nlme.Objective(model, pop, nlme.FOCEI())
    u = np.asarray(obj.free())
    t = time.perf_counter()
    obj.evaluate(u, obj.zero_etas)
    compile_s = time.perf_counter() - t
    ev = H.time_call(lambda: obj.evaluate(u, obj.zero_etas), repeats=7)
    fit = nlme.fit(model, pop, nlme.FOCEI())
    tf = H.time_call(lambda: nlme.fit(model, pop, nlme.FOCEI()), repeats=5, min_sample=0.0)
    ref = reference.NLMIXR2_FOCEI
    est, se = dict(zip(fit.names, fit.estimates)), dict(zip(fit.names, fit.se))
    lines += ["## Theophylline, nlmixr2's one-compartment model, FOCEI", "",
              "| | pysciml | nlmixr2 (published) | difference |", "|---|---|---|---|",
              f"| OFV (−2LL without n·log 2π) | {fit.ofv:.4f} | {ref['ofv']:.3f} | {fit.ofv - ref['ofv']:+.4f} |"]
    for n, v in ref["estimates"].items():
        lines.append(f"| {n} | {est[n]:.4f} (SE {se[n]:.4f}) | {v:.4f} (SE {ref['se'][n]:.4f}) | "
                     f"{est[n] / v - 1:+.2%} |")
    cv = 100 * np.sqrt(np.exp(np.diagonal(fit.params["omega"])) - 1)
    for i, n in enumerate(("ka", "cl", "v")):
        lines.append(f"| BSV CV% {n} | {cv[i]:.2f} | {ref['bsv_cv_percent'][i]:.2f} | "
                     f"{cv[i] / ref['bsv_cv_percent'][i] - 1:+.2%} |")
    lines += ["", f"compile (objective + gradient): {compile_s:.1f} s; one objective-and-gradient evaluation: "
              f"{1e3 * ev.median:.2f} ms; whole FOCEI fit after compilation: {tf.median:.3f} s "
              f"(min {tf.min:.3f}; {fit.n_evaluations} evaluations, standard errors and tables included); "
              f"load average {H.load_average():.1f}", ""]


def part2(lines):
    pop, model = reference.theophylline(dose_scale=None), reference.nonmem_theopp()
    fo0 = nlme.Objective(model, pop, nlme.FO())()
    lines += ["## NONMEM THEOPP control stream", "",
              f"FO objective at the initial estimates: {fo0:.4f} (NONMEM 7.3: "
              f"{reference.NONMEM_THEOPP_FO_AT_INITIAL}; difference {fo0 - reference.NONMEM_THEOPP_FO_AT_INITIAL:+.4f})",
              "", "| method | OFV | KA | K | CL/WT | ω² KA | ω² K | ω² CL | σ² | fit s (after compile) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for method in (nlme.FO(), nlme.FOCE(), nlme.FOCEI(), nlme.Laplace(), nlme.LaplaceI()):
        nlme.fit(model, pop, method)
        t = time.perf_counter()
        fit = nlme.fit(model, pop, method)
        dt = time.perf_counter() - t
        p, om = fit.params, np.diagonal(fit.params["omega"])
        lines.append(f"| {method.name} | {fit.ofv:.4f} | {float(p['ka']):.4f} | {float(p['k']):.5f} | "
                     f"{float(p['cl']):.5f} | {om[0]:.4f} | {om[1]:.3g} | {om[2]:.4f} | {float(p['sigma2']):.4f} | "
                     f"{dt:.2f} |")
    lines.append("")


def part3(lines):
    pop, model = reference.theophylline(), reference.nlmixr2_one_compartment()
    focei = nlme.fit(model, pop, nlme.FOCEI())
    t = time.perf_counter()
    saem = nlme.fit(model, pop, nlme.SAEM())
    first = time.perf_counter() - t
    ts = H.time_call(lambda: nlme.fit(model, pop, nlme.SAEM()), repeats=3, min_sample=0.0)
    ref = reference.NLMIXR2_SAEM
    est, foc = dict(zip(saem.names, saem.estimates)), dict(zip(focei.names, focei.estimates))
    lines += ["## Theophylline by SAEM (200 + 300 iterations, 3 chains)", "",
              "| | pysciml SAEM | nlmixr2 SAEM (published) | difference | pysciml FOCEI | difference |",
              "|---|---|---|---|---|---|"]
    for n, v in ref["estimates"].items():
        lines.append(f"| {n} | {est[n]:.4f} | {v:.4f} | {est[n] / v - 1:+.2%} | {foc[n]:.4f} | "
                     f"{est[n] / foc[n] - 1:+.2%} |")
    cv = 100 * np.sqrt(np.exp(np.diagonal(saem.params["omega"])) - 1)
    cv_f = 100 * np.sqrt(np.exp(np.diagonal(focei.params["omega"])) - 1)
    for i, n in enumerate(("ka", "cl", "v")):
        lines.append(f"| BSV CV% {n} | {cv[i]:.2f} | {ref['bsv_cv_percent'][i]:.2f} | "
                     f"{cv[i] / ref['bsv_cv_percent'][i] - 1:+.2%} | {cv_f[i]:.2f} | {cv[i] / cv_f[i] - 1:+.2%} |")
    lines += ["", f"FOCEI objective at the SAEM estimates {saem.ofv:.4f} (FOCEI minimum {focei.ofv:.4f}). "
              f"First SAEM fit incl. compilation {first:.1f} s; after compilation {ts.median:.2f} s "
              f"(SAEM iterations, then the FOCEI objective, standard errors and tables at its estimates); "
              f"load average {H.load_average():.1f}", ""]

    ode_model = reference.nlmixr2_one_compartment_ode(model)
    obj = nlme.Objective(ode_model, pop, nlme.FOCEI())
    u = np.asarray(obj.free())
    t = time.perf_counter()
    obj.evaluate(u, obj.zero_etas)
    compile_s = time.perf_counter() - t
    ev = H.time_call(lambda: obj.evaluate(u, obj.zero_etas), repeats=3, min_sample=0.0)
    t = time.perf_counter()
    ode = nlme.fit(ode_model, pop, nlme.FOCEI())
    fit_s = time.perf_counter() - t
    rel = np.max(np.abs(ode.estimates / focei.estimates - 1))
    lines += ["## Theophylline FOCEI with the model as an ODE (Tsit5, rtol 1e-9, forward-mode derivatives)", "",
              f"OFV {ode.ofv:.6f} (closed form {focei.ofv:.6f}, difference {ode.ofv - focei.ofv:+.2e}); largest "
              f"relative difference of the estimates {rel:.2e}. Compile (objective + gradient) {compile_s:.1f} s; "
              f"one objective-and-gradient evaluation {ev.median:.2f} s; whole fit {fit_s:.1f} s (its tables' "
              f"compilation included); load average {H.load_average():.1f}", ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    info = H.machine_info(["pysciml", "jax", "jaxlib", "numpy", "scipy"])
    lines = ["# NLME benchmark (`benchmarks/nlme.py`)", "", H.machine_markdown(info), ""]
    part1(lines)
    if not args.quick:
        part2(lines)
        part3(lines)
    text = "\n".join(lines)
    print(text)
    H.RESULTS_DIR.mkdir(exist_ok=True)
    (H.RESULTS_DIR / "nlme.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
