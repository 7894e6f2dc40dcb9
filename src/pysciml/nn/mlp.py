"""A multilayer perceptron whose parameters live outside it: `model(x, params)`, a pure function.

Keeping parameters as a separate pytree (a tuple of (W, b) pairs) is what optimizers, `jax.grad` and
`ravel` want, and it keeps the model object hashable and static under `jax.jit`.
"""
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .activations import RECTIFIERS, activation as activation_fn
from .init import init_weight


@dataclass(frozen=True)
class MLP:
    """Fully connected network in_size → hidden[0] → … → out_size.

    Call convention: the parameters live outside the network.

        mlp = MLP(2, (16, 16), 2, activation="tanh")
        params = mlp.init(jax.random.key(0))       # ((W1, b1), (W2, b2), (W3, b3)), W: (fan_in, fan_out)
        y = mlp(x, params)                         # x: (2,) or (batch, 2) -> (2,) or (batch, 2)

    Note the order: ``mlp(x, params)``, input first (Flax's ``model.apply(params, x)`` is the reverse).
    In a neural ODE the network is the right-hand side: ``f = lambda u, p, t: mlp(u, p)`` with
    ``ODEProblem(f, u0, tspan, params)``; `pysciml.nn.ravel` flattens params to one vector if needed.

    ``activation`` is a name ("tanh", "relu", "gelu", "softplus", "sigmoid", "rbf") or a callable, applied
    after every hidden layer; the output layer is linear unless ``final_activation`` is given. ``init_scheme``
    defaults to He for rectifiers and Glorot otherwise (normal law).
    """

    in_size: int
    hidden: tuple
    out_size: int
    activation: object = "tanh"
    final_activation: object = None
    init_scheme: str | None = None

    def __post_init__(self):
        hidden = (self.hidden,) if isinstance(self.hidden, int) else tuple(self.hidden)
        object.__setattr__(self, "hidden", hidden)
        for name, size in (("in_size", self.in_size), ("out_size", self.out_size)):
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be positive ints, got {self.hidden!r}")
        activation_fn(self.activation)
        if self.final_activation is not None:
            activation_fn(self.final_activation)

    @property
    def sizes(self):
        return (self.in_size, *self.hidden, self.out_size)

    def init(self, key, dtype=jnp.float64):
        """Returns fresh parameters ((W₁, b₁), …, (W_L, b_L)) drawn from the PRNG ``key``, with W of shape
        (fan_in, fan_out) (He-normal for rectifiers, Glorot-normal otherwise, unless ``init_scheme`` says) and zero
        biases, all of ``dtype``.
        """
        scheme = self.init_scheme or ("he_normal" if self.activation in RECTIFIERS else "glorot_normal")
        keys = jax.random.split(key, len(self.sizes) - 1)
        return tuple((init_weight(k, fan_in, fan_out, scheme, dtype), jnp.zeros((fan_out,), dtype))
                     for k, fan_in, fan_out in zip(keys, self.sizes[:-1], self.sizes[1:]))

    def __call__(self, x, params):
        """Output for x of shape (in_size,) → (out_size,), or batched (..., in_size) → (..., out_size)."""
        if jnp.shape(x)[-1:] != (self.in_size,):
            raise ValueError(f"x must have last axis of size in_size={self.in_size}, got shape {jnp.shape(x)}")
        act = activation_fn(self.activation)
        *hidden, (w_out, b_out) = params
        for w, b in hidden:
            x = act(x @ w + b)
        y = x @ w_out + b_out
        return y if self.final_activation is None else activation_fn(self.final_activation)(y)
