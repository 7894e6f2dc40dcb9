"""Bad input gets a clear error naming the argument, before compilation; numerical failure is a return
code plus a warning outside jit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import lotka_volterra

LV = lotka_volterra()


@pytest.mark.parametrize("tspan,match", [
    ((0.0,), "two numbers"), ((0.0, np.inf), "finite"), ((1.0, 1.0), "t0 != t1"), ("ab", "two numbers"),
    ((0.0, np.nan), "finite"), ((jnp.zeros(2), 1.0), "scalar")])
def test_bad_tspan(tspan, match):
    with pytest.raises(ValueError, match=match):
        ps.ODEProblem(LV.f, LV.u0, tspan, LV.p)


def test_bad_u0_and_f():
    with pytest.raises(ValueError, match="u0 must be finite"):
        ps.ODEProblem(LV.f, jnp.array([1.0, jnp.nan]), (0.0, 1.0), LV.p)
    with pytest.raises(TypeError, match="f must be callable"):
        ps.ODEProblem("not a function", LV.u0, (0.0, 1.0))


def test_f_with_wrong_shape_or_dtype_is_named():
    wrong_shape = ps.ODEProblem(lambda u, p, t: jnp.zeros(3), jnp.ones(2), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"f returned shape \(3,\) but u0 has shape \(2,\)"):
        ps.solve(wrong_shape)
    wrong_dtype = ps.ODEProblem(lambda u, p, t: jnp.array([1, 2]), jnp.ones(2), (0.0, 1.0))
    with pytest.raises(TypeError, match="f returned dtype int"):
        ps.solve(wrong_dtype)


@pytest.mark.parametrize("kwargs,match", [
    (dict(rtol=0.0), "rtol must be positive"), (dict(atol=-1e-8), "atol must be positive"),
    (dict(atol=jnp.ones(3)), "atol must be a positive scalar or shaped like u0"),
    (dict(rtol=np.nan), "rtol must be positive"),
    (dict(saveat=jnp.array([0.0, 11.0])), "saveat times must lie within tspan"),
    (dict(saveat=jnp.array([2.0, 1.0])), "saveat must be sorted"),
    (dict(saveat=jnp.zeros((2, 2))), "saveat must be a non-empty 1-D array"),
    (dict(saveat=-1.0), "spacing and must be positive"),
    (dict(max_steps=0), "max_steps must be a positive integer"),
    (dict(max_steps=2.5), "max_steps must be a positive integer"),
    (dict(dt=0.0), "dt must be a finite non-zero number"),
    (dict(dtmax=-1.0), "dtmax must be"),
    (dict(tstops=jnp.array([np.inf])), "tstops must hold finite times"),
    (dict(controller="PI"), "controller: expected"),
    (dict(saveat=jnp.array([1.0]), save_everystep=True), "exclusive"),
])
def test_bad_solve_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ps.solve(LV, ps.Tsit5(), **kwargs)


def test_bad_algorithm_choices():
    with pytest.raises(ValueError, match="unknown algorithm 'rk45'"):
        ps.solve(LV, "rk45")
    with pytest.raises(TypeError, match="alg: expected an algorithm"):
        ps.solve(LV, 42)
    with pytest.raises(ValueError, match="dt: a fixed-step solve"):
        ps.solve(LV, ps.RK4())
    with pytest.raises(ValueError, match="adaptive: RK4\\(\\) has no error estimate"):
        ps.solve(LV, ps.RK4(), dt=0.1, adaptive=True)
    with pytest.raises(ValueError, match="dt: a fixed-step solve"):
        ps.solve(LV, ps.Tsit5(), adaptive=False)
    with pytest.raises(TypeError, match="prob must be an ODEProblem"):
        ps.solve({"f": LV.f})


@pytest.mark.parametrize("kwargs,match", [
    (dict(reltol=1e-6), r"solve\(\) got an unexpected keyword argument: 'reltol' is DifferentialEquations.jl's "
                        r"spelling: in pysciml use rtol"),
    (dict(abstol=1e-8), "in pysciml use atol"),
    (dict(maxiters=10), "in pysciml use max_steps"),
    (dict(qmax=5.0), r"controller=PIController\(qmax=...\)"),
    (dict(progress=True), "'progress' .* has no pysciml counterpart"),
    (dict(rtoll=1e-3), "'rtoll' is not an option \\(did you mean 'rtol'\\?\\)"),
    (dict(trajectories=4), "solve: option\\(s\\) trajectories do not apply to ODEProblem"),
    (dict(track_discontinuities=False), "do not apply to ODEProblem"),
])
def test_unknown_and_julia_keywords_name_solve_and_the_pysciml_spelling(kwargs, match):
    with pytest.raises(TypeError, match=match):
        ps.solve(LV, ps.Tsit5(), **kwargs)


def test_solve_has_a_real_signature_and_options_table():
    import inspect

    params = inspect.signature(ps.solve).parameters
    assert list(params)[:3] == ["prob", "alg", "ensemble_alg"]
    options = [name for name, p in params.items() if p.kind == p.KEYWORD_ONLY]
    for name in options:   # every option is in the docstring's table
        assert name in ps.solve.__doc__, name
    assert params["rtol"].default == 1e-3 and params["atol"].default == 1e-6
    # every problem type's implementation has the same defaults as the public signature (None: the type's
    # own default where the option means something else, e.g. a jump process counts jumps, not steps)
    from pysciml.solve import _solver_for
    for kind, impl in _solver_for.registry.items():
        for name, p in inspect.signature(impl).parameters.items():
            if name in options and p.default is not p.empty and p.default is not None:
                assert p.default == params[name].default, (kind, name)
    with pytest.raises(TypeError, match="ensemble_alg=EnsembleVmap\\(\\) is for an EnsembleProblem"):
        ps.solve(LV, ps.Tsit5(), ps.EnsembleVmap())
    for word in ("mlp(x, params)", "init(jax.random.key(0))"):
        assert word in ps.nn.MLP.__doc__


def test_errors_are_raised_before_compilation(monkeypatch):
    import importlib

    pipeline = importlib.import_module("pysciml.solve.pipeline")

    def fail(*args):
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(pipeline, "compiled_loop", fail)
    with pytest.raises(ValueError, match="rtol"):
        ps.solve(LV, ps.Tsit5(), rtol=-1.0)


# --- return codes -----------------------------------------------------------------------------------

def van_der_pol_stiff():
    def rhs(u, p, t):
        return jnp.stack([u[1], p * ((1 - u[0] ** 2) * u[1] - u[0])])
    return ps.ODEProblem(rhs, jnp.array([2.0, 0.0]), (0.0, 2.0), 1e6)


def test_stiff_problem_gives_maxiters_and_says_to_use_a_stiff_method():
    with pytest.warns(RuntimeWarning, match="MaxIters.*looks stiff.*stiff \\(implicit\\) method"):
        sol = ps.solve(van_der_pol_stiff(), ps.Tsit5(), max_steps=2000, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.MaxIters and not sol.success
    assert "stiff" in sol.retcode.message


def test_blow_up_gives_dt_less_than_min():
    blow_up = ps.ODEProblem(lambda u, p, t: u ** 2, jnp.array([1.0]), (0.0, 2.0))   # u = 1/(1 − t)
    with pytest.warns(RuntimeWarning, match="DtLessThanMin"):
        sol = ps.solve(blow_up, ps.Tsit5(), save_everystep=False)
    assert sol.retcode == ps.ReturnCode.DtLessThanMin
    assert 0.99 < float(sol.t[-1]) < 1.0


def test_nan_gives_unstable_in_fixed_and_adaptive_mode():
    blow_up = ps.ODEProblem(lambda u, p, t: u ** 2, jnp.array([10.0]), (0.0, 10.0))
    with pytest.warns(RuntimeWarning, match="Unstable"):
        fixed = ps.solve(blow_up, ps.Euler(), dt=0.5)
    assert fixed.retcode == ps.ReturnCode.Unstable
    nan_after_one = ps.ODEProblem(lambda u, p, t: jnp.where(t > 1.0, jnp.nan, -u), jnp.array([1.0]), (0.0, 2.0))
    with pytest.warns(RuntimeWarning, match="Unstable.*NaN/Inf"):
        adaptive = ps.solve(nan_after_one, ps.Tsit5())
    assert adaptive.retcode == ps.ReturnCode.Unstable
    assert float(adaptive.t[-1]) == pytest.approx(1.0, abs=1e-6)


def test_return_codes_inside_jit_are_arrays_and_do_not_warn():
    code = jax.jit(lambda: ps.solve(van_der_pol_stiff(), ps.Tsit5(), max_steps=100, save_everystep=False).retcode)()
    assert int(code) == ps.ReturnCode.MaxIters


def test_every_return_code_has_an_actionable_message():
    for code in ps.ReturnCode:
        assert len(code.message) > 20
    assert ps.ReturnCode.Terminated.successful and not ps.ReturnCode.Unstable.successful
    assert str(ps.ReturnCode.Success) == "ReturnCode.Success"


def test_forgotten_p_and_julia_in_place_f_are_explained():
    def lv(u, p, t):
        a, b, c, d = p
        x, y = u
        return jnp.array([a * x - b * x * y, -c * y + d * x * y])

    with pytest.raises(TypeError, match=r"failed with p=None .*pass them as ODEProblem\(f, u0, tspan, p\)"):
        ps.solve(ps.ODEProblem(lv, jnp.ones(2), (0.0, 1.0)), ps.Tsit5())

    def lv_in_place(du, u, p, t):
        du[0] = u[0]

    with pytest.raises(TypeError, match=r"Julia's in-place form f!\(du, u, p, t\).*out of place"):
        ps.ODEProblem(lv_in_place, jnp.ones(2), (0.0, 1.0), LV.p)
    with pytest.raises(TypeError, match=r"f2 takes four arguments"):
        ps.SplitODEProblem(lambda u, p, t: -u, lv_in_place, jnp.ones(2), (0.0, 1.0))
    with pytest.raises(TypeError, match=r"must accept three arguments, f\(u, p, t\); it takes \(u, t\)"):
        ps.ODEProblem(lambda u, t: -u, jnp.ones(2), (0.0, 1.0))
    with pytest.raises(TypeError, match="f returned None"):
        ps.solve(ps.ODEProblem(lambda u, p, t: None, jnp.ones(2), (0.0, 1.0)), ps.Tsit5())
    # optional extra arguments and *args are fine
    ps.ODEProblem(lambda u, p, t, scale=1.0: -scale * u, jnp.ones(2), (0.0, 1.0))
    ps.ODEProblem(lambda *args: -args[0], jnp.ones(2), (0.0, 1.0))
