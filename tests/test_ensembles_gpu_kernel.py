"""EnsembleGPUKernel in Pallas interpret mode (CPU) equals EnsembleVmap: same steps, states to round-off."""
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

pytestmark = pytest.mark.slow   # each case compiles a vmapped solve and a kernel (a few seconds each)

N = 8
RHO = np.linspace(0.0, 21.0, N)   # the DiffEqGPU paper's Lorenz sweep, small


def lorenz(u, p, t):
    x, y, z = u
    return jnp.array([10.0 * (y - x), x * (p - z) - y, x * y - 8.0 / 3.0 * z])


def sweep(dtype):
    rho = jnp.asarray(RHO, dtype)
    prob = ps.ODEProblem(lorenz, jnp.array([1.0, 0.0, 0.0], dtype), (0.0, 1.0), jnp.asarray(0.0, dtype))
    return ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat: prob.remake(p=rho[i]))


def both(eprob, alg, **options):
    vmapped = ps.solve(eprob, alg, ps.EnsembleVmap(), trajectories=N, **options)
    # blocks of 4 lanes: two programs, and lanes that finish before their block's last one
    kernel = ps.solve(eprob, alg, ps.EnsembleGPUKernel(interpret=True, block=4), trajectories=N, **options)
    return vmapped, kernel


def same_steps(vmapped, kernel):
    for name in ("nsteps", "naccept", "nf"):
        np.testing.assert_array_equal(np.asarray(kernel.outputs.stats[name]), np.asarray(vmapped.outputs.stats[name]))
    assert np.all(np.asarray(kernel.retcode) == ps.ReturnCode.Success)


@pytest.mark.parametrize("alg", [ps.Tsit5(), ps.Vern7()], ids=["Tsit5", "Vern7 (extra interpolation stages)"])
def test_adaptive_float64_with_saveat(alg):
    vmapped, kernel = both(sweep(jnp.float64), alg, saveat=jnp.linspace(0.0, 1.0, 7), rtol=1e-9, atol=1e-9)
    assert kernel.u.shape == (N, 7, 3) and kernel.u.dtype == jnp.float64
    same_steps(vmapped, kernel)
    np.testing.assert_allclose(np.asarray(kernel.u), np.asarray(vmapped.u), rtol=1e-11, atol=1e-11)
    np.testing.assert_array_equal(np.asarray(kernel.t), np.asarray(vmapped.t))


def test_float32_fixed_step_end_points():
    vmapped, kernel = both(sweep(jnp.float32), ps.Tsit5(), adaptive=False, dt=1e-2, save_everystep=False)
    assert kernel.u.shape == (N, 2, 3) and kernel.u.dtype == jnp.float32
    same_steps(vmapped, kernel)
    assert np.all(np.asarray(kernel.outputs.stats["nsteps"]) == 100)   # on the grid t0 + n dt: no sliver step
    # float32 round-off of differently ordered operations over 100 steps (|u| up to 20): up to 1e-5 apart
    # (the same comparison in float64 agrees to 1e-14)
    np.testing.assert_allclose(np.asarray(kernel.u), np.asarray(vmapped.u), rtol=1e-6, atol=2e-5)


def test_float32_adaptive_pid_and_output_func():
    finals = ps.EnsembleProblem(sweep(jnp.float32).prob, prob_func=sweep(jnp.float32).prob_func,
                                output_func=lambda sol, i: sol.u[-1])
    options = dict(saveat=jnp.linspace(0.0, 1.0, 3), rtol=1e-5, atol=1e-5, controller=ps.PIDController())
    vmapped, kernel = both(finals, ps.Tsit5(), **options)
    assert kernel.u.shape == (N, 3)
    np.testing.assert_allclose(np.asarray(kernel.u), np.asarray(vmapped.u), rtol=1e-5, atol=1e-5)


def lotka_volterra(u, p, t):
    a, b, c, d = p
    return jnp.stack([a * u[0] - b * u[0] * u[1], -c * u[1] + d * u[0] * u[1]])


def test_vector_parameters_per_member_and_an_odd_count():
    scale = jnp.linspace(0.8, 1.2, 5)
    prob = ps.ODEProblem(lotka_volterra, jnp.array([1.0, 1.0]), (0.0, 5.0), jnp.array([1.5, 1.0, 3.0, 1.0]))
    eprob = ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat: prob.remake(p=prob.p * scale[i]))
    options = dict(saveat=jnp.linspace(0.0, 5.0, 4), rtol=1e-8, atol=1e-10)
    vmapped = ps.solve(eprob, ps.Tsit5(), trajectories=5, **options)
    kernel = ps.solve(eprob, ps.Tsit5(), ps.EnsembleGPUKernel(interpret=True, block=4), trajectories=5, **options)
    np.testing.assert_array_equal(np.asarray(kernel.outputs.stats["naccept"]),
                                  np.asarray(vmapped.outputs.stats["naccept"]))
    np.testing.assert_allclose(np.asarray(kernel.u), np.asarray(vmapped.u), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(kernel.outputs.p), np.asarray(vmapped.outputs.p), rtol=0)


def test_refuses_what_the_kernel_cannot_do():
    eprob = sweep(jnp.float64)
    kernel = ps.EnsembleGPUKernel(interpret=True)
    with pytest.raises(TypeError, match="explicit Runge-Kutta"):
        ps.solve(eprob, ps.Rodas5P(), kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3))
    with pytest.raises(TypeError, match="option.*tstops.*not supported"):
        ps.solve(eprob, ps.Tsit5(), kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3), tstops=[0.5])
    with pytest.raises(TypeError, match="own step, error estimate"):
        ps.solve(eprob, ps.DP8(), kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3))
    with pytest.raises(ValueError, match="block must be a power of two"):
        ps.EnsembleGPUKernel(block=12)
    with pytest.raises(ValueError, match="pass saveat=... or save_everystep=False"):
        ps.solve(eprob, ps.Tsit5(), kernel, trajectories=2)
    tree = ps.EnsembleProblem(ps.ODEProblem(lambda u, p, t: {"x": -u["x"]}, {"x": jnp.ones(2)}, (0.0, 1.0)))
    with pytest.raises(TypeError, match="1-D floating array"):
        ps.solve(tree, ps.Tsit5(), kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_kernel_lowers_to_triton_for_cuda(dtype):
    """No GPU needed: exporting for CUDA runs Pallas' Triton lowering, which refuses arrays whose size is not a
    power of two (the kernel keeps each state component in a lane vector of trajectories, see _lanes)."""
    from pysciml.ensembles.gpu_kernel import _check, _run
    import jax
    eprob, alg = sweep(dtype), ps.Tsit5()
    config = _check(eprob, alg, dict(rtol=1e-6, atol=1e-6, saveat=jnp.linspace(0.0, 1.0, 5)))
    kernel = jax.jit(lambda indices, arrays: _run(eprob, alg, config, False, 32, indices, arrays))
    triton = "__gpu$xla.gpu.triton"
    exported = jax.export.export(kernel, platforms=["cuda"],
                                 disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(triton)])(
        jnp.arange(N), config.arrays)
    assert triton in exported.mlir_module()
