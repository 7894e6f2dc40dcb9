"""Variable-order multistep methods for stiff problems: `FBDF`, BDF/NDF orders 1–5 with a fixed-shape
history (traceable under jit and vmap), Jacobian and factorization reuse, and mass matrices (DAEs)."""
from .stepper import FBDF

__all__ = ["FBDF"]
