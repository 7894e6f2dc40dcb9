"""`EnsembleSharded`: `EnsembleVmap`'s batch split across local JAX devices (several GPUs; CPU devices in tests)."""
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .vmap import EnsembleVmap

_AXIS = "trajectories"


class EnsembleSharded(EnsembleVmap):
    """Each batch of trajectories is cut into one contiguous slice per device; every device runs the vmapped
    solve of its slice with its own while loop (`jax.shard_map`, so no device waits for another's slowest
    member at every step, as one globally sharded loop would). A batch that does not divide evenly is padded
    by repeating its last member, and the padding is dropped. Reruns, caching and options are `EnsembleVmap`'s.

    devices: the devices to use (default: ``jax.local_devices()``). On one CPU, several host devices can be
    had with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before JAX starts.
    """

    _caches = {}   # devices -> compiled batches (apart from EnsembleVmap's: same keys, different programs)

    def __init__(self, devices=None):
        if devices is not None:
            devices = tuple(devices)
            if not devices or not all(isinstance(d, jax.Device) for d in devices):
                raise TypeError(f"EnsembleSharded: devices must be a non-empty sequence of jax devices; got "
                                f"{devices!r}")
        self.devices = devices
        self._compiled = self._caches.setdefault(devices, weakref.WeakKeyDictionary())

    def _compile(self, batch):
        devices = self.devices or tuple(jax.local_devices())
        n = len(devices)
        spec = PartitionSpec(_AXIS)
        # check_vma=False: the solve's loops mix per-device (varying) and replicated values freely, which is
        # exactly what independent per-device loops need; nothing is communicated inside.
        sharded = jax.shard_map(batch, mesh=Mesh(np.array(devices), (_AXIS,)), in_specs=(spec, spec, PartitionSpec()),
                                out_specs=spec, check_vma=False)

        def run(indices, repeats, arrays):
            m = indices.shape[0]
            pad = -m % n
            if pad:
                indices = jnp.concatenate([indices, jnp.full((pad,), indices[-1], indices.dtype)])
                repeats = jnp.concatenate([repeats, jnp.full((pad,), repeats[-1], repeats.dtype)])
            out = sharded(indices, repeats, arrays)
            return jax.tree_util.tree_map(lambda x: x[:m], out) if pad else out

        return jax.jit(run)

    def __repr__(self):
        return "EnsembleSharded()" if self.devices is None else f"EnsembleSharded(devices={list(self.devices)})"
