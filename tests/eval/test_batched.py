"""The fast closed loop: batched FastActor rows, in-process environments, the accuracy check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive.envs import env_fn
from lnn_drive.eval.batched import ShadowPolicy, action_error, fast_actor, run_drives_parallel
from lnn_drive.eval.rollout import run_drives
from lnn_drive.models.inference import FastActor
from tests.models.test_models import make_policy


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_batched_rows_are_independent_episodes(precision: str) -> None:
    torch.manual_seed(0)
    p = make_policy("ncp_cfc", h=24, w=64).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (30, 3, 24, 64), dtype=np.uint8)
    actor = FastActor(p, precision=precision, calibration=frames[:16])
    tol = 1e-5 if precision == "fp32" else 1e-2
    assert action_error(actor, p, frames, batch=4) < tol
    # row 1 is reset after step 9: from there it must match a fresh single episode
    actor.reset(3)
    batch = np.stack([frames, frames[::-1], frames], axis=1)  # (T, 3, 3, h, w)
    ours = []
    for t in range(len(frames)):
        if t == 10:
            actor.reset_rows(np.array([False, True, False]))
        ours.append(actor.step_batch(np.ascontiguousarray(batch[t])))
    ours = np.stack(ours)  # (T, 3, k)
    with torch.no_grad():
        fresh, _ = p(torch.from_numpy(frames[::-1][10:].copy())[None])  # (1, T-10, k)
        full, _ = p(torch.from_numpy(frames)[None])
    assert np.abs(ours[10:, 1] - fresh[0].numpy()).max() < tol
    assert np.abs(ours[:, 0] - full[0].numpy()).max() < tol
    assert np.abs(ours[:, 2] - ours[:, 0]).max() < 1e-6  # same inputs, same row result
    with pytest.raises(ValueError, match="reset"):
        actor.step_batch(batch[0, :2].copy())
    with pytest.raises(ValueError, match="mask"):
        actor.reset_rows(np.array([1, 0, 1]))


def test_fast_closed_loop_matches_the_eager_policy() -> None:
    """In closed loop on the real simulator, 8 in-process environments, drives ending and
    restarting at different steps: the eager policy shadows the int8 actor on every frame."""
    policy = make_policy("ncp_cfc").eval()
    fn = env_fn({}, crash_mode="intervene", max_episode_steps=25)
    torch.set_num_threads(1)
    actor = fast_actor(policy, fn, precision="int8")
    assert actor.precision == "int8" and actor.max_error < 1e-2
    shadow = ShadowPolicy(actor, policy)
    seeds = list(range(500, 512))
    traces = run_drives(shadow, fn, seeds=seeds, num_envs=8, vector="inprocess")
    assert [t.seed for t in traces] == seeds
    assert shadow.steps >= sum(t.steps for t in traces)
    assert 0 < shadow.max_error < 1e-2  # int8 is not bit-identical, but within tolerance
    # the fast path drives exactly what the shadowing run drove (same actor, same roads)
    again = run_drives(actor, fn, seeds=seeds, num_envs=8, vector="inprocess")
    for a, b in zip(traces, again, strict=True):
        np.testing.assert_array_equal(a.command, b.command)


@pytest.mark.slow
def test_parallel_workers_give_the_same_traces() -> None:
    policy = make_policy("ncp_cfc").eval()
    fn = env_fn({}, crash_mode="intervene", max_episode_steps=20)
    seeds = list(range(600, 606))
    one = run_drives_parallel(policy, fn, seeds=seeds, workers=1, num_envs=3)
    two = run_drives_parallel(policy, fn, seeds=seeds, workers=2, num_envs=3)
    assert [t.seed for t in two] == seeds
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a.command, b.command, atol=1e-6)
