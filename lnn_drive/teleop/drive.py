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
each episode's metadata counts its takeovers and takeover frames.
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


def _make_env(cfg: DriveConfig) -> tuple[gym.Env, bool]:
    """The environment, and whether its observation is the camera image (else render)."""
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
    return env, is_image


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


def drive(cfg: DriveConfig) -> dict[str, Any]:
    """Open the window and record the drive; returns a summary.

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
    script: dict[int, list[tuple[str, bool]]] = {}
    if cfg.key_script:
        path = Path(cfg.key_script).expanduser()
        try:
            items = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"key_script {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON ({e})") from e
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list of key events")
        script = parse_key_script(items, where=str(path))
    policy = None
    if cfg.checkpoint:
        from lnn_drive.train.checkpoint import load_policy

        policy = load_policy(cfg.checkpoint)
    pg.init()
    env, obs_is_image = _make_env(cfg)
    keymap = KeyMap.for_env(cfg.env_id, env.action_space, gain=cfg.key_gain, rate=cfg.key_rate)
    for key in {k for evs in script.values() for k, _ in evs}:
        if pg.key.key_code(key) == pg.K_UNKNOWN:
            raise ValueError(
                f"key_script: unknown key name {key!r} (pygame names: left, a, space...)"
            )
    names = action_names(cfg.env_id, keymap.dims, cfg.action_names)
    if policy is not None and list(policy.output_names) != names[: len(policy.output_names)]:
        raise ValueError(
            f"the policy outputs {policy.output_names} but {cfg.env_id} takes {names}; "
            "pass action_names=[...] if they are the same quantities"
        )
    pg.joystick.init()
    stick = pg.joystick.Joystick(0) if pg.joystick.get_count() else None
    show_sal, show_neu = cfg.saliency, cfg.neurons
    frames = human_frames = takeovers = 0
    episodes_done = 0
    try:
        obs, info = env.reset(seed=cfg.seed)
        frame = obs if obs_is_image else env.render()
        frame = np.asarray(frame, np.uint8)
        fps = float(env.metadata.get("render_fps") or 30)
        info_sig = {k: v for k, v in _scalars(info).items() if k not in names}
        signals = {n: STANDARD_UNITS.get(n, "1") for n in names}
        signals |= {k: INFO_UNITS.get(k, STANDARD_UNITS.get(k, "unknown")) for k in info_sig}
        signals["human"] = "1"
        if policy is not None:
            signals |= {f"policy_{n}": signals[n] for n in policy.output_names}
        screen = _Screen(pg, frame.shape[:2], cfg.scale, f"lnn_drive: {cfg.env_id}")
        clock = pg.time.Clock()
        bounds = (
            (env.action_space.low, env.action_space.high)
            if isinstance(env.action_space, gym.spaces.Box)
            else None
        )
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
            quit_all = False
            step = 0  # frames since the drive began (key scripts count these)
            for e in range(cfg.episodes):
                if e:
                    obs, info = env.reset(seed=cfg.seed + e)
                    frame = np.asarray(obs if obs_is_image else env.render(), np.uint8)
                if policy is not None:
                    policy.reset()
                pressed: set[str] = set()
                current = keymap.rest()
                was_human = False
                ep_takeovers = ep_human = 0
                last_info = dict(info_sig)
                with log.episode(
                    meta={"seed": cfg.seed + e, "driver": "policy" if policy else "human"}
                ) as ep:
                    paused = False
                    t = 0
                    while t < cfg.max_steps:
                        for key, down in script.get(step, []):
                            etype = pg.KEYDOWN if down else pg.KEYUP
                            pg.event.post(pg.event.Event(etype, key=pg.key.key_code(key)))
                        end_episode = False
                        for ev in pg.event.get():
                            if ev.type == pg.QUIT:
                                quit_all = end_episode = True
                            elif ev.type in (pg.KEYDOWN, pg.KEYUP):
                                name = pg.key.name(ev.key)
                                if ev.type == pg.KEYUP:
                                    pressed.discard(name)
                                    continue
                                pressed.add(name)
                                if name == "escape":
                                    quit_all = end_episode = True
                                elif name == "backspace":
                                    end_episode = True
                                elif name == "space":
                                    paused = not paused
                                elif name == "v":
                                    show_sal = not show_sal
                                elif name == "n":
                                    show_neu = not show_neu
                        if end_episode:
                            break
                        if paused:
                            step += 1
                            if cfg.realtime:
                                clock.tick(fps)
                            continue
                        axes = (
                            [stick.get_axis(i) for i in range(stick.get_numaxes())] if stick else []
                        )
                        axes = [a if abs(a) > cfg.deadzone else 0.0 for a in axes]
                        touching = bool(pressed & keymap.keys) or any(axes[: keymap.dims])
                        current = keymap.step(current, keymap.target(pressed, axes))
                        proposal = None
                        human = policy is None or touching
                        if policy is not None:
                            proposal = np.asarray(policy.act(frame), np.float64)
                            if not touching:
                                # the policy drives; keep the key state with it so a takeover
                                # starts from what the car is doing
                                current = np.asarray(proposal[: keymap.dims], np.float64).copy()
                        if human and policy is not None and not was_human:
                            takeovers += 1
                            ep_takeovers += 1
                        was_human = human and policy is not None
                        executed = current if human else np.asarray(proposal[: keymap.dims])
                        row = {n: float(executed[i]) for i, n in enumerate(names)}
                        row |= {k: last_info.get(k, 0.0) for k in info_sig}
                        row["human"] = float(human)
                        if proposal is not None:
                            row |= {
                                f"policy_{n}": float(proposal[i])
                                for i, n in enumerate(policy.output_names)
                            }
                        ep.append(frame, timestamp=t / fps, **row)
                        ep_human += int(human)
                        shown = frame
                        if policy is not None and show_sal:
                            from lnn_drive.explain.plots import overlay
                            from lnn_drive.explain.video import policy_saliency

                            shown = overlay(frame, policy_saliency(policy, frame[None])[0])
                        mode = "YOU" if human else "POLICY"
                        lines = [
                            f"{mode} driving   episode {e + 1}/{cfg.episodes}  frame {t}   takeovers {ep_takeovers}",
                            "  ".join(f"{n}={row[n]:+.4f}" for n in names),
                            HELP + (" | V: saliency | N: neurons" if policy is not None else ""),
                        ]
                        screen.draw(
                            shown,
                            lines=lines,
                            action=executed,
                            bounds=bounds,
                            human=human,
                            neurons=policy.neuron_state()[0]
                            if policy is not None and show_neu
                            else None,
                            groups=policy.neuron_groups()
                            if policy is not None and show_neu
                            else None,
                        )
                        obs, _, term, trunc, info = env.step(keymap.to_env(executed))
                        last_info |= {k: v for k, v in _scalars(info).items() if k in info_sig}
                        frame = np.asarray(obs if obs_is_image else env.render(), np.uint8)
                        t += 1
                        step += 1
                        if cfg.realtime:
                            clock.tick(fps)
                        if term or trunc:
                            break
                    ep.meta.update(takeovers=ep_takeovers, human_frames=ep_human)
                    frames += len(ep)
                    human_frames += ep_human
                    if len(ep):
                        episodes_done += 1
                    else:
                        ep.abort()  # ended before its first frame: nothing to keep
                if quit_all:
                    break
    finally:
        env.close()
        pg.quit()
    return {
        "out": str(Path(cfg.out).absolute()),
        "episodes": episodes_done,
        "frames": frames,
        "human_frames": human_frames,
        "takeovers": takeovers,
    }
