"""Behaviour cloning end to end on tiny synthetic logs: checkpoints, resume, errors."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig

import lnn_drive.train.bc as bc
from lnn_drive.commands.config import model_config, train_kwargs
from lnn_drive.models import CheckpointMismatchError, Policy
from lnn_drive.train import NonFiniteLossError, load_checkpoint, save_checkpoint, train
from lnn_drive.train.bc import EpochSampler, TrainConfig, lr_factor, weighted_mse
from lnn_drive.train.checkpoint import TrainState, read_checkpoint

H, W = 24, 64  # small frames keep the CNN cheap; the geometry is the model's input size


@pytest.fixture
def tiny_cfg(make_dataset, compose_cfg, tmp_path: Path) -> Callable[..., DictConfig]:
    root = make_dataset((24, 20, 28, 20), h=H, w=W)

    def make(*overrides: str, run: str = "run") -> DictConfig:
        return compose_cfg(
            "train",
            [
                f"data.roots=[{root}]",
                "data.window=4",
                "data.stride=2",
                "data.batch_size=3",
                "data.val_fraction=0.25",
                f"data.preprocess.height={H}",
                f"data.preprocess.width={W}",
                "train.max_steps=6",
                "train.val_every=3",
                "train.checkpoint_every=2",
                "train.progress=false",
                "train.threads=1",
                f"paths.output_dir={tmp_path}/{run}",
                *overrides,
            ],
        )

    return make


def fit(cfg: DictConfig, **kw) -> dict:
    """``train`` with the typed configs of a composed ``conf/train.yaml``."""
    return train(**train_kwargs(cfg), **kw)


def _weights(path: str) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model_state"]


def test_tiny_train_to_checkpoint_to_closed_loop(tiny_cfg) -> None:
    result = fit(tiny_cfg("model=ncp_ltc"))
    run = Path(result["run_dir"])
    assert result["steps"] == 6 and result["stopped"] == "max_steps"
    assert np.isfinite(result["val_loss"])
    assert (run / "metrics.csv").is_file() and any((run / "tb").iterdir())
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "train/loss" in header and "val/loss" in header
    ck = load_checkpoint(result["last_checkpoint"])
    assert ck["train_state"]["step"] == 6 and ck["optimizer"] is not None
    assert ck["policy"]["model"]["controller"]["seed"] == 1
    assert ck["policy"]["preprocess"]["in_height"] == H
    policy = Policy.load(result["best_checkpoint"])
    assert policy.model_name == "ncp_ltc" and policy.output_names == ["steering"]
    policy.reset()
    frames = np.random.default_rng(0).integers(0, 255, (3, H, W, 3), dtype=np.uint8)
    acts = np.stack([policy.act(f) for f in frames])
    assert acts.shape == (3, 1) and np.isfinite(acts).all()
    assert policy.neuron_state().shape == (1, 19)
    with pytest.raises(ValueError, match="height"):
        policy.act(np.zeros((78, 200, 3), np.uint8))


def test_same_seed_same_weights_and_resume_is_exact(tiny_cfg) -> None:
    a = fit(tiny_cfg(run="a"))

    class Killed(Exception):
        pass

    def kill_at_5(step: int) -> None:
        if step == 5:
            raise Killed

    with pytest.raises(Killed):
        fit(tiny_cfg(run="b"), on_step=kill_at_5)
    assert (
        read_checkpoint(Path(a["run_dir"]).parent / "b/checkpoints/last.pt")["train_state"]["step"]
        == 4
    )
    b = fit(tiny_cfg(run="b"))  # resumes from step 4
    assert b["steps"] == 6
    wa, wb = _weights(a["last_checkpoint"]), _weights(b["last_checkpoint"])
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)
    # metrics.csv of the resumed run has the uninterrupted run's rows, none repeated
    assert _metric_rows(a["run_dir"]) == _metric_rows(b["run_dir"])


def _metric_rows(run_dir: str) -> list[tuple[str, ...]]:
    """(step, names of the metrics present) of each metrics.csv row."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [(r["step"], *sorted(k for k, v in r.items() if v)) for r in csv.DictReader(f)]


