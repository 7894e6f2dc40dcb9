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
    for alg in (ps.KenCarp4(), ps.FBDF(), ps.RadauIIA5()):    # Newton-iterated methods: not in the kernel
        with pytest.raises(TypeError, match="explicit Runge-Kutta method .*Tsit5.*Rosenbrock method .*Rodas5P"):
            ps.solve(eprob, alg, kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3))
    with pytest.raises(TypeError, match="linsolve=DenseLU"):
        ps.solve(eprob, ps.Rodas5P(linsolve="krylov"), kernel, trajectories=2, saveat=jnp.linspace(0, 1, 3))
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


# --- Rosenbrock methods in the kernel (small stiff systems) -------------------------------------------------

def robertson(u, p, t):
    y1, y2, y3 = u
    k1, k2, k3 = p[0], p[1], p[2]
    return jnp.array([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, k2 * y2 ** 2])


def robertson_sweep(dtype, t1):
    """ROBER (Hairer & Wanner II, IV.1) with k1 = 0.04 scaled by 0.5 ... 2 across the members."""
    scale = jnp.asarray(np.linspace(0.5, 2.0, N), dtype)
    prob = ps.ODEProblem(robertson, jnp.array([1.0, 0.0, 0.0], dtype), (0.0, t1), jnp.array([0.04, 3e7, 1e4], dtype))
    return ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat: prob.remake(
        p=prob.p * jnp.stack([scale[i], jnp.ones((), dtype), jnp.ones((), dtype)])))


def relative_to_scale(kernel, vmapped):
    """max |kernel − vmapped| per component over members and times, relative to the component's largest |value|
    (ROBER's y2 is 1e-5 of y1 and y3: a per-component scale, not one atol)."""
    k, v = np.asarray(kernel.u), np.asarray(vmapped.u)
    return (np.abs(k - v).max(axis=(0, 1)) / np.abs(v).max(axis=(0, 1))).max()


def test_rodas5p_robertson_float64():
    """Rodas5P on ROBER to t = 1e5 at rtol 1e-6: the same ~100-120 steps (accepted, rejected, f evaluations,
    Jacobians) as EnsembleVmap and the same states to round-off. Tolerance 5e-11 of each component's scale:
    measured 1.05e-11 (y2 at t = 10, in the fast transient; other entries ≤ 5e-13), where EnsembleSerial and
    EnsembleVmap (the same solve compiled twice) differ by 1.26e-11: ~100 steps of a few ulps each, amplified by
    the stiff solves (κ(W) up to ~1e4) on y2 ~ 1e-5."""
    eprob = robertson_sweep(jnp.float64, 1e5)
    vmapped, kernel = both(eprob, ps.Rodas5P(), saveat=jnp.asarray(np.geomspace(1e-4, 1e5, 6)), rtol=1e-6,
                           atol=1e-10)
    same_steps(vmapped, kernel)
    for name in ("njacs", "nfactorizations"):
        np.testing.assert_array_equal(np.asarray(kernel.outputs.stats[name]), np.asarray(vmapped.outputs.stats[name]))
    assert np.asarray(kernel.outputs.stats["nreject"]).max() > 0     # rejections happen, lane by lane
    assert relative_to_scale(kernel, vmapped) < 5e-11
    # Rosenbrock steps keep the linear invariant y1 + y2 + y3 = 1 (to round-off of the solves)
    assert np.all(np.abs(np.asarray(kernel.u).sum(axis=-1) - 1.0) < 1e-9)


def test_rosenbrock23_lorenz_float64():
    """Rosenbrock23 on the DiffEqGPU Lorenz sweep (chaotic for ρ > 24.7 only: here ρ ≤ 21, so differences do not
    grow exponentially): same steps, states to 1e-11 (measured: 1e-13 … 1e-12)."""
    vmapped, kernel = both(sweep(jnp.float64), ps.Rosenbrock23(), saveat=jnp.linspace(0.0, 1.0, 5), rtol=1e-6,
                           atol=1e-8)
    same_steps(vmapped, kernel)
    np.testing.assert_allclose(np.asarray(kernel.u), np.asarray(vmapped.u), rtol=1e-11, atol=1e-11)


def test_rosenbrock23_robertson_float32():
    """float32 ROBER (t ≤ 1e3, rtol 1e-3) with Rosenbrock23 (MATLAB's ode23s: low order for loose tolerances):
    round-off of ~1e-7 per operation can flip an accept/reject decision near the threshold, so the step counts
    may differ by one; the states agree to 2e-5 of each component's scale (measured: 1.3e-6, with the same 113-142 steps)."""
    vmapped, kernel = both(robertson_sweep(jnp.float32, 1e3), ps.Rosenbrock23(), saveat=jnp.asarray([0.0, 1.0, 1e3]),
                           rtol=1e-3, atol=1e-7)
    assert kernel.u.dtype == jnp.float32 and np.all(np.asarray(kernel.retcode) == ps.ReturnCode.Success)
    steps = [np.asarray(s.outputs.stats["naccept"]) for s in (kernel, vmapped)]
    assert np.abs(steps[0] - steps[1]).max() <= 1
    assert relative_to_scale(kernel, vmapped) < 2e-5


