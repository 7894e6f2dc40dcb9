"""States and derivatives estimated from noisy samples by kernel-weighted local quadratic regression.

At each sample time t the data near t are fitted, with weights K((tᵢ - t)/h), by a + b(tᵢ - t) + c(tᵢ - t)²;
then û(t) = a and dû/dt(t) = b (local polynomial regression, Fan & Gijbels 1996). This is what collocation
fits the model's right-hand side to, without solving the ODE.
"""
import numpy as np

KERNELS = {
    "epanechnikov": lambda z: np.where(np.abs(z) < 1, 0.75 * (1 - z ** 2), 0.0),
    "triweight": lambda z: np.where(np.abs(z) < 1, (35 / 32) * (1 - z ** 2) ** 3, 0.0),
    "gaussian": lambda z: np.exp(-0.5 * z ** 2),
}


def smoothed_derivatives(ts, data, bandwidth=None, kernel="triweight"):
    """Smooth ``data`` of shape (len(ts), n) by local quadratic regression at every time in ``ts``.
    ``bandwidth`` default: 3 median sample spacings, the least that keeps three points for the quadratic at the
    ends of the record; widen it for noisy data (less variance, more bias). ``kernel``: the weight function
    ('triweight' default, or another name of KERNELS). Returns (û, dû/dt), two (len(ts), n) NumPy arrays.
    """
    ts = np.asarray(ts, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    if ts.ndim != 1 or ts.size < 4 or np.any(np.diff(ts) <= 0):
        raise ValueError(f"ts must be at least 4 increasing times, got shape {ts.shape}")
    if data.ndim != 2 or data.shape[0] != ts.size:
        raise ValueError(f"data must have shape (len(ts), n_states) = ({ts.size}, n), got {data.shape}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
    h = 3 * np.median(np.diff(ts)) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth!r}")
    values, slopes = np.empty_like(data), np.empty_like(data)
    for i, t in enumerate(ts):
        d = ts - t
        w = KERNELS[kernel](d / h)
        design = np.stack([np.ones_like(d), d, d ** 2], axis=1)
        coef = np.linalg.lstsq(design * np.sqrt(w)[:, None], data * np.sqrt(w)[:, None], rcond=None)[0]
        values[i], slopes[i] = coef[0], coef[1]
    return values, slopes
