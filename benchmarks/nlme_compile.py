"""Compile cost of NLME objectives with ODE dynamics (issue 16): trace and XLA compile time (CPU seconds, so
that a loaded machine inflates them less than wall time), the size of the traced program (jaxpr equations, while
loops) and the time of one objective-and-gradient evaluation after compilation, for

  * ``ode_foce``: tests/test_nlme_ode_foce.py's problem (one-state IV bolus ODE, 3 subjects, FOCE);
  * ``theoph_ode_focei``: the theophylline one-compartment model written as an ODE (Tsit5, rtol 1e-9), FOCEI,
    12 subjects (benchmarks/nlme.py part 3).

It uses only `nlme.Objective`, so the same script measures an older checkout for comparison:

    python benchmarks/nlme_compile.py [--label NAME] [--only ode_foce]   # appends to benchmarks/results/nlme_compile.jsonl
"""
import argparse
import importlib.util
import json
import pathlib
import time

import _harness as H

CORE = H.setup_env()

import numpy as np  # noqa: E402

jax = H.setup_jax()
import jax.numpy as jnp  # noqa: E402

from pysciml import nlme  # noqa: E402
from pysciml.nlme import reference  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ode_foce():
    spec = importlib.util.spec_from_file_location("ode_foce", ROOT / "tests" / "test_nlme_ode_foce.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    obj = nlme.Objective(t.ODE, t.POP, nlme.FOCE())
    return obj, np.asarray(obj.free({"cl": 1.2, "v": 11.0, "omega": np.diag([0.08]), "sd": 0.07}))


def theoph_ode_focei():
    pop, model = reference.theophylline(), reference.nlmixr2_one_compartment()

    ode_model = reference.nlmixr2_one_compartment_ode(model)
    obj = nlme.Objective(ode_model, pop, nlme.FOCEI())
    return obj, np.asarray(obj.free())


def count(jaxpr):
    """(equations, while loops) of a jaxpr, sub-jaxprs included."""
    eqns = whiles = 0
    for e in jaxpr.eqns:
        eqns += 1
        whiles += e.primitive.name == "while"
        for v in e.params.values():
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                sub = x.jaxpr if hasattr(x, "jaxpr") and hasattr(x, "consts") else x if hasattr(x, "eqns") else None
                if sub is not None:
                    a, b = count(sub)
                    eqns, whiles = eqns + a, whiles + b
    return eqns, whiles


def measure(name, make):
    obj, u = make()
    U = jnp.broadcast_to(jnp.asarray(u), (len(obj.population), obj.model.space.size))
    args = (U, obj.zero_etas, obj.population.subjects)
    c0 = time.process_time()
    lowered = obj._vg.lower(*args)
    c1 = time.process_time()
    compiled = lowered.compile()
    c2 = time.process_time()
    eqns, whiles = count(jax.make_jaxpr(obj._vg)(*args).jaxpr)
    out = compiled(*args)
    ev = H.time_call(lambda: jax.block_until_ready(compiled(*args)), repeats=5, min_sample=0.0)
    return {"problem": name, "trace_cpu_s": c1 - c0, "compile_cpu_s": c2 - c1, "jaxpr_eqns": eqns,
            "while_loops": whiles, "eval_s": ev.median, "value": float(out[0][0]),
            "gradient": np.asarray(out[1]).sum(axis=0).tolist(), "load": H.load_average()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="current")
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    rows = []
    for name, make in (("ode_foce", ode_foce), ("theoph_ode_focei", theoph_ode_focei)):
        if args.only and name != args.only:
            continue
        row = dict(measure(name, make), label=args.label)
        print(json.dumps(row), flush=True)
        rows.append(row)
    H.append_jsonl("nlme_compile", {"label": args.label}, rows)


if __name__ == "__main__":
    main()
