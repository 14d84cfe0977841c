"""The demo end to end through the dispatcher, shrunk (the real one takes ~12 minutes)."""

from __future__ import annotations

import json

import pytest

from lnn_drive.commands import main


@pytest.mark.slow  # ~2.5 min on 2 shared cores: collect, 2-rank training, eval, video
def test_shrunk_demo_runs_every_stage(tmp_path) -> None:
    rc = main(
        [
            "demo",
            f"hydra.run.dir={tmp_path}/demo",
            f"paths.cache_dir={tmp_path}/cache",
            "collect.episodes=4",
            "collect.steps=80",
            "collect.progress=false",
            "train.max_minutes=null",
            "train.max_steps=30",
            "train.val_every=15",
            "train.progress=false",
            "eval.distance_km=0.3",
            "eval.progress=false",
            "demo.saliency_steps=20",
        ]
    )
    assert rc == 0
    s = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert 0.0 <= s["autonomy"] <= 1.0 and set(s["timings_s"]) >= {"collect", "train", "total"}
    for key in ("checkpoint", "eval_video", "saliency_video", "report", "report_html"):
        assert (tmp_path / "demo" / s["artefacts"][key]).exists(), key
