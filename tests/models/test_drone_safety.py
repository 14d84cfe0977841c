"""The drone's barrier filter: the closed-form 2-D quadratic program is the true optimum,
commands stay within bounds and rate limits, and a policy that flies blind into the trees
collides on almost every scene without the filter and on none with it."""

from __future__ import annotations

import numpy as np
import pytest

from lnn_drive.envs.drone_config import DroneConfig
from lnn_drive.eval.drone import DroneEvalConfig, evaluate_flights
from lnn_drive.models.drone_safety import DroneCBFConfig, DroneSafetyFilter, solve_2d


class Blind:
    """Full speed ahead, slightly descending, each row turning at its own rate."""

    name = "blind"

    def reset(self, batch_size: int = 1) -> None:
        self.n = batch_size

    def reset_rows(self, mask: np.ndarray) -> None:
        return None

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        yaw = np.linspace(-0.4, 0.4, n)
        return np.stack([np.full(n, 3.0), np.zeros(n), np.full(n, -0.2), yaw], 1)


def test_solve_2d_is_the_quadratic_programs_optimum() -> None:
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-4, 4, 201)] * 2), -1).reshape(-1, 2)
    for _ in range(40):
        m = int(rng.integers(1, 5))
        a, b = rng.normal(size=(m, 2)), rng.normal(size=m)
        u0 = rng.normal(size=2) * 2
        u, ok = solve_2d(u0, a, b)
        feasible = grid[np.all(grid @ a.T >= b, axis=1)]
        if not len(feasible):
            continue
        best = feasible[np.argmin(np.sum((feasible - u0) ** 2, axis=1))]
        assert ok and np.all(a @ u >= b - 1e-9)
        assert np.sum((u - u0) ** 2) <= np.sum((best - u0) ** 2) + 1e-9
    u, ok = solve_2d(np.zeros(2), np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, 1.0]))
    assert not ok  # x >= 1 and x <= -1: no point; the least-violating candidate is returned


def test_bounds_and_rate_limits_hold_without_state() -> None:
    env = DroneConfig()
    f = DroneSafetyFilter(Blind(), env, DroneCBFConfig(max_speed=2.0, max_accel=6.0))
    f.reset(3)
    prev = np.zeros((3, 4))
    for _ in range(20):
        u = f.act_batch(np.zeros((3, 8, 8, 3), np.uint8)).astype(np.float64)
        assert np.all(np.abs(u[:, :2]) <= 2.0 + 1e-6) and np.all(np.abs(u) <= env.action_high)
        assert np.all(np.abs(u - prev) <= f.delta + 1e-6)
        prev = u
    assert u[0, 0] == pytest.approx(2.0)  # reached the bound, one rate-limited step at a time
    with pytest.raises(ValueError, match="margin"):
        DroneCBFConfig(margin=-1.0)
    with pytest.raises(ValueError, match="max_speed"):
        DroneCBFConfig(max_speed=float("nan"))


def test_a_blind_policy_collides_without_the_filter_and_never_with_it() -> None:
    env = DroneConfig(height=24, width=48, lost_seconds=60.0, max_episode_steps=300)
    ecfg = DroneEvalConfig(episodes=25, seasons=("summer",), batch=25, first_seed=3_000_000)
    bare = evaluate_flights(Blind(), env, ecfg)[0]
    safe = DroneSafetyFilter(Blind(), env, DroneCBFConfig())
    filtered = evaluate_flights(safe, env, ecfg)[0]
    assert bare.outcomes["collision"] >= 20
    assert filtered.outcomes["collision"] == 0
    assert 0.0 < filtered.filter_stats["filter_changed"] <= 1.0
    assert filtered.to_dict()["filter_changed"] == filtered.filter_stats["filter_changed"]


@pytest.mark.parametrize(
    ("option", "name"),
    [("safety=foo", "safety"), ("cbf.margin=-1", "margin"), ("+cbf.warp=1", "warp")],
)
def test_eval_drone_safety_options_are_checked(tmp_path, capsys, option, name) -> None:
    from lnn_drive.commands import main

    rc = main(["eval-drone", f"checkpoint={tmp_path}/x.pt", option, f"hydra.run.dir={tmp_path}/h"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and name in err[0]


def test_eval_drone_cbf_defaults_equal_the_typed_config() -> None:
    from lnn_drive.commands.config import compose, to_dataclass

    job = compose("eval_drone", ["hydra.run.dir=/tmp/unused", "checkpoint=x"])[0]
    assert to_dataclass(DroneCBFConfig, job.cbf, where="cbf.") == DroneCBFConfig()
