"""Latent maths: slerp and tension placement, on vectors small enough to check by hand.

Rules: pure numpy, no model; expected values are computed from the definitions in the docstrings
of `metalosc.runtime._latent` (placement sets the coordinate along the tension vector to
(2·tension − 1)·TENSION_PUSH·‖v‖).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra.numpy import arrays
from metalosc.runtime import TENSION_PUSH, place_tension, slerp

_FINITE = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
_VECTORS = arrays(np.float64, 6, elements=_FINITE)


# -- slerp -------------------------------------------------------------------------------------


@given(a=_VECTORS, b=_VECTORS)
def test_slerp_endpoints_are_exact(a: np.ndarray, b: np.ndarray) -> None:
    start, end = slerp(a, b, 0.0), slerp(a, b, 1.0)
    np.testing.assert_array_equal(start, a)
    np.testing.assert_array_equal(end, b)
    assert start.dtype == end.dtype == np.float64


def test_slerp_returns_copies_of_the_endpoints() -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    slerp(a, b, 0.0)[:] = 0.0
    slerp(a, b, 1.0)[:] = 0.0
    np.testing.assert_array_equal(a, [1.0, 2.0])
    np.testing.assert_array_equal(b, [3.0, 4.0])


def test_slerp_follows_the_great_circle() -> None:
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    half = np.sqrt(0.5)
    np.testing.assert_allclose(slerp(a, b, 0.5), [half, half])  # a straight line gives 0.5, 0.5
    np.testing.assert_allclose(slerp(a, b, 1 / 3), [np.cos(np.pi / 6), np.sin(np.pi / 6)])
    # the norm stays on the circle between two unit vectors
    for t in np.linspace(0.0, 1.0, 11):
        assert np.linalg.norm(slerp(a, b, float(t))) == pytest.approx(1.0)


def test_slerp_of_parallel_or_zero_vectors_is_the_straight_line() -> None:
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(slerp(a, 3 * a, 0.5), 2 * a)
    np.testing.assert_allclose(slerp(np.zeros(2), a, 0.25), 0.25 * a)


# -- place_tension -----------------------------------------------------------------------------


def test_place_tension_places_each_row_at_its_own_tension() -> None:
    z = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    moved = place_tension(z, [2.0, 0.0], [0.0, 0.5, 1.0])
    push = TENSION_PUSH * 2.0  # the coordinate at tension 1: TENSION_PUSH · ‖v‖
    np.testing.assert_allclose(moved, [[-push, 1.0], [0.0, 2.0], [push, 3.0]])


def test_place_tension_gives_one_row_per_tension_for_one_latent() -> None:
    moved = place_tension(np.array([0.5, -1.0]), [0.0, 4.0], [0.0, 0.25, 1.0])
    assert moved.shape == (3, 2)
    np.testing.assert_allclose(moved[:, 0], 0.5)
    np.testing.assert_allclose(moved[:, 1], np.array([-1.0, -0.5, 1.0]) * TENSION_PUSH * 4.0)


def test_one_tension_applies_to_every_row() -> None:
    z = np.array([[1.0, 1.0], [-3.0, 2.0]])
    moved = place_tension(z, [0.0, 1.0], 0.5)
    np.testing.assert_allclose(moved, [[1.0, 0.0], [-3.0, 0.0]])


@given(
    z=arrays(np.float64, (4, 3), elements=_FINITE),
    v=arrays(np.float64, 3, elements=_FINITE),
    tension=st.floats(min_value=0.0, max_value=1.0),
)
def test_only_the_coordinate_along_the_vector_moves(
    z: np.ndarray, v: np.ndarray, tension: float
) -> None:
    norm = float(np.linalg.norm(v))
    assume(norm > 1e-3)  # a zero vector leaves z as it is: tested below
    unit = v / norm
    moved = place_tension(z, v, tension)
    np.testing.assert_allclose(moved @ unit, (2 * tension - 1) * TENSION_PUSH * norm, atol=1e-9)
    rest = z - np.outer(z @ unit, unit)
    np.testing.assert_allclose(moved - np.outer(moved @ unit, unit), rest, atol=1e-9)


@pytest.mark.parametrize(
    "vector",
    [[0.0, 0.0, 0.0], [1.0, 2.0], [1.0, 2.0, 3.0, 4.0], []],
    ids=["zero", "shorter", "longer", "empty"],
)
def test_a_zero_or_mismatched_vector_leaves_z_unchanged(vector: list[float]) -> None:
    z = np.array([[1.5, -2.0, 0.25], [0.0, 3.0, -1.0]], np.float32)
    moved = place_tension(z, vector, [0.0, 1.0])
    np.testing.assert_array_equal(moved, z)
    assert moved.dtype == np.float64


@pytest.mark.parametrize("tension", [-0.01, 1.01, [0.5, 1.5], [-1.0, 0.5]])
def test_a_tension_outside_zero_to_one_raises(tension: float | list[float]) -> None:
    with pytest.raises(ValueError, match=r"tension must be within 0\.\.1"):
        place_tension(np.zeros((2, 2)), [1.0, 0.0], tension)
