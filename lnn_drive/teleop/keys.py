"""From keys and gamepad axes to an action of any gymnasium action space.

A ``Box`` action space gets one (raise key, lower key) pair per dimension: holding the
raise key drives that dimension toward ``rest + gain * (high - rest)``, the lower key toward
``rest - gain * (rest - low)``, neither back to ``rest`` (0 clipped into the bounds), moving a
fraction ``rate`` of the way per frame so a keyboard steers smoothly. A ``Discrete`` space
maps the digit keys ``1``... to actions 1...; no key is action 0. A gamepad's axes map to
the same dimensions, signed like the keys (stick left = the left arrow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

#: Default (raise key, lower key) per Box dimension: the first dimension on the arrows.
DEFAULT_AXIS_KEYS: tuple[tuple[str | None, str | None], ...] = (
    ("left", "right"),
    ("up", "down"),
    ("w", "s"),
    ("a", "d"),
    ("e", "q"),
    ("r", "f"),
)

#: Environments whose dimensions mean something else than the defaults assume.
ENV_AXIS_KEYS: dict[str, tuple[tuple[str | None, str | None], ...]] = {
    # curvature, positive = left: the left arrow raises it
    "lnn_drive/LaneKeeping-v0": (("left", "right"),),
    # steer (-1 = left), gas, brake
    "CarRacing-v3": (("right", "left"), ("up", None), ("down", None)),
    # the project's adapter: curvature (positive left), longitudinal (gas > 0, brake < 0)
    "lnn_drive/CarRacing-v3": (("left", "right"), ("up", "down")),
}

#: Signal names of each environment's action dimensions (else ``action_<i>``).
ENV_ACTION_NAMES: dict[str, tuple[str, ...]] = {
    "lnn_drive/LaneKeeping-v0": ("steering",),
    "CarRacing-v3": ("steering", "throttle", "brake"),
    "lnn_drive/CarRacing-v3": ("steering", "longitudinal"),
}


@dataclass(frozen=True, kw_only=True)
class KeyMap:
    """How keys drive one action space.

    Attributes:
        space: The environment's action space (``Box`` of rank 1 or ``Discrete``).
        axis_keys: (raise key, lower key) per Box dimension (pygame key names).
        gain: Fraction of the range a held key asks for, in (0, 1].
        rate: Fraction of the way to the target moved per frame, in (0, 1].
    """

    space: gym.Space
    axis_keys: tuple[tuple[str | None, str | None], ...] = DEFAULT_AXIS_KEYS
    gain: float = 0.5
    rate: float = 0.25

    def __post_init__(self) -> None:
        if not (0 < self.gain <= 1 and 0 < self.rate <= 1):
            raise ValueError(f"key gain and rate must be in (0, 1], got {self.gain}, {self.rate}")
        if isinstance(self.space, gym.spaces.Box):
            if len(self.space.shape) != 1:
                raise ValueError(
                    f"teleop needs a 1-D Box action space, got shape {self.space.shape}"
                )
            if self.space.shape[0] > len(self.axis_keys):
                raise ValueError(
                    f"the action space has {self.space.shape[0]} dimensions but only "
                    f"{len(self.axis_keys)} key pairs are mapped"
                )
            if not (np.all(np.isfinite(self.space.low)) and np.all(np.isfinite(self.space.high))):
                raise ValueError("teleop needs a bounded Box action space")
        elif not isinstance(self.space, gym.spaces.Discrete):
            raise ValueError(f"teleop supports Box and Discrete action spaces, not {self.space}")

    @classmethod
    def for_env(cls, env_id: str, space: gym.Space, **kw: float) -> KeyMap:
        return cls(space=space, axis_keys=ENV_AXIS_KEYS.get(env_id, DEFAULT_AXIS_KEYS), **kw)

    @property
    def dims(self) -> int:
        return self.space.shape[0] if isinstance(self.space, gym.spaces.Box) else 1

    @property
    def keys(self) -> set[str]:
        """Every key that means the person is driving."""
        if isinstance(self.space, gym.spaces.Discrete):
            return {str(i % 10) for i in range(1, min(int(self.space.n), 11))}
        return {k for pair in self.axis_keys[: self.dims] for k in pair if k}

    def rest(self) -> np.ndarray:
        """The action with no key held: (dims,) float64."""
        if isinstance(self.space, gym.spaces.Discrete):
            return np.zeros(1)
        return np.clip(0.0, self.space.low, self.space.high).astype(np.float64)

    def target(self, pressed: set[str], stick: Sequence[float] = ()) -> np.ndarray:
        """The action the held keys (and stick deflections in [-1, 1]) ask for."""
        if isinstance(self.space, gym.spaces.Discrete):
            for i in range(1, min(int(self.space.n), 11)):
                if str(i % 10) in pressed:
                    return np.array([float(i)])
            return np.zeros(1)
        rest = self.rest()
        lo, hi = self.space.low.astype(np.float64), self.space.high.astype(np.float64)
        t = np.zeros(self.dims)
        for i, (up, down) in enumerate(self.axis_keys[: self.dims]):
            t[i] = float(up in pressed) - float(down in pressed)
            if i < len(stick) and t[i] == 0:
                # pygame sticks: left/up are negative; a pair raised by left/up flips sign
                t[i] = -stick[i] if up in ("left", "up") else stick[i]
        t = np.clip(t, -1, 1)
        return np.where(
            t >= 0, rest + t * self.gain * (hi - rest), rest + t * self.gain * (rest - lo)
        )

    def step(self, current: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Move ``current`` toward ``target`` by ``rate`` (Discrete: jump)."""
        if isinstance(self.space, gym.spaces.Discrete):
            return target.copy()
        return current + self.rate * (target - current)

    def to_env(self, action: np.ndarray) -> np.ndarray | int:
        """The value ``env.step`` takes."""
        if isinstance(self.space, gym.spaces.Discrete):
            return int(action[0])
        return np.clip(action, self.space.low, self.space.high).astype(self.space.dtype)


def action_names(env_id: str, dims: int, override: Sequence[str] | None = None) -> list[str]:
    """Signal names for the action dimensions."""
    names = list(override or ENV_ACTION_NAMES.get(env_id, ()))
    if len(names) != dims:
        names = [f"action_{i}" for i in range(dims)]
    return names


def parse_key_script(
    items: Sequence[Mapping[str, object]], *, where: str
) -> dict[int, list[tuple[str, bool]]]:
    """``[{"step": 0, "key": "left", "down": true}, ...]`` -> step -> [(key, down)].

    Raises:
        ValueError: naming the entry at fault.
    """
    out: dict[int, list[tuple[str, bool]]] = {}
    for i, it in enumerate(items):
        try:
            step, key, down = int(it["step"]), str(it["key"]), bool(it.get("down", True))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}, entry {i}: needs step (int) and key (name) ({e})") from e
        if step < 0:
            raise ValueError(f"{where}, entry {i}: step must be >= 0, got {step}")
        out.setdefault(step, []).append((key, down))
    return out
