"""pysciml raises XLA:CPU's small-loop limit at import (src/pysciml/_core/xla_setup.py): only before a backend
starts, never over the user's own choice, not when opted out; in this process (pysciml imported by conftest
before any computation) it took effect, and the jump simulator's plain-step loop is compiled as one kernel."""
import os

import jax.numpy as jnp
import pytest

import pysciml as ps
from pysciml._core import xla_setup

OPTION = f"--xla_backend_extra_options={xla_setup.OPTION}={xla_setup.THRESHOLD}"


@pytest.fixture
def fresh(monkeypatch):
    """configure() as at a first import, before any backend started; the process's record restored after."""
    monkeypatch.setattr(xla_setup, "_state", {"threshold": None})
    monkeypatch.setattr(xla_setup, "_backend_started", lambda: False)


def test_the_limit_is_added_to_the_flags_before_jax_starts(fresh):
    env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    xla_setup.configure(env)
    assert env["XLA_FLAGS"] == f"--xla_cpu_multi_thread_eigen=false {OPTION}"
    assert xla_setup.small_loop_threshold() == xla_setup.THRESHOLD
    env = {}
    xla_setup.configure(env)
    assert env["XLA_FLAGS"] == OPTION


def test_the_users_choice_and_the_opt_out_stand(fresh, monkeypatch):
    mine = f"--xla_backend_extra_options={xla_setup.OPTION}=4096"
    env = {"XLA_FLAGS": mine}
    xla_setup.configure(env)
    assert env == {"XLA_FLAGS": mine} and xla_setup.small_loop_threshold() == 4096
    other = "--xla_backend_extra_options=xla_cpu_disable_loop_unrolling=true"
    xla_setup.configure(env := {"XLA_FLAGS": other})
    assert env == {"XLA_FLAGS": other}
    xla_setup._state["threshold"] = None
    xla_setup.configure(env := {"PYSCIML_XLA_DEFAULTS": "0"})
    assert "XLA_FLAGS" not in env and xla_setup.small_loop_threshold() == 1024


def test_nothing_changes_once_a_backend_has_started(monkeypatch):
    monkeypatch.setattr(xla_setup, "_state", {"threshold": None})
    jnp.ones(2).block_until_ready()
    assert xla_setup._backend_started()
    env = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    xla_setup.configure(env)
    assert env == {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    assert xla_setup.small_loop_threshold() == 1024


def test_in_this_process_the_jump_loop_is_one_kernel():
    assert xla_setup.OPTION in os.environ["XLA_FLAGS"]
    assert xla_setup.small_loop_threshold() == xla_setup.THRESHOLD
    from pysciml.jumps.simulate import default_lanes, simulate_many
    assert default_lanes() == 64
    prob = ps.JumpProblem(lambda u, p, t: jnp.array([p[0], p[1] * u[0]]), [0], (0.0, 5.0), jnp.array([10.0, 1.0]),
                          [[1], [-1]], key=3)
    hlo = simulate_many.lower(ps.Direct(), 1000, 100, prob, jnp.array([5.0])).compile().as_text()
    assert 'xla_cpu_small_call="true"' in hlo
