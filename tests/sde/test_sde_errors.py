"""Bad input to SDE solves: clear errors naming the argument, raised before anything compiles (each case
would otherwise trace or run; the functions here raise if they are ever called with real data)."""
import re

import jax
import jax.numpy as jnp
import pytest

import pysciml as ps

KEY = jax.random.PRNGKey(0)
f = lambda u, p, t: -u
g = lambda u, p, t: 0.1 * u


def test_g_shape_wrong_for_diagonal_noise():
    prob = ps.SDEProblem(f, lambda u, p, t: jnp.ones((3, 2)), jnp.ones(3), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"g returned shape \(3, 2\) but noise_type=diagonal needs u0's shape \(3,\)"):
        ps.solve(prob, ps.EM(), dt=0.1, key=KEY)


def test_g_shape_wrong_for_general_noise():
    prob = ps.SDEProblem(f, lambda u, p, t: jnp.ones((3, 3)), jnp.ones(3), (0.0, 1.0), noise_type="general",
                         noise_rate_prototype=jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"g returned shape \(3, 3\) but noise_type=general with m = 2 needs shape \(3, 2\)"):
        ps.solve(prob, ps.EM(), dt=0.1, key=KEY)


@pytest.mark.parametrize("noise_type,shape", [("scalar", (3, 2)), ("additive", (2,))])
def test_g_shape_wrong_for_scalar_and_additive_noise(noise_type, shape):
    prob = ps.SDEProblem(f, lambda u, p, t: jnp.ones(shape), jnp.ones(3), (0.0, 1.0), noise_type=noise_type)
    with pytest.raises(ValueError, match=rf"g returned shape {re.escape(str(shape))} but noise_type={noise_type} "
                                         r"needs u0's shape \(3,\)"):
        ps.solve(prob, ps.EM(), dt=0.1, key=KEY)


def test_general_noise_needs_a_prototype():
    with pytest.raises(ValueError, match="noise_rate_prototype"):
        ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0), noise_type="general")


def test_unknown_noise_type_and_interpretation():
    with pytest.raises(ValueError, match="noise_type: expected one of"):
        ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0), noise_type="diagnol")
    with pytest.raises(ValueError, match="interpretation: expected 'ito' or 'stratonovich'"):
        ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0), interpretation="ito2")


def test_fixed_step_method_without_dt():
    prob = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"dt: a fixed-step solve \(alg=EM\(\), adaptive=False\) needs a step size dt"):
        ps.solve(prob, ps.EM(), key=KEY)


def test_method_without_the_noise_type_lists_those_with_it():
    prob = ps.SDEProblem(f, lambda u, p, t: jnp.ones((3, 2)), jnp.ones(3), (0.0, 1.0), noise_type="general",
                         noise_rate_prototype=jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"RKMil\(\) does not handle general noise.*general noise, Ito: EM, LambaEM"):
        ps.solve(prob, ps.RKMil(), dt=0.1, key=KEY)


def test_method_of_the_other_interpretation_lists_those_that_fit():
    ito = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"EulerHeun\(\) does not solve Ito SDEs.*: EM, RKMil, LambaEM"):
        ps.solve(ito, ps.EulerHeun(), dt=0.1, key=KEY)
    strat = ito.remake(interpretation="stratonovich")
    with pytest.raises(ValueError, match=r"EM\(\) does not solve Stratonovich SDEs.*: EulerHeun, RKMil"):
        ps.solve(strat, ps.EM(), dt=0.1, key=KEY)
    with pytest.raises(ValueError, match=r"RKMil\(interpretation=Stratonovich\(\)\) does not solve Ito"):
        ps.solve(ito, ps.RKMil(interpretation="stratonovich"), dt=0.1, key=KEY)


def test_ode_method_refused():
    prob = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(TypeError, match=r"alg: Tsit5\(\) is not an SDE method.*EM, RKMil, LambaEM"):
        ps.solve(prob, ps.Tsit5(), key=KEY)


def test_missing_or_bad_key():
    prob = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(ValueError, match="key: an SDE solve draws its Brownian path from a jax.random key"):
        ps.solve(prob, ps.EM(), dt=0.1)
    with pytest.raises(TypeError, match="key: expected one jax.random key"):
        ps.solve(prob, ps.EM(), dt=0.1, key=jax.random.split(KEY, 3))


def test_key_refused_for_odes():
    prob = ps.ODEProblem(f, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(TypeError, match="option.* key do not apply to ODEProblem"):
        ps.solve(prob, ps.Tsit5(), key=KEY)


def test_non_finite_u0():
    with pytest.raises(ValueError, match="u0 must be finite"):
        ps.SDEProblem(f, g, jnp.array([1.0, jnp.nan]), (0.0, 1.0))


def test_noise_grid_must_cover_the_span_and_match_m():
    grid = ps.NoiseGrid(jnp.linspace(0.0, 0.5, 6), jnp.zeros((6, 3)))
    prob = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0), noise=grid)
    with pytest.raises(ValueError, match=r"noise: NoiseGrid covers \[0.0, 0.5\]"):
        ps.solve(prob, ps.EM(), dt=0.1)
    prob = ps.SDEProblem(f, g, jnp.ones(3), (0.0, 1.0), noise=ps.NoiseGrid(jnp.linspace(0, 1, 3), jnp.zeros((3, 2))))
    with pytest.raises(ValueError, match="noise: NoiseGrid has 2 Wiener process"):
        ps.solve(prob, ps.EM(), dt=0.1)


def test_blow_up_is_unstable():
    prob = ps.SDEProblem(lambda u, p, t: u ** 3, g, jnp.array([2.0]), (0.0, 1.0))
    with pytest.warns(RuntimeWarning, match="Unstable"):
        sol = ps.solve(prob, ps.EM(), dt=0.01, key=KEY)
    assert sol.retcode == ps.ReturnCode.Unstable
    assert float(sol.t[-1]) < 0.5     # stopped where the solution left the floating-point range


def test_sde_method_refused_for_odes():
    prob = ps.ODEProblem(f, jnp.ones(3), (0.0, 1.0))
    with pytest.raises(TypeError, match=r"alg: EM\(\) is an SDE method; an ODEProblem is solved by an ODE method"):
        ps.solve(prob, ps.EM(), dt=0.1)
