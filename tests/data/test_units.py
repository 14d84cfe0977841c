"""Unit conversions refuse values whose conversion would wrap into a wrong label."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.data.units import steering_to_curvature


def test_in_range_values_convert() -> None:
    k = steering_to_curvature(np.array([-1.0, 0.0, 0.5, 1.2]), unit="normalized", sign=-1)
    np.testing.assert_allclose(k, -np.tan(np.array([-1.0, 0.0, 0.5, 1.2]) * np.deg2rad(25)) / 2.7)
    assert steering_to_curvature(89.0, unit="angle_deg") > 0


@pytest.mark.parametrize(
    ("x", "unit"),
    [
        ([0.0, 50.0], "normalized"),  # tan wraps: 1250 deg would be a left turn of 0.065 1/m
        ([95.0], "angle_deg"),  # would flip sign
        ([-90.0], "angle_deg"),
        ([2.0], "angle_rad"),
        ([np.nan], "angle_deg"),
    ],
)
def test_wrapping_angles_are_refused(x, unit: str) -> None:
    with pytest.raises(ValueError, match="not within \\+-90 deg"):
        steering_to_curvature(np.array(x), unit=unit)
