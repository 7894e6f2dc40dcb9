"""Jump processes: the birth–death process's ensemble matches its analytic Poisson law (transient and
stationary), the exact SSAs agree with each other on a nonlinear network (two-sample tests, fixed seeds),
tau-leaping is close, runs are reproducible from a key, and bad input is refused."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import pysciml as ps
import pysciml.modeling as md

XLA_OPTIMIZED = True   # long compiled Gillespie loops run faster optimised (tests/conftest.py)

BIRTH, DEATH = 10.0, 1.0          # stationary law Poisson(BIRTH / DEATH)
LAM = BIRTH / DEATH
N = 2000
TS = jnp.array([0.0, 1.0, 20.0, 25.0, 30.0, 35.0, 40.0])   # stationary samples from t = 20, e^-5 apart


def birth_death(u, p, t):
    return jnp.array([p[0], p[1] * u[0]])


@pytest.fixture(scope="module")
def bd_problem():
    return ps.JumpProblem(birth_death, [0], (0.0, 40.0), jnp.array([BIRTH, DEATH]), [[1], [-1]], key=7, monotone=True)


def check_poisson(samples, lam, label):
    n = samples.size
    assert abs(samples.mean() - lam) < 4 * np.sqrt(lam / n), f"{label}: mean {samples.mean()}"
    assert abs(samples.var() - lam) < 4 * np.sqrt((lam + 2 * lam ** 2) / n), f"{label}: variance {samples.var()}"
    # chi-square goodness of fit on the bulk of the pmf (tails pooled)
    lo, hi = max(int(lam - 2.5 * np.sqrt(lam)), 1), int(lam + 2.5 * np.sqrt(lam))
    counts = np.array([np.sum(samples < lo)] + [np.sum(samples == k) for k in range(lo, hi + 1)] + [np.sum(samples > hi)])
    probs = np.array([stats.poisson.cdf(lo - 1, lam)] + [stats.poisson.pmf(k, lam) for k in range(lo, hi + 1)]
                     + [stats.poisson.sf(hi, lam)])
    assert stats.chisquare(counts, probs * n).pvalue > 1e-3, label


@pytest.mark.parametrize("alg", [ps.Direct(), ps.SortingDirect(), ps.RSSA()], ids=lambda a: type(a).__name__)
def test_birth_death_matches_the_poisson_law(bd_problem, alg):
    sol = ps.solve(bd_problem, alg, saveat=TS, trajectories=N)
    assert sol.u.shape == (N, TS.size, 1) and sol.success
    u = np.asarray(sol.u[..., 0])
    assert np.all(u[:, 0] == 0)                                  # saved at t0: the initial counts
    check_poisson(u[:, 1], LAM * (1 - np.exp(-DEATH * 1.0)), f"{alg} transient")   # Poisson at every t from 0
    check_poisson(u[:, 2:].ravel(), LAM, f"{alg} stationary")


@pytest.mark.slow
def test_tau_leaping_is_close_to_the_exact_law(bd_problem):
    sol = ps.solve(bd_problem, ps.TauLeaping(0.05), saveat=TS, trajectories=N)
    u = np.asarray(sol.u[:, 2:, 0]).ravel()
    # explicit tau-leaping keeps the mean of a linear network; its stationary variance is λ/(1 − γ dt/2) here
    assert abs(u.mean() - LAM) < 4 * np.sqrt(LAM / u.size)
    assert abs(u.var() / (LAM / (1 - DEATH * 0.05 / 2)) - 1) < 0.08
    assert np.all(u >= 0)


def dimerisation():
    G, M, P, P2 = md.variables("G M P P2")
    kt, kp, kd, ku, dm, dp = md.parameters("kt kp kd ku dm dp")
    rs = md.ReactionSystem([
        md.Reaction(kt, [G], [G, M]), md.Reaction(kp, [M], [M, P]), md.Reaction(kd, [P], [P2], substoich=[2]),
        md.Reaction(ku, [P2], [P], prodstoich=[2]), md.Reaction(dm, [M], None), md.Reaction(dp, [P], None)])
    p = {kt: 2.0, kp: 2.0, kd: 0.05, ku: 0.5, dm: 0.5, dp: 0.2}
    return md.JumpProblem(rs, u0={G: 1, M: 0, P: 0, P2: 0}, tspan=(0.0, 10.0), p=p, key=11)


@pytest.mark.slow
def test_exact_algorithms_give_the_same_distribution_on_a_nonlinear_network():
    prob = dimerisation()
    assert prob.monotone
    finals = {}
    for key, alg in ((1, ps.Direct()), (2, ps.SortingDirect()), (3, ps.RSSA())):
        sol = ps.solve(prob.remake(key=jax.random.key(key)), alg, saveat=jnp.array([10.0]), trajectories=N)
        finals[type(alg).__name__] = np.asarray(sol.u[:, 0, :])
    for name in ("SortingDirect", "RSSA"):
        for species in (1, 2, 3):
            a, b = finals["Direct"][:, species], finals[name][:, species]
            assert stats.mannwhitneyu(a, b).pvalue > 1e-3, (name, species)
            assert stats.ks_2samp(a, b).pvalue > 1e-3, (name, species)
    # and a wrong rate is detected by the same tests: ku halved shifts the dimer count
    wrong = ps.solve(prob.remake(p=prob.p.at[4].multiply(0.5), key=jax.random.key(4)), ps.Direct(),
                     saveat=jnp.array([10.0]), trajectories=N)
    assert stats.ks_2samp(finals["Direct"][:, 3], np.asarray(wrong.u[:, 0, 3])).pvalue < 1e-6


def test_runs_are_reproducible_and_vmappable_over_keys(bd_problem):
    ts = jnp.array([0.0, 2.0, 5.0])
    one = ps.solve(bd_problem, ps.Direct(), saveat=ts)
    again = ps.solve(bd_problem, ps.Direct(), saveat=ts)
    np.testing.assert_array_equal(one.u, again.u)
    keys = jax.random.split(bd_problem.key, 8)
    manual = jax.vmap(lambda k: ps.solve(bd_problem.remake(key=k), ps.Direct(), saveat=ts).u)(keys)
    ensemble = ps.solve(bd_problem, ps.Direct(), saveat=ts, trajectories=8)
    np.testing.assert_array_equal(manual, ensemble.u)
    assert len({tuple(np.asarray(r).ravel()) for r in ensemble.u}) > 1      # members differ
    # fewer lanes than trajectories: finished lanes take the next trajectories, each still the one of its key
    from pysciml.jumps.simulate import simulate_pool
    pooled = jax.jit(lambda k: simulate_pool(ps.Direct(), 10 ** 6, bd_problem, ts, k, lanes=3))(keys)
    np.testing.assert_array_equal(pooled[0], manual)
    np.testing.assert_array_equal(pooled[2], ensemble.stats["nsteps"])
    assert np.all(np.asarray(pooled[1]) == ps.ReturnCode.Success)


def test_max_steps_is_a_return_code_with_a_warning(bd_problem):
    with pytest.warns(RuntimeWarning, match="max_steps"):
        sol = ps.solve(bd_problem, ps.Direct(), max_steps=5)
    assert sol.retcode == ps.ReturnCode.MaxIters


def test_bad_input_is_refused(bd_problem):
    with pytest.raises(ValueError, match="non-negative integer counts"):
        ps.JumpProblem(birth_death, [-1], (0.0, 1.0), jnp.array([1.0, 1.0]), [[1], [-1]])
    with pytest.raises(ValueError, match=r"stoichiometry must have shape \(R, 1\)"):
        ps.JumpProblem(birth_death, [1], (0.0, 1.0), jnp.array([1.0, 1.0]), [1, -1])
    with pytest.raises(ValueError, match=r"propensity must return shape \(3,\)"):
        ps.JumpProblem(birth_death, [1], (0.0, 1.0), jnp.array([1.0, 1.0]), [[1], [-1], [2]])
    with pytest.raises(ValueError, match="non-negative"):
        ps.JumpProblem(birth_death, [1], (0.0, 1.0), jnp.array([-1.0, 1.0]), [[1], [-1]])
    with pytest.raises(ValueError, match="RSSA needs propensities"):
        ps.solve(bd_problem.remake(monotone=False), ps.RSSA())
    with pytest.raises(ValueError, match="dt applies to TauLeaping only"):
        ps.solve(bd_problem, ps.Direct(), dt=0.1)
    with pytest.raises(ValueError, match="inside tspan"):
        ps.solve(bd_problem, ps.Direct(), saveat=jnp.array([0.0, 50.0]))
    with pytest.raises(TypeError, match="needs a jump algorithm"):
        ps.solve(bd_problem, ps.Tsit5())


def test_the_random_stream_is_xoshiro256pp_and_the_selection_is_searchsorted():
    """The loop's generator against a transcription of the authors' C reference (xoshiro256plusplus.c) in
    Python integers; the unrolled (few reactions) and searchsorted (many) selections against numpy."""
    from pysciml.jumps import rng
    from pysciml.jumps.algorithm import UNROLL_SELECT, select
    mask = (1 << 64) - 1
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & mask
    s = [0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0F1E2D3C4B5A6978, 0x8796A5B4C3D2E1F0]
    state = jnp.asarray(np.array(s, np.uint64))
    expected = []
    for _ in range(5):
        expected.append((rotl((s[0] + s[3]) & mask, 23) + s[0]) & mask)
        t = (s[1] << 17) & mask
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)  # noqa: E702
    words, _ = jax.jit(rng.draw, static_argnums=1)(state, 5)
    assert [int(w) for w in np.asarray(words)] == expected
    stream = jax.jit(lambda k: jax.lax.scan(lambda st, _: rng.draw(st, 1)[::-1], rng.seed(k), None, 20000)[1])
    u = np.asarray(rng.unit(stream(jax.random.key(0)).ravel()))
    assert u.min() > 0 and u.max() <= 1 and stats.kstest(u, "uniform").pvalue > 1e-3
    gen = np.random.default_rng(5)
    for R in (6, UNROLL_SELECT + 8):
        a = gen.uniform(0, 1, R) * (gen.uniform(size=R) > 0.3)
        xs = np.concatenate([gen.uniform(0, 1, 50), [0.0]])
        want = np.minimum(np.searchsorted(np.cumsum(a), xs * a.sum(), side="right"), R - 1)
        got = jax.jit(jax.vmap(select, in_axes=(None, None, 0)))(jnp.asarray(a), jnp.sum(jnp.asarray(a)), jnp.asarray(xs))
        np.testing.assert_array_equal(np.asarray(got), want)
        assert np.all(a[want] > 0)


# --- chemical Langevin equation (md.SDEProblem) ----------------------------------------------------------
# One network for every CLE test (one compiled EM ensemble): birth ∅ → P (k), death P → ∅ (dp·P),
# dimerisation 2P → P2 (kd·P(P−1)/2) and back P2 → 2P (ku·P2); kd = ku = 0 leaves the birth–death process.
P, P2 = md.variables("P P2")
k, dp, kd, ku = md.parameters("k dp kd ku")
DIMERS = md.ReactionSystem([md.Reaction(k, None, [P]), md.Reaction(dp, [P], None),
                            md.Reaction(kd, [P], [P2], substoich=[2]), md.Reaction(ku, [P2], [P], prodstoich=[2])])
CLE_N, CLE_TS = 800, jnp.array([0.5, 1.0, 2.0, 4.0, 8.0])
CLE_P = {k: 40.0, dp: 0.5, kd: 0.02, ku: 1.0}
BD_LAM = 50.0


@pytest.fixture(scope="module")
def cle():
    return md.SDEProblem(DIMERS, u0={P: 0.0, P2: 0.0}, tspan=(0.0, 8.0), p=CLE_P)


@pytest.fixture(scope="module")
def cle_runs(cle):
    """One compiled EM ensemble for both CLE tests: even members run the dimerising network from zero, odd
    ones the birth–death process (kd = ku = 0, k = 50, dp = 1) from its mean."""
    bd_p = jnp.array([1.0, BD_LAM, 0.0, 0.0])          # order of cle.f.parameters: dp, k, kd, ku

    def pick(prob, i, repeat):
        odd = i % 2 == 1
        return prob.remake(u0=jnp.where(odd, jnp.array([BD_LAM, 0.0]), prob.u0), p=jnp.where(odd, bd_p, prob.p))
    sol = ps.solve(ps.EnsembleProblem(cle, prob_func=pick), ps.EM(), trajectories=2 * CLE_N, dt=0.01,
                   key=jax.random.key(3), saveat=CLE_TS)
    return sol, np.asarray(sol.u[0::2]), np.asarray(sol.u[1::2])


def test_cle_drift_and_diffusion_are_the_propensities(cle):
    """f = Σ_j ν_j a_j, column j of g = ν_j √a_j, with the jump process's propensities (kd·P(P−1)/2)."""
    u = jnp.array([7.0, 3.0])
    a = np.array([40.0, 0.5 * 7, 0.02 * 7 * 6 / 2, 1.0 * 3])
    nu = np.array([[1, -1, -2, 2], [0, 0, 1, -1]])
    assert [str(s) for s in cle.f.parameters] == ["dp", "k", "kd", "ku"]
    np.testing.assert_allclose(cle.f(u, cle.p, 0.0), nu @ a, rtol=1e-14)
    np.testing.assert_allclose(cle.g(u, cle.p, 0.0), nu * np.sqrt(a), rtol=1e-14)


