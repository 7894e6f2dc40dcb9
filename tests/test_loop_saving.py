"""Saving inside the integration loop: saveat windows and every-step chunks give the solution the method's
interpolant and steps define (checked against an exact solution and against the dense output, an
independent evaluation path), in every direction and density of requested times, under jit and vmap;
and the compiled step loop stays cheap (checked on its HLO, not by timing)."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

# u'' = -ω² u as a first-order system: u = (cos ωt, -ω sin ωt) from (1, 0).
OMEGA = 2.0


def oscillator(u, p, t):
    return jnp.stack([u[1], -p[0] ** 2 * u[0]])


def exact(t):
    t = np.asarray(t)
    return np.stack([np.cos(OMEGA * t), -OMEGA * np.sin(OMEGA * t)], axis=-1)


PROB = ps.ODEProblem(oscillator, jnp.array([1.0, 0.0]), (0.0, 6.0), jnp.array([OMEGA]))
TOL = dict(rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("alg", [ps.Tsit5(), ps.Vern7()], ids=["Tsit5", "Vern7"])
@pytest.mark.parametrize("n_saves, t1", [(7, 6.0), (100, 6.0), (2500, 6.0), (100, -6.0)],
                         ids=["few", "100", "many-per-step", "backward"])
def test_saveat_matches_dense_output_and_exact_solution(alg, n_saves, t1):
    prob = PROB.remake(tspan=(0.0, t1))
    ts = jnp.linspace(0.0, t1, n_saves)
    sol = ps.solve(prob, alg, saveat=ts, **TOL)
    dense = ps.solve(prob, alg, **TOL)   # every step, dense: the same steps, evaluated by locate_step
    assert sol.u.shape == (n_saves, 2) and sol.stats["naccept"] == dense.stats["naccept"]
    np.testing.assert_allclose(sol.u, dense(ts), rtol=0, atol=1e-11)
    np.testing.assert_array_equal(sol.u[0], prob.u0)
    np.testing.assert_allclose(sol.u[-1], dense.u[-1], rtol=0, atol=1e-14)
    # Global error within a few hundred tolerances (a perturbed ω = 2.001 would be off by ~1e-2).
    assert np.max(np.abs(np.asarray(sol.u) - exact(ts))) < 1e-6


def test_saveat_under_jit_and_vmap_matches_single_solves():
    ts = jnp.linspace(0.0, 6.0, 300)
    omegas = jnp.array([1.0, 2.0, 3.5])
    solve = lambda w: ps.solve(PROB.remake(p=jnp.array([w])), ps.Tsit5(), saveat=ts, **TOL).u  # noqa: E731
    batched = jax.jit(jax.vmap(solve))(omegas)
    for i, w in enumerate(omegas):
        np.testing.assert_allclose(batched[i], solve(w), rtol=0, atol=1e-13)


def test_saveat_times_at_start_and_repeated():
    ts = jnp.array([0.0, 0.0, 1.0, 1.0, 3.0, 6.0])
    sol = ps.solve(PROB, ps.Tsit5(), saveat=ts, **TOL)
    np.testing.assert_allclose(sol.u, exact(ts), atol=1e-7)
    np.testing.assert_array_equal(sol.u[2], sol.u[3])


def test_every_step_buffers_across_many_chunks():
    """Hundreds of steps (many chunks of the step loop): the saved steps are those taken, in order, and
    under jit the buffers are padded with the final time and state."""
    prob = PROB.remake(tspan=(0.0, 60.0))
    sol = ps.solve(prob, ps.Tsit5(), **TOL)
    n = int(sol.stats["naccept"])
    assert n > 200 and sol.t.shape == (n + 1,)
    assert np.all(np.diff(np.asarray(sol.t)) > 0)
    np.testing.assert_allclose(sol.u, exact(sol.t), atol=1e-5)
    np.testing.assert_allclose(sol(jnp.array([0.3, 33.3, 59.9])), exact([0.3, 33.3, 59.9]), atol=1e-5)
    jitted = jax.jit(lambda p: ps.solve(prob.remake(p=p), ps.Tsit5(), max_steps=2000, **TOL))(prob.p)
    np.testing.assert_array_equal(jitted.t[:n + 1], sol.t)
    np.testing.assert_array_equal(jitted.u[:n + 1], sol.u)
    np.testing.assert_array_equal(jitted.t[n + 1:], 60.0)
    np.testing.assert_array_equal(jitted.u[n + 1:], np.broadcast_to(sol.u[-1], (2000 - n, 2)))
    np.testing.assert_allclose(jitted(jnp.array([33.3])), sol(jnp.array([33.3])), rtol=0, atol=0)


def test_every_step_max_steps_smaller_than_a_chunk():
    with pytest.warns(RuntimeWarning, match="MaxIters"):
        sol = ps.solve(PROB, ps.Tsit5(), max_steps=3, **TOL)
    assert sol.retcode == ps.ReturnCode.MaxIters and sol.t.shape[0] <= 4
    np.testing.assert_allclose(sol.u, exact(sol.t), atol=1e-8)


# --- the compiled step loop ------------------------------------------------------------------------------

SMALL_BUFFER_BYTES = 512     # XLA:CPU runs a loop body sequentially only when its buffers are this small
_BYTES = {"f64": 8, "s64": 8, "u64": 8, "f32": 4, "s32": 4, "u32": 4, "pred": 1, "s8": 1, "u8": 1}


def _computations(hlo):
    comps, name = {}, None
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%?(\S+) .*\{$", line)
        if head:
            name = head.group(1)
            comps[name] = []
        elif line.startswith("}"):
            name = None
        elif name:
            comps[name].append(line)
    return comps


def _step_loop_body(fn, *args):
    """The innermost while body with the most instructions of the compiled ``fn``: the step loop."""
    comps = _computations(jax.jit(fn).lower(*args).compile().as_text())
    bodies = {m.group(1) for lines in comps.values() for line in lines
              for m in [re.search(r"while\(.*body=%?([\w.\-]+)", line)] if m}

    def has_loop(name, seen=()):
        """Whether computation ``name`` runs a while loop, itself or in a computation it calls (XLA:CPU wraps a
        loop it compiles as one kernel in a call: `pysciml._core.xla_setup`)."""
        lines = comps.get(name, [])
        called = {m for line in lines for m in re.findall(r"(?:to_apply|calls)=%?([\w.\-]+)", line)}
        return any(" while(" in line for line in lines) or any(has_loop(c, seen + (name,)) for c in called - set(seen))
    innermost = [b for b in bodies if not has_loop(b)]
    return max((comps[b] for b in innermost), key=len)


def _largest_array_bytes(lines):
    largest = 0
    for line in lines:
        for kind, dims in re.findall(r"= \(?(\w+)\[([\d,]*)\]", line):
            if kind in _BYTES and dims:
                largest = max(largest, _BYTES[kind] * int(np.prod([int(d) for d in dims.split(",")])))
    return largest


@pytest.mark.parametrize("options", [dict(saveat=jnp.linspace(0.0, 6.0, 100)), {}, dict(dense=False)],
                         ids=["saveat", "every-step-dense", "every-step"])
def test_step_loop_touches_no_large_buffer_and_has_no_nested_loop(options):
    """Saving must not put the save buffers (100 or max_steps rows) into the step loop: a loop body touching
    a buffer over 512 bytes is scheduled as a dataflow graph on CPU, about 0.7 µs per step, and a nested
    loop per step (locating requested times) costs as much again. Both once made saving 4x the solve."""
    if jax.default_backend() != "cpu":
        pytest.skip("XLA:CPU scheduling")

    def run(p):
        sol = ps.solve(PROB.remake(p=p), ps.Tsit5(), **TOL, **options)
        return sol.t, sol.u, sol.dense

    body = _step_loop_body(run, PROB.p)
    assert _largest_array_bytes(body) <= SMALL_BUFFER_BYTES
    assert not any(" while(" in line or " conditional(" in line for line in body)


def test_many_saves_per_step_at_an_event_time_report_the_state_before_the_affect():
    """Regression: when a step passes more requested times than the step loop fills, the outer loop fills
    them from the step's record; a requested time at a dose (an affect at the step's end) must get the state
    before the dose, as the in-step fill and the every-step solution do."""
    doses = jnp.array([1.0, 2.0])
    prob = ps.ODEProblem(lambda u, p, t: -0.5 * u, jnp.array([1.0]), (0.0, 3.0))
    bolus = ps.PresetTimeCallback(doses, lambda u, p, t: u + 1.0)
    ts = np.linspace(0.0, 3.0, 301)                   # ~100 requested times per step of a linear decay
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-8, atol=1e-10, saveat=ts, callback=bolus)
    before = lambda d: (np.asarray(doses)[None, :] < ts[:, None]) * np.exp(-0.5 * (ts[:, None] - np.asarray(doses)))
    exact = np.exp(-0.5 * ts) + before(doses).sum(axis=1)
    assert sol.stats["naccept"] < 60                  # several saves per step: the outer fill is exercised
    np.testing.assert_allclose(np.asarray(sol.u[:, 0]), exact, rtol=1e-7)


# --- lanes of a named batch (EnsembleVmap) -----------------------------------------------------------------

@pytest.mark.parametrize("alg, n_saves", [(ps.Tsit5(), 300), (ps.Vern7(), 40)], ids=["Tsit5-many", "Vern7-few"])
def test_ensemble_vmap_lanes_match_single_solves_and_exact_solution(alg, n_saves):
    """EnsembleVmap runs the loop as lanes of its named batch (integrate.lanes: a condition reduced over the
    batch, saves scattered by each lane): members with different ω finish at different steps, and 300 times
    over ~70 steps make steps pass several (the lanes' refill loop). Each member must equal its own solve (the
    chunked single-trajectory path) to rounding, with the same step and evaluation counts (Vern7's extra
    interpolation stages counted per member), and the exact solution within the tolerance's reach."""
    ts = jnp.linspace(0.0, 6.0, n_saves)
    omegas = jnp.array([1.0, 2.0, 3.5, 0.5])
    eprob = ps.EnsembleProblem(PROB, prob_func=lambda prob, i, repeat: prob.remake(p=omegas[i][None]),
                               output_func=lambda sol, i: (sol.u, sol.stats["nf"], sol.stats["naccept"]))
    us, nf, naccept = ps.solve(eprob, alg, ps.EnsembleVmap(), trajectories=4, saveat=ts, **TOL).u
    for i, w in enumerate(np.asarray(omegas)):
        single = ps.solve(PROB.remake(p=jnp.array([w])), alg, saveat=ts, **TOL)
        np.testing.assert_allclose(us[i], single.u, rtol=0, atol=1e-12)
        assert int(nf[i]) == int(single.stats["nf"]) and int(naccept[i]) == int(single.stats["naccept"])
        u_exact = np.stack([np.cos(w * ts), -w * np.sin(w * ts)], axis=-1)
        assert np.max(np.abs(np.asarray(us[i]) - u_exact)) < 1e-6 * max(w, 1.0)   # ω·1.001 is off by ~1e-2


