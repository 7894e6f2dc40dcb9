"""Domains: one closed interval per independent variable, so the domain is a box."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """The closed interval [lo, hi] of one independent variable."""

    lo: float
    hi: float

    def __post_init__(self):
        lo, hi = float(self.lo), float(self.hi)
        if not lo < hi:
            raise ValueError(f"an interval needs lo < hi, got [{self.lo}, {self.hi}]")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def contains(self, value, rtol=1e-12):
        """Returns whether ``value`` lies in [lo, hi], widened by ``rtol`` times the interval's length."""
        slack = rtol * (self.hi - self.lo)
        return self.lo - slack <= value <= self.hi + slack


def as_interval(value, name):
    """An `Interval` from a pair (lo, hi), an `Interval` or a sympy Interval."""
    if isinstance(value, Interval):
        return value
    if hasattr(value, "start") and hasattr(value, "end"):        # sympy.Interval
        return Interval(float(value.start), float(value.end))
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"domains[{name!r}] must be (lo, hi) or an Interval, got {value!r}") from None
    return Interval(lo, hi)
