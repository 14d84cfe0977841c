"""Closed-loop evaluation of flight policies in ``lnn_drive/FlyToTarget-v0``.

A condition is a season plus a frame-noise variance (the NCP paper's protocol: Gaussian
noise of that variance on the [0, 1] scale). Each condition flies the same ``episodes``
held-out scene seeds (``first_seed``, ``first_seed + 1``, ...), ``batch`` environments at a
time with one batched policy call per step, and reports the success rate with its Wilson
95% interval, every failure mode, and the mean time to the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lnn_drive.envs.drone_config import OUTCOMES, SEASONS, DroneConfig
from lnn_drive.envs.fly_to_target import make_drone_env
from lnn_drive.envs.record import Episode, ListRows, Step, drive_rows
from lnn_drive.eval.figures import save_figure
from lnn_drive.eval.wrappers import add_frame_noise


class BatchFlightPolicy(Protocol):
    """What the evaluation needs of a policy (a :class:`~lnn_drive.models.Policy` fits)."""

    def reset(self, batch_size: int = 1) -> None: ...

    def reset_rows(self, mask: np.ndarray) -> None: ...

    def act_batch(self, frames: np.ndarray) -> np.ndarray: ...


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (95% for z = 1.96)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def condition_name(season: str, noise_variance: float) -> str:
    """``summer`` clean, ``summer+noise0.1`` with frame noise of that variance."""
    return season if noise_variance == 0 else f"{season}+noise{float(noise_variance):g}"


@dataclass(frozen=True, kw_only=True)
class DroneEvalConfig:
    """What :func:`evaluate_flights` flies.

    Attributes:
        episodes: Episodes per condition (>= 100 for the issue's statistics).
        seasons: Seasons evaluated (the first is taken as in distribution).
        noise_variances: Frame-noise variances (0 = clean); every season x variance is a
            condition.
        first_seed: Scene seed of the first episode; keep it away from training seeds.
        batch: Environments flown in parallel (one batched policy call per step).
        noise_seed: Seed of the frame noise.
        keep_paths: Top-view paths kept per condition (for plots).
    """

    episodes: int = 100
    seasons: tuple[str, ...] = SEASONS
    noise_variances: tuple[float, ...] = (0.0,)
    first_seed: int = 2_000_000
    batch: int = 25
    noise_seed: int = 0
    keep_paths: int = 10

    def __post_init__(self) -> None:
        if (
            isinstance(self.episodes, bool)
            or not isinstance(self.episodes, int)
            or self.episodes < 1
        ):
            raise ValueError(f"eval.episodes must be an integer >= 1, got {self.episodes!r}")
        if not self.seasons:
            raise ValueError("eval.seasons: at least one season")
        for s in self.seasons:
            if s not in SEASONS:
                raise ValueError(f"eval.seasons: unknown season {s!r}; valid: {', '.join(SEASONS)}")
        for v in self.noise_variances:
            if not (isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1):
                raise ValueError(f"eval.noise_variances: each must be in [0, 1], got {v!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"eval.batch must be an integer >= 1, got {self.batch!r}")


@dataclass(frozen=True, kw_only=True)
class ConditionResult:
    """Outcome counts of one condition.

    Attributes:
        season, noise_variance: The condition.
        episodes: Episodes flown.
        outcomes: Outcome (``success``, ``timeout``, ``collision``, ``target_lost``) -> count.
        mean_time_s: Mean time to the target over successful episodes (NaN if none).
        paths: Top-view paths (x, y) (T, 2) of the first episodes, with the target
            position and the outcome.
        filter_stats: With a safety filter around the policy: the share of commands it
            changed and the steps it decided without a feasible command.
    """

    season: str
    noise_variance: float
    episodes: int
    outcomes: dict[str, int]
    mean_time_s: float
    paths: list[dict[str, Any]] = field(default_factory=list)
    filter_stats: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return condition_name(self.season, self.noise_variance)

    @property
    def success_rate(self) -> float:
        return self.outcomes["success"] / self.episodes

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.outcomes["success"], self.episodes)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {
            "condition": self.name,
            "season": self.season,
            "noise_variance": self.noise_variance,
            "episodes": self.episodes,
            **self.outcomes,
            "success_rate": self.success_rate,
            "ci95": [lo, hi],
            "mean_time_s": self.mean_time_s,
            **self.filter_stats,
        }


class _Flights:
    """:class:`~lnn_drive.envs.record.RowDriver` of one group of flights: the policy flies
    every row with one batched step on the (noisy) frames; outcomes and the first paths are
    kept."""

    def __init__(
        self,
        policy: BatchFlightPolicy,
        envs: Sequence[Any],
        seeds: Sequence[int],
        *,
        std: float,
        rng: np.random.Generator,
        high: float,
    ) -> None:
        self.policy, self.envs, self.std, self.rng, self.high = policy, envs, std, rng, high
        self.queue = [int(s) for s in seeds]
        self.seeds = list(self.queue)
        self.trails: list[list[tuple[float, float]]] = [[(0.0, 0.0)] for _ in seeds]
        self.ended: list[tuple[str, int]] = []
        self.paths: list[dict[str, Any]] = []
        self.keep = 0
        self.started = False
        # a safety filter reads each row's state from the simulator's info
        self.observe = getattr(policy, "observe", None)

    def next_episode(self) -> Episode | None:
        return Episode(seed=self.queue.pop(0)) if self.queue else None

    def begin(self, rows: np.ndarray, episodes: Sequence[Episode | None], info: Any) -> None:
        if not self.started:  # the group's first reset; finished rows stay idle
            self.started = True
            self.policy.reset(len(self.envs))
        if self.observe is not None:
            for i in np.flatnonzero(rows):
                self.observe(info[i], int(i))

    def act(self, obs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = add_frame_noise(obs, self.std, self.rng) if self.std > 0 else obs
        actions = np.asarray(self.policy.act_batch(frames), np.float32)
        return np.clip(actions, -self.high, self.high), np.zeros(len(obs), bool)

    def record(self, actions: np.ndarray, step: Step, live: np.ndarray) -> np.ndarray:
        for i in np.flatnonzero(live):
            info = step.info[i]
            if self.observe is not None:
                self.observe(info, int(i))
            self.trails[i].append((info["x"], info["y"]))
            if step.terminated[i] or step.truncated[i]:
                self.ended.append((info["outcome"], info["steps"]))
                if i < self.keep:
                    self.paths.append(
                        {
                            "seed": self.seeds[i],
                            "xy": np.asarray(self.trails[i]),
                            "target": self.envs[i].unwrapped.world.target,
                            "outcome": info["outcome"],
                        }
                    )
        return np.asarray(step.terminated) | np.asarray(step.truncated)

    def end(self, rows: np.ndarray) -> None:
        return None


def fly_condition(
    policy: BatchFlightPolicy,
    env_cfg: DroneConfig,
    ecfg: DroneEvalConfig,
    *,
    season: str,
    noise_variance: float,
) -> ConditionResult:
    """Fly ``ecfg.episodes`` held-out episodes of one condition, ``ecfg.batch`` at a time."""
    counts = dict.fromkeys(OUTCOMES, 0)
    times: list[float] = []
    paths: list[dict[str, Any]] = []
    std = math.sqrt(noise_variance)
    rng = np.random.default_rng([ecfg.noise_seed, int(noise_variance * 1e6)])
    high = env_cfg.action_high
    seeds = list(range(ecfg.first_seed, ecfg.first_seed + ecfg.episodes))
    before = {k: getattr(policy, k, 0) for k in ("steps", "changed", "infeasible")}
    for start in range(0, len(seeds), ecfg.batch):
        group = seeds[start : start + ecfg.batch]
        envs = [make_drone_env(env_cfg, season=season, render_mode=None) for _ in group]
        try:
            flights = _Flights(policy, envs, group, std=std, rng=rng, high=high)
            flights.keep = max(0, ecfg.keep_paths - start)
            drive_rows(ListRows(envs), flights)
        finally:
            for e in envs:
                e.close()
        for outcome, steps in flights.ended:
            counts[outcome] += 1
            if outcome == "success":
                times.append(steps * env_cfg.dt)
        paths.extend(flights.paths)
    return ConditionResult(
        season=season,
        noise_variance=float(noise_variance),
        episodes=ecfg.episodes,
        outcomes=counts,
        mean_time_s=float(np.mean(times)) if times else math.nan,
        paths=paths,
        filter_stats=(
            {
                "filter_changed": (policy.changed - before["changed"])
                / max(policy.steps - before["steps"], 1),
                "filter_infeasible_steps": policy.infeasible - before["infeasible"],
            }
            if hasattr(policy, "infeasible")
            else {}
        ),
    )


def evaluate_flights(
    policy: BatchFlightPolicy, env_cfg: DroneConfig, ecfg: DroneEvalConfig
) -> list[ConditionResult]:
    """Every season x noise condition of ``ecfg``, in that order."""
    return [
        fly_condition(policy, env_cfg, ecfg, season=s, noise_variance=v)
        for s in ecfg.seasons
        for v in ecfg.noise_variances
    ]


def results_table(results: Sequence[ConditionResult]) -> str:
    """Markdown table of the conditions."""
    filtered = any(r.filter_stats for r in results)
    extra = " filter changed | infeasible steps |" if filtered else ""
    lines = [
        "| condition | episodes | success (95% Wilson CI) | timeout | collision | target lost | time to target |"
        + extra,
        "|---|---|---|---|---|---|---|" + ("---|---|" if filtered else ""),
    ]
    for r in results:
        lo, hi = r.interval
        o = r.outcomes
        f = r.filter_stats
        cells = (
            f" {f.get('filter_changed', 0):.1%} | {f.get('filter_infeasible_steps', 0)} |"
            if filtered
            else ""
        )
        lines.append(
            f"| {r.name} | {r.episodes} | {r.success_rate:.1%} [{lo:.1%}, {hi:.1%}] | "
            f"{o['timeout']} | {o['collision']} | {o['target_lost']} | {r.mean_time_s:.1f} s |"
            + cells
        )
    return "\n".join(lines)


def plot_paths(results: Sequence[ConditionResult], path: str | Path) -> Path:
    """Top view of the kept paths, one panel per condition (start at the origin, each
    path rotated so that its target lies on the +x axis); green = success."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        for p in r.paths:
            tx, ty = p["target"]
            a = -math.atan2(ty, tx)
            c, s = math.cos(a), math.sin(a)
            xy = p["xy"] @ np.array([[c, s], [-s, c]])  # (T, 2) rotated: target on +x
            colour = "tab:green" if p["outcome"] == "success" else "tab:red"
            ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=1)
            ax.plot(math.hypot(tx, ty), 0, "s", color="crimson", ms=4)
        ax.plot(0, 0, "ko", ms=3)
        ax.set_title(f"{r.name}: {r.success_rate:.0%}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("m towards the target")
    axes[0][0].set_ylabel("m")
    return save_figure(fig, path)


__all__ = [
    "ConditionResult",
    "DroneEvalConfig",
    "condition_name",
    "evaluate_flights",
    "fly_condition",
    "plot_paths",
    "results_table",
    "wilson_interval",
]
