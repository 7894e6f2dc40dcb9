"""Runge–Kutta order conditions from rooted trees (Butcher's theory).

A method of order p satisfies b·Φ(τ) = 1/γ(τ) for every rooted tree τ with at most p nodes, where Φ is
the elementary weight and γ the tree's density. For a continuous extension b(θ) the condition becomes
b(θ)·Φ(τ) = θ^|τ| / γ(τ). Trees are canonical nested tuples (a tree is the sorted tuple of its subtrees).
For an additive (IMEX) method the same conditions hold for every colouring of a tree's vertices by the
parts (Kennedy & Carpenter 2003, Sec. 3), which adds the coupling conditions between the parts.
"""
from functools import lru_cache
from itertools import product

import numpy as np


@lru_cache(maxsize=None)
def trees_of_order(n: int) -> tuple:
    """All rooted trees with exactly ``n`` nodes, each a sorted tuple of child trees."""
    if n == 1:
        return ((),)
    found = set()
    for children in _forests(n - 1, n - 1):
        found.add(tuple(sorted(children)))
    return tuple(sorted(found))


@lru_cache(maxsize=None)
def _forests(nodes: int, max_part: int) -> tuple:
    """Multisets of trees with ``nodes`` nodes in total, each tree of at most ``max_part`` nodes."""
    if nodes == 0:
        return ((),)
    out = []
    for first in range(min(nodes, max_part), 0, -1):
        for tree in trees_of_order(first):
            for rest in _forests(nodes - first, first):
                # keep each multiset once: trees of equal size appear in non-increasing order
                if rest and _size(rest[0]) == first and rest[0] > tree:
                    continue
                out.append((tree,) + rest)
    return tuple(out)


@lru_cache(maxsize=None)
def _size(tree: tuple) -> int:
    return 1 + sum(_size(child) for child in tree)


@lru_cache(maxsize=None)
def _density(tree: tuple) -> int:
    result = _size(tree)
    for child in tree:
        result *= _density(child)
    return result


def lower_triangular(rows, size: int) -> np.ndarray:
    """A size × size matrix whose row i starts with ``rows[i]`` (zeros after it): tableaus store their
    strictly lower-triangular coefficients as ragged rows."""
    out = np.zeros((size, size))
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _stage_weights(tree, a, c, cache):
    """Φ_i(τ) for every stage i: the product over children of A·Φ(child) (or c for a leaf child)."""
    if tree in cache:
        return cache[tree]
    phi = np.ones(len(c))
    for child in tree:
        phi = phi * (a @ _stage_weights(child, a, c, cache))
    cache[tree] = phi
    return phi


def order_defects(a, b, c, order: int, theta: float = 1.0):
    """Largest |b·Φ(τ) − θ^|τ|/γ(τ)| over the trees of each order 1..order, as a list."""
    a, b, c = np.asarray(a, float), np.asarray(b, float), np.asarray(c, float)
    cache = {}
    defects = []
    for n in range(1, order + 1):
        worst = 0.0
        for tree in trees_of_order(n):
            phi = _stage_weights(tree, a, c, cache)
            worst = max(worst, abs(b @ phi - theta ** n / _density(tree)))
        defects.append(worst)
    return defects


def _colorings(tree, n_colors):
    """Every way to colour the non-root vertices of ``tree``: nested tuples of (colour, coloured child)."""
    options = [[(color, sub) for color in range(n_colors) for sub in _colorings(child, n_colors)]
               for child in tree]
    return [tuple(choice) for choice in product(*options)]


def _colored_weights(colored, matrices, c):
    """Φ_i of a coloured tree: each child enters through the matrix of its colour."""
    phi = np.ones(len(c))
    for color, child in colored:
        phi = phi * (matrices[color] @ _colored_weights(child, matrices, c))
    return phi


def additive_order_defects(matrices, b, c, order: int, theta: float = 1.0):
    """Order conditions of an additive Runge–Kutta method (one A per part, shared b and c): for every
    tree and every colouring of its non-root vertices by the parts, b·Φ(τ) = θ^|τ|/γ(τ). They include
    each part's own conditions and the coupling conditions between the parts. Largest defect per order."""
    matrices = [np.asarray(m, float) for m in matrices]
    b, c = np.asarray(b, float), np.asarray(c, float)
    defects = []
    for n in range(1, order + 1):
        worst = 0.0
        for tree in trees_of_order(n):
            for colored in _colorings(tree, len(matrices)):
                worst = max(worst, abs(b @ _colored_weights(colored, matrices, c) - theta ** n / _density(tree)))
        defects.append(worst)
    return defects


def _rosenbrock_weights(tree, alpha, beta, cache):
    """Φ_i(τ) for a Rosenbrock method: a vertex with one child uses β = α + Γ, otherwise α."""
    if tree in cache:
        return cache[tree]
    phi = np.ones(alpha.shape[0])
    matrix = beta if len(tree) == 1 else alpha
    for child in tree:
        phi = phi * (matrix @ _rosenbrock_weights(child, alpha, beta, cache))
    cache[tree] = phi
    return phi


def rosenbrock_order_defects(alpha, gamma_matrix, b, order: int):
    """Largest |b·Φ(τ) − 1/γ(τ)| over the trees of each order 1..order for a Rosenbrock method (α, Γ, b)."""
    alpha, b = np.asarray(alpha, float), np.asarray(b, float)
    beta = alpha + np.asarray(gamma_matrix, float)
    cache = {}
    defects = []
    for n in range(1, order + 1):
        worst = 0.0
        for tree in trees_of_order(n):
            worst = max(worst, abs(b @ _rosenbrock_weights(tree, alpha, beta, cache) - 1.0 / _density(tree)))
        defects.append(worst)
    return defects