def test_rosenbrock_lane_step_equals_the_library_step(alg=ps.Rosenbrock23()):
    """One step of the kernel's Rosenbrock stepper on lanes (outside Pallas) against `Rosenbrock.step` vmapped: a
    non-autonomous 3-state system (∂f/∂t enters the stages; ROBER and Lorenz are autonomous) whose W needs row
    swaps that differ from lane to lane (small diagonal of J, off-diagonal entries varying with the member), with
    step sizes from accepted (error norm < 1) to rejected. Rosenbrock23 (3 stages) keeps the compilation small;
    Rodas5P runs the same code (test_rodas5p_robertson_float64)."""
    import jax
    from pysciml.ensembles import _lanes
    from pysciml.ensembles.gpu_kernel import _RosenbrockLanes, _jacobians, _objects
    from pysciml.problems import FlatRHS
    from pysciml._core.trees import FlatSpec

    def f(u, p, t):
        a, b = p[0], p[1]
        return jnp.stack([1e-3 * u[0] + a * u[1] + jnp.sin(3.0 * t), -u[0] * b + u[2] ** 2,
                          -40.0 * u[1] + b * t * u[0] - a * u[2] * u[0]])

    lanes = 8
    p = jnp.stack([jnp.linspace(-30.0, 30.0, lanes), jnp.linspace(50.0, -2.0, lanes)])     # (2, lanes)
    u = jnp.stack([jnp.linspace(0.1, 1.0, lanes), jnp.full(lanes, 0.5), jnp.linspace(-1.0, 1.0, lanes)])
    t, h = jnp.full(lanes, 0.2), jnp.geomspace(1e-5, 0.3, lanes)   # error norms 8e-4 ... 6e9; lane 7 swaps rows
    tab = alg.tableau
    closed = jax.make_jaxpr(f)(u[:, 0], p[:, 0], t[0])
    closed_jac = jax.make_jaxpr(lambda u, p, t: _jacobians(FlatRHS(f, FlatSpec.of(u, u.dtype)), tab, u, p, t))(
        u[:, 0], p[:, 0], t[0])
    p_obj = _objects(tuple(p))

    def rhs(x, s):
        return tuple(_lanes.evaluate(closed, _objects(x), p_obj, _objects(s, scalar=True))[0].reshape(-1))

    def jacobians(x, s):
        jac, f_t = _lanes.evaluate(closed_jac, _objects(x), p_obj, _objects(s, scalar=True))
        return [list(row) for row in jac], tuple(f_t)

    # jitted: one compilation instead of one per operation
    u_new, error, stages, _ = jax.jit(lambda u, t, h: _RosenbrockLanes(rhs, jacobians, alg).step(u, t, h, None))(
        tuple(u), t, h)
    norm = alg.error_norm(1e-6, 1e-6)
    ref = jax.jit(jax.vmap(lambda u, p, t, h: alg.step(f, t, u, h, p, None, norm), in_axes=(1, 1, 0, 0)))(u, p, t, h)
    np.testing.assert_allclose(np.stack(u_new, axis=-1), ref.u, rtol=1e-13, atol=1e-13)
    errors = jax.jit(jax.vmap(norm, in_axes=(1, 1, 1)))(jnp.stack(error), u, jnp.stack(u_new))
    # the norm divides the error vector (a small difference of stages) by the tolerance 1e-6: its ~1e-16 round-off
    # becomes ~4e-10 here (measured); a wrong m_error would be off by orders of magnitude
    np.testing.assert_allclose(errors, ref.error, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(np.stack([np.stack(k, axis=-1) for k in stages], axis=1), ref.stages, rtol=1e-12,
                               atol=1e-12)


def test_lane_lu_pivots_per_lane():
    """The lane LU solves W x = b for 16 random 5×5 systems at once, each lane with its own row swaps (checked
    against numpy's LAPACK solve), including a lane whose leading entry is 0 (no solve without pivoting)."""
    from pysciml.ensembles.gpu_kernel_linalg import lu_factor, lu_solve
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(16, 5, 5)), rng.normal(size=(16, 5))
    a[3, 0, 0] = 0.0
    factors = lu_factor([[jnp.asarray(a[:, i, j]) for j in range(5)] for i in range(5)])
    assert len(set(np.asarray(factors[1][0]).tolist())) > 1     # lanes chose different first pivots
    x = np.stack(lu_solve(factors, tuple(jnp.asarray(b[:, i]) for i in range(5))), axis=-1)
    np.testing.assert_allclose(x, np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("alg", [ps.Tsit5(), ps.Rodas5P()], ids=["Tsit5", "Rodas5P"])
def test_kernel_lowers_to_triton_for_cuda(dtype, alg):
    """No GPU needed: exporting for CUDA runs Pallas' Triton lowering, which refuses arrays whose size is not a
    power of two (the kernel keeps each state component in a lane vector of trajectories, see _lanes) and has
    no LAPACK (the Rosenbrock stages solve with the lane LU of gpu_kernel_linalg)."""
    from pysciml.ensembles.gpu_kernel import _check, _run
    import jax
    eprob = sweep(dtype) if isinstance(alg, ps.Tsit5) else robertson_sweep(dtype, 1e5)
    config = _check(eprob, alg, dict(rtol=1e-6, atol=1e-6, saveat=jnp.linspace(0.0, 1.0, 5)))
    kernel = jax.jit(lambda indices, arrays: _run(eprob, alg, config, False, 32, indices, arrays))
    triton = "__gpu$xla.gpu.triton"
    exported = jax.export.export(kernel, platforms=["cuda"],
                                 disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(triton)])(
        jnp.arange(N), config.arrays)
    assert triton in exported.mlir_module()