def test_lane_axis_is_bound_only_inside_its_vmap():
    from pysciml.integrate.lanes import bound_axis, lane_axis

    seen = []

    def one(x):
        with lane_axis("members"):
            seen.append(bound_axis())
        seen.append(bound_axis())      # outside the block: not marked
        return x

    jax.vmap(one, axis_name="members")(jnp.zeros(2))
    with lane_axis("members"):
        seen.append(bound_axis())      # marked, but no batch of that name: a plain solve
    assert seen == ["members", None, None]


def test_jitted_solution_returns_its_return_code_and_counters_as_one_leaf():
    """Each array a jitted function returns costs about 1.3 µs on CPU: a traced solution packs its return code
    and counters into one integer leaf, unpacked when read, equal to an unjitted solve's; under vmap each
    counter keeps the batch axis."""
    run = jax.jit(lambda p: ps.solve(PROB.remake(p=p), ps.Tsit5(), **TOL))
    sol, ref = run(PROB.p), ps.solve(PROB, ps.Tsit5(), **TOL)
    ints = [leaf for leaf in jax.tree_util.tree_leaves(sol) if jnp.issubdtype(leaf.dtype, jnp.integer)]
    assert len(ints) == 2      # [retcode, nf, nsteps, naccept, nreject] and the dense output's step count
    assert sol.retcode == ref.retcode == ps.ReturnCode.Success and sol.success
    assert {k: int(v) for k, v in sol.stats.items()} == {k: int(v) for k, v in ref.stats.items()}
    batched = jax.jit(jax.vmap(lambda w: ps.solve(PROB.remake(p=w[None]), ps.Tsit5(), **TOL)))(jnp.array([OMEGA, 3.0]))
    assert batched.stats["naccept"].shape == (2,) and batched._retcode.shape == (2,)
    assert int(batched.stats["naccept"][0]) == int(ref.stats["naccept"])
