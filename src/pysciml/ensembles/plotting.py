"""Band plots over time, shared by `EnsembleSolution.plot` and the posterior predictive's plot
(`bayes.Predictive.plot`): per component, a centre line, nested shaded bands in the component's colour
(the widest lightest) and optionally a few thin sample curves. matplotlib is imported on use only."""
import numpy as np


def plot_bands(ax, t, center, bands, names, center_label="mean", samples=None, extra=None):
    """Draw on ``ax`` (None: the current axes) and return it.

    t        (T,) times
    center   (T, n) the centre line of each of the n components (mean, median)
    bands    [(lower, upper), ...], each (T, n), widest first
    names    n component names; the centre line is labelled "<name> <center_label>"
    samples  (k, T, n) curves drawn thin, or None
    extra    extra(ax, j, color): draws more of component j in its colour (data points, a truth), or None"""
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    t = np.asarray(t)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, name in enumerate(names):
        c = colors[j % len(colors)]
        for i, (lo, hi) in enumerate(bands):
            # the widest band lightest; inner ones darker where they overlap it
            ax.fill_between(t, np.asarray(lo)[:, j], np.asarray(hi)[:, j], color=c, alpha=0.15 if i == 0 else 0.3,
                            lw=0)
        if samples is not None:
            for curve in np.asarray(samples)[..., j]:
                ax.plot(t, curve, color=c, lw=0.6, alpha=0.5)
        ax.plot(t, np.asarray(center)[:, j], color=c, label=f"{name} {center_label}")
        if extra is not None:
            extra(ax, j, c)
    ax.set_xlabel("t")
    ax.legend(fontsize="small")
    return ax
