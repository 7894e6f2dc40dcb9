"""A small standard library of components: `electrical`, `translational` (mechanical), `thermal`."""
from . import electrical, thermal, translational

__all__ = ["electrical", "thermal", "translational"]
