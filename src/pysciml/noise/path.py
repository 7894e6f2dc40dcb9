"""The contract of a Brownian path, as the SDE right-hand side uses it.

A user-facing noise (`VirtualBrownianTree`, `NoiseGrid`; the fixed-step `BulkIncrements` is chosen by
`solve`) is turned by ``prepare(key, t0, t1, m, dtype, dt)`` into a static, hashable `BrownianPath` (it keys
the compiled loop) and its traced data, which travel in the loop's parameters (so `solve` is vmappable over
the key). The path is stateless: ``increment(data, t, dt)`` and ``values(data, ts)`` are pure functions of
the data and the times.
"""


class BrownianPath:
    """Static configuration of a path: ``m`` Wiener processes."""

    m: int

    def increment(self, data, t, dt):
        """The Brownian increment over [``t``, ``t`` + ``dt``] of the path given by its traced ``data`` (what
        ``prepare`` returned beside the path). Returns the `BrownianIncrement` (ΔW, H), each of shape (m,)."""
        raise NotImplementedError

    def values(self, data, ts):
        """W at the times ``ts`` (1-D) of the path given by its traced ``data``. Returns an array of shape
        (len(ts), m), W(t0) = 0."""
        raise NotImplementedError

    def _config(self):
        return tuple(sorted(vars(self).items()))

    def __eq__(self, other):
        return type(self) is type(other) and self._config() == other._config()

    def __hash__(self):
        return hash((type(self), self._config()))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._config())})"


class Noise:
    """Base of the noises a user may give `SDEProblem(noise=...)`; ``needs_key``: whether `solve` must be
    given a key."""

    needs_key = True

    def prepare(self, key, t0, t1, m, dtype, dt=None):
        """Fixes the path for a solve: ``m`` Wiener processes on [``t0``, ``t1``], drawn from the JAX random
        ``key``, in the float ``dtype`` of the problem; ``dt``: the fixed step when the solve has one (None
        otherwise; only `BulkIncrements` needs it). Returns (a static, hashable `BrownianPath`, its traced
        data)."""
        raise NotImplementedError
