"""Drive it yourself: a pygame window on any registered environment, recorded as a log.

Keys (shown in the window): arrows (and W/S, A/D, ... for further action dimensions; digits
for a ``Discrete`` space) or a gamepad drive; ``Space`` pauses; ``Backspace`` ends the episode
(it is kept); ``Esc`` ends the drive (the episodes so far are kept); with a policy, ``V``
toggles the saliency overlay and ``N`` the neuron activities.

Without a checkpoint the person drives every frame. With one the policy drives, and
whenever the person touches a driving key or deflects the stick, the person's action is
executed instead: a takeover. Each frame records the executed action under the action's
signal names (``steering`` for the car), ``human`` = 1 where the person drove (the labelled
corrections, as in human-gated DAgger) and the policy's own output as ``policy_<name>``;
``takeover`` = 1 on the first frame of each takeover (so the log counts them). Frames are
recorded through the one recording loop, :func:`~lnn_drive.envs.record.record_episodes`,
with :class:`TeleopRule` deciding each step.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import lnn_drive.envs  # noqa: F401  (registers the project's environments)
from lnn_drive.data.log import STANDARD_UNITS, LogWriter
from lnn_drive.envs.record import (
    Decision,
    EndEpisode,
    EndRecording,
    Episode,
    env_dt,
    record_episodes,
)
from lnn_drive.teleop.keys import KeyMap, action_names, parse_key_script

CAR_ID = "lnn_drive/LaneKeeping-v0"

#: Units of the info values the project's simulators report.
INFO_UNITS = {
    "lateral_offset": "m",
    "heading_error": "rad",
    "road_curvature": "1/m",
    "expert_action": "1/m",
    "distance": "m",
}

HELP = "arrows/WASD or gamepad: drive | Space: pause | Backspace: end episode | Esc: quit"


@dataclass(frozen=True, kw_only=True)
class DriveConfig:
    """Options of :func:`drive`.

    Attributes:
        out: Dataset folder to record into (must not exist unless ``overwrite``).
        env_id: Any registered gymnasium environment id.
        env: Options for it (``EnvConfig`` fields for the project's car; else ``gym.make``
            keyword arguments).
        checkpoint: A trained policy (``.pt`` or exported folder) that drives until the
            person takes over; ``None``: the person drives.
        episodes: Episodes to drive (road seeds ``seed``, ``seed + 1``, ...).
        max_steps: Frames per episode at most.
        seed: First reset seed.
        scale: Window zoom of the camera image.
        realtime: Pace frames at the environment's fps (off for scripted runs).
        headless: Use SDL's dummy video driver (no window; for tests and CI).
        key_gain: Fraction of an action range a held key asks for.
        key_rate: Fraction of the way to that moved per frame.
        deadzone: Stick deflection below which a gamepad does not take over.
        saliency: Start with the saliency overlay on (policy only).
        neurons: Start with the neuron-activity panel on (policy only).
        key_script: JSON file of ``[{"step": 0, "key": "left", "down": true}, ...]``, posted
            as key events at those frames (reproducible drives, tests).
        action_names: Signal names of the action dimensions (default: per environment).
        encoding: Frame container of the log.
        overwrite: Replace an existing dataset at ``out``.
    """

    out: str
    env_id: str = CAR_ID
    env: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    episodes: int = 1
    max_steps: int = 1000
    seed: int = 0
    scale: int = 4
    realtime: bool = True
    headless: bool = False
    key_gain: float = 0.5
    key_rate: float = 0.25
    deadzone: float = 0.15
    saliency: bool = False
    neurons: bool = False
    key_script: str | None = None
    action_names: list[str] | None = None
    encoding: str = "ffv1"
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.max_steps < 1:
            raise ValueError(
                f"episodes and max_steps must be >= 1, got {self.episodes}, {self.max_steps}"
            )
        if not 1 <= self.scale <= 12:
            raise ValueError(f"scale must be in 1..12, got {self.scale}")
        if not 0 <= self.deadzone < 1:
            raise ValueError(f"deadzone must be in [0, 1), got {self.deadzone}")
        if self.env_id not in gym.registry:
            raise ValueError(f"env_id {self.env_id!r} is not a registered gymnasium environment")


def _make_env(cfg: DriveConfig) -> gym.Env:
    """The environment; one whose observation is not a camera image observes its render."""
    if cfg.env_id == CAR_ID:
        from lnn_drive.envs import make_env

        env = make_env(dict(cfg.env), render_mode=None, max_episode_steps=cfg.max_steps)
    else:
        env = gym.make(
            cfg.env_id, max_episode_steps=cfg.max_steps, render_mode="rgb_array", **cfg.env
        )
    sp = env.observation_space
    is_image = (
        isinstance(sp, gym.spaces.Box)
        and sp.dtype == np.uint8
        and len(sp.shape) == 3
        and sp.shape[2] == 3
    )
    if not is_image:
        env = gym.wrappers.AddRenderObservation(env, render_only=True)
    return env


def _scalars(info: Mapping[str, Any]) -> dict[str, float]:
    """The finite real scalars of an ``info`` dict (bools excluded), by identifier name."""
    out = {}
    for k, v in info.items():
        if isinstance(v, bool | np.bool_) or not str(k).isidentifier():
            continue
        if isinstance(v, int | float | np.integer | np.floating) and math.isfinite(float(v)):
            out[str(k)] = float(v)
    return out


class _Screen:
    """The pygame window: camera (with optional saliency), HUD, neuron bars."""

    def __init__(self, pg: Any, frame_hw: tuple[int, int], scale: int, title: str) -> None:
        self.pg = pg
        h, w = frame_hw
        self.cam = (w * scale, h * scale)
        self.panel_h = 120
        self.surface = pg.display.set_mode((max(self.cam[0], 480), self.cam[1] + self.panel_h))
        pg.display.set_caption(title)
        self.font = pg.font.Font(None, 20)

    def draw(
        self,
        frame: np.ndarray,
        *,
        lines: list[str],
        action: np.ndarray,
        bounds: tuple[np.ndarray, np.ndarray] | None,
        human: bool,
        neurons: np.ndarray | None,
        groups: Mapping[str, list[int]] | None,
    ) -> None:
        pg = self.pg
        s = self.surface
        s.fill((20, 20, 24))
        img = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))  # (W, H, 3)
        s.blit(pg.transform.scale(img, self.cam), (0, 0))
        y0 = self.cam[1] + 4
        colour = (255, 170, 60) if human else (120, 200, 255)
        for i, text in enumerate(lines):
            s.blit(
                self.font.render(text, True, colour if i == 0 else (220, 220, 220)),
                (6, y0 + 18 * i),
            )
        if bounds is not None:  # one bar per action dimension, centred on 0
            lo, hi = bounds
            for i, a in enumerate(action):
                x0, y = 6, y0 + 18 * len(lines) + 10 * i + 4
                width = 200
                rng = float(max(hi[i] - lo[i], 1e-9))
                zero = x0 + width * float((0 - lo[i]) / rng)
                val = x0 + width * float((np.clip(a, lo[i], hi[i]) - lo[i]) / rng)
                pg.draw.rect(s, (60, 60, 60), (x0, y, width, 6))
                pg.draw.rect(s, colour, (min(zero, val), y, max(abs(val - zero), 2), 6))
        if neurons is not None:
            n = len(neurons)
            x0 = self.surface.get_width() - 8 - 4 * n
            scale = float(np.abs(neurons).max()) or 1.0
            rgb = {"inter": (80, 150, 230), "command": (255, 160, 40), "motor": (80, 210, 90)}
            kind = {i: g for g, idx in (groups or {}).items() for i in idx}
            mid = y0 + 56
            for i, v in enumerate(neurons):
                hgt = int(50 * float(v) / scale)
                c = rgb.get(kind.get(i, ""), (180, 130, 220))
                pg.draw.rect(s, c, (x0 + 4 * i, min(mid, mid - hgt), 3, max(abs(hgt), 1)))
        pg.display.flip()


class TeleopRule:
    """The :class:`~lnn_drive.envs.record.Rule` of a person at the keyboard or gamepad,
    with an optional policy that drives until the person takes over.

    Labels per frame: the executed action (``names``), ``human`` (1: the person drove),
    ``takeover`` (1 on the first frame of each takeover) and, with a policy,
    ``policy_<name>``. Pausing happens inside :meth:`decide`; ``Backspace`` / ``Esc`` /
    closing the window raise :class:`EndEpisode` / :class:`EndRecording`.
    """

    def __init__(
        self,
        *,
        pg: Any,
        cfg: DriveConfig,
        keymap: KeyMap,
        names: list[str],
        policy: Any | None,
        screen: _Screen,
        bounds: tuple[np.ndarray, np.ndarray] | None,
        fps: float,
        script: Mapping[int, list[tuple[str, bool]]],
    ) -> None:
        self.pg, self.cfg, self.keymap, self.names = pg, cfg, keymap, names
        self.policy, self.screen, self.bounds, self.fps, self.script = (
            policy,
            screen,
            bounds,
            fps,
            script,
        )
        self.stick = pg.joystick.Joystick(0) if pg.joystick.get_count() else None
        self.clock = pg.time.Clock()
        self.show_sal, self.show_neu = cfg.saliency, cfg.neurons
        self.step = 0  # frames since the drive began (key scripts count these)
        self.takeovers = self.human_frames = 0
        self.episode = 0

    def reset(self, episode: Episode) -> None:
        if self.policy is not None:
            self.policy.reset()
        self.pressed: set[str] = set()
        self.current = self.keymap.rest()
        self.was_human = False
        self.t = 0
        self.ep_takeovers = 0
        self.episode += 1

    def _events(self) -> bool:
        """Handle pending events; returns whether the drive is paused."""
        pg = self.pg
        for key, down in self.script.get(self.step, []):
            pg.event.post(
                pg.event.Event(pg.KEYDOWN if down else pg.KEYUP, key=pg.key.key_code(key))
            )
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                raise EndRecording
            if ev.type not in (pg.KEYDOWN, pg.KEYUP):
                continue
            name = pg.key.name(ev.key)
            if ev.type == pg.KEYUP:
                self.pressed.discard(name)
                continue
            self.pressed.add(name)
            if name == "escape":
                raise EndRecording
            if name == "backspace" and self.t > 0:
                raise EndEpisode
            if name == "space":
                self.paused = not getattr(self, "paused", False)
            elif name == "v":
                self.show_sal = not self.show_sal
            elif name == "n":
                self.show_neu = not self.show_neu
        return getattr(self, "paused", False)

    def _tick(self) -> None:
        self.step += 1
        if self.cfg.realtime:
            self.clock.tick(self.fps)

    def decide(self, obs: np.ndarray, info: Mapping[str, Any]) -> Decision:
        while self._events():  # paused: keep the window alive, record nothing
            self._tick()
        km, policy = self.keymap, self.policy
        st = self.stick
        axes = [st.get_axis(i) for i in range(st.get_numaxes())] if st else []
        axes = [a if abs(a) > self.cfg.deadzone else 0.0 for a in axes]
        touching = bool(self.pressed & km.keys) or any(axes[: km.dims])
        self.current = km.step(self.current, km.target(self.pressed, axes))
        proposal = None
        human = policy is None or touching
        if policy is not None:
            proposal = np.asarray(policy.act(obs), np.float64)
            if not touching:  # a takeover starts from what the car is doing
                self.current = proposal[: km.dims].copy()
        takeover = human and policy is not None and not self.was_human
        self.was_human = human and policy is not None
        self.takeovers += int(takeover)
        self.ep_takeovers += int(takeover)
        self.human_frames += int(human)
        executed = self.current if human else proposal[: km.dims]
        labels = {n: float(executed[i]) for i, n in enumerate(self.names)}
        labels |= {"human": float(human), "takeover": float(takeover)}
        if proposal is not None:
            labels |= {f"policy_{n}": float(proposal[i]) for i, n in enumerate(policy.output_names)}
        self._draw(obs, labels, executed, human)
        self.t += 1
        self._tick()
        return Decision(action=km.to_env(executed), labels=labels, expert=human)

    def _draw(
        self, obs: np.ndarray, labels: Mapping[str, float], executed: np.ndarray, human: bool
    ) -> None:
        policy = self.policy
        shown = obs
        if policy is not None and self.show_sal:
            from lnn_drive.explain.plots import overlay
            from lnn_drive.explain.video import policy_saliency

            shown = overlay(obs, policy_saliency(policy, obs[None])[0])
        neu = policy is not None and self.show_neu
        self.screen.draw(
            shown,
            lines=[
                f"{'YOU' if human else 'POLICY'} driving   episode {self.episode}/{self.cfg.episodes}"
                f"  frame {self.t}   takeovers {self.ep_takeovers}",
                "  ".join(f"{n}={labels[n]:+.4f}" for n in self.names),
                HELP + (" | V: saliency | N: neurons" if policy is not None else ""),
            ],
            action=np.asarray(executed),
            bounds=self.bounds,
            human=human,
            neurons=policy.neuron_state()[0] if neu else None,
            groups=policy.neuron_groups() if neu else None,
        )


def drive(cfg: DriveConfig) -> dict[str, Any]:
    """Open the window and record the drive through
    :func:`~lnn_drive.envs.record.record_episodes`; returns a summary.

    Returns:
        ``{"out", "episodes", "frames", "human_frames", "takeovers"}``.

    Raises:
        ValueError: a bad option or key script, named.
        ImportError: pygame-ce is not installed.
    """
    if cfg.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        import pygame as pg
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("drive needs pygame-ce: pip install 'lnn_drive[teleop]'") from e
    script = _load_script(cfg.key_script)
    policy = None
    if cfg.checkpoint:
        from lnn_drive.train.checkpoint import load_policy

        policy = load_policy(cfg.checkpoint)
    pg.init()
    try:
        for key in {k for evs in script.values() for k, _ in evs}:
            if pg.key.key_code(key) == pg.K_UNKNOWN:
                raise ValueError(
                    f"key_script: unknown key name {key!r} (pygame names: left, a, space...)"
                )
        env = _make_env(cfg)
        try:
            return _record(pg, cfg, env, policy, script)
        finally:
            env.close()
    finally:
        pg.quit()


def _load_script(path_str: str | None) -> dict[int, list[tuple[str, bool]]]:
    if not path_str:
        return {}
    path = Path(path_str).expanduser()
    try:
        items = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"key_script {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from e
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of key events")
    return parse_key_script(items, where=str(path))


def _record(
    pg: Any, cfg: DriveConfig, env: gym.Env, policy: Any | None, script: Mapping
) -> dict[str, Any]:
    keymap = KeyMap.for_env(cfg.env_id, env.action_space, gain=cfg.key_gain, rate=cfg.key_rate)
    names = action_names(cfg.env_id, keymap.dims, cfg.action_names)
    if policy is not None and list(policy.output_names) != names[: len(policy.output_names)]:
        raise ValueError(
            f"the policy outputs {policy.output_names} but {cfg.env_id} takes {names}; "
            "pass action_names=[...] if they are the same quantities"
        )
    frame, info = env.reset(seed=cfg.seed)  # the camera size and what info reports
    frame = np.asarray(frame, np.uint8)
    fps = 1.0 / env_dt(env)
    observed = {k: k for k in _scalars(info) if k not in names}
    signals = {n: STANDARD_UNITS.get(n, "1") for n in names}
    signals |= {k: INFO_UNITS.get(k, STANDARD_UNITS.get(k, "unknown")) for k in observed}
    signals |= {"human": "1", "takeover": "1"}
    if policy is not None:
        signals |= {f"policy_{n}": signals[n] for n in policy.output_names}
    bounds = (
        (env.action_space.low, env.action_space.high)
        if isinstance(env.action_space, gym.spaces.Box)
        else None
    )
    rule = TeleopRule(
        pg=pg,
        cfg=cfg,
        keymap=keymap,
        names=names,
        policy=policy,
        screen=_Screen(pg, frame.shape[:2], cfg.scale, f"lnn_drive: {cfg.env_id}"),
        bounds=bounds,
        fps=fps,
        script=script,
    )
    driver = "policy" if policy is not None else "human"
    with LogWriter(
        cfg.out,
        height=frame.shape[0],
        width=frame.shape[1],
        fps=fps,
        signals=signals,
        source=f"teleop:{cfg.env_id}",
        encoding=cfg.encoding,
        overwrite=cfg.overwrite,
        extra={
            "env_id": cfg.env_id,
            "env": dict(cfg.env),
            "checkpoint": cfg.checkpoint,
            "keys": {n: list(p) for n, p in zip(names, keymap.axis_keys, strict=False)},
        },
    ) as log:
        stats = record_episodes(
            env,
            log,
            rule,
            episodes=[
                Episode(
                    seed=cfg.seed + e,
                    meta={"seed": cfg.seed + e, "driver": driver},
                    steps=cfg.max_steps,
                )
                for e in range(cfg.episodes)
            ],
            observed=observed,
        )
    return {
        "out": str(Path(cfg.out).absolute()),
        "episodes": stats.episodes,
        "frames": stats.frames,
        "human_frames": rule.human_frames,
        "takeovers": rule.takeovers,
    }
