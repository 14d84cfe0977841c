"""The fast closed loop: batched FastActor rows, in-process environments, the accuracy check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive.envs import env_fn
from lnn_drive.eval.batched import (
    FastDrives,
    ShadowPolicy,
    action_error,
    fast_actor,
    run_drives_parallel,
)
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


def test_workers_act_within_tolerance_of_the_eager_policy() -> None:
    """A session with a worker process: several runs (clean, then frame noise) reuse the
    one actor and the same worker, and every command is within 1e-2 of what the eager
    policy commands on the same roads with the same noise."""
    policy = make_policy("ncp_cfc").eval()
    fn = env_fn({}, crash_mode="intervene", max_episode_steps=25)
    seeds = list(range(700, 706))
    torch.set_num_threads(1)
    with FastDrives(policy, fn, workers=2, num_envs=2, check_noise=[(0.3, False)]) as session:
        procs = list(session._procs)
        assert len(procs) == 1 and session.actor.max_error < 1e-2
        for variance in (0.0, 0.1):
            timings: dict[str, float] = {}
            fast = session.run(fn, seeds=seeds, noise_variance=variance, timings=timings)
            eager = run_drives(
                policy, fn, seeds=seeds, num_envs=2, vector="inprocess", noise_variance=variance
            )
            assert [t.seed for t in fast] == seeds and timings["loop_s"] > 0
            for a, b in zip(fast, eager, strict=True):
                assert len(a.command) == len(b.command)
                assert np.abs(a.command - b.command).max() < 1e-2
        assert session.builds == 1 and session._procs == procs and procs[0].is_alive()
        # a run split differently (this process alone) drives the same traces
        alone = session.run(fn, seeds=seeds, noise_variance=0.1, workers=1)
        for a, b in zip(alone, fast, strict=True):
            np.testing.assert_allclose(a.command, b.command, atol=1e-6)
    assert not procs[0].is_alive()


def test_evaluate_builds_one_session_for_every_condition(monkeypatch, tmp_path) -> None:
    """Clean, noise and preset conditions share one session: one actor build (checked on
    the preset's frames and with the condition's noise), one set of worker processes."""
    import lnn_drive.eval.batched as batched
    import lnn_drive.eval.evaluate as evaluate
    from lnn_drive.envs.config import EnvConfig

    builds: list[dict] = []
    sessions: list[FastDrives] = []
    real_build, real_session = batched.fast_actor, evaluate.FastDrives

    def counting_build(*args, **kw):
        builds.append(kw)
        return real_build(*args, **kw)

    def counting_session(*args, **kw):
        sessions.append(real_session(*args, **kw))
        return sessions[-1]

    monkeypatch.setattr(batched, "fast_actor", counting_build)
    monkeypatch.setattr(evaluate, "FastDrives", counting_session)
    monkeypatch.setattr(evaluate, "STEPS_PER_WORKER", 1)  # a worker even for this short run
    ecfg = evaluate.EvalConfig(
        distance_km=0.03,
        drive_steps=20,
        num_envs=2,
        workers=2,
        noise_variances=[0.1],
        presets=["fog"],
        video_steps=10,
        progress=False,
    )
    policy = make_policy("ncp_cfc").eval()
    res = evaluate.evaluate_policy(policy, EnvConfig(), ecfg, out_dir=tmp_path)
    assert list(res["metrics"]) == ["clean", "noise=0.1", "preset=fog"]
    # the first drive is driven in this process, so the video is written with workers
    assert (tmp_path / "drive.mp4").stat().st_size > 0
    assert len(sessions) == 1 and len(builds) == 1
    assert len(builds[0]["check_fns"]) == 1  # the fog preset's frames
    assert builds[0]["check_noise"] == [(pytest.approx(0.1**0.5), False)]
    assert res["wall_s"]["setup"] > 0 and sessions[0].workers == 2
    assert not sessions[0]._procs  # closed with the evaluation
    # a short evaluation does not start a worker it would not win back
    monkeypatch.setattr(evaluate, "STEPS_PER_WORKER", 10_000)
    evaluate.evaluate_policy(policy, EnvConfig(), ecfg)
    assert len(sessions) == 2 and sessions[1].workers == 1
