"""`dagger`: behaviour cloning plus DAgger rounds in the simulator.

    lnn-drive dagger [model=ncp_cfc] [data.roots=[...]] [dagger.rounds=3] [train.max_minutes=3]

Round 0 trains on ``data.roots``; each later round drives fresh roads with the
expert/learner mixture, labels every frame with the expert's action, adds the round to the
data and retrains. ``init_checkpoint=<best.pt>`` makes it a fine-tune: round 0 is that
checkpoint and each round starts from the previous round's best weights.

An adapted external environment (``lnn_drive.envs.adapters``) works the same way; its
experiment file sets the env, the outputs and the frame geometry:

    lnn-drive dagger +experiment=carracing data.roots=[data/carracing] init_checkpoint=<best.pt>
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lnn_drive.commands.config import (
    UsageError,
    env_config,
    plain,
    print_error,
    run_dir,
    to_dataclass,
    train_configs,
)
from lnn_drive.commands.train import NONFINITE_EXIT
from lnn_drive.train.bc import NonFiniteLossError, train_summary
from lnn_drive.train.dagger import DaggerConfig, dagger

CONFIG = "dagger"


def adapted_env_fn(node: Any) -> Callable[[], Any] | None:
    """A constructor of the adapted environment the ``env`` group names by ``id`` (one
    registered from :mod:`lnn_drive.envs.adapters`), built once now so a bad option fails
    before any training; ``None`` for this project's own simulators."""
    import gymnasium as gym

    env_id = str((plain(node) or {}).get("id") or "")
    try:
        entry = gym.spec(env_id).entry_point if env_id else None
    except gym.error.Error:
        return None
    if not (isinstance(entry, str) and entry.startswith("lnn_drive.envs.adapters.")):
        return None
    options = {k: v for k, v in plain(node).items() if k not in ("id", "preprocess")}
    fn = functools.partial(gym.make, env_id, config=options)
    try:
        fn().close()
    except ValueError as e:
        raise UsageError(f"env: {e}") from None
    return fn


def run(cfg: DictConfig) -> int:
    """Run DAgger; print one line per round and write ``dagger.json``."""
    tc, data, model = train_configs(cfg)
    dcfg = to_dataclass(DaggerConfig, cfg.dagger, where="dagger.")
    init = str(cfg.get("init_checkpoint") or "")
    if init and not Path(init).is_file():
        raise FileNotFoundError(f"init_checkpoint={init}: no such file")
    env_fn = adapted_env_fn(cfg.env)
    out = run_dir(cfg)
    try:
        result = dagger(
            dcfg,
            train=tc,
            data=data,
            model=model,
            env=None if env_fn is not None else env_config(cfg.env),
            out_dir=out,
            init_checkpoint=init or None,
            env_fn=env_fn,
        )
    except NonFiniteLossError as e:
        print_error(e)
        return NONFINITE_EXIT
    for r in result["rounds"]:
        col = r.get("collect")
        extra = (
            f", collected {col['frames']} frames (expert share {col['expert_share']:.2f}, "
            f"{col['interventions']} interventions)"
            if col
            else ""
        )
        val = r["train"].get("val_loss")
        trained = f"val loss {val:.4f}" if val is not None else "the init checkpoint"
        print(f"round {r['round']}: beta {r['beta']:.3f}, {trained}{extra}")
    summary = {k: v for k, v in result.items() if k != "rounds"}
    summary["rounds"] = [
        {
            "round": r["round"],
            "beta": r["beta"],
            "collect": r.get("collect"),
            "val_loss": r["train"].get("val_loss"),
            "best_checkpoint": r["train"]["best_checkpoint"],
        }
        for r in result["rounds"]
    ]
    path = out / "dagger.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    print(train_summary(result))
    print(f"summary: {path}")
    return 0
