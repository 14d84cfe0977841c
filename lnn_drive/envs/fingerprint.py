"""Behaviour fingerprints of the simulator: a hash of same-seed frames, labels and info.

A change that must not alter behaviour (a refactor, a speed-up) must leave every
fingerprint of :data:`CASES` unchanged; ``scripts/env_fingerprint.py`` prints them and
``tests/envs/test_fingerprint.py`` compares them with the recorded ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

#: name -> (env overrides, reset seed, steering drift amplitude 1/m). Cover every preset,
#: both crash modes (the drift of the intervene case leaves the lane), lag and noise, the
#: pure-pursuit expert and a non-default camera.
CASES: dict[str, tuple[dict[str, Any], int, float]] = {
    "summer": ({}, 10_000, 0.02),
    "autumn": ({"preset": "autumn"}, 10_001, 0.02),
    "winter": ({"preset": "winter"}, 10_002, 0.02),
    "dusk": ({"preset": "dusk"}, 10_003, 0.02),
    "fog": ({"preset": "fog"}, 10_004, 0.02),
    "lag_noise_intervene": (
        {"actuation_lag": 0.2, "steer_noise_std": 0.01, "crash_mode": "intervene", "speed": 15.0},
        7,
        0.08,
    ),
    "pure_pursuit_camera": (
        {"expert": "pure_pursuit", "height": 66, "width": 160, "pitch_deg": 8.0},
        3,
        0.02,
    ),
}


#: The ``info`` keys the fingerprint covers: those the environment reported when the
#: fingerprints were recorded (keys added since do not change them).
INFO_KEYS = (
    "command",
    "distance",
    "expert_action",
    "heading_error",
    "intervened",
    "interventions",
    "lateral_offset",
    "on_road",
    "road_curvature",
    "road_curvature_ahead",
    "s",
    "x",
    "y",
)


def fingerprint(
    overrides: Mapping[str, Any], *, seed: int, drift: float = 0.02, steps: int = 120
) -> str:
    """SHA-256 (hex, first 16 digits) of ``steps`` steps from ``seed`` driven by the
    expert's action plus a slow sinusoidal drift of amplitude ``drift`` (1/m).

    Hashes every observation, the label image every 10 steps, and every ``info`` value of :data:`INFO_KEYS`
    (floats by their exact bit pattern), so any change in the frames, the dynamics or the
    reported state changes the result.
    """
    from lnn_drive.envs.factory import make_env

    env = make_env({}, render_mode=None, **overrides)
    h = hashlib.sha256()

    def add_info(info: Mapping[str, Any]) -> None:
        for k in INFO_KEYS:
            v = info[k]
            h.update(k.encode())
            h.update(np.asarray(v, np.float64).tobytes() if not isinstance(v, str) else v.encode())

    obs, info = env.reset(seed=seed)
    h.update(obs.tobytes())
    add_info(info)
    a = np.zeros(1, np.float32)
    for t in range(steps):
        a[0] = info["expert_action"] + drift * np.sin(0.05 * t)  # off the centre
        obs, r, term, trunc, info = env.step(a)
        h.update(obs.tobytes())
        h.update(np.float64(r).tobytes())
        add_info(info)
        if t % 10 == 0:
            h.update(env.unwrapped.render_labels().tobytes())
        if term or trunc:
            obs, info = env.reset()
            h.update(obs.tobytes())
            add_info(info)
    env.close()
    return h.hexdigest()[:16]
