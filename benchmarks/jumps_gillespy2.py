"""GillesPy2's fastest solver on the dimerisation model of `modeling.py`, as a small server so another
interpreter can hold it (GillesPy2 needs only numpy; it may live in its own virtual environment):

    python benchmarks/jumps_gillespy2.py       # then write lines "N" on stdin; each answers one JSON line

The solver is built once (SSACSolver compiles its C++ simulator); every request runs N trajectories and
reports the wall and CPU time, so the caller can interleave it with its own runs. GillesPy2's propensity for 2P
is k·P(P−1), without the 1/2! of Catalyst's and pysciml's convention, so it gets kd/2 to simulate the
same process."""
import json
import sys
import time

import numpy as np

DIMER_RATES = dict(kt=2.0, kp=2.0, kd=0.05, ku=0.5, dm=0.5, dp=0.2)   # as in modeling.py
T_END = 50.0


def model():
    import gillespy2
    r = dict(DIMER_RATES)
    m = gillespy2.Model(name="dimer")
    m.add_parameter([gillespy2.Parameter(name=k, expression=v) for k, v in r.items()]
                    + [gillespy2.Parameter(name="kd_half", expression=r["kd"] / 2)])
    G, M, P, P2 = (gillespy2.Species(name=n, initial_value=v, mode="discrete") for n, v in (("G", 1), ("M", 0), ("P", 0), ("P2", 0)))
    m.add_species([G, M, P, P2])
    m.add_reaction([
        gillespy2.Reaction(name="tx", reactants={G: 1}, products={G: 1, M: 1}, rate="kt"),
        gillespy2.Reaction(name="tl", reactants={M: 1}, products={M: 1, P: 1}, rate="kp"),
        gillespy2.Reaction(name="dim", reactants={P: 2}, products={P2: 1}, rate="kd_half"),
        gillespy2.Reaction(name="undim", reactants={P2: 1}, products={P: 2}, rate="ku"),
        gillespy2.Reaction(name="dM", reactants={M: 1}, products={}, rate="dm"),
        gillespy2.Reaction(name="dP", reactants={P: 1}, products={}, rate="dp")])
    m.timespan(np.array([0.0, T_END]))
    return m


def cpu_seconds():
    """CPU time of this process and its finished children (the C++ simulator runs as a child): under load, a
    fairer measure than wall time for a paired ratio."""
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main():
    import gillespy2
    m = model()
    start = time.perf_counter()
    solver = gillespy2.SSACSolver(model=m)
    print(json.dumps({"solver": "SSACSolver (C++)", "version": gillespy2.__version__,
                      "build_s": time.perf_counter() - start}), flush=True)
    for line in sys.stdin:
        n = int(line)
        start, cpu = time.perf_counter(), cpu_seconds()
        res = m.run(solver=solver, number_of_trajectories=n)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        print(json.dumps({"trajectories": n, "wall_s": wall, "cpu_s": cpu,
                          "mean_P2": float(np.mean([x["P2"][-1] for x in res]))}), flush=True)


if __name__ == "__main__":
    main()