def test_cle_of_birth_death_has_the_poisson_mean_and_variance(cle_runs):
    """kd = ku = 0: the CLE dP = (k − dp·P) dt + √k dW1 − √(dp·P) dW2 is linear in its drift and noise
    variance, so its stationary mean and variance are exactly the jump process's: k/dp both (Poisson).
    Samples at t = 4 and 8 (4 relaxation times apart: stationary and near-independent); Euler–Maruyama
    inflates the variance by 1/(1 − dp·dt/2) = 1.005, far inside the ensemble's error (4σ bounds)."""
    sol, _, bd = cle_runs
    x = bd[:, 3:, 0].ravel()
    n = x.size
    assert abs(x.mean() - BD_LAM) < 4 * np.sqrt(BD_LAM / n), x.mean()
    assert abs(x.var() - BD_LAM) < 4 * BD_LAM * np.sqrt(2 / n), x.var()
    assert np.all(bd[..., 1] == 0)                              # no dimerisation: P2 has no noise either
    member = sol[1]
    np.testing.assert_array_equal(member[P], member.u[:, 0])    # indexable by species


def test_cle_mean_agrees_with_gillespie_on_a_dimerising_network(cle_runs):
    """At tens to a hundred copies the CLE's drift is the jump process's mean drift with the same
    propensities, so the ensemble means of the CLE (EM) and of the exact SSA (`Direct`, an independent
    simulation) agree within their Monte Carlo error, transient and at steady state. (A 20 % error in kd
    moves the dimer mean by 12–16 standard errors at t ≥ 4: measured.)"""
    _, approx, _ = cle_runs
    jump = md.JumpProblem(DIMERS, u0={P: 0, P2: 0}, tspan=(0.0, 8.0), p=CLE_P, key=3)
    exact = np.asarray(ps.solve(jump, ps.Direct(), saveat=CLE_TS, trajectories=CLE_N).u)
    z = (approx.mean(0) - exact.mean(0)) / np.sqrt((exact.var(0) + approx.var(0)) / CLE_N)
    assert np.all(np.abs(z) < 4), z
    assert exact[:, -1, 1].mean() > 15 and exact[:, -1, 0].mean() > 40       # moderate copy numbers


