"""EnsembleSharded on 2 forced host CPU devices equals the unsharded EnsembleVmap (run in a subprocess, because
the device count is fixed when JAX starts)."""
import os
import subprocess
import sys
import textwrap

import pytest

import pysciml as ps

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import pysciml as ps
    assert jax.device_count() == 2, jax.devices()

    RHO = jnp.linspace(0.0, 21.0, 32)

    def lorenz(u, p, t):
        x, y, z = u
        return jnp.array([10.0 * (y - x), x * (p - z) - y, x * y - 8.0 / 3.0 * z])

    def member(prob, i, repeat, key):
        return prob.remake(p=RHO[i], u0=prob.u0 + 0.1 * jax.random.normal(key, (3,)))

    eprob = ps.EnsembleProblem(ps.ODEProblem(lorenz, jnp.array([1.0, 0.0, 0.0]), (0.0, 1.0), 0.0), prob_func=member)
    opts = dict(saveat=jnp.linspace(0.0, 1.0, 6), rtol=1e-8, atol=1e-8)
    # batches of 16: 8 per device, the same SIMD grouping as unsharded, hence bitwise equal; a batch of 9 is
    # padded to 10 (a member's last bits may then differ: other SIMD neighbours)
    for batch_size, n in ((16, 32), (9, 9)):
        ref = ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=n, batch_size=batch_size, **opts)
        sh = ps.solve(eprob, ps.Tsit5(), ps.EnsembleSharded(), trajectories=n, batch_size=batch_size, **opts)
        assert sh.u.shape == ref.u.shape == (n, 6, 3)
        np.testing.assert_allclose(np.asarray(sh.u), np.asarray(ref.u), rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(np.asarray(sh.outputs.stats["naccept"]),
                                      np.asarray(ref.outputs.stats["naccept"]))
        print(batch_size, "bitwise", np.array_equal(np.asarray(sh.u), np.asarray(ref.u)))
    # the devices really hold separate halves of a batch
    out = ps.EnsembleSharded().run_batch(eprob, ps.Tsit5(), np.arange(16), opts)
    assert len(out.u.sharding.device_set) == 2, out.u.sharding
    print("OK")
""")


@pytest.mark.slow
def test_sharded_equals_unsharded_on_two_host_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.strip().endswith("OK"), run.stdout + run.stderr
    assert "16 bitwise True" in run.stdout   # 8 members per device: the same SIMD grouping as unsharded


def test_devices_argument_is_checked():
    with pytest.raises(TypeError, match="devices must be a non-empty sequence of jax devices"):
        ps.EnsembleSharded(devices=["cpu:0"])
