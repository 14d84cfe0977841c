"""`saliency-seeds`: saliency and neuron dynamics over every training seed's checkpoint.

SSIM of VisualBackProp maps under frame noise with the clean and noisy maps normalised
jointly (Chahine et al.) and per map, attention share on road, markings, horizon and
roadside with 95% intervals over seeds, an untrained-encoder control row per model, PCA on
the hidden state only (an LSTM's h), and decision-tree fidelity against a linear readout on
the same neurons; ``seeds.md`` and ``seeds.json``.

    lnn-drive saliency-seeds benchmark_dir=outputs/benchmark/runs/<ts>
    lnn-drive saliency-seeds 'models={ncp_cfc: [a/best.pt, b/best.pt], lstm: [c/best.pt]}'
    lnn-drive saliency-seeds benchmark_dir=... seeds.noise_scale=snr seeds.frames=400
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lnn_drive.commands.config import plain, to_dataclass
from lnn_drive.commands.saliency import simulator
from lnn_drive.eval.rollout import check_compatible
from lnn_drive.explain.seeds import SeedsConfig, benchmark_checkpoints, explain_over_seeds
from lnn_drive.train.checkpoint import load_policy

CONFIG = "saliency_seeds"


def checkpoint_sets(models: object, bench_dir: object) -> dict[str, list[str]]:
    """Model -> checkpoints, from ``models=`` or ``benchmark_dir=`` (exactly one)."""
    given = {k: v for k, v in (plain(models) or {}).items()} if models else {}
    if bool(given) == bool(bench_dir):
        raise ValueError(
            "give exactly one of models={name: [checkpoint, ...]} and "
            "benchmark_dir=<a benchmark output folder>"
        )
    if bench_dir:
        return benchmark_checkpoints(str(bench_dir))
    out = {}
    for name, paths in given.items():
        items = [paths] if isinstance(paths, str) else [str(p) for p in paths or []]
        if not items:
            raise ValueError(f"models.{name}: no checkpoints (one per training seed)")
        out[str(name)] = items
    return out


def run(cfg: DictConfig) -> int:
    """Explain over seeds; print ``seeds.md`` and the output folder."""
    sets = checkpoint_sets(cfg.models, cfg.benchmark_dir)
    scfg = to_dataclass(SeedsConfig, cfg.seeds, where="seeds.")
    _, make, probe = simulator(cfg)
    try:
        for paths in sets.values():
            for p in paths:
                check_compatible(
                    load_policy(p), probe.observation_space, where=f"environment (checkpoint {p})"
                )
    finally:
        probe.close()
    out = Path(cfg.out_dir)
    explain_over_seeds(sets, make, scfg, out)
    print((out / "seeds.md").read_text())
    print(f"\noutputs: {out}")
    return 0