def test_nan_loss_names_the_step_and_keeps_the_last_good_checkpoint(tiny_cfg, monkeypatch) -> None:
    calls = {"n": 0}
    real = weighted_mse

    def flaky(pred, target, alpha):
        calls["n"] += 1
        loss = real(pred, target, alpha)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(bc, "weighted_mse", flaky)
    cfg = tiny_cfg()
    with pytest.raises(NonFiniteLossError, match=r"nan at step 5.*last\.pt"):
        fit(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.pt"
    ck = read_checkpoint(last)
    assert ck["train_state"]["step"] == 4
    assert all(torch.isfinite(v).all() for v in ck["model_state"].values() if v.is_floating_point())


def test_resuming_into_another_model_names_the_mismatch(tiny_cfg) -> None:
    fit(tiny_cfg("train.max_steps=2", "train.val_every=2"))
    with pytest.raises(CheckpointMismatchError, match="model.controller"):
        fit(tiny_cfg("train.max_steps=4", "model=lstm"))
    with pytest.raises(CheckpointMismatchError, match="model.controller.seed"):
        fit(tiny_cfg("train.max_steps=4", "model.controller.seed=7"))


def test_checkpoint_round_trip_and_bad_files(tmp_path: Path) -> None:
    from lnn_drive.data import Preprocess
    from tests.models.test_models import model_cfg

    torch.manual_seed(0)
    p = Policy(
        model_cfg=model_cfg("ncp_cfc"),
        preprocess=Preprocess(height=H, width=W).with_input(H, W),
        output_names=["steering"],
        target_mean=[0.1],
        target_std=[0.5],
    )
    opt = torch.optim.Adam(p.parameters())
    path = save_checkpoint(tmp_path / "c.pt", policy=p, optimizer=opt, state=TrainState(step=3))
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind
    q = Policy.load(path)
    x = torch.randint(0, 255, (2, 3, 3, H, W), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(p.eval()(x)[0], q(x)[0])
    assert q.output_std.item() == 0.5
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="not a loadable checkpoint"):
        Policy.load(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointMismatchError, match="not an lnn_drive checkpoint"):
        Policy.load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        Policy.load(tmp_path / "missing.pt")


def test_config_errors_name_the_key(tiny_cfg) -> None:
    with pytest.raises(ValueError, match="train.lr"):
        fit(tiny_cfg("train.lr=-1"))
    with pytest.raises(ValueError, match="train.batch_size=500"):
        fit(tiny_cfg("train.batch_size=500"))
    with pytest.raises(ValueError, match="model.controller.type='nope'"):
        fit(tiny_cfg("model.controller.type=nope"))


@pytest.mark.parametrize(
    "model", ["ncp_ltc", "ncp_cfc", "lstm", "gru", "ctrnn", "cfc", "feedforward"]
)
def test_every_model_group_composes_and_builds(compose_cfg, model: str) -> None:
    from lnn_drive.data import Preprocess

    cfg = compose_cfg("train", [f"model={model}"])
    assert cfg.task_name == "train" and cfg.model.name == model
    p = Policy(
        model_cfg=model_config(cfg.model), preprocess=Preprocess(), output_names=["steering"]
    )
    assert p.controller.in_features == 32


def test_loss_schedule_and_sampler() -> None:
    z = torch.tensor([[0.0], [2.0]])
    pred = torch.tensor([[1.0], [1.0]])
    w = np.exp([0.0, 1.0])
    assert weighted_mse(pred, z, 0.5).item() == pytest.approx(float((w * 1).sum() / w.sum()))
    tc = TrainConfig(warmup_steps=0, min_lr_ratio=0.1)
    assert lr_factor(tc, 0.0, 0) == pytest.approx(1.0)
    assert lr_factor(tc, 1.0, 10) == pytest.approx(0.1)
    assert lr_factor(TrainConfig(schedule="step", step_every=5, step_gamma=0.5), 0.5, 10) == 0.25
    # warm-up: linear over warmup_steps, but never past warmup_fraction of the run
    warm = TrainConfig(warmup_steps=100, warmup_fraction=0.1, schedule="constant")
    assert lr_factor(warm, 0.0, 9) == pytest.approx(0.1)
    assert lr_factor(warm, 0.05, 9) == pytest.approx(0.5)  # half-way through the 10% share
    assert lr_factor(warm, 0.2, 9) == pytest.approx(1.0)  # a short budget is not all warm-up
    assert lr_factor(TrainConfig(warmup_steps=100, warmup_fraction=0.0), 0.5, 49) < 1.0
    s0, s1 = EpochSampler(10, 3, rank=0, world_size=2), EpochSampler(10, 3, rank=1, world_size=2)
    assert set(s0.order(0)).isdisjoint(s1.order(0)) and len(s0.order(0)) == 5
    assert not np.array_equal(s0.order(0), s0.order(1))
    st = TrainState()
    batches = [s0.next_batch(st, 2) for _ in range(3)]
    assert st.epoch == 1 and np.array_equal(batches[2], s0.order(1)[:2])


def test_validation_under_bf16_autocast_matches_fp32(tiny_cfg) -> None:
    from lnn_drive.data.dataset import build_datasets
    from lnn_drive.train.distributed import DistInfo

    cfg = tiny_cfg("model=ncp_cfc", "train.max_steps=2")
    result = fit(cfg)
    policy = Policy.load(result["last_checkpoint"])
    split = build_datasets(train_kwargs(cfg)["data"])
    kw = dict(alpha=0.5, batch_size=4, info=DistInfo())
    ref = bc.evaluate(policy, split.val, **kw)
    got = bc.evaluate(policy, split.val, amp=True, **kw)
    assert set(got) == set(ref) == {"val/loss", "val/mse", "val/mae"}
    for k in ref:  # bf16 encoder, fp32 controller: close, not equal
        assert got[k] == pytest.approx(ref[k], rel=0.05)
    assert got["val/loss"] != ref["val/loss"]  # autocast was really on
