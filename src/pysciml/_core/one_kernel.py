"""Run a loop as one compiled kernel on XLA:CPU.

Since JAX 0.4.32 XLA:CPU executes a program as a sequence of tasks ("thunks"), one per fused operation, and a
`lax.while_loop` runs each task of its body once per iteration: about 0.1 µs of fixed cost per fused operation.
A loop of many small operations per iteration pays mostly that (the jump simulator's pooled lanes, ~20 fused
operations for a few nanoseconds of arithmetic each). XLA:CPU can instead compile a called computation into
a single kernel (its ``ComputationKernelEmitter``, used for small while loops on its own): `one_kernel` marks
the call for it (frontend attributes ``xla_cpu_small_call`` and ``inlineable="false"``, so the call survives
XLA's inliner). Only this computation changes; the rest of the program and every other program in the process
keep XLA's defaults. The numbers are the same (measured bit-identical on the jump simulator).

The single-kernel emitter does not handle scatters, matrix products and large operations (XLA may give them
to a library fusion), custom calls (LAPACK, FFT, host callbacks) or sorts: a function using any of them runs as a plain nested call,
as it does on GPUs (where the attributes mean nothing). Used for the jump simulator's plain-step loop, whose
body is the user's propensities (elementwise in practice); ODE loops (arbitrary right-hand sides) do not use
it."""
import jax
from jax.experimental.xla_metadata import set_xla_metadata

from .jaxprs import largest_array, primitive_names

# primitives the single-kernel emitter cannot compile: scatters; matrix products and convolutions (XLA:CPU may
# hand them to its YNNPACK/oneDNN fusions, kind kCustom: "Fusion kind not implemented on CPU", seen with a
# vmapped neural network); those XLA:CPU lowers to custom calls (LAPACK, FFT, top-k), host callbacks and FFI
# calls, sorts, the RNG op and infeed/outfeed
_REFUSED_PREFIXES = ("scatter",)
_REFUSED = {"dot_general", "conv_general_dilated", "lu", "lu_pivots_to_permutation", "cholesky", "cholesky_update", "eig", "eigh", "qr", "geqrf", "geqp3",
            "householder_product", "ormqr", "symmetric_product", "svd", "schur", "hessenberg", "tridiagonal", "tridiagonal_solve",
            "triangular_solve", "fft", "sort", "top_k", "approx_top_k", "pure_callback", "io_callback",
            "debug_callback", "ffi_call", "rng_bit_generator", "infeed", "outfeed"}


# XLA:CPU also hands large reductions (and other large operations) to YNNPACK fusions: a (64, 200) reduce_sum
# in a 200-reaction network's loop was one ("Fusion kind not implemented on CPU"), (64, 6) ones are not. Only
# functions whose arrays all stay small are marked.
MAX_ELEMENTS = 2048


def compiles_as_one_kernel(closed_jaxpr):
    """Whether XLA:CPU's single-kernel emitter can compile the jaxpr: no refused primitive and no array over
    `MAX_ELEMENTS` elements."""
    if largest_array(closed_jaxpr) > MAX_ELEMENTS:
        return False
    return not any(name in _REFUSED or name.startswith(_REFUSED_PREFIXES) for name in primitive_names(closed_jaxpr))


def one_kernel(fn):
    """``fn`` (pure, traced inside a jitted program) called as one XLA:CPU kernel when the default backend is the
    CPU and `compiles_as_one_kernel` holds for it; a plain call otherwise. Same results either way."""
    inner = jax.jit(fn)

    def call(*args):
        if jax.default_backend() != "cpu" or not compiles_as_one_kernel(jax.make_jaxpr(fn)(*args)):
            return fn(*args)
        with set_xla_metadata(xla_cpu_small_call="true", inlineable="false"):
            return inner(*args)
    return call
