"""Noise types: how g(u, p, t) multiplies the Brownian increment. Types, asked by consumers with
``isinstance``; the strings of `SDEProblem(noise_type=...)` are accepted at the API only (`as_noise_type`).

g on flat states (n = number of states, m = number of Wiener processes):

=====================  ===============  ===  ===================================================
type                   g(u, p, t)       m    noise term g·ΔW
=====================  ===============  ===  ===================================================
DiagonalNoise()        (n,) like u      n    g * ΔW (componentwise: one process per state)
ScalarNoise()          (n,) like u      1    g * ΔW[0] (one process shared by every state)
GeneralNoise(m)        (n, m)           m    g @ ΔW
AdditiveNoise(form)    as ``form``      …    as ``form``; g does not depend on u
=====================  ===============  ===  ===================================================
"""
import jax.numpy as jnp


class NoiseType:
    """Base of the noise types. ``m(n)`` is the number of Wiener processes for n states, ``g_shape(n)`` the
    shape of the flat g, ``product(g, dW)`` the (n,) noise term."""

    def m(self, n: int) -> int:
        """The number of Wiener processes for ``n`` states: returns it (each type defines it)."""
        raise NotImplementedError

    def g_shape(self, n: int) -> tuple:
        """The shape of the flat diffusion g for ``n`` states: returns (n,) by default."""
        return (n,)

    def product(self, g, dW):
        """The noise term for the diffusion value ``g`` and the Brownian increment ``dW`` (shape (m,)): returns the
        (n,) vector (each type defines it)."""
        raise NotImplementedError

    @property
    def form(self) -> "NoiseType":
        """The shape-defining type (itself; additive noise's own form)."""
        return self

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class DiagonalNoise(NoiseType):
    """One Wiener process per state: du_i = f_i dt + g_i(u) dW_i."""

    def m(self, n):
        """The number of Wiener processes for ``n`` states: returns n."""
        return n

    def product(self, g, dW):
        """The noise term for the diffusion value ``g`` and the Brownian increment ``dW`` (shape (m,)): returns the
        (n,) vector g ⊙ dW."""
        return g * dW


class ScalarNoise(NoiseType):
    """One Wiener process shared by every state: du = f dt + g(u) dW, W scalar (ΔW has shape (1,))."""

    def m(self, n):
        """The number of Wiener processes for ``n`` states: returns 1."""
        return 1

    def product(self, g, dW):
        """The noise term for the diffusion value ``g`` and the Brownian increment ``dW`` (shape (m,)): returns the
        (n,) vector g·dW[0]."""
        return g * dW[0]


class GeneralNoise(NoiseType):
    """m Wiener processes mixed by the (n, m) matrix g(u): du = f dt + g(u) dW."""

    def __init__(self, m: int):
        if not isinstance(m, int) or m <= 0:
            raise ValueError(f"GeneralNoise: m (the number of Wiener processes) must be a positive integer; got {m!r}")
        self.m_ = m

    def m(self, n):
        """The number of Wiener processes for ``n`` states: returns the ``m`` given to the constructor, whatever n."""
        return self.m_

    def g_shape(self, n):
        """The shape of the flat diffusion g for ``n`` states: returns (n, m)."""
        return (n, self.m_)

    def product(self, g, dW):
        """The noise term for the diffusion value ``g`` and the Brownian increment ``dW`` (shape (m,)): returns the
        (n,) vector g @ dW."""
        return g @ dW


class AdditiveNoise(NoiseType):
    """g independent of u (then Itô and Stratonovich coincide and methods may exploit it), shaped as its
    ``form``: `DiagonalNoise()` (g like u, the default) or `GeneralNoise(m)` (g an (n, m) matrix)."""

    def __init__(self, form: NoiseType | None = None):
        form = DiagonalNoise() if form is None else form
        if not isinstance(form, (DiagonalNoise, ScalarNoise, GeneralNoise)):
            raise TypeError(f"AdditiveNoise: form must be DiagonalNoise(), ScalarNoise() or GeneralNoise(m); got {form!r}")
        self.form_ = form

    @property
    def form(self):
        return self.form_

    def m(self, n):
        """The number of Wiener processes for ``n`` states: returns its form's."""
        return self.form_.m(n)

    def g_shape(self, n):
        """The shape of the flat diffusion g for ``n`` states: returns its form's."""
        return self.form_.g_shape(n)

    def product(self, g, dW):
        """The noise term for the diffusion value ``g`` and the Brownian increment ``dW`` (shape (m,)): returns the
        (n,) vector of its form."""
        return self.form_.product(g, dW)


_NAMES = {"diagonal": DiagonalNoise, "scalar": ScalarNoise, "general": GeneralNoise, "additive": AdditiveNoise}


def as_noise_type(noise_type, noise_rate_prototype=None) -> NoiseType:
    """The `NoiseType` for SDEProblem's ``noise_type`` (a string or a NoiseType instance) and
    ``noise_rate_prototype`` (an (n, m) array: general noise, m read from it; for additive noise it makes
    the additive form general). Returns the NoiseType instance; ValueError for an unknown name or a
    prototype of the wrong shape."""
    m = None
    if noise_rate_prototype is not None:
        shape = jnp.shape(noise_rate_prototype)
        if len(shape) != 2:
            raise ValueError(f"noise_rate_prototype: expected an (n, m) array (g's output for general noise); "
                             f"got shape {shape}")
        m = int(shape[1])
    if isinstance(noise_type, NoiseType):
        return noise_type
    if not isinstance(noise_type, str) or noise_type.lower() not in _NAMES:
        raise ValueError(f"noise_type: expected one of {sorted(_NAMES)} (or a pysciml.noise.NoiseType); "
                         f"got {noise_type!r}")
    kind = noise_type.lower()
    if kind == "general":
        if m is None:
            raise ValueError("noise_rate_prototype: noise_type='general' needs an (n, m) array shaped like g's "
                             "output, to know the number m of Wiener processes")
        return GeneralNoise(m)
    if kind == "additive":
        return AdditiveNoise(GeneralNoise(m) if m is not None else None)
    return _NAMES[kind]()
