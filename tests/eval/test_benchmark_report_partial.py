"""The benchmark report of a run in progress: coverage against the protocol, tables from
complete runs only, no verdict without an NCP, one-model statistics, the calibration
section from the experts' records, and a warning when code versions are mixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lnn_drive.eval.benchmark import BenchmarkConfig, benchmark
from lnn_drive.eval.benchmark_report import report_from_results
from lnn_drive.eval.evaluate import EvalConfig
from lnn_drive.eval.stats import poisson_rate_ci
from lnn_drive.models.config import ModelConfig
from tests.eval.test_benchmark_protocol import _fake_train, _recipe


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stored results of 2 models x 2 seeds x 2 conditions (clean, noise=0.1)."""
    import dataclasses

    tmp = tmp_path_factory.mktemp("bench")
    recipe = _recipe(tmp)
    recipe = dataclasses.replace(
        recipe,
        models={"feedforward": ModelConfig(), "ncp_cfc": ModelConfig()},
        eval=dataclasses.replace(recipe.eval, noise_variances=[0.1]),
    )
    assert isinstance(recipe.eval, EvalConfig)
    bcfg = BenchmarkConfig(
        models=("feedforward", "ncp_cfc"),
        seeds=(0, 1),
        dagger_models=(),
        data_root=str(tmp),
        train_procs=1,
        results_dir=str(tmp / "results"),
    )
    benchmark(bcfg, recipe, out_dir=tmp / "run", train_fn=_fake_train([]))
    return tmp / "results"


def _copy(src: Path, dst: Path, drop: tuple[str, ...] = ()) -> Path:
    dst.mkdir(parents=True)
    for p in src.glob("*.json"):
        if not any(p.name.startswith(d) for d in drop):
            (dst / p.name).write_text(p.read_text())
    return dst


def test_partial_report_covers_the_protocol_and_uses_complete_runs_only(
    results: Path, tmp_path: Path
) -> None:
    assert len(list(results.glob("*.json"))) == 8
    part = _copy(results, tmp_path / "r", drop=("ncp_cfc_seed1_noise",))
    out = report_from_results(
        part,
        report=tmp_path / "b.md",
        command="x",
        expect_models=["feedforward", "ncp_cfc", "lstm"],
        expect_seeds=[0, 1, 2],
    )
    assert out["runs"] == 3 and out["complete"] is False
    text = (tmp_path / "b.md").read_text()
    assert "**3 of 9 (model, seed) runs complete.**" in text and "partial report" in text
    assert "| NCP (CfC) | - | 2/2 | 1/2 | - |" in text
    assert "| LSTM-64 | - | - | - | - |" in text
    assert "| CNN (feedforward) | - | 2/2 | 2/2 | - |" in text
    # the NCP's cut-off seed is in no table: the per-seed table lists seed 0 only
    assert "| NCP (CfC) | 0 | clean |" in text and "| NCP (CfC) | 1 | clean |" not in text
    assert "seed-level p" in text  # two models: the tests are there
    assert "Warning: these results come from more than one code version" not in text


def test_no_verdict_without_an_ncp_and_one_model_statistics(results: Path, tmp_path: Path) -> None:
    part = _copy(results, tmp_path / "r", drop=("ncp_cfc",))
    report_from_results(part, report=tmp_path / "b.md", command="x")
    text = (tmp_path / "b.md").read_text()
    assert "No NCP run has finished yet" in text
    assert "The NCP does not come out ahead" not in text
    assert "Only one model has finished runs, so there is no test yet." in text
    assert "| CNN (feedforward) | clean | 2 |" in text  # pooled over both seeds


def test_calibration_section_from_the_experts_records(results: Path, tmp_path: Path) -> None:
    part = _copy(results, tmp_path / "r")
    (part / "expert").mkdir()
    record = {
        "kind": "expert_check",
        "provenance": {"config": {"env": {"expert": "stanley"}, "drive_steps": 5}},
        "result": {
            "km": 23.64,
            "episodes": 67,
            "seeds": [200000, 200066],
            "crashes": 0,
            "lane_departures": 0,
            "departures_1m": 0,
            "max_abs_offset": 0.436,
        },
    }
    (part / "expert" / "stanley.json").write_text(json.dumps(record))
    report_from_results(part, report=tmp_path / "b.md", command="x")
    text = (tmp_path / "b.md").read_text()
    assert "## Calibration" in text
    assert "| expert `stanley` (steps per road 5) | 23.64 | 67 (200000-200066) | 0 |" in text
    clean = [
        json.loads(p.read_text())["result"]["metrics"]
        for p in part.glob("feedforward_seed*_clean.json")
    ]
    k = sum(m["interventions"] for m in clean)
    ci = poisson_rate_ci(k, sum(m["distance_km"] for m in clean))
    met = ci.low > poisson_rate_ci(0, 23.64).high
    assert ("**met**" in text) == met and ("**not met**" in text) == (not met)
    (part / "expert" / "broken.json").write_text("{")
    with pytest.raises(Exception, match="not an expert-check record"):
        report_from_results(part, report=tmp_path / "c.md", command="x")
    assert not (tmp_path / "c.md").exists()


def test_mixed_code_versions_are_flagged(results: Path, tmp_path: Path) -> None:
    part = _copy(results, tmp_path / "r")
    p = next(part.glob("ncp_cfc_seed0_clean.json"))
    doc = json.loads(p.read_text())
    doc["provenance"]["code"] = "0000000000000000"
    p.write_text(json.dumps(doc))
    report_from_results(part, report=tmp_path / "b.md", command="x")
    assert "more than one code version" in (tmp_path / "b.md").read_text()


def test_report_command_expected_protocol_options(results: Path, tmp_path: Path, run_command):
    report = tmp_path / "b.md"
    code, out, err = run_command(
        [
            "benchmark-report",
            f"results={results}",
            f"report={report}",
            "how_to_run=",
            "expect_models=[feedforward,ncp_cfc,lstm]",
            "expect_seeds=[0,1]",
        ]
    )
    assert code == 0, err
    assert "4 complete runs" in out and "partial" in out
    assert "expect_seeds=[0,1]" in report.read_text()  # the regenerate line
    code, _, err = run_command(
        [
            "benchmark-report",
            f"results={results}",
            f"report={tmp_path / 'c.md'}",
            "expect_seeds=[a]",
        ]
    )
    assert code == 2 and err.startswith("error:") and "expect_seeds" in err
    assert not (tmp_path / "c.md").exists()
