"""solve() behaviour: jit, vmap, forward-mode AD, backwards integration, pytrees, float32, saving options,
tstops, statistics and the problem type."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import exact_decay_problem, lotka_volterra, robertson

LV = lotka_volterra()
TOL = dict(rtol=1e-9, atol=1e-11)


def lv_final(p, u0=LV.u0, tspan=LV.tspan):
    return ps.solve(LV.remake(p=p, u0=u0, tspan=tspan), ps.Tsit5(), save_everystep=False, **TOL).u[-1]


def test_jit_matches_eager():
    eager = lv_final(LV.p)
    jitted = jax.jit(lv_final)(LV.p)
    np.testing.assert_allclose(jitted, eager, rtol=1e-13)


def test_vmap_over_parameters_initial_states_and_spans():
    ps_ = LV.p * jnp.linspace(0.9, 1.1, 4)[:, None]
    batched = jax.jit(jax.vmap(lv_final))(ps_)
    for i in range(4):
        np.testing.assert_allclose(batched[i], lv_final(ps_[i]), rtol=1e-12)
    u0s = jnp.array([[1.0, 1.0], [2.0, 0.5]])
    batched = jax.vmap(lambda u0: lv_final(LV.p, u0=u0))(u0s)
    np.testing.assert_allclose(batched[1], lv_final(LV.p, u0=u0s[1]), rtol=1e-12)
    ends = jnp.array([5.0, 10.0])
    batched = jax.vmap(lambda t1: lv_final(LV.p, tspan=(0.0, t1)))(ends)
    np.testing.assert_allclose(batched[0], lv_final(LV.p, tspan=(0.0, 5.0)), rtol=1e-12)


def test_forward_mode_gradients_match_finite_differences():
    jac = jax.jacfwd(lv_final)(LV.p)
    eps = 1e-6
    fd = np.stack([(lv_final(LV.p.at[j].add(eps)) - lv_final(LV.p.at[j].add(-eps))) / (2 * eps)
                   for j in range(4)], axis=1)
    np.testing.assert_allclose(jac, fd, rtol=1e-4, atol=1e-6)
    # jvp with respect to the initial state of the exact linear problem: d u(t)/d u0 = exp(-p t)
    prob, _ = exact_decay_problem((0.0, 2.0))
    solve_u0 = lambda u0: ps.solve(prob.remake(u0=u0), ps.Vern7(), save_everystep=False, **TOL).u[-1]
    _, tangent = jax.jvp(solve_u0, (prob.u0,), (jnp.array([1.0, 0.0]),))
    np.testing.assert_allclose(tangent, [np.exp(-0.7 * 2.0), 0.0], atol=1e-9)


def test_backwards_integration_returns_to_start():
    forward = ps.solve(LV, ps.Vern9(), save_everystep=False, **TOL)
    back = ps.solve(LV.remake(u0=forward.u[-1], tspan=(10.0, 0.0)), ps.Vern9(), **TOL)
    assert back.retcode == ps.ReturnCode.Success
    assert np.all(np.diff(np.asarray(back.t)) < 0)
    np.testing.assert_allclose(back.u[-1], LV.u0, atol=1e-7)
    # dense output and saveat work backwards too
    prob, exact = exact_decay_problem((2.0, 0.0))
    prob = prob.remake(u0=jnp.asarray(exact(np.array(0.0)) * np.exp(-0.7 * 2.0)))
    sol = ps.solve(prob, ps.Tsit5(), **TOL)
    ts = np.linspace(2.0, 0.0, 9)
    expected = np.exp(-0.7 * (ts[:, None] - 2.0)) * np.asarray(prob.u0)
    np.testing.assert_allclose(sol(ts), expected, rtol=1e-8)
    saved = ps.solve(prob, ps.Tsit5(), saveat=ts, **TOL)
    np.testing.assert_allclose(saved.u, expected, rtol=1e-8)


def test_pytree_state():
    def rhs(u, p, t):
        return {"x": -p * u["x"], "v": jnp.stack([u["v"][1], -u["v"][0]])}

    u0 = {"x": jnp.array([[1.0, 2.0]]), "v": jnp.array([1.0, 0.0])}
    sol = ps.solve(ps.ODEProblem(rhs, u0, (0.0, 1.0), 0.5), ps.Tsit5(), saveat=jnp.array([0.0, 0.5, 1.0]), **TOL)
    assert sol.u["x"].shape == (3, 1, 2) and sol.u["v"].shape == (3, 2)
    np.testing.assert_allclose(sol.u["x"][-1], np.exp(-0.5) * np.array([[1.0, 2.0]]), rtol=1e-8)
    np.testing.assert_allclose(sol.u["v"][-1], [np.cos(1.0), -np.sin(1.0)], rtol=1e-8)
    dense = ps.solve(ps.ODEProblem(rhs, u0, (0.0, 1.0), 0.5), ps.Tsit5(), **TOL)
    np.testing.assert_allclose(dense(0.25)["v"], [np.cos(0.25), -np.sin(0.25)], rtol=1e-8)


def test_lists_of_numbers_are_arrays_and_lists_of_arrays_are_pytrees():
    as_list = ps.ODEProblem(LV.f, [1.0, 1.0], LV.tspan, LV.p)
    assert isinstance(as_list.u0, jax.Array) and as_list.u0.shape == (2,)
    np.testing.assert_allclose(ps.solve(as_list, ps.Tsit5(), **TOL).u[-1], lv_final(LV.p), rtol=1e-12)
    assert ps.ODEProblem(lambda u, p, t: -u, ((1, 2), (3, 4)), (0.0, 1.0)).u0.shape == (2, 2)
    assert LV.remake(u0=(1.0, 1.0)).u0.shape == (2,)
    # a tuple of arrays of different shapes is a pytree state
    rhs = lambda u, p, t: (-u[0], -2.0 * u[1])
    tree = ps.ODEProblem(rhs, (jnp.ones(3), jnp.ones((2, 2))), (0.0, 1.0))
    sol = ps.solve(tree, ps.Tsit5(), save_everystep=False, **TOL)
    np.testing.assert_allclose(sol.u[1][-1], np.full((2, 2), np.exp(-2.0)), rtol=1e-8)


def test_float32_state_solves_in_float32():
    prob, exact = exact_decay_problem((0.0, 1.0))
    sol = ps.solve(prob.remake(u0=prob.u0.astype(jnp.float32)), ps.Tsit5(), rtol=1e-5, atol=1e-6)
    assert sol.u.dtype == jnp.float32 and sol.t.dtype == jnp.float32
    np.testing.assert_allclose(sol.u[-1], exact(1.0), rtol=1e-4)


def test_tolerance_below_float32_precision_warns_before_solving():
    prob, _ = exact_decay_problem((0.0, 1.0))
    f32 = prob.remake(u0=prob.u0.astype(jnp.float32))
    with pytest.warns(UserWarning, match=r"rtol=1e-10 is below the precision of float32.*float64.*rtol >= 1e-06"):
        with pytest.raises(ValueError, match="max_steps"):   # stop right after the warning: no solve needed
            ps.solve(f32, ps.Tsit5(), rtol=1e-10, max_steps=0)
    with pytest.warns(UserWarning, match="below the precision of float64"):
        with pytest.raises(ValueError, match="max_steps"):
            ps.solve(prob, ps.Tsit5(), rtol=1e-17, max_steps=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps.solve(f32, ps.Tsit5(), rtol=1e-5, atol=1e-6, save_everystep=False)   # reachable: no warning


def test_integer_u0_is_promoted():
    prob = ps.ODEProblem(lambda u, p, t: -u, jnp.array([1, 2]), (0.0, 1.0))
    sol = ps.solve(prob, **TOL)
    assert sol.u.dtype == jnp.float64
    np.testing.assert_allclose(sol.u[-1], np.exp(-1.0) * np.array([1.0, 2.0]), rtol=1e-8)


def test_saveat_array_spacing_and_save_start():
    ts = jnp.linspace(0.0, 10.0, 11)
    sol = ps.solve(LV, ps.Tsit5(), saveat=ts, **TOL)
    dense = ps.solve(LV, ps.Tsit5(), **TOL)
    np.testing.assert_allclose(sol.t, ts)
    np.testing.assert_allclose(sol.u, dense(ts), rtol=1e-7)
    spaced = ps.solve(LV, ps.Tsit5(), saveat=2.5, **TOL)
    np.testing.assert_allclose(spaced.t, [0.0, 2.5, 5.0, 7.5, 10.0])
    ends = ps.solve(LV, ps.Tsit5(), save_everystep=False, **TOL)
    np.testing.assert_allclose(ends.t, [0.0, 10.0])
    only_end = ps.solve(LV, ps.Tsit5(), save_everystep=False, save_start=False, **TOL)
    np.testing.assert_allclose(only_end.t, [10.0])
    # saveat + dense: saved values and a callable solution
    both = ps.solve(LV, ps.Tsit5(), saveat=ts, dense=True, **TOL)
    np.testing.assert_allclose(both.u, sol.u, rtol=1e-7)
    np.testing.assert_allclose(both(3.3), dense(3.3), rtol=1e-12)
    with pytest.raises(ValueError, match="dense output"):
        sol(3.3)
    # save_start=False drops t0 from saveat too (DifferentialEquations.jl), eagerly and under jit
    no_start = ps.solve(LV, ps.Tsit5(), saveat=ts, save_start=False, **TOL)
    np.testing.assert_allclose(no_start.t, ts[1:])
    np.testing.assert_allclose(no_start.u, sol.u[1:], rtol=1e-12)
    np.testing.assert_allclose(ps.solve(LV, ps.Tsit5(), saveat=2.5, save_start=False, **TOL).t, [2.5, 5.0, 7.5, 10.0])
    jitted = jax.jit(lambda p: ps.solve(LV.remake(p=p), ps.Tsit5(), saveat=np.asarray(ts), save_start=False, **TOL).u)
    np.testing.assert_allclose(jitted(LV.p), sol.u[1:], rtol=1e-12)
    later = ps.solve(LV, ps.Tsit5(), saveat=ts[3:], save_start=False, **TOL)   # t0 not in saveat: nothing to drop
    np.testing.assert_allclose(later.t, ts[3:])
    with pytest.raises(ValueError, match="save_start=False with a traced saveat"):
        jax.jit(lambda s: ps.solve(LV, ps.Tsit5(), saveat=s, save_start=False).u)(ts)


def test_tstops_are_hit_exactly_and_do_not_disturb_accuracy():
    stops = jnp.array([1.2345678, 3.14159, 7.0])
    sol = ps.solve(LV, ps.Tsit5(), tstops=stops, **TOL)
    saved = np.asarray(sol.t)
    for stop in np.asarray(stops):
        assert stop in saved
    np.testing.assert_allclose(sol.u[-1], ps.solve(LV, ps.Tsit5(), **TOL).u[-1], rtol=1e-7)
    # under jit, with traced stop times
    end = jax.jit(lambda s: ps.solve(LV, ps.Tsit5(), tstops=s, save_everystep=False, **TOL).u[-1])(stops)
    np.testing.assert_allclose(end, sol.u[-1], rtol=1e-12)


def test_dense_output_inside_jit_and_padding():
    @jax.jit
    def run(p):
        sol = ps.solve(LV.remake(p=p), ps.Tsit5(), **TOL)
        return sol(jnp.array([0.5, 5.0])), sol.t, sol.stats["naccept"]

    values, ts, n_accept = run(LV.p)
    eager = ps.solve(LV, ps.Tsit5(), **TOL)
    np.testing.assert_allclose(values, eager(jnp.array([0.5, 5.0])), rtol=1e-12)
    # inside jit the buffer has max_steps + 1 entries, padded with the final time
    assert ts.shape == (ps.solve.__defaults__ and 10_001,) or ts.shape[0] == 10_001
    n = int(n_accept) + 1
    np.testing.assert_allclose(ts[:n], eager.t)
    assert np.all(np.asarray(ts[n:]) == 10.0)


def test_dense_output_refuses_to_extrapolate():
    """sol(t) outside the covered span raises outside jit (DifferentialEquations.jl's rule) and is NaN
    inside jit; the end points themselves are inside."""
    sol = ps.solve(LV, ps.Tsit5(), **TOL)
    np.testing.assert_allclose(sol(10.0), sol.u[-1], rtol=1e-12)
    np.testing.assert_allclose(sol(0.0), LV.u0, rtol=1e-14)
    for t in (12.0, -0.5, jnp.array([1.0, 10.5])):
        with pytest.raises(ValueError, match=r"sol\(t\): t = .* outside the solution's span \[0, 10\]"):
            sol(t)
    inside_jit = jax.jit(lambda t: ps.solve(LV, ps.Tsit5(), **TOL)(t))(jnp.array([5.0, 12.0, -1.0]))
    np.testing.assert_allclose(inside_jit[0], sol(5.0), rtol=1e-12)
    assert np.all(np.isnan(np.asarray(inside_jit[1:])))
    # backwards in time: the span is [t1, t0]
    back = ps.solve(LV.remake(tspan=(10.0, 5.0)), ps.Tsit5(), **TOL)
    back(7.0)
    with pytest.raises(ValueError, match="outside"):
        back(4.0)


def count_compilations(run):
    """The number of XLA compilations while run() executes (jax.monitoring's backend-compile event)."""
    from jax._src import dispatch, monitoring

    count = [0]

    def listener(event, duration, **kwargs):
        if event == dispatch.BACKEND_COMPILE_EVENT:
            count[0] += 1

    monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        monitoring.unregister_event_duration_listener(listener)
    return count[0]


def test_eager_solves_do_not_recompile_for_a_new_step_count():
    """Outside jit, the fixed-size output buffers are trimmed to the steps taken; done with eager jax slices
    this compiled one program per step count (~60 ms per solve)."""
    tree = ps.ODEProblem(lambda u, p, t: {"a": -p * u["a"], "b": p * u["a"][None, :]},
                         {"a": jnp.ones(2), "b": jnp.zeros((1, 2))}, (0.0, 1.0), 1.0)

    def run(t1):
        sol = ps.solve(LV.remake(tspan=(0.0, t1)), ps.Tsit5(), rtol=1e-6, atol=1e-8)
        tree_sol = ps.solve(tree.remake(tspan=(0.0, t1)), ps.Tsit5(), rtol=1e-6, atol=1e-8, save_start=False)
        return sol, sol.u, sol(0.5), tree_sol.u, tree_sol(0.5)

    first = run(3.0)       # compiles the loops
    assert count_compilations(lambda: run(3.0)) == 0
    counts = {first[0].t.shape[0]}
    for t1 in (5.0, 7.0):
        again = []
        assert count_compilations(lambda: again.append(run(t1))) == 0
        sol, _, _, tree_u, _ = again[0]
        counts.add(sol.t.shape[0])
        assert tree_u["b"].shape[1:] == (1, 2)
    assert len(counts) == 3   # three different step counts, no compilation after the first


def test_statistics_are_consistent():
    sol = ps.solve(LV, ps.DP5(), save_everystep=False, **TOL)
    st = {k: int(v) for k, v in sol.stats.items()}
    assert st["nsteps"] == st["naccept"] + st["nreject"]
    # DP5 is FSAL: 6 new evaluations a step, plus f(u0) and one for the initial step estimate
    assert st["nf"] == 6 * st["nsteps"] + 2
    rk4 = ps.solve(LV, ps.RK4(), dt=0.01)
    assert int(rk4.stats["naccept"]) == 1000 and int(rk4.stats["nf"]) == 4000
    assert len(rk4.t) == 1001


def test_controllers_and_default_algorithm():
    default = ps.solve(LV, save_everystep=False, **TOL)
    assert default.alg == ps.AutoVern7(ps.Rodas5P())           # tight tolerance
    assert int(default.stats["stiff_steps"]) == 0              # and LV is not stiff
    assert ps.solve(LV, save_everystep=False).alg == ps.AutoTsit5(ps.Rodas5P())
    stiff = ps.solve(robertson((0.0, 100.0)), save_everystep=False)   # the default copes with stiffness
    assert stiff.success and int(stiff.stats["stiff_steps"]) > 0
    assert abs(float(jnp.sum(stiff.u[-1])) - 1.0) < 1e-6
    pid = ps.solve(LV, ps.Tsit5(), controller=ps.PIDController(), save_everystep=False, **TOL)
    np.testing.assert_allclose(pid.u[-1], default.u[-1], rtol=1e-6)
    by_name = ps.solve(LV, "vern7", save_everystep=False, **TOL)
    np.testing.assert_allclose(by_name.u[-1], default.u[-1], rtol=1e-6)


def test_per_component_tolerances():
    prob = ps.ODEProblem(lambda u, p, t: -u, jnp.array([1.0, 1e-6]), (0.0, 5.0))
    # rtol negligible: each component's accuracy is set by its own atol
    loose = ps.solve(prob, ps.Tsit5(), rtol=1e-14, atol=jnp.array([1e-6, 1e-6]))
    tight = ps.solve(prob, ps.Tsit5(), rtol=1e-14, atol=jnp.array([1e-6, 1e-13]))
    exact = np.exp(-5.0) * 1e-6
    assert abs(float(tight.u[-1, 1]) - exact) < abs(float(loose.u[-1, 1]) - exact) / 5
    assert int(tight.stats["naccept"]) > int(loose.stats["naccept"])


def test_problem_is_immutable_and_remake_copies():
    prob = LV.remake(p=jnp.ones(4))
    assert prob is not LV and np.all(np.asarray(prob.p) == 1.0) and float(LV.p[0]) == 1.5
    with pytest.raises(Exception):
        LV.u0 = jnp.zeros(2)
    with pytest.raises(TypeError, match="unknown field"):
        LV.remake(q=1)
    leaves, treedef = jax.tree_util.tree_flatten(LV)
    assert jax.tree_util.tree_unflatten(treedef, leaves).f is LV.f


def test_solution_plot_draws_each_component(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ps.solve(LV, ps.Tsit5()).plot(labels=["prey", "predator"])
    assert [line.get_label() for line in ax.get_lines()] == ["prey", "predator"]
    plt.savefig(tmp_path / "lv.png")
    plt.close("all")


def test_traced_stops_at_the_current_time_are_empty_steps():
    """Traced tstops are clamped into the span, so some fall on t0 or repeat: zero-length steps, which an
    implicit method must skip rather than divide by dt = 0."""
    prob = robertson((0.0, 10.0))
    run = jax.jit(lambda stops: ps.solve(prob, ps.Rodas5P(), tstops=stops, save_everystep=False, rtol=1e-6))
    sol = run(jnp.array([-1.0, 0.0, 1.0, 1.0, 10.0]))
    plain = ps.solve(prob, ps.Rodas5P(), save_everystep=False, rtol=1e-6)
    assert int(sol.retcode) == ps.ReturnCode.Success
    np.testing.assert_allclose(sol.u[-1], plain.u[-1], rtol=1e-5, atol=1e-9)
