"""Shared test set-up: float64 is on (pysciml switches it on at import); warnings of failed solves are
errors unless a test expects them."""
import pytest

import pysciml  # noqa: F401  (enables float64 before any test builds arrays)


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "error::RuntimeWarning")
