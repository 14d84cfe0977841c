"""The benchmark report states plainly how the NCP compares, from whatever the runs gave."""

from __future__ import annotations

from pathlib import Path

import pytest

from lnn_drive.eval.benchmark import BenchmarkConfig
from lnn_drive.eval.benchmark_report import write_report
from lnn_drive.eval.evaluate import EvalConfig, conditions


def _run(aut: dict[str, float], seed: int) -> dict:
    metrics = {
        c: {
            "autonomy": a,
            "interventions_per_km": (1 - a) * 10,
            "mean_abs_offset": 0.2,
            "max_abs_offset": 1.0,
            "mean_abs_heading_error": 0.01,
            "smoothness": 0.001,
            "interventions": round((1 - a) * 100),
            "distance_km": 10.0,
            "elapsed_s": 1000.0,
        }
        for c, a in aut.items()
    }
    summary = {"encoder_params": 79420, "neurons": 19, "synapses": 253, "controller_params": 1065}
    return {
        "metrics": metrics,
        "summary": summary,
        "val_loss": 0.1 + seed,
        "train_s": 60.0,
        "seed": seed,
    }


def test_report_ranks_ncp_and_says_when_it_loses(tmp_path: Path) -> None:
    results = {
        "NCP (CfC)": [_run({"clean": 0.99, "noise=0.1": 0.90}, s) for s in range(3)],
        "LSTM-64": [_run({"clean": 0.97, "noise=0.1": 0.95}, s) for s in range(3)],
        "CNN (feedforward)": [_run({"clean": 0.5, "noise=0.1": 0.4}, s) for s in range(3)],
    }
    path = write_report(
        results,
        path=tmp_path / "bench.md",
        bcfg=BenchmarkConfig(models=["ncp_cfc", "lstm", "feedforward"]),
        ecfg=EvalConfig(),
        command="python scripts/benchmark.py",
        wall_s=120.0,
    )
    text = path.read_text()
    assert "| NCP (CfC) | 79,420 | 19 | 253 | 1,065 |" in text
    assert "99.00 ± 0.00" in text
    assert "**clean**: best NCP (CfC) (99.0%)" in text
    assert "**noise=0.1**: best LSTM-64 (95.0%); NCP (CfC) ranks 2 of 3 (90.0%)" in text
    assert "alone has the best mean autonomy in 1 of 2 conditions" in text
    assert "does not come out ahead overall" in text
    assert (tmp_path / "bench_robustness.png").stat().st_size > 0
    # statistics: Garwood interval of the CNN's 150 interventions in 30 km, exact seed-level p
    assert "| clean | CNN (feedforward) | 5.000 [4.232, 5.867] | 0.100 | 0.1 |" in text
    assert "| NCP (CfC) | 2 | clean | 10.0 | 1 | 0.100 [0.003, 0.557] | 99.4% |" in text


def test_report_calls_ties_ties(tmp_path: Path) -> None:
    """Equal means are a tie: the model listed first does not win it."""
    results = {
        "NCP (LTC)": [_run({"clean": 1.0}, s) for s in range(3)],
        "LSTM-64": [_run({"clean": 1.0}, s) for s in range(3)],
    }
    text = write_report(
        results,
        path=tmp_path / "b.md",
        bcfg=BenchmarkConfig(models=["ncp_ltc", "lstm"]),
        ecfg=EvalConfig(),
        command="c",
        wall_s=1.0,
    ).read_text()
    assert "**clean**: tied best at 100.0%: NCP (LTC), LSTM-64" in text
    assert "alone has the best mean autonomy in 0 of 1 conditions and shares the best" in text


def test_benchmark_config_validation() -> None:
    with pytest.raises(ValueError, match="benchmark.models is empty"):
        BenchmarkConfig(models=[])
    with pytest.raises(ValueError, match="benchmark.train_procs"):
        BenchmarkConfig(train_procs=0)
    assert BenchmarkConfig(seeds=[1, 2]).seeds == (1, 2)


def test_eval_config_validation_and_conditions() -> None:
    with pytest.raises(ValueError, match="eval.crash_mode"):
        EvalConfig(crash_mode="bounce")
    with pytest.raises(ValueError, match="unknown eval option"):
        EvalConfig.from_mapping({"distance": 3})
    e = EvalConfig(noise_variances=[0.1, 0.2], presets=["summer", "winter"])
    names = [c.name for c in conditions("summer", e)]
    assert names == ["clean", "noise=0.1", "noise=0.2", "preset=winter"]
