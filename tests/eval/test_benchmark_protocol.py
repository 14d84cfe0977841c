"""The benchmark's training protocol on a shrunk run: per-model lr sweep on validation
loss, early-stopped BC runs, DAgger fine-tuning the BC checkpoint against BC at the same
budget, budgets and curves in the results, and the report regenerated from the results
alone (``lnn-drive benchmark-report``). Training is a stand-in that writes real
checkpoints and ``metrics.csv``; the DAgger rounds and the evaluation really drive."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lnn_drive.data import DataConfig
from lnn_drive.envs.collect import CollectConfig
from lnn_drive.envs.config import EnvConfig
from lnn_drive.eval.benchmark import (
    BenchmarkConfig,
    BenchmarkRecipe,
    benchmark,
)
from lnn_drive.eval.benchmark_report import load_results
from lnn_drive.eval.evaluate import EvalConfig
from lnn_drive.eval.provenance import StaleResultError
from lnn_drive.models.config import ModelConfig
from lnn_drive.train import TrainConfig
from lnn_drive.train.checkpoint import save_checkpoint
from lnn_drive.train.dagger import DaggerConfig
from tests.models.test_models import make_policy

GRID = (1e-3, 3e-3, 1e-2)


def _fake_train(calls: list[dict]):
    def train_fn(tc, *, data, model, run_dir):
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        steps = tc.max_steps if tc.patience is None else 40  # early stopping ends BC runs
        # validation loss is lowest at lr = 3e-3, whatever the seed
        val = abs(math.log10(tc.lr / 3e-3)) + 0.1 + 0.01 * tc.seed
        rows = ["step,train/loss,val/loss"] + [
            f"{s},{val + 1 / s},{val + 0.5 / s}" for s in range(10, steps + 1, 10)
        ]
        (run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
        path = save_checkpoint(run_dir / "checkpoints" / "best.pt", policy=make_policy("ncp_cfc"))
        calls.append(
            {
                "lr": tc.lr,
                "seed": tc.seed,
                "max_steps": tc.max_steps,
                "patience": tc.patience,
                "init": tc.init_checkpoint,
                "roots": len(data.roots),
                "run_dir": str(run_dir),
            }
        )
        return {
            "best_checkpoint": str(path),
            "val_loss": val,
            "steps": steps,
            "stopped": "max_steps" if tc.patience is None else "early_stopping",
            "best_step": steps,
        }

    return train_fn


def _recipe(tmp_path: Path) -> BenchmarkRecipe:
    return BenchmarkRecipe(
        models={"ncp_cfc": ModelConfig()},
        train=TrainConfig(max_steps=1000, patience=3, progress=False),
        data=DataConfig(),
        dagger=DaggerConfig(rounds=2, episodes_per_round=1, steps_per_episode=5),
        collect=CollectConfig(out=str(tmp_path / "logs")),
        env=EnvConfig(),
        eval=EvalConfig(
            distance_km=0.01, drive_steps=5, actor="eager", video=False, progress=False
        ),
    )


def test_protocol_sweeps_fine_tunes_and_reports_from_results(tmp_path: Path, run_command) -> None:
    calls: list[dict] = []
    results_dir = tmp_path / "results"
    bcfg = BenchmarkConfig(
        models=("ncp_cfc",),
        seeds=(0,),
        dagger_models=("ncp_cfc",),
        data_root=str(tmp_path),
        train_procs=1,
        results_dir=str(results_dir),
        lr_grid=GRID,
        tune_seed=100,
        dagger_steps=20,
    )
    recipe = _recipe(tmp_path)
    out = benchmark(bcfg, recipe, out_dir=tmp_path / "run", train_fn=_fake_train(calls))

    sweep = [c for c in calls if "/sweep/" in c["run_dir"]]
    assert [c["lr"] for c in sweep] == list(GRID) and {c["seed"] for c in sweep} == {100}
    bc = {c["seed"]: c for c in calls if c["run_dir"].endswith("ncp_cfc/seed0")}
    assert {s: c["lr"] for s, c in bc.items()} == {0: 3e-3}  # the sweep's choice
    assert all(c["patience"] == 3 and c["init"] is None for c in bc.values())
    more = [c for c in calls if "+bc_more/" in c["run_dir"]]
    dag = [c for c in calls if "+dagger/" in c["run_dir"]]
    # both fine-tune the BC run's checkpoint of their seed: 2 rounds x 20 steps = 40 steps
    assert [c["max_steps"] for c in more] == [40] and all(c["patience"] is None for c in more)
    assert [c["max_steps"] for c in dag] == [20, 20] and len(calls) == 3 + 1 + 1 + 2
    assert more[0]["init"].startswith(bc[0]["run_dir"]) and dag[0]["init"].startswith(
        bc[0]["run_dir"]
    )
    assert dag[1]["init"].startswith(dag[0]["run_dir"]) and dag[1]["roots"] == 3

    res = out["results"]
    assert set(res) == {"NCP (CfC)", "NCP (CfC) + BC (equal budget)", "NCP (CfC) + DAgger"}
    b0, m0, d0 = (res[n][0] for n in res)
    assert b0["budget"]["steps"] == 40 and b0["budget"]["stopped"] == "early_stopping"
    assert m0["budget"]["steps"] == d0["budget"]["steps"] == 40 + 40  # equal budget
    assert b0["budget"]["frames"] == 40 * recipe.train.batch_size * recipe.data.window
    assert d0["budget"]["dagger_frames"] == 2 * 5 and b0["lr"] == 3e-3
    assert b0["curve"]["val_step"] == [10, 20, 30, 40]
    assert d0["curve"]["val_step"] == [10, 20, 30, 40]  # the two rounds, end to end

    # everything is stored: a second run trains nothing, the sweep included
    n = len(calls)
    benchmark(bcfg, recipe, out_dir=tmp_path / "run", train_fn=_fake_train(calls))
    assert len(calls) == n
    with pytest.raises(StaleResultError, match="stale"):
        benchmark(
            BenchmarkConfig(**{**bcfg.__dict__, "lr_grid": (1e-3, 1e-2)}),
            recipe,
            out_dir=tmp_path / "run",
            train_fn=_fake_train(calls),
        )
    assert len(calls) == n

    # the report from the stored results alone
    assert list(load_results(results_dir)) == list(res)
    how = tmp_path / "how.md"
    how.write_text("## How to run it\n\nshards.\n")
    code, stdout, _ = run_command(
        [
            "benchmark-report",
            f"results={results_dir}",
            f"report={tmp_path / 'docs' / 'b.md'}",
            f"how_to_run={how}",
        ]
    )
    assert code == 0 and "3 complete runs" in stdout
    text = (tmp_path / "docs" / "b.md").read_text()
    assert "| NCP (CfC) | 0.001: 1.5771, 0.003: 1.1000, 0.01: 1.6229 | 0.003 |" in text
    assert "| NCP (CfC) | 0 | 0.003 | 40 | 5,120 |" in text
    assert "### DAgger against BC at equal budget" in text
    assert text.rstrip().endswith("shards.")
    assert (tmp_path / "docs" / "b_learning_curves.png").stat().st_size > 0
    code, _, err = run_command(["benchmark-report", f"results={tmp_path / 'nothing'}"])
    assert code == 2 and err.startswith("error:") and "nothing" in err


def test_full_protocol_experiment_meets_the_issue_and_quick_shrinks_it() -> None:
    from lnn_drive.commands.config import compose, env_config, eval_config, to_dataclass
    from lnn_drive.eval.evaluate import _num_drives

    def load(name: str):
        job = compose("benchmark", ["hydra.run.dir=/tmp/unused", f"experiment={name}"])[0]
        return job, to_dataclass(BenchmarkConfig, job.benchmark, where="benchmark.")

    job, full = load("benchmark_hard_v2")
    assert {"ncp_ltc", "ncp_cfc", "lstm", "ctrnn", "feedforward"} <= set(full.models)
    assert len(full.seeds) >= 5 and len(full.lr_grid) >= 3 and full.tune_seed not in full.seeds
    ev, env = eval_config(job.eval), env_config(job.env)
    assert ev.distance_km >= 20 and _num_drives(ev, env.speed, env.dt) >= 60
    assert _num_drives(ev, env.speed, env.dt) <= full.roads.test_count
    assert job.env.id == "lnn_drive/LaneKeepingHard-v0" and ev.noise_variances and ev.presets
    assert job.train.patience and job.train.max_steps >= 10 * job.train.val_every
    quick_job, quick = load("benchmark_quick")
    assert quick.lr_grid and quick.dagger_models and len(quick.seeds) < len(full.seeds)
    assert eval_config(quick_job.eval).distance_km < ev.distance_km
    assert quick_job.env.id == job.env.id


@pytest.mark.slow
def test_quick_experiment_end_to_end(tmp_path: Path, run_command) -> None:
    """The whole quick profile through the commands (many minutes on 2 cores)."""
    results = tmp_path / "results"
    code, _, err = run_command(
        [
            "benchmark",
            "experiment=benchmark_quick",
            f"benchmark.results_dir={results}",
            f"paths.output_dir={tmp_path / 'out'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ]
    )
    assert code == 0, err
    assert len(list(results.glob("sweeps/*.json"))) == 2
    code, out, err = run_command(
        ["benchmark-report", f"results={results}", f"report={tmp_path / 'b.md'}", "how_to_run="]
    )
    assert code == 0, err
    text = (tmp_path / "b.md").read_text()
    assert "## Training protocol" in text and "DAgger against BC at equal budget" in text
