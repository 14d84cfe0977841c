"""The drone benchmark: runs end to end at toy size, resumes without retraining, refuses
stale results, and its report's statistics come out right on known counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lnn_drive.eval.drone_benchmark_report import drone_report, load_drone_results
from lnn_drive.eval.provenance import ResultKey, ResultStore, config_hash
from lnn_drive.eval.stats import detectable_proportion_difference, fisher_exact_test

TOY = [
    "+experiment=benchmark_drone_quick",
    "benchmark.lr_grid=[]",
    "env.max_episode_steps=45",
    "collect.episodes=4",
    "collect.steps=40",
    "eval.episodes=3",
    "eval.batch=3",
    "train.max_steps=6",
    "train.val_every=3",
]


def test_toy_run_resumes_and_refuses_stale_results(run_command, tmp_path: Path) -> None:
    res, out = tmp_path / "results", tmp_path / "out"
    args = ["benchmark-drone", f"out_dir={out}", f"benchmark.results_dir={res}", *TOY]
    rc, stdout, err = run_command(args)
    assert rc == 0, err
    files = sorted(p.name for p in res.glob("*.json"))
    # 2 models x 2 seeds x 2 conditions (summer, winter)
    assert len(files) == 8, files
    doc = json.loads((res / files[0]).read_text())
    assert doc["provenance"]["config"]["task"] == "drone"
    assert len(doc["provenance"]["config_hash"]) == 16 and doc["provenance"]["code"]
    report = (out / "benchmark_drone.md").read_text()
    assert "## Success rate per condition" in report
    assert "against each baseline" in report and "## Verdict" in report
    assert "| NCP (CfC, 19 neurons) | 2 | 6 |" in report
    # a resumed run reuses every result: nothing is rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in res.glob("*.json")}
    rc, stdout, err = run_command(args)
    assert rc == 0, err
    assert {p: p.stat().st_mtime_ns for p in res.glob("*.json")} == mtimes
    # another evaluation protocol: the stored results are stale and refused
    rc, stdout, err = run_command([*args, "eval.episodes=4"])
    assert rc == 2 and err.startswith("error:") and "stale" in err and err.count("\n") == 1
    assert {p: p.stat().st_mtime_ns for p in res.glob("*.json")} == mtimes
    # the report command regenerates the same tables from the files alone
    rc, stdout, err = run_command(
        [
            "benchmark-drone-report",
            f"results={res}",
            f"report={tmp_path / 'r.md'}",
            "expect_models=[ncp_cfc_drone,feedforward]",
            "expect_seeds=[0,1]",
        ]
    )
    assert rc == 0, err
    assert "(4 complete runs" in stdout and "complete)" in stdout
    again = (tmp_path / "r.md").read_text()

    def tables(text: str) -> str:
        return text.split("## Success rate")[1].split("## Training")[0]

    assert tables(again) == tables(report)
    assert (tmp_path / "r_curves.png").is_file()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("benchmark.reference=lstm", "benchmark.reference"),
        ("eval.first_seed=2", "overlap the training flights"),
        ("benchmark.models=[ncp_cfc,lstm] benchmark.reference=ncp_cfc", "motor neurons"),
        ("benchmark.seeds=[0,0]", "twice"),
        ("benchmark.shard=3/2", "benchmark.shard"),
        ("data=default", "data.targets"),
        ("benchmark.lr_grid=[-1]", "lr_grid"),
    ],
)
def test_bad_options_are_one_error_line(run_command, tmp_path: Path, override, fragment) -> None:
    rc, _, err = run_command(["benchmark-drone", f"out_dir={tmp_path}/o", *TOY, *override.split()])
    assert rc == 2 and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "o" / "data").exists()


def _save(store: ResultStore, model: str, seed: int, cond: str, success: int, n: int = 100):
    cfg = {
        "task": "drone",
        "model": model,
        "seed": seed,
        "eval": {"seasons": ["summer", "winter"], "noise_variances": [0.0]},
        "condition": cond,
    }
    key = ResultKey(model=model, seed=seed, condition=cond, config_hash=config_hash(cfg), code="c1")
    metrics = {
        "episodes": n,
        "success": success,
        "success_rate": success / n,
        "timeout": 0,
        "collision": n - success,
        "target_lost": 0,
    }
    run = {"val_loss": 0.5, "lr": 0.005, "seed": seed, "summary": {}, "budget": {}, "curve": {}}
    store.save(key, {"run": run, "metrics": metrics}, config=cfg, commit="abc")


def test_report_statistics_on_known_counts(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "res")
    for s in range(5):
        _save(store, "ncp_cfc_drone", s, "summer", 95 + s)
        _save(store, "ncp_cfc_drone", s, "winter", 80 + s)
        _save(store, "lstm", s, "summer", 94 + s)
        _save(store, "lstm", s, "winter", 40 + s)
    _save(store, "lstm", 5, "summer", 50)  # a run without its winter result: partial
    loaded = load_drone_results(store.root)
    text, done = drone_report(
        loaded,
        reference="ncp_cfc_drone",
        expect_models=["ncp_cfc_drone", "lstm"],
        expect_seeds=[0, 1, 2, 3, 4, 5],
    )
    assert not done and "partial (1 conditions)" in text and "**partial**" in text
    # pooled over the 5 complete seeds: 485/500 summer for the NCP; the partial seed is out
    assert "| NCP (CfC, 19 neurons) | 5 | 500 | 97.0% [95.1%, 98.2%]" in text
    assert "| LSTM-64 | 5 | 500 | 96.0%" in text
    # winter: every NCP seed above every LSTM seed -> the smallest permutation p, 2/252
    assert "| LSTM-64 | winter | +40.0 | 0.008 |" in text
    assert "NCP (CfC, 19 neurons) is above LSTM-64 in winter" in text
    # summer: no difference at p < 0.05 over seeds -> not in the verdict
    assert "in summer" not in text.split("## Verdict")[1]
    # the summer drop: 97 - 82 = 15 points for the NCP, 96 - 42 = 54 for the LSTM
    assert "| NCP (CfC, 19 neurons) | +15.0 ± 0.0 |" in text
    assert "| LSTM-64 | +54.0 ± 0.0 |" in text


def test_load_refuses_files_that_are_not_drone_results(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"provenance": {"model": "m"}}')
    with pytest.raises(ValueError, match="x.json: not a drone benchmark result"):
        load_drone_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="no result JSON"):
        load_drone_results(tmp_path / "empty")


def test_fisher_and_detectable_difference() -> None:
    # 2x2 table [[3, 1], [1, 3]]: the classic two-sided Fisher p = 0.486
    assert math.isclose(fisher_exact_test(3, 4, 1, 4), 0.4857, abs_tol=1e-3)
    assert fisher_exact_test(50, 100, 50, 100) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fisher_exact_test(5, 4, 1, 4)
    d500 = detectable_proportion_difference(0.9, 500)
    d100 = detectable_proportion_difference(0.9, 100)
    assert 0 < d500 < d100 < 0.2
    # at 100% a rate can only fall: still a finite, positive detectable difference
    assert 0 < detectable_proportion_difference(1.0, 500) < 0.05
    with pytest.raises(ValueError):
        detectable_proportion_difference(1.5, 10)
