"""Ensembles: vmap and serial execution agree, each member has its own steps, summaries are right."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

XLA_OPTIMIZED = True   # vmapped members compared with single solves to 1e-12: see tests/conftest.py

RATES = jnp.linspace(0.5, 1.5, 16)
TIMES = jnp.linspace(0.0, 2.0, 5)
DECAY = ps.ODEProblem(lambda u, p, t: -p * u, jnp.array([1.0, 2.0]), (0.0, 2.0), 1.0)
EXACT = np.exp(-np.asarray(RATES)[:, None, None] * np.asarray(TIMES)[None, :, None]) * np.array([1.0, 2.0])
OPTIONS = dict(saveat=TIMES, rtol=1e-10, atol=1e-12)


def by_rate(prob, i, repeat):
    return prob.remake(p=RATES[i])


@pytest.fixture(scope="module")
def vmapped():
    return ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), ps.EnsembleVmap(), trajectories=16,
                    **OPTIONS)


def test_vmap_ensemble_is_exact_and_members_step_independently(vmapped):
    assert vmapped.u.shape == (16, 5, 2)
    np.testing.assert_allclose(vmapped.u, EXACT, rtol=1e-8)
    steps = np.asarray(vmapped.outputs.stats["naccept"])
    assert steps[-1] > steps[0]   # faster decay needs more steps: each member has its own step sizes
    assert np.all(np.asarray(vmapped.retcode) == ps.ReturnCode.Success) and bool(np.all(vmapped.success))


def test_serial_matches_vmap_with_batches(vmapped):
    serial = ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), ps.EnsembleSerial(),
                      trajectories=16, batch_size=5, **OPTIONS)
    np.testing.assert_allclose(serial.u, vmapped.u, rtol=1e-12)


def test_summaries(vmapped):
    np.testing.assert_allclose(vmapped.mean(), EXACT.mean(axis=0), rtol=1e-8)
    np.testing.assert_allclose(vmapped.var(), EXACT.var(axis=0, ddof=1), rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(vmapped.quantile(0.5), np.quantile(EXACT, 0.5, axis=0), rtol=1e-8)
    np.testing.assert_allclose(vmapped.quantile([0.1, 0.9]), np.quantile(EXACT, [0.1, 0.9], axis=0), rtol=1e-8)
    assert vmapped[3].u.shape == (5, 2)


def test_summaries_at_any_time_through_dense_output():
    ens = ps.solve(ps.EnsembleProblem(DECAY, prob_func=by_rate), ps.Tsit5(), trajectories=16, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ens.mean(t=TIMES), EXACT.mean(axis=0), rtol=1e-8)


def test_output_func_and_reduction():
    final_sum = ps.EnsembleProblem(
        DECAY, prob_func=by_rate, output_func=lambda sol, i: sol.u[-1, 0],
        reduction=lambda acc, batch, indices: (acc + jnp.sum(batch), False), u_init=0.0)
    result = ps.solve(final_sum, ps.Tsit5(), trajectories=16, batch_size=4, **OPTIONS)
    assert float(result.u) == pytest.approx(EXACT[:, -1, 0].sum(), rel=1e-8)
    early = ps.EnsembleProblem(DECAY, prob_func=by_rate, output_func=lambda sol, i: sol.u[-1, 0],
                               reduction=lambda acc, batch, indices: (acc + list(np.asarray(batch)), True), u_init=[])
    stopped = ps.solve(early, ps.Tsit5(), trajectories=16, batch_size=4, **OPTIONS)
    assert stopped.converged and len(stopped.u) == 4


def test_ensemble_bad_input():
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    with pytest.raises(ValueError, match="trajectories must be a positive integer"):
        ps.solve(eprob, ps.Tsit5(), trajectories=0)
    with pytest.raises(TypeError, match="ensemble_alg"):
        ps.solve(eprob, ps.Tsit5(), "vmap", trajectories=2)
    with pytest.raises(TypeError, match="prob_func must be callable"):
        ps.EnsembleProblem(DECAY, prob_func=3)


def test_memory_hungry_default_saving_is_refused_with_advice():
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    with pytest.raises(ValueError, match="GiB.*pass saveat"):
        ps.solve(eprob, ps.Tsit5(), trajectories=100_000)


def test_repeated_ensemble_solves_reuse_the_compiled_batch(vmapped):
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    first = ps.solve(eprob, ps.Tsit5(), trajectories=16, **OPTIONS)
    cached = ps.EnsembleVmap._compiled[eprob]
    again = ps.solve(eprob, ps.Tsit5(), trajectories=16, **OPTIONS)
    assert ps.EnsembleVmap._compiled[eprob] is cached and len(cached) == 1
    np.testing.assert_array_equal(first.u, again.u)


def random_rate(prob, i, repeat, key):
    return prob.remake(p=jax.random.uniform(key, minval=0.5, maxval=1.5))


def test_prob_func_with_a_key_draws_per_trajectory_and_serial_matches_vmap():
    eprob = ps.EnsembleProblem(DECAY, prob_func=random_rate, key=jax.random.key(7))
    vm = ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=6, **OPTIONS)
    rates = np.array([float(jax.random.uniform(jax.random.fold_in(jax.random.fold_in(jax.random.key(7), i), 0),
                                               minval=0.5, maxval=1.5)) for i in range(6)])
    assert len(np.unique(rates)) == 6
    exact = np.exp(-rates[:, None, None] * np.asarray(TIMES)[None, :, None]) * np.array([1.0, 2.0])
    np.testing.assert_allclose(vm.u, exact, rtol=1e-8)
    serial = ps.solve(eprob, ps.Tsit5(), ps.EnsembleSerial(), trajectories=6, **OPTIONS)
    np.testing.assert_allclose(serial.u, vm.u, rtol=1e-12)
    # an integer seed works too, and another seed gives other draws
    other = ps.solve(ps.EnsembleProblem(DECAY, prob_func=random_rate, key=8), ps.Tsit5(), trajectories=6, **OPTIONS)
    assert not np.allclose(other.u, vm.u)


def test_prob_func_drawing_from_numpy_random_is_refused_under_vmap():
    rng = np.random.default_rng(0)
    eprob = ps.EnsembleProblem(DECAY, prob_func=lambda prob, i, repeat: prob.remake(p=rng.uniform(0.5, 1.5)))
    with pytest.raises(ValueError, match=r"outside JAX.*prob_func\(prob, i, repeat, key\)"):
        ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=4, **OPTIONS)
    # the serial ensemble calls prob_func per trajectory with a concrete i, so it may draw on the host
    serial = ps.solve(eprob, ps.Tsit5(), ps.EnsembleSerial(), trajectories=3, **OPTIONS)
    assert len(np.unique(np.asarray(serial.u)[:, -1, 0])) == 3
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        ps.EnsembleProblem(DECAY, key="seed")


def test_ensemble_solution_indexes_like_an_array_and_is_a_pytree(vmapped):
    assert np.asarray(vmapped).shape == (16, 5, 2) and len(vmapped) == 16
    member = vmapped[3]
    assert isinstance(member, ps.ODESolution) and member.u.shape == (5, 2)
    np.testing.assert_allclose(member.u, EXACT[3], rtol=1e-8)
    np.testing.assert_allclose(vmapped[-1].u, EXACT[-1], rtol=1e-8)
    part = vmapped[2:5]
    assert isinstance(part, ps.EnsembleSolution) and part.u.shape == (3, 5, 2)
    assert [s.u.shape for s in vmapped[:2]] == [(5, 2), (5, 2)]
    with pytest.raises(IndexError, match="out of range"):
        vmapped[16]
    # returned from jax.jit
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    jitted = jax.jit(lambda: ps.solve(eprob, ps.Tsit5(), trajectories=16, **OPTIONS))()
    assert isinstance(jitted, ps.EnsembleSolution)
    np.testing.assert_allclose(jitted.u, vmapped.u, rtol=1e-12)
    # save every step: each member trimmed to its own steps
    steps = ps.solve(eprob, ps.Tsit5(), trajectories=2, rtol=1e-6, atol=1e-8, max_steps=100)
    own = ps.solve(by_rate(DECAY, 1, 0), ps.Tsit5(), rtol=1e-6, atol=1e-8, max_steps=100)
    np.testing.assert_allclose(steps[1].t, own.t, rtol=1e-12)
    np.testing.assert_allclose(steps[1](1.3), own(1.3), rtol=1e-12)


def test_scalar_saveat_spacing_works_as_in_solve():
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    for ensemble_alg in (ps.EnsembleVmap(), ps.EnsembleSerial()):
        ens = ps.solve(eprob, ps.Tsit5(), ensemble_alg, trajectories=16, saveat=0.5, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ens.t[0], [0.0, 0.5, 1.0, 1.5, 2.0])
        np.testing.assert_allclose(ens.u, EXACT, rtol=1e-8)


def test_output_func_can_ask_for_a_rerun_with_the_next_repeat():
    """SciML's output_func(sol, i) -> (value, rerun): trajectory i is solved again with repeat + 1 until it
    stops asking. Here each rerun doubles, triples... the decay rate until u(2)[0] < 0.2."""
    eprob = ps.EnsembleProblem(DECAY, prob_func=lambda prob, i, repeat: prob.remake(p=RATES[i] * (1 + repeat)),
                               output_func=lambda sol, i: ((sol.p, sol.u[-1, 0]), sol.u[-1, 0] >= 0.2))
    repeats = np.array([next(r for r in range(10) if np.exp(-2 * float(k) * (1 + r)) < 0.2) for k in RATES])
    assert len(set(repeats)) > 1   # some members rerun, some not, some more than once
    for ensemble_alg in (ps.EnsembleVmap(), ps.EnsembleSerial()):
        ens = ps.solve(eprob, ps.Tsit5(), ensemble_alg, trajectories=16, batch_size=8, **OPTIONS)
        rates, finals = ens.u
        np.testing.assert_allclose(rates, np.asarray(RATES) * (1 + repeats), rtol=1e-14)
        np.testing.assert_allclose(finals, np.exp(-2 * rates), rtol=1e-8)
    stubborn = ps.EnsembleProblem(DECAY, output_func=lambda sol, i: (sol.u[-1, 0], True))
    with pytest.raises(RuntimeError, match="still ask for a rerun after 100"):
        ps.solve(stubborn, ps.Tsit5(), ps.EnsembleSerial(), trajectories=1, **OPTIONS)
    with pytest.raises(ValueError, match="outside jax.jit"):
        jax.jit(lambda: ps.solve(eprob, ps.Tsit5(), trajectories=4, **OPTIONS).u)()


class _Reversed(ps.ensembles.EnsembleAlgorithm):
    """A backend that solves the members of a batch last to first: one subclass implementing run_batch."""

    def run_batch(self, eprob, alg, indices, options):
        outs = [ps.solve(eprob.member(int(i), 0), alg, **options).u for i in indices[::-1]]
        return jnp.stack(outs[::-1])


def test_a_new_backend_is_one_subclass_of_ensemble_algorithm(vmapped):
    eprob = ps.EnsembleProblem(DECAY, prob_func=by_rate)
    got = ps.solve(eprob, ps.Tsit5(), _Reversed(), trajectories=16, batch_size=7, **OPTIONS)
    np.testing.assert_allclose(got.u, EXACT, rtol=1e-8)
    with pytest.raises(TypeError, match="ensemble_alg"):
        ps.solve(eprob, ps.Tsit5(), object(), trajectories=2, **OPTIONS)


def test_gradient_through_a_vmapped_ensemble_matches_finite_differences():
    """jax.grad through solve(EnsembleProblem, ..., EnsembleVmap()) with saveat: the forward-mode rule once gave
    the saved times a tangent batched over members while the times themselves are not, and failed
    (broadcast_in_dim). Reference: central differences of the same loss (members differ in u0)."""
    scales = jnp.linspace(0.5, 1.5, 4)
    base = ps.ODEProblem(lambda u, p, t: -p[0] * u + p[1], jnp.array([1.0, 2.0]), (0.0, 1.0), jnp.array([1.0, 0.5]))

    @jax.jit   # one compile serves the four differences
    def loss(p):
        eprob = ps.EnsembleProblem(base.remake(p=p), prob_func=lambda prob, i, repeat: prob.remake(u0=prob.u0 * scales[i]))
        sol = ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=4, saveat=jnp.linspace(0.0, 1.0, 5),
                       rtol=1e-10, atol=1e-12)   # the default sensealg here: forward mode (ForwardDiffSensitivity)
        return jnp.sum(sol.u ** 2)

    p, h = jnp.array([1.0, 0.5]), 1e-5
    grad = np.asarray(jax.grad(loss)(p))
    fd = np.array([(loss(p.at[j].add(h)) - loss(p.at[j].add(-h))) / (2 * h) for j in range(2)])
    np.testing.assert_allclose(grad, fd, rtol=1e-7)
