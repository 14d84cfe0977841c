"""`saliency`: saliency and neuron dynamics of one or more checkpoints.

VisualBackProp / input-gradient overlay grids, SSIM of saliency under input noise,
attention shares on semantic regions, neuron traces, wiring diagram, PCA, decision-tree
rules, saliency video; ``summary.md``.

    lnn-drive saliency checkpoints=[runs/ncp/best.pt,runs/lstm/best.pt]
    lnn-drive saliency checkpoints=[...] names=[ncp,lstm] saliency.presets=[autumn,fog]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from omegaconf import DictConfig

from lnn_drive.commands.config import env_config, plain, to_dataclass
from lnn_drive.envs import make_env
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.report import write_json
from lnn_drive.eval.rollout import check_compatible
from lnn_drive.explain.pipeline import SaliencyConfig, explain_policies
from lnn_drive.models.policy import Policy
from lnn_drive.train.checkpoint import load_policy

CONFIG = "saliency"


def checkpoint_list(value: Any) -> list[str]:
    """``checkpoints=`` as a list of paths (a list, or one path / comma-separated paths)."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    else:
        items = [str(v) for v in value or []]
    if not items:
        raise ValueError("no checkpoint given (pass checkpoints=[path/to/best.pt,...])")
    return items


def env_factory(env: EnvConfig):  # noqa: ANN201 - a closure
    """``make(preset)``: the simulator in intervention mode (``None``: the base preset)."""

    def make(preset: str | None) -> gym.Env:
        over = dataclasses.replace(env, crash_mode="intervene")
        if preset:
            over = dataclasses.replace(over, preset=preset)
        return make_env(over)

    return make


def load_policies(paths: list[str], names: list[str], probe: gym.Env) -> dict[str, Policy]:
    """Display name -> policy, each checked against the environment before anything runs."""
    if names and len(names) != len(paths):
        raise ValueError(f"names: {len(names)} names for {len(paths)} checkpoints")
    policies: dict[str, Policy] = {}
    for i, p in enumerate(paths):
        pol = load_policy(p)
        check_compatible(pol, probe.observation_space, where=f"environment (checkpoint {p})")
        name = names[i] if names else str(pol.model_name or Path(p).stem)
        k, base_name = 2, name
        while name in policies:
            name, k = f"{base_name}_{k}", k + 1
        policies[name] = pol
    return policies


def simulator(cfg: DictConfig) -> tuple[EnvConfig, Any, gym.Env]:
    """Set the torch threads (``threads``) and build ``(env config, make(preset), a probe
    env)`` from ``cfg.env``; the caller closes the probe."""
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    env = env_config(cfg.env)
    make = env_factory(env)
    return env, make, make(None)


def run(cfg: DictConfig) -> int:
    """Explain; print ``summary.md`` and the output folder."""
    paths = checkpoint_list(plain(cfg.checkpoints))
    scfg = to_dataclass(SaliencyConfig, cfg.saliency, where="saliency.")
    env, make, probe = simulator(cfg)
    try:
        policies = load_policies(paths, [str(n) for n in cfg.names or []], probe)
    finally:
        probe.close()
    out = Path(cfg.out_dir)
    summary = explain_policies(policies, make, scfg, out, base_preset=env.preset)
    summary["checkpoints"] = dict(zip(policies, paths, strict=True))
    write_json(summary, out / "summary.json")
    print((out / "summary.md").read_text())
    print(f"\noutputs: {out}")
    return 0
