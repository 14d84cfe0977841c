"""Unit conversions into the log format's conventions (steering = path curvature, 1/m,
positive turning left; speed in m/s)."""

from __future__ import annotations

import numpy as np

STEERING_UNITS = ("curvature", "normalized", "angle_deg", "angle_rad")
SPEED_SCALES = {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704}


def steering_to_curvature(
    x: np.ndarray | float,
    *,
    unit: str,
    max_steer_deg: float = 25.0,
    wheelbase_m: float = 2.7,
    sign: float = 1.0,
) -> np.ndarray:
    """Convert steering values to path curvature (1/m) with a kinematic bicycle model,
    ``kappa = tan(delta) / wheelbase``.

    Args:
        x: Steering values.
        unit: ``curvature`` (already 1/m), ``normalized`` (fraction of ``max_steer_deg``,
            in [-1, 1]), ``angle_deg`` or ``angle_rad`` (front-wheel angle).
        max_steer_deg: Wheel angle at normalised steering 1.
        wheelbase_m: Distance between axles.
        sign: +1 if positive input steers left, -1 if positive steers right (Udacity).

    Raises:
        ValueError: a bad option, or a value whose wheel angle is not strictly within
            +-90 degrees (or not finite), where ``tan`` would wrap into a wrong label.
    """
    if unit not in STEERING_UNITS:
        raise ValueError(f"steering unit {unit!r} is not one of {STEERING_UNITS}")
    if wheelbase_m <= 0:
        raise ValueError(f"wheelbase_m must be positive, got {wheelbase_m}")
    if not 0 < max_steer_deg < 90:
        raise ValueError(f"max_steer_deg must be in (0, 90), got {max_steer_deg}")
    if sign not in (1, -1, 1.0, -1.0):
        raise ValueError(f"steering sign must be +1 or -1, got {sign}")
    x = np.asarray(x, np.float64)
    if unit == "curvature":
        return sign * x
    if unit == "normalized":
        delta = x * np.deg2rad(max_steer_deg)
    elif unit == "angle_deg":
        delta = np.deg2rad(x)
    else:
        delta = x
    bad = np.flatnonzero(~(np.abs(delta) < np.pi / 2))  # tan wraps at 90 deg; NaN too
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"steering {np.ravel(x)[i]:g} ({unit}) at index {i} is a wheel angle of "
            f"{np.rad2deg(np.ravel(delta)[i]):g} deg, not within +-90 deg; "
            f"{bad.size} value(s) affected"
        )
    return sign * np.tan(delta) / wheelbase_m


def speed_to_mps(x: np.ndarray | float, *, unit: str) -> np.ndarray:
    """Convert speeds given in ``m/s``, ``km/h`` or ``mph`` to m/s."""
    if unit not in SPEED_SCALES:
        raise ValueError(f"speed unit {unit!r} is not one of {sorted(SPEED_SCALES)}")
    return np.asarray(x, np.float64) * SPEED_SCALES[unit]
