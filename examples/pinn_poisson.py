"""Physics-informed network for the seed's 2-D Poisson problem, written symbolically with sympy.

    ∂²u/∂x² + ∂²u/∂y² = −sin(πx)·sin(πy) on [0, 1]², u = 0 on the boundary,
    exact solution u = sin(πx)·sin(πy) / (2π²).

Trains a 2→16→16→1 tanh network (Adam, then L-BFGS in float64), prints the relative L2 error against the
exact solution and the training time, and writes `pinn_poisson.png` (solution and error heatmaps).

Run: python examples/pinn_poisson.py [--small] [--out DIR]
"""
import argparse
import pathlib
import time

import jax
import numpy as np
import sympy as sp

import pysciml as ps


def poisson_system():
    x, y = sp.symbols("x y")
    u = sp.Function("u")
    eq = sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)]
    return ps.pinn.PDESystem([eq], bcs, {x: (0, 1), y: (0, 1)}, [x, y], [u])


def exact(points):
    return np.sin(np.pi * points[:, 0]) * np.sin(np.pi * points[:, 1]) / (2 * np.pi ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a short training run (for CI)")
    parser.add_argument("--out", default=".", help="folder for pinn_poisson.png")
    args = parser.parse_args()

    adam, lbfgs = (100, 200) if args.small else (1000, 3000)
    start = time.perf_counter()
    sol = ps.pinn.train(poisson_system(), ps.nn.MLP(2, (16, 16), 1), ps.pinn.GridTraining(0.05),
                        optimizers=(ps.pinn.Adam(1e-2, adam), ps.pinn.LBFGS(lbfgs)), key=jax.random.key(0),
                        progress=not args.small)
    seconds = time.perf_counter() - start
    test_points = np.random.default_rng(1).random((4000, 2))
    print(f"relative L2 error {sol.relative_l2(exact, test_points):.3e} after {adam} Adam + {lbfgs} L-BFGS steps "
          f"in {seconds:.1f} s (compilation included); final loss {sol.loss:.3e}")
    for name, losses in sol.history["terms"].items():
        print(f"  {losses[-1]:.3e}  {name}")
    path = pathlib.Path(args.out) / "pinn_poisson.png"
    sol.plot(exact, path=path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
