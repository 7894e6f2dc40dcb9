"""Shared test set-up: float64 is on (pysciml switches it on at import); warnings of failed solves are
errors unless a test expects them. XLA compiles without its expensive LLVM passes in the tests (set before JAX
starts, inherited by the examples and docs pages run as subprocesses) and with its classic fusion emitters:
most test time is compile time, which this cuts by a half or more, and the small test problems run as fast
(measured: a Lotka–Volterra solve 2.0 → 1.3 s of compile without the expensive passes, its adjoint gradient
7.1 → 5.2 s, a vmapped adaptive SDE solve 13 → 6.3 s; the classic emitters a further ~40 %; run times
unchanged). Benchmarks do not run through this file and keep XLA's defaults."""
import os

# XLA:CPU's newer MLIR fusion emitters compile ~1.7x slower than the classic ones for these small programs, and
# run no faster (measured: Lotka-Volterra Tsit5 solve 0.9 -> 0.54 s of compile CPU, its gradient 1.6 -> 0.93 s,
# Robertson Rodas5P/KenCarp4 1.3 -> 0.8 s, run times within noise; LV NUTS test 39 -> 28 s of CPU)
_FAST_COMPILE = ("--xla_llvm_disable_expensive_passes=true", "--xla_cpu_use_fusion_emitters=false")
for _flag in _FAST_COMPILE:
    if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

# XLA's optimisation passes off (backend optimisation level 0), except in modules that set XLA_OPTIMIZED = True.
# Almost all test time is XLA compile time (measured over tests/sde and the every-step sensitivity tests: 154 s
# of 207 s in XLA's backend compile, 34 s in tracing and lowering), and the tests' problems are small, so the
# less optimised programs cost far less to build than they lose in running: the whole suite on 2 workers
# 893 s -> 639 s of wall time with every module unoptimised (sum of test times 1759 -> 1252 s), 670 s with the
# modules below optimised; a vmapped fixed-step SDE solve 3.0 -> 0.4 s of
# compile, 29 -> 150 ms of run. The numbers are the same up to rounding (no pass changes the arithmetic's
# meaning; the rounding of fused and unfused code differs). Modules whose claims are bitwise (same key, same
# path across batch sizes; increments equal to differences of values), that compare two programs to ~1e-12, or
# that run long compiled loops (NUTS, Gillespie) compile as users do: `XLA_OPTIMIZED = True` at module level.
# Inherited by the docs pages and examples (run in children: tests/warm.py). JAX_DISABLE_MOST_OPTIMIZATIONS=0
# in the environment runs everything optimised.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import pysciml  # noqa: E402,F401  (enables float64 before any test builds arrays)
from pysciml.testing.problems import HIRES_U0, hires_jacobian, hires_terms  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error::RuntimeWarning")
    # registered by pytest-xdist when it is loaded; declared here too for runs with -p no:xdist
    config.addinivalue_line("markers", "xdist_group(name): tests that run on the same xdist worker")


@pytest.fixture(scope="session")
def stiff_references():
    """Final states of Robertson (t = 1e5), Van der Pol μ = 1e6 (t = 2) and HIRES (t = 321.8122) from scipy's
    Radau at rtol 1e-10 (HIRES 1e-11) with analytic Jacobians and plain-numpy right-hand sides (fast);
    shared by the stiff-solver tests."""
    k1, k2, k3 = 0.04, 3e7, 1e4
    rob_f = lambda t, y: [-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2]
    rob_j = lambda t, y: [[-k1, k3 * y[2], k3 * y[1]], [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]], [0, 2 * k2 * y[1], 0]]
    rob = solve_ivp(rob_f, (0.0, 1e5), [1.0, 0.0, 0.0], method="Radau", rtol=1e-10, atol=1e-14, jac=rob_j)
    mu = 1e6
    vdp_f = lambda t, u: [u[1], mu * ((1 - u[0] ** 2) * u[1] - u[0])]
    vdp_j = lambda t, u: [[0.0, 1.0], [mu * (-2 * u[0] * u[1] - 1), mu * (1 - u[0] ** 2)]]
    vdp = solve_ivp(vdp_f, (0.0, 2.0), [2.0, 0.0], method="Radau", rtol=1e-10, atol=1e-12, jac=vdp_j)
    hires = solve_ivp(lambda t, y: hires_terms(y, 280.0), (0.0, 321.8122), HIRES_U0, method="Radau", rtol=1e-11,
                      atol=1e-15, jac=lambda t, y: hires_jacobian(y, 280.0))
    return {"robertson": np.asarray(rob.y[:, -1]), "vdp": np.asarray(vdp.y[:, -1]), "hires": hires.y[:, -1]}


@pytest.fixture(autouse=True, scope="module")
def _xla_optimization_level(request):
    """Compiles this module's programs with XLA's optimisations if it sets ``XLA_OPTIMIZED = True`` (see the
    top of this file); the compiled programs are dropped after each module (below), so none crosses over."""
    import jax
    before = jax.config.read("jax_disable_most_optimizations")
    if getattr(request.module, "XLA_OPTIMIZED", False):
        jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. One xdist worker runs dozens of modules and
    compiles thousands of programs; every executable holds memory mappings, and past the kernel's
    vm.max_map_count (65530 by default) XLA's next compile segfaults. Modules share compiled problems
    within themselves (module-level fixtures), not across modules."""
    yield
    import jax
    jax.clear_caches()


# The heaviest test files first (minutes of compile and subprocess work each). `pytest -n 2 --dist loadgroup`
# hands files to the two workers in collection order; alphabetical order left the heavy NLME and example files
# for last, so one worker ran them alone while the other idled. Longest first balances the two (the rest keep
# their order). Figures: CI durations of session 6.
HEAVY_FIRST = ("tests/test_examples.py", "tests/test_docs_tutorials.py", "tests/test_docs.py", "tests/test_bayes.py",
               "tests/test_nlme_fit.py", "tests/test_nlme_deep.py", "tests/test_nlme_saem.py",
               "tests/test_nlme_pk.py", "tests/test_nlme_ode_foce.py", "tests/sensitivity/test_sensitivity.py",
               "tests/test_shadowing.py", "tests/test_bayes_spiral.py", "tests/test_bayes_selection.py",
               "tests/sde/test_sde_high_order.py", "tests/sde/test_sde_gradients.py", "tests/sde/test_sde_stiff.py")


# Files whose tests each run a subprocess (a docs page, an example) and share nothing compiled: with
# `--dist loadgroup` (the Makefile) each of their tests is its own group, so the two workers split them, while
# every other file stays one group on one worker (its module-level compiled problems are shared).
SPLIT_FILES = ("tests/test_docs.py", "tests/test_docs_tutorials.py", "tests/test_examples.py")


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}

    def key(item):
        path = item.nodeid.split("::")[0]
        return rank.get(path, len(rank))
    items.sort(key=key)   # stable: the order within a file and among the other files is kept
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(item.nodeid if path in SPLIT_FILES else path))
