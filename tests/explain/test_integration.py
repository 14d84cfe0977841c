"""The explain area on the real simulator and real (untrained) policies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnn_drive import envs, models
from lnn_drive.commands.config import model_config_named
from lnn_drive.data.preprocess import Preprocess


def _policy(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = model_config_named(name)
    return models.Policy(
        model_cfg=cfg, preprocess=Preprocess().with_input(78, 200), output_names=["steering"]
    )


def _factory(preset):
    over = {"crash_mode": "intervene"}
    if preset:
        over["preset"] = preset
    return envs.make_env({}, **over)


def test_real_policy_saliency_and_errors() -> None:
    from lnn_drive.explain.saliency import SaliencyError, visual_backprop
    from lnn_drive.explain.video import policy_saliency

    pol = _policy("ncp_cfc")
    env = _factory(None)
    obs, _ = env.reset(seed=3)
    env.close()
    sal = policy_saliency(pol, obs[None])
    assert sal.shape == (1, 78, 200) and sal.max() == pytest.approx(1.0)
    with pytest.raises(SaliencyError, match=r"expected \(B, 3, 78, 200\)"):
        visual_backprop(pol, torch.zeros(1, 3, 66, 200, dtype=torch.uint8))
    ff = _policy("feedforward")
    assert visual_backprop(ff, torch.zeros(2, 3, 78, 200)).shape == (2, 78, 200)


@pytest.mark.slow
def test_explain_policies_on_the_simulator(tmp_path) -> None:
    from lnn_drive.explain.pipeline import SaliencyConfig, explain_policies

    scfg = SaliencyConfig(
        frames=8,
        frame_stride=3,
        roads=2,
        noise_variances=[0.2],
        presets=["fog"],
        preset_frames=3,
        grid_frames=2,
        dynamics_steps=30,
        video_steps=6,
        batch=8,
    )
    pols = {"ncp_cfc": _policy("ncp_cfc"), "lstm": _policy("lstm")}
    s = explain_policies(pols, _factory, scfg, tmp_path, base_preset="summer")
    assert (tmp_path / "ncp_cfc" / "wiring.png").exists()
    assert not (tmp_path / "lstm" / "wiring.png").exists()  # no wiring to draw
    assert (tmp_path / "lstm" / "saliency.mp4").exists()
    assert s["dynamics"]["ncp_cfc"]["units"] == 19 and s["dynamics"]["lstm"]["units"] == 128
    shares = s["attention"]["ncp_cfc/clean (summer)"]["share"]
    assert sum(shares[k] for k in ("road", "objects", "sky", "ground")) == pytest.approx(1.0)
    assert np.isfinite(s["ssim"]["lstm"]["0.2"]["mean"])
