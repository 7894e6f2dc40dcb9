"""Plots of a `PINNSolution`: heatmaps of the solution and its error (2-D), curves (1-D)."""
import numpy as np


def plot_solution(sol, exact, variable, resolution, path):
    import matplotlib
    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    system = sol.system
    names = list(system.dv_names) if variable is None else [variable]
    axes = [np.linspace(d.lo, d.hi, resolution) for d in system.domains]
    if system.n_vars not in (1, 2):
        raise ValueError(f"plot draws 1-D and 2-D domains; this one has {system.n_vars} variables")
    values = sol.grid(*axes)
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    reference = None
    if exact is not None:
        reference = np.asarray(exact(mesh.reshape(-1, system.n_vars))).reshape(values.shape[:-1] + (-1,))
    columns = 1 if exact is None else 2
    fig, grid = plt.subplots(len(names), columns, figsize=(5 * columns, 4 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        k = system.dv_names.index(name)
        u = values[..., k]
        panels = [(u, f"{name} (PINN)")]
        if reference is not None:
            panels.append((np.abs(u - reference[..., min(k, reference.shape[-1] - 1)]), f"|{name} − exact|"))
        for col, (data, title) in enumerate(panels):
            ax = grid[row, col]
            if system.n_vars == 2:
                image = ax.pcolormesh(axes[0], axes[1], data.T, shading="auto", cmap="viridis")
                fig.colorbar(image, ax=ax)
                ax.set_ylabel(system.iv_names[1])
            else:
                ax.plot(axes[0], data)
            ax.set_xlabel(system.iv_names[0])
            ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