def test_cle_refuses_bad_input():
    with pytest.raises(ValueError, match=r"u0 is missing value\(s\) for \['P2'\]"):
        md.SDEProblem(DIMERS, u0={P: 1.0}, tspan=(0.0, 1.0), p={k: 1.0, dp: 1.0, kd: 1.0, ku: 1.0})
    with pytest.raises(ValueError, match="P must be non-negative"):
        md.SDEProblem(DIMERS, u0={P: -1.0, P2: 0.0}, tspan=(0.0, 1.0), p={k: 1.0, dp: 1.0, kd: 1.0, ku: 1.0})
    with pytest.raises(ValueError, match="rates must be non-negative"):
        md.SDEProblem(DIMERS, u0={P: 1.0, P2: 0.0}, tspan=(0.0, 1.0), p={k: -1.0, dp: 1.0, kd: 1.0, ku: 1.0})
    with pytest.raises(ValueError, match=r"p is missing value\(s\) for the parameter\(s\) \['ku'\]"):
        md.SDEProblem(DIMERS, u0={P: 1.0, P2: 0.0}, tspan=(0.0, 1.0), p={k: 1.0, dp: 1.0, kd: 1.0})
    with pytest.raises(TypeError, match="expected a ReactionSystem"):
        md.SDEProblem(md.ODESystem([md.Eq(md.D(P), -P)]), u0={P: 1.0}, tspan=(0.0, 1.0))
    with pytest.raises(ValueError, match="tspan"):
        md.SDEProblem(DIMERS, u0={P: 1.0, P2: 0.0}, p={k: 1.0, dp: 1.0, kd: 1.0, ku: 1.0})
    ok = md.SDEProblem(DIMERS, u0={"P": 2.5, "P2": 0.0}, tspan=(0.0, 1.0), p={"k": 1.0, "dp": 1.0, "kd": 1.0, "ku": 1.0})
    assert ok.u0[0] == 2.5          # amounts, not necessarily integer counts
